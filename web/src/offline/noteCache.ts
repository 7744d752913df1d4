// The notes kept on this device for reading offline: every note a list, the
// editor or the changes feed showed, as the server last showed it (lists
// leave the body out: a body is kept only while it belongs to the version
// kept), moved on by the commands the server confirmed. Writes are best
// effort: a device out of room reads what it could keep.
import type { Note } from "../api/client";
import type { Written } from "../api/notes";
import { applyToNote, type QueuedCommand } from "./commands";
import { readAll, readOne, transact } from "./db";

/** The kept notes of one user (nothing is kept without a database). */
export class NoteCache {
  constructor(private readonly db: IDBDatabase | null) {}

  /**
   * Keeps `notes` as the server shows them. A note without its body (from a
   * list) keeps the body already kept for the same version; a newer version
   * without a body drops it. An older version than the one kept changes nothing.
   */
  async keep(notes: Note[]): Promise<void> {
    const db = this.db;
    if (!db || notes.length === 0) return;
    await transact(db, "notes", "readwrite", (tx) => {
      const store = tx.objectStore("notes");
      for (const note of notes) {
        const reading = store.get(note.id);
        reading.onsuccess = () => {
          const kept = reading.result as Note | undefined;
          if (kept && kept.version > note.version) return;
          const sameVersion = kept && kept.version === note.version;
          const body = note.body !== undefined ? note.body : sameVersion ? kept.body : undefined;
          store.put({ ...note, body });
        };
      }
    }).catch(() => undefined);
  }

  /**
   * Takes a command the server confirmed into the kept note, at the version
   * it made (unless a newer one is kept already). A create keeps the note
   * under its new server id.
   */
  async confirm(queued: QueuedCommand, written: Written, created?: Note): Promise<void> {
    const db = this.db;
    if (!db) return;
    await transact(db, "notes", "readwrite", (tx) => {
      const store = tx.objectStore("notes");
      const reading = store.get(written.id);
      reading.onsuccess = () => {
        const kept = (reading.result as Note | undefined) ?? created;
        if (!kept || kept.version >= written.version) return;
        store.put({ ...applyToNote(kept, queued.command, queued.queuedAt), id: written.id, version: written.version });
      };
    }).catch(() => undefined);
  }

  /** The kept note `id`, if any. */
  async get(id: string): Promise<Note | null> {
    if (!this.db) return null;
    return (await readOne<Note>(this.db, "notes", id).catch(() => undefined)) ?? null;
  }

  /** Every kept note. */
  async all(): Promise<Note[]> {
    if (!this.db) return [];
    return readAll<Note>(this.db, "notes").catch(() => []);
  }

  /** Forgets the note `id` (purged elsewhere). */
  async forget(id: string): Promise<void> {
    if (!this.db) return;
    await transact(this.db, "notes", "readwrite", (tx) => tx.objectStore("notes").delete(id)).catch(() => undefined);
  }
}
