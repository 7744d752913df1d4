// The note commands the screens send, each with the version it is based on
// (`If-Match`), so a change made elsewhere meanwhile is a 412, never lost;
// and, given a `key`, with an `Idempotency-Key`, so that sending it again
// after a lost reply gets the first reply instead of doing it twice.
import { api, call, ifMatch, type Note, type Schemas } from "./client";

/** What every command answers: the note's new version and the log position of the change. */
export interface Written {
  id: string;
  version: number;
  position: string;
}

/** The commands that flip one of a note's flags. */
export type NoteAction = "pin" | "unpin" | "archive" | "unarchive" | "complete" | "reopen" | "trash" | "restore";

/** The fields a new note starts with. */
export interface NewNote {
  title: string;
  body: string;
  subject?: string;
}

/** The request options of a command on the note `id` at `version`, with its idempotency key if given. */
function commandOptions(id: string, version: number, key?: string) {
  return {
    params: { path: { id }, header: { "If-Match": ifMatch(version) } },
    ...(key ? { headers: { "Idempotency-Key": key } } : {}),
  };
}

/** Creates a note; `key` makes a repeat answer with the same note. */
export function createNote(note: NewNote, key: string): Promise<Written> {
  return call(() => api.POST("/v1/notes", { body: note, headers: { "Idempotency-Key": key } }));
}

/** Flips a flag of the note at `version`. */
export function noteAction(id: string, version: number, action: NoteAction, key?: string): Promise<Written> {
  // Every flag route has the same shape; the pin route stands for them all in the types.
  const path = `/v1/notes/{id}/${action}` as "/v1/notes/{id}/pin";
  return call(() => api.POST(path, commandOptions(id, version, key)));
}

/** Changes the title and/or body of the note at `version`. */
export function editNote(
  id: string,
  version: number,
  patch: { title?: string; body?: string },
  key?: string,
): Promise<Written> {
  return call(() => api.PATCH("/v1/notes/{id}", { ...commandOptions(id, version, key), body: patch }));
}

/** Moves the note to a subject (null: none). */
export function setSubject(id: string, version: number, subject: string | null, key?: string): Promise<Written> {
  return call(() => api.PUT("/v1/notes/{id}/subject", { ...commandOptions(id, version, key), body: { subject } }));
}

/** Replaces the note's tags. */
export function setTags(id: string, version: number, tags: string[], key?: string): Promise<Written> {
  return call(() => api.PUT("/v1/notes/{id}/tags", { ...commandOptions(id, version, key), body: { tags } }));
}

/** Sets (an RFC 3339 instant) or clears (null) the note's due date. */
export function setDue(id: string, version: number, dueAt: string | null, key?: string): Promise<Written> {
  const options = commandOptions(id, version, key);
  return call(() =>
    dueAt === null
      ? api.DELETE("/v1/notes/{id}/due", options)
      : api.PUT("/v1/notes/{id}/due", { ...options, body: { due_at: dueAt } }),
  );
}

/** Deletes a note in the trash for good. */
export function purgeNote(id: string, version: number): Promise<unknown> {
  return call(() => api.DELETE("/v1/notes/{id}", { params: { path: { id }, header: { "If-Match": ifMatch(version) } } }));
}

/** The note as it is now (after our own writes). */
export function getNote(id: string): Promise<Note> {
  return call(() => api.GET("/v1/notes/{id}", { params: { path: { id } } })) as Promise<Note>;
}

/** The note's title and body as they were at `version` (read from the log: exact at once). */
export async function getNoteAt(id: string, version: number): Promise<Schemas["PastNote"]> {
  const past = await call(() => api.GET("/v1/notes/{id}", { params: { path: { id }, query: { version } } }));
  return past as Schemas["PastNote"];
}
