import { useEffect, useId, useState } from "react";
import { api, ApiError, call, type Schemas } from "../../api/client";
import { Markdown } from "../../markdown";
import { useTitle } from "../../ui/useTitle";
import { formatBytes, formatDateTime } from "../format";
import { describeProblem } from "../problems";
import "./SharedNotePage.css";

/** A shared note as anyone with the link sees it. */
type SharedNote = Schemas["SharedNote"];

type Loaded =
  | { state: "loading" }
  | { state: "gone" }
  | { state: "failed"; message: string }
  | { state: "ready"; note: SharedNote };

/** Props of {@link SharedNotePage}. */
export interface SharedNotePageProps {
  /** The share link's token, from the address `/s/<token>`. */
  token: string;
}

/**
 * The public, read-only page of a shared note (`/s/<token>`), for readers who
 * are not signed in: title, subject, tags, due date, the body, and links to
 * download its documents. A revoked, expired or unknown link says so.
 */
export function SharedNotePage({ token }: SharedNotePageProps) {
  const [loaded, setLoaded] = useState<Loaded>({ state: "loading" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setLoaded({ state: "loading" });
    call(() => api.GET("/v1/shared/{token}", { params: { path: { token } } })).then(
      (note) => current && setLoaded({ state: "ready", note }),
      (problem) => {
        if (!current) return;
        const gone = problem instanceof ApiError && problem.status === 404;
        setLoaded(gone ? { state: "gone" } : { state: "failed", message: describeProblem(problem) });
      },
    );
    return () => {
      current = false;
    };
  }, [token, attempt]);

  const ready = loaded.state === "ready" ? loaded.note : null;
  useTitle(ready ? ready.title || "Untitled" : loaded.state === "gone" ? "Link not available" : "Shared note");

  return (
    <main id="main" className="shared-page">
      {loaded.state === "loading" && <p className="loading">Loading the shared note…</p>}
      {loaded.state === "gone" && (
        <>
          <h1>This link is not available</h1>
          <p>It may have expired or been revoked, or the note was deleted. Ask whoever shared it for a new link.</p>
          <p>
            <a href="/">Go to Anote</a>
          </p>
        </>
      )}
      {loaded.state === "failed" && (
        <>
          <h1>The shared note could not be loaded</h1>
          <p role="alert" className="error">
            {loaded.message}
          </p>
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        </>
      )}
      {loaded.state === "ready" && <SharedNoteView note={loaded.note} token={token} />}
    </main>
  );
}

/** The shared note itself. */
function SharedNoteView({ note, token }: { note: SharedNote; token: string }) {
  const documentsHeading = useId();
  return (
    <article>
      <header className="shared-note-header">
        <p className="shared-note-brand">Shared from Anote · read-only</p>
        <h1>{note.title || "Untitled"}</h1>
        <dl className="shared-note-facts">
          {note.subject && (
            <div>
              <dt>Subject</dt>
              <dd>{note.subject}</dd>
            </div>
          )}
          {note.tags.length > 0 && (
            <div>
              <dt>Tags</dt>
              <dd>
                <ul className="shared-note-tags">
                  {note.tags.map((tag) => (
                    <li key={tag}>{tag}</li>
                  ))}
                </ul>
              </dd>
            </div>
          )}
          {note.due_at && (
            <div>
              <dt>Due</dt>
              <dd>
                {formatDateTime(note.due_at)}
                {note.done && " (done)"}
              </dd>
            </div>
          )}
          <div>
            <dt>Updated</dt>
            <dd>{formatDateTime(note.updated_at)}</dd>
          </div>
        </dl>
      </header>
      <div className="shared-note-body">
        <Markdown source={note.body} />
      </div>
      {note.documents.length > 0 && (
        <section className="shared-note-documents" aria-labelledby={documentsHeading}>
          <h2 id={documentsHeading}>Documents</h2>
          <ul aria-label="Documents">
            {note.documents.map((document) => (
              <li key={document.id}>
                <a href={`/v1/shared/${encodeURIComponent(token)}/documents/${encodeURIComponent(document.id)}`}>
                  {document.file_name}
                </a>{" "}
                <span className="muted">{formatBytes(document.size)}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </article>
  );
}
