// The note editor at `/notes/:id`: title, Markdown body with a live preview,
// subject, tags and due date, saved a second after typing stops; the note's
// flags; and the documents, share and history panels. When the server cannot
// be reached, it opens the copy kept on this device (and says so); a note
// created offline has a local id until the server has it, then its address
// becomes the server's.
import { lazy, Suspense, useCallback, useDeferredValue, useEffect, useMemo, useState, type KeyboardEvent } from "react";
import { ApiError, type Note } from "../api/client";
import { getNote } from "../api/notes";
import { Markdown } from "../markdown";
import { isLocalId } from "../offline/commands";
import type { OfflineStore } from "../offline/store";
import { useRouter } from "../router";
import { useNoteChanges, useSync, type NoteChange } from "../sync";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Loading } from "../ui/Loading";
import { useTitle } from "../ui/useTitle";
import { ConflictView } from "./ConflictView";
import { readDraftBackup, writeDraftBackup } from "./draftBackup";
import type { Fields } from "./fields";
import { useNoteEditor, type SaveStatus } from "./useNoteEditor";

const DocumentsPanel = lazy(() =>
  import("../features/documents/DocumentsPanel").then((m) => ({ default: m.DocumentsPanel })),
);
const SharesPanel = lazy(() => import("../features/shares/SharesPanel").then((m) => ({ default: m.SharesPanel })));
const HistoryPanel = lazy(() => import("../features/history/HistoryPanel").then((m) => ({ default: m.HistoryPanel })));

/** A note to edit, and whether it is the copy kept on this device. */
interface Loaded {
  note: Note;
  kept: boolean;
}

/**
 * The note `id` from the server (kept on this device for later), or, when
 * the server cannot be reached, the copy this device kept.
 */
async function loadNote(store: OfflineStore, id: string): Promise<Loaded> {
  const kept = async () => {
    const note = await store.savedNote(id);
    if (!note) throw new Error(isLocalId(id) ? "This note does not exist, or it was deleted." : OFFLINE_UNKNOWN);
    return { note, kept: true };
  };
  if (isLocalId(id)) return kept();
  try {
    const note = await getNote(id);
    void store.cache.keep([note]);
    return { note, kept: false };
  } catch (cause) {
    if (!(cause instanceof ApiError)) throw cause;
    if (cause.status === 0) return kept();
    throw new Error(
      cause.status === 404 ? "This note does not exist, or it was deleted." : "The note could not be loaded. Please try again.",
    );
  }
}

const OFFLINE_UNKNOWN = "You are offline, and this note was not kept on this device: it opens once you are back online.";

/** The editor screen: loads the note, then edits it. */
export default function EditorScreen({ id }: { id: string }) {
  const { offline, report } = useSync();
  const { navigate } = useRouter();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!offline) return;
    const serverId = offline.outbox.resolveId(id);
    if (serverId !== id) return navigate(`/notes/${serverId}`, { replace: true });
    let current = true;
    loadNote(offline, id).then(
      (loaded) => {
        if (!current) return;
        setLoaded(loaded);
        if (!isLocalId(id)) report(loaded.kept ? "offline" : "online");
      },
      (cause: Error) => current && setError(cause.message),
    );
    return () => {
      current = false;
    };
  }, [id, offline, navigate, report]);

  // A note created here moves to its server address once everything typed in it was sent.
  useEffect(() => {
    if (!offline || !isLocalId(id)) return;
    return offline.outbox.listen(() => {
      const serverId = offline.outbox.resolveId(id);
      if (serverId === id || offline.outbox.pending(serverId).length > 0) return;
      writeDraftBackup(serverId, readDraftBackup(id));
      writeDraftBackup(id, null);
      navigate(`/notes/${serverId}`, { replace: true });
    });
  }, [id, offline, navigate]);

  if (error) {
    return (
      <>
        <h1>Note not available</h1>
        <p role="alert">{error}</p>
      </>
    );
  }
  if (!loaded) return <Loading label="Loading the note…" />;
  return <NoteEditor initial={loaded.note} kept={loaded.kept} />;
}

const statusText: Record<SaveStatus, string> = {
  saved: "Saved",
  saving: "Saving…",
  unsaved: "Unsaved changes",
  offline: "Offline — will retry",
  error: "Not saved",
};

const panelNames = ["Documents", "Share", "History"] as const;
type PanelName = (typeof panelNames)[number];

/** Arrow keys, Home and End move the focus between the tabs (Enter or Space opens one). */
function moveBetweenTabs(event: KeyboardEvent<HTMLDivElement>) {
  const tabs = [...event.currentTarget.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement as HTMLButtonElement);
  const to: Record<string, number> = {
    ArrowRight: (at + 1) % tabs.length,
    ArrowLeft: (at - 1 + tabs.length) % tabs.length,
    Home: 0,
    End: tabs.length - 1,
  };
  if (at < 0 || !(event.key in to)) return;
  event.preventDefault();
  tabs[to[event.key]].focus();
}

