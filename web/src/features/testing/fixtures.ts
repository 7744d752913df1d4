/** Sample API objects for the component tests of the features. */
import type { Note } from "../../api/client";
import { makeNote } from "../../test/notes";

/** A note with the id `n1` (short paths in the tests), with `changes` applied. */
export function aNote(changes: Partial<Note> = {}): Note {
  return makeNote({ id: "n1", ...changes });
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
