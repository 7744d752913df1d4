import { useCallback, useEffect, useId, useRef, useState } from "react";
import { api, ApiError, call, ifMatch, type Note, type Schemas } from "../../api/client";
import { getNote, getNoteAt } from "../../api/notes";
import { Markdown } from "../../markdown";
import { useNoteChanges } from "../../sync";
import { formatDateTime } from "../format";
import type { CommandReply } from "../note";
import { describeProblem } from "../problems";
import { detailsOf, diffLineClass, kindOf, type Change } from "./changes";
import "./HistoryPanel.css";

/** A note as it was at a version. */
type PastNote = Schemas["PastNote"];

/** Versions shown at first, and added by each "Show earlier versions". */
const PAGE = 20;
/** The most changes one history request may ask for. */
const MAX_LIMIT = 200;

/** Props of {@link HistoryPanel}. */
export interface HistoryPanelProps {
  note: Note;
  /** Called with the reply of a restore, so the editor shows the restored content. */
  onRestored(reply: CommandReply): void;
}

/** Every change after version `after` (following `next`), or at most `limit` of them. */
async function fetchChanges(noteId: string, after: number, limit?: number): Promise<Change[]> {
  const changes: Change[] = [];
  let from: number | undefined = after;
  while (from !== undefined) {
    const page = await call(() =>
      api.GET("/v1/notes/{id}/history", {
        params: { path: { id: noteId }, query: { after: from, limit: limit ?? MAX_LIMIT } },
      }),
    );
    changes.push(...page.items);
    from = limit === undefined ? (page.next ?? undefined) : undefined;
  }
  return changes;
}

/**
 * The note's history, newest first: each version with what changed (the body
 * as a diff), the note as it was at any version, and restoring one.
 */
