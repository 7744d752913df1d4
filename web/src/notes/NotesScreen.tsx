// The notes list (also the archive and the trash): pinned first, sortable,
// filtered by subject or tag, paged by cursor as the reader scrolls.
import { useEffect, useRef } from "react";
import { useRouter, useSearchParams } from "../router";
import type { NoteSort, NotesQuery, NotesView } from "./filters";
import { NoteCard } from "./NoteCard";
import { useNotePages } from "./useNotePages";
import { useTitle } from "../ui/useTitle";

export type { NotesView } from "./filters";

const sorts: { value: NoteSort; label: string }[] = [
  { value: "updated", label: "Last updated" },
  { value: "created", label: "Created" },
  { value: "title", label: "Title" },
  { value: "due", label: "Due date" },
];

const headings: Record<NotesView, string> = { notes: "Notes", archive: "Archive", trash: "Trash" };
const empty: Record<NotesView, string> = {
  notes: "No notes here yet. Press “New note” to write one.",
  archive: "Nothing is archived.",
  trash: "The trash is empty.",
};

/** A list of notes for one view. */
export function NotesScreen({ view }: { view: NotesView }) {
  const params = useSearchParams();
  const { pathname, navigate } = useRouter();
  const sortParam = params.get("sort");
  const query: NotesQuery = {
    view,
    sort: sorts.some((s) => s.value === sortParam) ? (sortParam as NoteSort) : "updated",
    subject: params.get("subject"),
    tag: params.get("tag"),
  };
  const { notes, loading, done, error, kept, loadMore } = useNotePages(query);
  const heading = query.subject ?? (query.tag ? `#${query.tag}` : headings[view]);
  useTitle(heading);

  const changeSort = (sort: string) => {
    const next = new URLSearchParams(params);
    if (sort === "updated") next.delete("sort");
    else next.set("sort", sort);
    const search = next.toString();
    navigate(`${pathname}${search ? `?${search}` : ""}`, { replace: true });
  };

  return (
    <>
      <div className="screen-header">
        <h1>{heading}</h1>
        <label>
          Sort by
          <select value={query.sort} onChange={(e) => changeSort(e.target.value)}>
            {sorts.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {view === "trash" && <p className="hint">Open a note in the trash to restore it or delete it forever.</p>}
      {kept && <p className="offline-copy">Offline copy: the notes kept on this device, with your changes not sent yet.</p>}
      <ul className="note-list" aria-label="Notes" aria-busy={loading}>
        {notes.map((note) => (
          <li key={note.id}>
            <NoteCard note={note} />
          </li>
        ))}
      </ul>
      {done && notes.length === 0 && <p className="empty">{empty[view]}</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="list-footer">
        {!done && <Sentinel key={notes.length} onVisible={loadMore} />}
        {!done && (
          <button type="button" onClick={() => void loadMore()} disabled={loading}>
            {loading ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </>
  );
}

/** An invisible marker that calls `onVisible` when scrolled near the viewport. */
function Sentinel({ onVisible }: { onVisible(): void }) {
  const ref = useRef<HTMLDivElement>(null);
  const latest = useRef(onVisible);
  latest.current = onVisible;
  useEffect(() => {
    if (!ref.current || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && latest.current(),
      { rootMargin: "400px 0px" },
    );
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, []);
  return <div ref={ref} className="sentinel" aria-hidden="true" />;
}
