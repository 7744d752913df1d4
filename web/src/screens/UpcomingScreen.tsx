// Assignments due and not done, soonest first, overdue ones marked.
import { useCallback, useEffect, useState } from "react";
import { api, call, type Note } from "../api/client";
import { noteAction } from "../api/notes";
import { noteTitle } from "../notes/NoteCard";
import { Link } from "../router";
import { useNoteChanges, useSync } from "../sync";
import { DueDate } from "../ui/DueDate";
import { Loading } from "../ui/Loading";
import { useTitle } from "../ui/useTitle";

/** The upcoming assignments screen. */
export default function UpcomingScreen() {
  const { report } = useSync();
  const [items, setItems] = useState<Note[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useTitle("Upcoming");

  const load = useCallback(() => {
    call(() => api.GET("/v1/assignments/upcoming", { params: { query: { limit: 100 } } })).then(
      (page) => {
        setItems(page.items);
        setError(null);
      },
      () => setError("The assignments could not be loaded."),
    );
  }, []);

  useEffect(load, [load]);
  useNoteChanges(load);

  const markDone = async (note: Note) => {
    try {
      await noteAction(note.id, note.version, "complete");
      setItems((list) => list?.filter((n) => n.id !== note.id) ?? null);
      report("changed");
    } catch {
      setError(`“${noteTitle(note)}” could not be marked done. Please try again.`);
      load();
    }
  };

  return (
    <>
      <h1>Upcoming</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!items && !error && <Loading />}
      {items && items.length === 0 && <p className="empty">No assignments are due. Give a note a due date to make it one.</p>}
      {items && items.length > 0 && (
        <ul className="note-list" aria-label="Upcoming assignments">
          {items.map((note) => (
            <li key={note.id} className="note-card">
              <Link to={`/notes/${note.id}`} className="title">
                {noteTitle(note)}
              </Link>
              <div className="note-meta">
                {note.subject && <span>{note.subject}</span>}
                {note.due_at && <DueDate due={note.due_at} done={note.done} />}
              </div>
              <div>
                <button type="button" onClick={() => void markDone(note)}>
                  Mark done
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
