// A signed-in user's offline store: the notes kept on this device and the
// outbox of commands waiting to be sent, over one database, and the notes
// as they are here (what the server last showed, with the waiting changes).
import type { Note } from "../api/client";
import { isLocalId } from "./commands";
import { openDatabase } from "./db";
import { NoteCache } from "./noteCache";
import { Outbox } from "./outbox";

/** The kept notes and the outbox of one user. */
export class OfflineStore {
  private constructor(
    private readonly db: IDBDatabase | null,
    /** The notes as the server last showed them. */
    readonly cache: NoteCache,
    /** The commands waiting to be sent. */
    readonly outbox: Outbox,
  ) {}

  /** Opens `username`'s store (in memory only where this browser keeps no database). */
  static async open(username: string): Promise<OfflineStore> {
    const db = await openDatabase(username);
    const cache = new NoteCache(db);
    return new OfflineStore(db, cache, await Outbox.load(db, cache));
  }

  /** Every note this device has, with the changes waiting to be sent done (notes created here included). */
  async notes(): Promise<Note[]> {
    return this.outbox.overlay(await this.cache.all());
  }

  /**
   * The note `id` as the server last showed it, with its body (a note
   * created here: empty, at version 0), or null when this device has no
   * copy to open. The waiting changes are not done: the editor does them.
   */
  async savedNote(id: string): Promise<Note | null> {
    if (isLocalId(id)) return this.outbox.localNote(id);
    const note = await this.cache.get(id);
    return note && note.body != null ? note : null;
  }

  /** Stops the outbox and closes the database. */
  close(): void {
    this.outbox.close();
    this.db?.close();
  }
}
