import { useCallback, useEffect, useId, useRef, useState, type DragEvent } from "react";
import { api, call, type Note, type Schemas } from "../../api/client";
import { useNoteChanges } from "../../sync";
import { ConfirmDialog } from "../../ui/ConfirmDialog";
import { formatBytes, formatDateTime } from "../format";
import { fetchNote, type CommandReply } from "../note";
import { describeProblem } from "../problems";
import { contentTypeOf, refusalOf, uploadDocument, UploadFailed } from "./upload";
import { refreshUsage, useUsage } from "./usage";
import { UsageMeter } from "./UsageMeter";
import "./DocumentsPanel.css";

/** A document of a note, pending or attached. */
type Document = Schemas["DocumentBody"];

/** Props of {@link DocumentsPanel}. */
export interface DocumentsPanelProps {
  note: Note;
  /** Called with each command's reply, so the editor knows the note's new version. */
  onChanged(reply: CommandReply): void;
}

/** An upload in progress. */
interface Upload {
  key: number;
  name: string;
  sent: number;
  total: number;
  controller: AbortController;
}

/** How the document commands' refusals are said. */
function refusalWords(file?: File): Record<string, string> {
  return {
    document_too_large: "It is larger than documents may be.",
    content_type_not_allowed: file
      ? `Files of this type (${contentTypeOf(file)}) are not accepted.`
      : "Files of this type are not accepted.",
    quota_exceeded: "Your storage is full: remove some documents first.",
    too_many_documents: "This note has as many documents as it can hold.",
    upload_mismatch: "The file changed while it was sent, so it was discarded. Try again.",
    upload_missing: "The document store did not receive the file. Try again.",
    upload_incomplete: "Its upload is not finished.",
    not_an_assignment: "Only assignments (notes with a due date) can be handed in.",
    document_not_found: "This document no longer exists.",
    blob_store_unavailable: "The document store is unavailable. Try again later.",
  };
}

/** The version and position of a reply, as `onChanged` takes them. */
function commandReply(reply: CommandReply): CommandReply {
  return { version: reply.version, position: reply.position };
}

/**
 * The documents of a note: add files by dropping them or picking them (checked
 * against the limits first, then sent straight to the store with a progress
 * bar), and download, remove or hand in (assignments) each one.
 */
