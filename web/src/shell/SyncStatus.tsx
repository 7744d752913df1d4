// The shell's status area: whether the server can be reached, how many
// changes wait to be sent and when the app last synced; and the changes that
// wait for the student (a conflict to settle in the editor, a refusal to see
// and discard), an ended session, or a device that could not keep them.
import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { describeProblem } from "../features/problems";
import type { NoteAction } from "../api/notes";
import type { Command, QueuedCommand } from "../offline/commands";
import { noteTitle } from "../notes/NoteCard";
import { Link } from "../router";
import { useSession } from "../session";
import { useSync } from "../sync";

/** "1 change" or "N changes" waiting to be sent. */
export function waitingText(waiting: number): string {
  return `${waiting} ${waiting === 1 ? "change" : "changes"} waiting to be sent.`;
}

/** A time of today as hours and minutes; another day's with its date. */
function syncedAt(time: number, now = Date.now()): string {
  const date = new Date(time);
  const today = new Date(now).toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString(undefined, { timeStyle: "short" })
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The status line and the changes that need the student. */
export function SyncStatus() {
  const { online, outbox } = useSync();
  const { retry } = useSession();
  const { waiting, held, blocked, unkept, lastSynced } = outbox;
  return (
    <div className="sync-status">
      <p role="status" className={online ? "sync-line" : "offline-banner"}>
        {!online && <span>You are offline. Changes will be sent when you are back online. </span>}
        {waiting > 0 && <span>{waitingText(waiting)} </span>}
        {lastSynced !== null && (
          <span className="synced">
            Last synced <time dateTime={new Date(lastSynced).toISOString()}>{syncedAt(lastSynced)}</time>
          </span>
        )}
      </p>
      {blocked === "signedOut" && (
        <p className="error" role="alert">
          Your session has ended: sign in again to send the waiting changes.{" "}
          <button type="button" onClick={retry}>
            Sign in again
          </button>
        </p>
      )}
      {unkept && (
        <p className="error" role="alert">
          This device could not keep some changes (it may be out of room): keep this page open until they are sent.
        </p>
      )}
      {held.length > 0 && (
        <ul className="held-changes" aria-label="Changes not sent">
          {held.map((queued) => (
            <HeldChange key={queued.key} queued={queued} />
          ))}
        </ul>
      )}
    </div>
  );
}

const kinds: Record<Exclude<Command["kind"], "action">, string> = {
  create: "Creation",
  edit: "Text change",
  subject: "Subject change",
  tags: "Tags change",
  due: "Due date change",
};

const actions: Record<NoteAction, string> = {
  pin: "Pinning",
  unpin: "Unpinning",
  archive: "Archiving",
  unarchive: "Unarchiving",
  complete: "Marking done",
  reopen: "Reopening",
  trash: "Moving to the trash",
  restore: "Restoring",
};

/** What a command does, in words ("Tags change"). */
function whatItDoes(command: Command): string {
  return command.kind === "action" ? actions[command.action] : kinds[command.kind];
}

/** One held change: a conflict (open the note to choose) or a refusal (see why, discard it). */
function HeldChange({ queued }: { queued: QueuedCommand }) {
  const { offline } = useSync();
  const [title, setTitle] = useState<string | null>(null);
  const held = queued.held!;

  useEffect(() => {
    let current = true;
    void offline?.notes().then((notes) => {
      const note = notes.find((n) => n.id === queued.noteId);
      if (current && note) setTitle(noteTitle(note));
    });
    return () => {
      current = false;
    };
  }, [offline, queued.noteId]);

  const what = `${whatItDoes(queued.command)} of “${title ?? "a note"}”`;
  if (held.reason === "conflict") {
    return (
      <li>
        {what}: the note was changed elsewhere too. <Link to={`/notes/${queued.noteId}`}>Open it to choose</Link>
      </li>
    );
  }
  const why = describeProblem(new ApiError(held.status, { code: held.code, detail: held.detail }));
  return (
    <li>
      {what} was not accepted: {why}{" "}
      <button type="button" onClick={() => void offline?.outbox.discard(queued.key)}>
        Discard
      </button>
    </li>
  );
}
