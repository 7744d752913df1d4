// One note in a list: its title as the link to it, and what matters at a glance.
import type { Note } from "../api/client";
import { Link } from "../router";
import { DueDate } from "../ui/DueDate";

/** The title a note goes by ("Untitled" when it has none). */
export function noteTitle(note: { title: string }): string {
  return note.title.trim() || "Untitled";
}

/** A note's summary card. */
export function NoteCard({ note }: { note: Note }) {
  return (
    <article className="note-card">
      <Link to={`/notes/${note.id}`} className="title">
        {noteTitle(note)}
      </Link>
      {note.snippet && <p className="snippet">{note.snippet}</p>}
      <div className="note-meta">
        {note.pinned && <span className="badge pinned">Pinned</span>}
        {note.subject && <span>{note.subject}</span>}
        {note.tags.map((tag) => (
          <span key={tag} className="badge">
            #{tag}
          </span>
        ))}
        {note.due_at && <DueDate due={note.due_at} done={note.done} />}
        <span>
          Updated <time dateTime={note.updated_at}>{formatWhen(note.updated_at)}</time>
        </span>
      </div>
    </article>
  );
}

/** A date and time in the reader's locale, short. */
export function formatWhen(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