export function HistoryPanel({ note, onRestored }: HistoryPanelProps) {
  const headingId = useId();
  /** The changes loaded, oldest first. */
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [current, setCurrent] = useState<number>(note.version);
  const [error, setError] = useState<string | null>(null);
  const [stale, setStale] = useState<number | null>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const loadedUpTo = useRef(0);

  useEffect(() => setCurrent((known) => Math.max(known, note.version)), [note.version]);
  // Saves from the editor, and changes made elsewhere, reach the history through the changes feed.
  useNoteChanges((feed) => {
    for (const change of feed) {
      if (change.id === note.id && change.note) setCurrent((known) => Math.max(known, change.note!.version));
    }
  });

  /** Loads the latest versions afresh. */
  const loadLatest = useCallback(
    async (version: number) => {
      try {
        const latest = await fetchChanges(note.id, Math.max(0, version - PAGE));
        loadedUpTo.current = latest.at(-1)?.version ?? 0;
        setChanges(latest);
      } catch (problem) {
        setError(`The history could not be loaded. ${describeProblem(problem)}`);
      }
    },
    [note.id],
  );

  useEffect(() => {
    // The version the panel opened at; later versions are added as they come, below.
    void loadLatest(note.version);
  }, [loadLatest]);

  // A new version of the note (a save, a restore) adds its changes at the top.
  useEffect(() => {
    if (changes === null || current <= loadedUpTo.current) return;
    let live = true;
    const after = loadedUpTo.current;
    fetchChanges(note.id, after).then(
      (fetched) => {
        const newer = fetched.filter((c) => c.version > after);
        if (!live || newer.length === 0) return;
        loadedUpTo.current = newer.at(-1)!.version;
        setChanges((known) => [...(known ?? []), ...newer]);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [changes, current, note.id]);

  const newestFirst = changes ? [...changes].reverse() : [];
  // The version the reader has seen: the note's, or a later one the history already shows.
  const latest = Math.max(current, newestFirst[0]?.version ?? 0);

  async function showEarlier() {
    if (!changes || changes.length === 0) return;
    const oldest = changes[0].version;
    const after = Math.max(0, oldest - 1 - PAGE);
    setError(null);
    try {
      const earlier = await fetchChanges(note.id, after, oldest - 1 - after);
      setChanges((known) => [...earlier.filter((c) => c.version < oldest), ...(known ?? [])]);
    } catch (problem) {
      setError(`Earlier versions could not be loaded. ${describeProblem(problem)}`);
    }
  }

  async function restore(version: number) {
    setBusy(true);
    setError(null);
    setStale(null);
    setNotice("");
    try {
      const reply = await call(() =>
        api.POST("/v1/notes/{id}/versions/{version}/restore", {
          params: { path: { id: note.id, version }, header: { "If-Match": ifMatch(latest) } },
        }),
      );
      onRestored({ version: reply.version, position: reply.position });
      setCurrent(reply.version);
      setNotice(`Version ${version} restored as version ${reply.version}.`);
    } catch (problem) {
      if (problem instanceof ApiError && problem.code === "version_mismatch") {
        const now = Number(problem.problem.current_version);
        setStale(Number.isFinite(now) ? now : latest);
        // The versions the reader missed are added to the list while the alert says why.
        if (Number.isFinite(now)) setCurrent((known) => Math.max(known, now));
      } else {
        setError(`Version ${version} was not restored. ${describeProblem(problem)}`);
      }
    } finally {
      setBusy(false);
    }
  }

  async function refresh() {
    setStale(null);
    setError(null);
    try {
      const fresh = await getNote(note.id);
      setCurrent(fresh.version);
      await loadLatest(fresh.version);
    } catch (problem) {
      setError(`The history could not be refreshed. ${describeProblem(problem)}`);
    }
  }

  const oldestLoaded = changes?.[0]?.version ?? 1;

  return (
    <section className="history-panel" aria-labelledby={headingId}>
      <h2 id={headingId}>History</h2>
      {stale !== null && (
        <div role="alert" className="error history-stale">
          <p>
            The note changed since this history was loaded (it is at version {stale} now), so nothing was restored.
            Refresh to see the latest changes, then choose again.
          </p>
          <button type="button" onClick={() => void refresh()}>
            Refresh
          </button>
        </div>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <p aria-live="polite" className="history-notice">
        {notice}
      </p>
      {changes === null && !error && <p className="muted">Loading the history…</p>}
      {changes && (
        <ol className="history-versions" aria-label="Versions">
          {newestFirst.map((change) => (
            <VersionItem
              key={change.version}
              noteId={note.id}
              change={change}
              isCurrent={change.version === latest}
              busy={busy}
              onRestore={() => void restore(change.version)}
            />
          ))}
        </ol>
      )}
      {changes && oldestLoaded > 1 && (
        <button type="button" onClick={() => void showEarlier()}>
          Show earlier versions
        </button>
      )}
    </section>
  );
}

interface VersionItemProps {
  noteId: string;
  change: Change;
  isCurrent: boolean;
  busy: boolean;
  onRestore(): void;
}

/** One version: what changed, by whom and when, with its buttons. */
function VersionItem({ noteId, change, isCurrent, busy, onRestore }: VersionItemProps) {
  const [open, setOpen] = useState(false);
  const viewId = useId();
  const details = detailsOf(change);
  return (
    <li className="history-version">
      <h3>
        Version {change.version}
        {isCurrent && <span className="history-current"> (current)</span>}
      </h3>
      <p className="history-meta">
        <span className="history-kind">{kindOf(change)}</span> <code className="history-type">{change.type}</code> ·{" "}
        <time dateTime={change.at}>{formatDateTime(change.at)}</time> · {change.actor ? "by you" : "by Anote"}
      </p>
      {change.erased && <p className="muted">Its content was erased when the note was deleted.</p>}
      {details.length > 0 && (
        <ul className="history-details">
          {details.map((line, index) => (
            <li key={index}>{line}</li>
          ))}
        </ul>
      )}
      {change.body_diff && (
        <>
          <p className="history-diff-caption">Body (lines starting with + were added, with − removed):</p>
          <Diff diff={change.body_diff} />
        </>
      )}
      <div className="history-actions">
        <button type="button" aria-expanded={open} aria-controls={viewId} onClick={() => setOpen(!open)}>
          View version {change.version}
        </button>
        {!isCurrent && (
          <button type="button" onClick={onRestore} disabled={busy}>
            Restore version {change.version}
          </button>
        )}
      </div>
      <div id={viewId}>{open && <PastNoteView noteId={noteId} version={change.version} />}</div>
    </li>
  );
}

/** A unified diff of the body, as text, its added and removed lines marked. */
function Diff({ diff }: { diff: string }) {
  const lines = diff.replace(/\n$/, "").split("\n");
  return (
    <pre className="history-diff">
      {lines.map((line, index) => (
        <span key={index} className={diffLineClass(line)}>
          {line}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

/** The note as it was at `version`, read-only. */
function PastNoteView({ noteId, version }: { noteId: string; version: number }) {
  const [past, setPast] = useState<PastNote | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    getNoteAt(noteId, version).then(
      (note) => live && setPast(note),
      (problem) => live && setError(`Version ${version} could not be loaded. ${describeProblem(problem)}`),
    );
    return () => {
      live = false;
    };
  }, [noteId, version]);

  if (error) {
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  }
  if (!past) return <p className="muted">Loading version {version}…</p>;
  return (
    <article className="history-past" aria-label={`Version ${version} as it was`}>
      <h4>{past.title || "Untitled"}</h4>
      <p className="muted">
        {[past.subject, past.tags.length > 0 ? past.tags.join(", ") : null, past.due_at && `due ${formatDateTime(past.due_at)}`]
          .filter(Boolean)
          .join(" · ")}
      </p>
      <Markdown source={past.body} />
    </article>
  );
}
