// The note commands the outbox holds: what each says, how it is sent (with
// its idempotency key and the version it is based on), and what it does to
// a note, so that screens can show a change before the server has it.
import type { Note } from "../api/client";
import {
  createNote,
  editNote,
  noteAction,
  setDue,
  setSubject,
  setTags,
  type NewNote,
  type NoteAction,
  type Written,
} from "../api/notes";
import { toLocalInput, type Fields } from "../editor/fields";

/** What a queued command does. */
export type Command =
  | { kind: "create"; note: NewNote }
  | { kind: "edit"; patch: { title?: string; body?: string } }
  | { kind: "subject"; subject: string | null }
  | { kind: "tags"; tags: string[] }
  | { kind: "due"; dueAt: string | null }
  | { kind: "action"; action: NoteAction };

/** Why a command waits for the student rather than for the network. */
export interface Held {
  /** `conflict`: the note moved on elsewhere (text on both sides); `refused`: the server said no. */
  reason: "conflict" | "refused";
  /** The HTTP status of the refusal. */
  status: number;
  /** The problem's code, e.g. `version_mismatch`. */
  code: string;
  /** What the server said, in words. */
  detail: string;
  /** For a conflict: the note's version now. */
  currentVersion?: number;
}

/** A command in the outbox. */
export interface QueuedCommand {
  /** Its place in the queue: commands are sent in this order. */
  seq: number;
  /** Its `Idempotency-Key`, made once when it was queued and sent with every try. */
  key: string;
  /** The note: a local id (`local-…`) until the note's create has been sent. */
  noteId: string;
  command: Command;
  /**
   * The version it is based on (`If-Match`); null while an earlier command
   * of the same note waits: it is then based on the version that one makes.
   */
  ifMatch: number | null;
  /** When it was queued (milliseconds since the epoch). */
  queuedAt: number;
  /** Set when it waits for the student: a conflict to resolve, a refusal to see. */
  held?: Held;
}

/** The prefix of the ids of notes created on this device that the server has not seen yet. */
export const LOCAL_ID_PREFIX = "local-";

/** Whether `id` names a note created here and not sent yet. */
export function isLocalId(id: string): boolean {
  return id.startsWith(LOCAL_ID_PREFIX);
}

/** Sends a queued command on `version` (ignored by a create), with its idempotency key. */
export function sendCommand(queued: QueuedCommand, version: number): Promise<Written> {
  const { noteId: id, command, key } = queued;
  switch (command.kind) {
    case "create":
      return createNote(command.note, key);
    case "edit":
      return editNote(id, version, command.patch, key);
    case "subject":
      return setSubject(id, version, command.subject, key);
    case "tags":
      return setTags(id, version, command.tags, key);
    case "due":
      return setDue(id, version, command.dueAt, key);
    case "action":
      return noteAction(id, version, command.action, key);
  }
}

/** The note's flags after an action. */
export function flagsAfter(action: NoteAction): Partial<Note> {
  switch (action) {
    case "pin":
      return { pinned: true };
    case "unpin":
      return { pinned: false };
    case "archive":
      return { archived: true };
    case "unarchive":
      return { archived: false };
    case "complete":
      return { done: true };
    case "reopen":
      return { done: false };
    case "trash":
      return { trashed: true };
    case "restore":
      return { trashed: false };
  }
}

/** The note as it is once `command` is done (its version unchanged: only the server gives versions). */
export function applyToNote(note: Note, command: Command, at: number): Note {
  const updated_at = new Date(at).toISOString();
  switch (command.kind) {
    case "create":
      return { ...note, ...command.note, snippet: snippetOf(command.note.body), updated_at };
    case "edit": {
      const body = command.patch.body ?? note.body;
      return { ...note, ...command.patch, snippet: body == null ? note.snippet : snippetOf(body), updated_at };
    }
    case "subject":
      return { ...note, subject: command.subject, updated_at };
    case "tags":
      return { ...note, tags: command.tags, updated_at };
    case "due":
      return { ...note, due_at: command.dueAt, updated_at };
    case "action":
      return { ...note, ...flagsAfter(command.action), updated_at };
  }
}

/** The editor's fields once `command` is done. */
export function applyToFields(fields: Fields, command: Command): Fields {
  switch (command.kind) {
    case "create":
      return { ...fields, title: command.note.title, body: command.note.body, subject: command.note.subject ?? "" };
    case "edit":
      return { ...fields, ...command.patch };
    case "subject":
      return { ...fields, subject: command.subject ?? "" };
    case "tags":
      return { ...fields, tags: command.tags.join(", ") };
    case "due":
      return { ...fields, due: command.dueAt ? toLocalInput(command.dueAt) : "" };
    case "action":
      return fields;
  }
}

/** The start of a Markdown body as plain text, as lists show it. */
function snippetOf(body: string): string {
  return body
    .replace(/[#>*_`~[\]()!-]+/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 160);
}