export function DocumentsPanel({ note, onChanged }: DocumentsPanelProps) {
  const headingId = useId();
  const { usage } = useUsage();
  const [known, setKnown] = useState({ version: note.version, documents: note.documents });
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const [dragging, setDragging] = useState(false);
  const [removing, setRemoving] = useState<Document | null>(null);
  const nextKey = useRef(0);
  const heading = useRef<HTMLHeadingElement>(null);

  /** Shows the documents of `view` if it is at least as new as what the panel shows. */
  const show = useCallback((view: Note) => {
    setKnown((current) =>
      view.version >= current.version ? { version: view.version, documents: view.documents } : current,
    );
  }, []);

  // A newer note from the editor, or from the changes feed, replaces what this panel knew.
  useEffect(() => show(note), [note, show]);
  useNoteChanges((feed) => {
    for (const change of feed) if (change.id === note.id && change.note) show(change.note);
  });

  /** Passes a command's reply on, then shows the note's documents as they are after it. */
  async function changed(reply: CommandReply) {
    onChanged(commandReply(reply));
    void refreshUsage(reply.position);
    try {
      show(await fetchNote(note.id, reply.position));
    } catch {
      // The editor's next view of the note brings the list up to date.
    }
  }

  async function addFiles(files: File[]) {
    if (files.length === 0) return;
    setError(null);
    setNotice("");
    const limits = usage ?? (await refreshUsage());
    const refusals: string[] = [];
    const accepted: File[] = [];
    let pendingBytes = 0;
    for (const file of files) {
      const refusal = limits ? refusalOf(file, limits, pendingBytes) : null;
      if (refusal) {
        refusals.push(refusal);
      } else {
        accepted.push(file);
        pendingBytes += file.size;
      }
    }
    if (refusals.length > 0) setError(refusals.join(" "));
    for (const file of accepted) await upload(file);
  }

  async function upload(file: File) {
    const key = nextKey.current++;
    const controller = new AbortController();
    setUploads((all) => [...all, { key, name: file.name, sent: 0, total: file.size, controller }]);
    try {
      const reply = await uploadDocument(note.id, file, {
        onRequested: (requested) => onChanged(commandReply(requested)),
        onProgress: (sent) => setUploads((all) => all.map((u) => (u.key === key ? { ...u, sent } : u))),
        signal: controller.signal,
      });
      await changed(reply);
      setNotice(`“${file.name}” uploaded.`);
    } catch (failure) {
      if (failure instanceof UploadFailed) {
        const cancelled = failure.cause instanceof DOMException && failure.cause.name === "AbortError";
        if (cancelled) {
          setNotice(`Upload of “${file.name}” cancelled.`);
        } else {
          showError(`“${file.name}” was not uploaded. ${describeProblem(failure.cause)}`);
        }
        await discard(failure.documentId);
      } else {
        showError(`“${file.name}” was not uploaded. ${describeProblem(failure, refusalWords(file))}`);
      }
    } finally {
      setUploads((all) => all.filter((u) => u.key !== key));
    }
  }

  function showError(message: string) {
    setError((previous) => (previous ? `${previous} ${message}` : message));
  }

  /** Removes the pending document of a failed upload, so it takes no storage. */
  async function discard(documentId: string) {
    try {
      const reply = await call(() =>
        api.DELETE("/v1/notes/{id}/documents/{document_id}", {
          params: { path: { id: note.id, document_id: documentId } },
        }),
      );
      await changed(reply);
    } catch {
      // Left pending: the sweeper removes it once its upload URL has expired.
    }
  }

  async function run(action: () => Promise<unknown>, failure: string) {
    setError(null);
    setNotice("");
    try {
      await action();
    } catch (problem) {
      setError(`${failure} ${describeProblem(problem, refusalWords())}`);
    }
  }

  const download = (document: Document) =>
    run(async () => {
      const link = await call(() =>
        api.GET("/v1/documents/{id}", {
          params: { path: { id: document.id } },
          headers: { Accept: "application/json" },
        }),
      );
      window.location.assign(link.url);
    }, `“${document.file_name}” could not be downloaded.`);

  const handIn = (document: Document) =>
    run(async () => {
      const reply = await call(() =>
        api.POST("/v1/notes/{id}/documents/{document_id}/submit", {
          params: { path: { id: note.id, document_id: document.id } },
        }),
      );
      await changed(reply);
      setNotice(`“${document.file_name}” handed in.`);
    }, `“${document.file_name}” was not handed in.`);

  const remove = (document: Document) =>
    run(async () => {
      setRemoving(null);
      const reply = await call(() =>
        api.DELETE("/v1/notes/{id}/documents/{document_id}", {
          params: { path: { id: note.id, document_id: document.id } },
        }),
      );
      await changed(reply);
      setNotice(`“${document.file_name}” removed.`);
      // Its buttons are gone: keyboard focus goes back to the panel.
      heading.current?.focus();
    }, `“${document.file_name}” was not removed.`);

  function drop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    void addFiles(Array.from(event.dataTransfer.files));
  }

  const assignment = Boolean(note.due_at);

  return (
    <section className="documents-panel" aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        Documents
      </h2>
      <div
        className={dragging ? "drop-zone drop-zone-active" : "drop-zone"}
        onDragEnter={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragOver={(event) => event.preventDefault()}
        onDragLeave={(event) => {
          if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={drop}
      >
        <p>Drop files here, or</p>
        <label className="drop-zone-pick">
          Add a document
          <input
            type="file"
            multiple
            className="drop-zone-input"
            onChange={(event) => {
              const files = Array.from(event.currentTarget.files ?? []);
              event.currentTarget.value = "";
              void addFiles(files);
            }}
          />
        </label>
        {usage && <p className="drop-zone-limit">Up to {formatBytes(usage.max_document_bytes)} each.</p>}
      </div>

      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <p aria-live="polite" className="documents-notice">
        {notice}
      </p>

      {uploads.length > 0 && (
        <ul className="uploads">
          {uploads.map((u) => (
            <li key={u.key}>
              <span className="upload-name">{u.name}</span>
              <progress max={u.total} value={u.sent} aria-label={`Uploading ${u.name}`} />
              <span className="upload-percent">{Math.floor((u.sent / u.total) * 100)}%</span>
              <button type="button" onClick={() => u.controller.abort()} aria-label={`Cancel uploading ${u.name}`}>
                Cancel
              </button>
            </li>
          ))}
        </ul>
      )}

      {known.documents.length === 0 ? (
        <p className="documents-empty">No documents yet.</p>
      ) : (
        <ul className="documents">
          {known.documents.map((document) => (
            <DocumentItem
              key={document.id}
              document={document}
              assignment={assignment}
              onDownload={() => void download(document)}
              onHandIn={() => void handIn(document)}
              onRemove={() => setRemoving(document)}
            />
          ))}
        </ul>
      )}

      <UsageMeter />

      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing?.file_name ?? ""}?`}
        confirmLabel="Remove"
        onConfirm={() => removing && void remove(removing)}
        onCancel={() => setRemoving(null)}
      >
        <p>The document is deleted from this note for good.</p>
      </ConfirmDialog>
    </section>
  );
}

interface DocumentItemProps {
  document: Document;
  assignment: boolean;
  onDownload(): void;
  onHandIn(): void;
  onRemove(): void;
}

/** One document: its name, size, state and digest, with what can be done to it. */
function DocumentItem({ document, assignment, onDownload, onHandIn, onRemove }: DocumentItemProps) {
  const name = document.file_name;
  const attached = document.status === "attached";
  return (
    <li className="document">
      <div className="document-info">
        <span className="document-name">{name}</span>
        <span className="document-meta">
          {formatBytes(document.size)} · {attached ? "Attached" : "Upload not finished"}
          {document.sha256 && (
            <>
              {" · "}
              <abbr title={`SHA-256 ${document.sha256}`} className="document-hash">
                SHA-256 {document.sha256.slice(0, 12)}…
              </abbr>
            </>
          )}
        </span>
        {document.submitted_at && (
          <span className="document-handed-in">Handed in {formatDateTime(document.submitted_at)}</span>
        )}
      </div>
      <div className="document-actions">
        {attached && (
          <button type="button" onClick={onDownload} aria-label={`Download ${name}`}>
            Download
          </button>
        )}
        {assignment && attached && !document.submitted_at && (
          <button type="button" onClick={onHandIn} aria-label={`Hand in ${name}`}>
            Hand in
          </button>
        )}
        <button type="button" onClick={onRemove} aria-label={`Remove ${name}`}>
          Remove
        </button>
      </div>
    </li>
  );
}
