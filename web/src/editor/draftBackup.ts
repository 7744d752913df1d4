// Unsaved changes survive a reload or a crash: while the editor has changes
// the server has not confirmed, they are kept in this browser (and dropped
// once saved, or when the student signs out).
import type { Fields } from "./fields";

/** What was typed on top of a version, kept until it is saved. */
export interface DraftBackup {
  /** The version the changes were typed on. */
  version: number;
  /** The fields of that version. */
  base: Fields;
  /** The fields as typed. */
  draft: Fields;
}

const PREFIX = "anote.draft.";

/** The kept draft of a note, if any. */
export function readDraftBackup(noteId: string): DraftBackup | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(PREFIX + noteId) ?? "null");
    const valid = parsed && typeof parsed.version === "number" && parsed.base && parsed.draft;
    return valid ? parsed : null;
  } catch {
    return null;
  }
}

/** Keeps (or, with null, forgets) the draft of a note. */
export function writeDraftBackup(noteId: string, backup: DraftBackup | null): void {
  try {
    if (backup) localStorage.setItem(PREFIX + noteId, JSON.stringify(backup));
    else localStorage.removeItem(PREFIX + noteId);
  } catch {
    // Storage full or disabled: the editor still works, only without this safety net.
  }
}

/** Forgets every kept draft (signing out). */
export function clearDraftBackups(): void {
  for (const key of Object.keys(localStorage)) if (key.startsWith(PREFIX)) localStorage.removeItem(key);
}
