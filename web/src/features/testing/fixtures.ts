/** Sample API objects for the component tests of the features. */
import type { Note } from "../../api/client";

/** A note as `GET /v1/notes/{id}` answers, with `changes` applied. */
export function aNote(changes: Partial<Note> = {}): Note {
  return {
    id: "n1",
    title: "Limits",
    body: "# Lecture 1",
    snippet: "Lecture 1",
    subject: "Maths",
    tags: ["exam"],
    pinned: false,
    archived: false,
    trashed: false,
    due_at: null,
    done: false,
    version: 1,
    created_at: "2026-11-30T10:00:00Z",
    updated_at: "2026-11-30T10:00:00Z",
    documents: [],
    ...changes,
  } as Note;
}

/** `GET /v1/account/usage` with `changes` applied. */
export function aUsage(changes: Record<string, number> = {}) {
  return { documents: 0, bytes: 0, quota_bytes: 1024 ** 3, max_document_bytes: 50 * 1024 ** 2, ...changes };
}

/** jsdom has no modal dialogs: `showModal` and `close` only set `open`. */
export function allowModalDialogs() {
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.removeAttribute("open");
  };
}