/** The editor of a loaded note (`kept`: the copy this device kept, opened offline). */
export function NoteEditor({ initial, kept = false }: { initial: Note; kept?: boolean }) {
  const { navigate } = useRouter();
  const { online } = useSync();
  const { model, edit, resolve, receive, refresh, act, purge, markGone } = useNoteEditor(initial);
  const { note, draft, conflict } = model;
  const [confirmPurge, setConfirmPurge] = useState(false);
  const [panel, setPanel] = useState<PanelName | null>(null);
  const preview = useDeferredValue(draft.body);
  const readOnly = note.trashed || conflict !== null || model.gone;
  useTitle(draft.title.trim() || "Untitled");
  // The panels' commands go on top of the newest version this editor knows (an autosave moves it).
  const current = useMemo(() => ({ ...note, version: model.version }), [note, model.version]);

  useNoteChanges(
    useCallback(
      (changes: NoteChange[]) => {
        for (const change of changes) {
          if (change.id !== note.id) continue;
          if (change.deleted) markGone();
          else if (change.note) void receive(change.note as Note);
        }
      },
      [note.id, receive, markGone],
    ),
  );

  const field = (name: keyof Fields) => ({
    value: draft[name],
    readOnly,
    onChange: (event: { target: { value: string } }) => edit(name, event.target.value),
  });

  if (model.gone) {
    return (
      <>
        <h1>Deleted</h1>
        <p role="status">This note was deleted for good.</p>
      </>
    );
  }

  return (
    <div className="editor">
      <h1 className="visually-hidden">{draft.title.trim() || "Untitled"}</h1>
      <div className="editor-toolbar" role="toolbar" aria-label="Note actions">
        <p role="status" className="save-status" data-state={model.status}>
          {statusText[model.status]}
        </p>
        <span className="spacer" />
        {!note.trashed && (
          <>
            <button type="button" onClick={() => void act(note.pinned ? "unpin" : "pin")}>
              {note.pinned ? "Unpin" : "Pin"}
            </button>
            <button type="button" onClick={() => void act(note.archived ? "unarchive" : "archive")}>
              {note.archived ? "Unarchive" : "Archive"}
            </button>
            {(note.due_at || draft.due) && (
              <button type="button" onClick={() => void act(note.done ? "reopen" : "complete")}>
                {note.done ? "Reopen" : "Mark done"}
              </button>
            )}
            <button type="button" onClick={() => void act("trash")}>
              Move to trash
            </button>
          </>
        )}
        {note.trashed && (
          <>
            <button type="button" className="primary" onClick={() => void act("restore")}>
              Restore
            </button>
            <button type="button" className="danger" onClick={() => setConfirmPurge(true)}>
              Delete forever
            </button>
          </>
        )}
      </div>
      {kept && !online && (
        <p className="offline-copy">
          Offline copy: the note as this device kept it. Your changes are kept here and sent when you are back online.
        </p>
      )}
      {note.trashed && <p className="hint">This note is in the trash. Restore it to change it.</p>}
      {note.archived && !note.trashed && <p className="hint">This note is archived.</p>}
      {model.error && (
        <p role="alert" className="error">
          {model.error}
        </p>
      )}
      {conflict && (
        <ConflictView
          mine={{ title: draft.title, body: draft.body }}
          theirs={{ title: conflict.theirs.title, body: conflict.theirs.body }}
          onResolve={(resolution) => void resolve(resolution)}
        />
      )}
      <label>
        Title
        <input className="title-input" maxLength={200} placeholder="Untitled" {...field("title")} />
      </label>
      <div className="editor-fields">
        <label>
          Subject
          <input maxLength={100} {...field("subject")} />
        </label>
        <label>
          Tags
          <input aria-describedby="tags-hint" {...field("tags")} />
          <span id="tags-hint" className="hint">
            Separated by commas
          </span>
        </label>
        <label>
          Due
          <input type="datetime-local" {...field("due")} />
        </label>
      </div>
      <div className="editor-panes">
        <label>
          Body
          <textarea spellCheck {...field("body")} />
        </label>
        <section className="preview" aria-label="Preview">
          <h2 className="pane-title" aria-hidden="true">
            Preview
          </h2>
          <Markdown source={preview} />
        </section>
      </div>
      {isLocalId(note.id) ? (
        <p className="hint">Documents, sharing and history come once the server has this note.</p>
      ) : (
        <>
          <div className="tabs" role="tablist" aria-label="More about this note" onKeyDown={moveBetweenTabs}>
            {panelNames.map((name, index) => (
              <button
                key={name}
                type="button"
                role="tab"
                id={`tab-${name}`}
                aria-selected={panel === name}
                aria-controls={panel === name ? `panel-${name}` : undefined}
                tabIndex={panel === name || (!panel && index === 0) ? 0 : -1}
                onClick={() => setPanel(panel === name ? null : name)}
              >
                {name}
              </button>
            ))}
          </div>
          {panel && (
            <div className="tab-panel" role="tabpanel" id={`panel-${panel}`} aria-labelledby={`tab-${panel}`}>
              <Suspense fallback={<Loading />}>
                {panel === "Documents" && <DocumentsPanel note={current} onChanged={() => void refresh()} />}
                {panel === "Share" && <SharesPanel note={current} onChanged={() => void refresh()} />}
                {panel === "History" && <HistoryPanel note={current} onRestored={() => void refresh()} />}
              </Suspense>
            </div>
          )}
        </>
      )}
      <ConfirmDialog
        open={confirmPurge}
        title="Delete this note forever?"
        confirmLabel="Delete forever"
        onCancel={() => setConfirmPurge(false)}
        onConfirm={() => {
          setConfirmPurge(false);
          void purge().then((done) => done && navigate("/trash"));
        }}
      >
        <p>It cannot be brought back, and its documents are deleted with it.</p>
      </ConfirmDialog>
    </div>
  );
}
