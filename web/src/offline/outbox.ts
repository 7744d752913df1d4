// The outbox: the note commands made on this device, kept in IndexedDB until
// the server confirms them, and sent one at a time in the order they were
// made. Each command carries an Idempotency-Key made once, when it was
// queued: a command whose reply was lost goes again with the same key, and
// the server answers with its first reply instead of doing it twice.
//
// The commands of a note form a chain: each is based (If-Match) on the
// version the one before it made. A note created here goes by a local id
// until its create is sent, then by its server id. A change made elsewhere
// meanwhile is never overwritten: a text edit the server refuses with 412
// waits as a conflict for the editor to settle; other commands go again on
// the newer version. A command refused for another reason waits for the
// student to see it and discard it. An unreachable or busy server, or an
// ended session, stops the sending until it may go on.
import { ApiError, type Note } from "../api/client";
import type { NewNote, Written } from "../api/notes";
import { applyToNote, LOCAL_ID_PREFIX, sendCommand, type Command, type Held, type QueuedCommand } from "./commands";
import { readAll, readOne, transact } from "./db";
import type { NoteCache } from "./noteCache";

/** Why the outbox stopped sending, if it did. */
export type Blocked = "offline" | "signedOut" | "busy" | null;

/** What the outbox holds, as the app shows it. */
export interface OutboxState {
  /** How many commands the server has not confirmed yet (held ones included). */
  waiting: number;
  /** The commands that wait for the student: conflicts to resolve, refusals to see. */
  held: QueuedCommand[];
  /** Why sending stopped, if it did (`offline` too while it may not send). */
  blocked: Blocked;
  /** Whether some waiting commands could not be written to this device (out of room): they live in this page only. */
  unkept: boolean;
  /** When the server last had every change (milliseconds since the epoch), if it ever had. */
  lastSynced: number | null;
}

/** What happened to a command: confirmed by the server (`queued.noteId` is the server id), held, or discarded. */
export type OutboxEvent =
  | { type: "sent"; queued: QueuedCommand; written: Written }
  | { type: "held"; queued: QueuedCommand }
  | { type: "discarded"; queued: QueuedCommand };

/** How a submitted command fared: confirmed, waiting for the server, or waiting for the student. */
export type Outcome = "sent" | "queued" | "held";

/** Sends one command on a version (the network, or a test's double). */
export type Transport = (queued: QueuedCommand, version: number) => Promise<Written>;

/** How often a command other than an edit goes again on a newer version before it counts as refused. */
const MAX_REBASES = 3;

/** The first wait before trying an unreachable server again; it doubles up to `MAX_RETRY_MS`. */
const FIRST_RETRY_MS = 5000;
const MAX_RETRY_MS = 60_000;

/** How often "last synced" moves on while nothing waits. */
const SYNCED_EVERY_MS = 10_000;

interface Persisted {
  put?: QueuedCommand[];
  remove?: QueuedCommand[];
  meta?: Record<string, unknown>;
}

/** The outbox of one signed-in user. */
export class Outbox {
  private queue: QueuedCommand[] = [];
  private aliases = new Map<string, string>();
  private lastSeq = 0;
  private lastSynced: number | null = null;
  private blocked: Blocked = null;
  private notBefore = 0;
  private failures = 0;
  private rebases = new Map<string, number>();
  private unkept = new Set<string>();
  private snapshot: OutboxState;
  private readonly watchers = new Set<() => void>();
  private readonly listeners = new Set<(event: OutboxEvent) => void>();
  private readonly waiters = new Map<string, (outcome: Outcome) => void>();
  private running = false;
  private open = false;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: IDBDatabase | null,
    private readonly cache: NoteCache,
    private readonly send: Transport,
  ) {
    this.snapshot = this.state();
  }

  /** The outbox kept in `db` (empty without a database). */
  static async load(db: IDBDatabase | null, cache: NoteCache, send: Transport = sendCommand): Promise<Outbox> {
    const outbox = new Outbox(db, cache, send);
    if (db) {
      const [queue, aliases, lastSynced] = await Promise.all([
        readAll<QueuedCommand>(db, "outbox").catch(() => []),
        readOne<Record<string, string>>(db, "meta", "aliases").catch(() => undefined),
        readOne<number>(db, "meta", "lastSynced").catch(() => undefined),
      ]);
      outbox.queue = queue.sort((a, b) => a.seq - b.seq);
      outbox.aliases = new Map(Object.entries(aliases ?? {}));
      outbox.lastSynced = lastSynced ?? null;
      outbox.lastSeq = Math.max(0, ...queue.map((q) => q.seq));
      outbox.changed();
    }
    return outbox;
  }

  /** What the outbox holds now (the same object until something changes). */
  getState = (): OutboxState => this.snapshot;

  /** Calls `watcher` whenever the state changes; returns the unsubscribe. */
  watch = (watcher: () => void): (() => void) => {
    this.watchers.add(watcher);
    return () => void this.watchers.delete(watcher);
  };

  /** Calls `listener` with every command sent or held; returns the unsubscribe. */
  listen(listener: (event: OutboxEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** The server id of a note created here, once its create was sent (any other id as it is). */
  resolveId(id: string): string {
    return this.aliases.get(id) ?? id;
  }

  /** The commands of note `id` the server has not confirmed yet, in order. */
  pending(id: string): QueuedCommand[] {
    const noteId = this.resolveId(id);
    return this.queue.filter((q) => q.noteId === noteId);
  }

  /** The notes as they are here: `notes` (as the server showed them) with the waiting commands done, and the notes created here. */
  overlay(notes: Note[]): Note[] {
    const byId = new Map(notes.map((note) => [note.id, note]));
    for (const queued of this.queue) {
      const note = byId.get(queued.noteId) ?? (queued.command.kind === "create" ? blankNote(queued) : undefined);
      if (note) byId.set(queued.noteId, applyToNote(note, queued.command, queued.queuedAt));
    }
    return [...byId.values()];
  }

  /** A note created here and not sent yet, before its create (version 0, empty), or null. */
  localNote(id: string): Note | null {
    const create = this.queue.find((q) => q.noteId === id && q.command.kind === "create");
    return create ? blankNote(create) : null;
  }

  /**
   * Queues `command` for note `id`, based on `version` (or, while earlier
   * commands of the note wait, on the version they make), keeps it on this
   * device and sends it when it may. Resolves once it was sent, or once it
   * has to wait (for the server or for the student).
   */
  async submit(id: string, command: Command, version: number): Promise<Outcome> {
    const noteId = this.resolveId(id);
    const chained = this.queue.some((q) => q.noteId === noteId);
    const queued: QueuedCommand = {
      seq: (this.lastSeq = Math.max(this.lastSeq + 1, Date.now())),
      key: crypto.randomUUID(),
      noteId,
      command,
      ifMatch: chained ? null : version,
      queuedAt: Date.now(),
    };
    this.queue.push(queued);
    this.changed();
    await this.persist({ put: [queued] });
    // Sending may have gone on while it was written: it may be through, or held, already.
    const now = this.queue.find((q) => q.key === queued.key);
    if (!now) return "sent";
    if (now.held) return "held";
    const outcome = new Promise<Outcome>((resolve) => this.waiters.set(queued.key, resolve));
    if (this.mayRun()) void this.run();
    else this.release();
    return outcome;
  }

  /** Queues a new note; resolves with its id: the server's once sent, else a local one. */
  async create(note: NewNote): Promise<string> {
    const id = LOCAL_ID_PREFIX + crypto.randomUUID();
    await this.submit(id, { kind: "create", note }, 0);
    return this.resolveId(id);
  }

  /**
   * Settles the conflict of note `id`: its held edit becomes `patch` based on
   * `version` (the note's version now), under a new key, or goes when the
   * patch is empty; the note's later edits go with it (their text is in the
   * patch). The note's other commands follow as they were.
   */
  async settle(id: string, version: number, patch: { title?: string; body?: string }): Promise<void> {
    const noteId = this.resolveId(id);
    const mine = this.queue.filter((q) => q.noteId === noteId);
    const [first] = mine;
    if (first?.held?.reason !== "conflict") return;
    const gone = mine.filter((q, i) => i > 0 && q.command.kind === "edit");
    const put: QueuedCommand[] = [];
    if (Object.keys(patch).length > 0) {
      const settled = { ...first, key: crypto.randomUUID(), command: { kind: "edit", patch } as Command, ifMatch: version };
      delete settled.held;
      this.replace(first, settled);
      gone.push(first);
      put.push(settled);
    } else {
      gone.push(first);
    }
    this.drop(gone);
    put.push(...this.rechain(noteId, version));
    this.changed();
    await this.persist({ put, remove: gone });
    void this.run();
  }

  /**
   * Discards a command the server refused (a create takes the note's other
   * commands with it: the note will never exist). Conflicts are settled, not discarded.
   */
  async discard(key: string): Promise<void> {
    const queued = this.queue.find((q) => q.key === key);
    if (!queued || queued.held?.reason !== "refused") return;
    const gone = queued.command.kind === "create" ? this.queue.filter((q) => q.noteId === queued.noteId) : [queued];
    this.drop(gone);
    const put = queued.ifMatch === null ? [] : this.rechain(queued.noteId, queued.ifMatch);
    this.changed();
    for (const q of gone) this.emit({ type: "discarded", queued: q });
    await this.persist({ put, remove: gone });
    void this.run();
  }

  /** Allows sending (a confirmed session) or stops it (signed out, or not confirmed yet). */
  setOpen(open: boolean): void {
    this.open = open;
    this.changed();
    if (open) this.kick();
  }

  /** Tries again now (back online, the server answered), unless the server asked to wait longer. */
  kick(): void {
    if (!this.mayRun()) return;
    clearTimeout(this.timer);
    void this.run();
  }

  /** Whether sending may start now: open, and not asked by the server to wait. */
  private mayRun(): boolean {
    return this.open && !this.closed && Date.now() >= this.notBefore;
  }

  /** Notes that the server answered with nothing waiting here: the app is in sync now (kept every few seconds at most). */
  markSynced(): void {
    if (this.queue.length > 0 || (this.lastSynced !== null && Date.now() - this.lastSynced < SYNCED_EVERY_MS)) return;
    this.synced();
  }

  /** Stops every timer (the user signed out or the app went away). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.release();
  }

  /** Sends what may be sent, in order, until nothing is left or something stops it. */
  private async run(): Promise<void> {
    if (this.running || !this.mayRun()) return;
    this.running = true;
    clearTimeout(this.timer);
    let sent = false;
    try {
      for (let next = this.nextToSend(); next; next = this.nextToSend()) {
        let written: Written;
        try {
          written = await this.send(next, next.ifMatch ?? 0);
        } catch (error) {
          if (this.refused(next, error)) continue;
          return;
        }
        sent = true;
        this.failures = 0;
        this.setBlocked(null);
        await this.confirmed(next, written);
      }
      this.setBlocked(null);
      if (sent && this.queue.length === 0) this.synced();
    } finally {
      this.running = false;
      this.release();
    }
  }

  /** The first command that may go now: the first of its note, and not held. */
  private nextToSend(): QueuedCommand | undefined {
    if (this.closed) return undefined;
    const seen = new Set<string>();
    for (const queued of this.queue) {
      if (!seen.has(queued.noteId) && !queued.held) return queued;
      seen.add(queued.noteId);
    }
    return undefined;
  }

  /** Takes in a confirmed command: the note's next command is based on the version it made. */
  private async confirmed(queued: QueuedCommand, written: Written): Promise<void> {
    const before = queued.noteId;
    const created = queued.command.kind === "create" ? blankNote(queued) : undefined;
    const put: QueuedCommand[] = [];
    const meta: Record<string, unknown> = {};
    this.resolveWaiter(queued.key, "sent");
    this.drop([queued]);
    if (created) {
      this.aliases.set(before, written.id);
      meta.aliases = Object.fromEntries(this.aliases);
      this.queue = this.queue.map((q) => (q.noteId === before ? { ...q, noteId: written.id } : q));
      put.push(...this.queue.filter((q) => q.noteId === written.id));
    }
    const rechained = this.rechain(written.id, written.version);
    if (!created) put.push(...rechained);
    this.rebases.delete(queued.key);
    this.changed();
    this.emit({ type: "sent", queued: { ...queued, noteId: written.id }, written });
    await Promise.all([this.persist({ put, remove: [queued], meta }), this.cache.confirm(queued, written, created)]);
  }

  /**
   * Handles a failed send: true when the queue may go on (the command is held,
   * or goes again on a newer version), false when sending has to stop for now.
   */
  private refused(queued: QueuedCommand, error: unknown): boolean {
    const problem = error instanceof ApiError ? error : new ApiError(0, {});
    const { status } = problem;
    if (status === 0) return this.stop("offline", null);
    if (status === 401) return this.stop("signedOut", null);
    if (status === 429 || status >= 500 || problem.code === "idempotency_key_in_use") {
      return this.stop("busy", problem.retryAfter);
    }
    if (status === 412 && queued.command.kind !== "edit") {
      const tries = (this.rebases.get(queued.key) ?? 0) + 1;
      const current = Number(problem.problem.current_version);
      if (tries <= MAX_REBASES && Number.isInteger(current)) {
        this.rebases.set(queued.key, tries);
        queued.ifMatch = current;
        void this.persist({ put: [queued] });
        return true;
      }
    }
    this.hold(queued, {
      reason: status === 412 && queued.command.kind === "edit" ? "conflict" : "refused",
      status,
      code: problem.code,
      detail: problem.message,
      ...(status === 412 ? { currentVersion: Number(problem.problem.current_version) } : {}),
    });
    return true;
  }

  private hold(queued: QueuedCommand, held: Held): void {
    const heldCommand = { ...queued, held };
    this.replace(queued, heldCommand);
    this.changed();
    void this.persist({ put: [heldCommand] });
    this.emit({ type: "held", queued: heldCommand });
    this.resolveWaiter(queued.key, "held");
  }

  private resolveWaiter(key: string, outcome: Outcome): void {
    this.waiters.get(key)?.(outcome);
    this.waiters.delete(key);
  }

  /** Stops sending for now; tries again later (after `retryAfter` seconds if the server said). */
  private stop(blocked: Blocked, retryAfter: number | null): false {
    this.failures += 1;
    this.setBlocked(blocked);
    if (blocked !== "signedOut") {
      const wait = retryAfter !== null ? retryAfter * 1000 : Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
      this.notBefore = retryAfter !== null ? Date.now() + wait : 0;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.notBefore = 0;
        this.kick();
      }, wait);
    }
    return false;
  }

  /** Tells every submitter still waiting that its command waits (for the server, or behind a held one). */
  private release(): void {
    for (const [key, resolve] of this.waiters) {
      const queued = this.queue.find((q) => q.key === key);
      const behindHeld = queued && this.queue.some((q) => q.noteId === queued.noteId && q.held && q.seq <= queued.seq);
      resolve(behindHeld ? "held" : "queued");
    }
    this.waiters.clear();
  }

  /** Bases the note's first waiting command, if it waited on an earlier one, on `version`. */
  private rechain(noteId: string, version: number): QueuedCommand[] {
    const next = this.queue.find((q) => q.noteId === noteId);
    if (!next || next.ifMatch !== null) return [];
    next.ifMatch = version;
    return [next];
  }

  private replace(old: QueuedCommand, updated: QueuedCommand): void {
    this.queue = this.queue.map((q) => (q === old ? updated : q));
  }

  private drop(commands: QueuedCommand[]): void {
    this.queue = this.queue.filter((q) => !commands.includes(q));
    for (const q of commands) {
      this.unkept.delete(q.key);
      this.resolveWaiter(q.key, "held");
    }
  }

  private synced(): void {
    this.lastSynced = Date.now();
    this.changed();
    void this.persist({ meta: { lastSynced: this.lastSynced } });
  }

  private setBlocked(blocked: Blocked): void {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    this.changed();
  }

  private emit(event: OutboxEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private changed(): void {
    this.snapshot = this.state();
    for (const watcher of this.watchers) watcher();
  }

  private state(): OutboxState {
    return {
      waiting: this.queue.length,
      held: this.queue.filter((q) => q.held),
      // Closed, it waits for the session to be confirmed: for the server, like offline.
      blocked: this.open ? this.blocked : "offline",
      unkept: this.queue.some((q) => this.unkept.has(q.key)),
      lastSynced: this.lastSynced,
    };
  }

  /**
   * Writes changes to the device, one write after another. Commands that
   * could not be written (no database, no room left, or refused) are marked
   * as kept in this page only, so the app can say so.
   */
  private persist(changes: Persisted): Promise<void> {
    const write = async () => {
      const db = this.db;
      const put = (changes.put ?? []).filter((q) => this.queue.includes(q));
      const kept =
        db !== null &&
        (await transact(db, ["outbox", "meta"], "readwrite", (tx) => {
          const outbox = tx.objectStore("outbox");
          for (const q of changes.remove ?? []) outbox.delete(q.key);
          for (const q of put) outbox.put(q);
          for (const [key, value] of Object.entries(changes.meta ?? {})) tx.objectStore("meta").put(value, key);
        }).then(
          () => true,
          () => false,
        ));
      for (const q of put) {
        if (kept) this.unkept.delete(q.key);
        else this.unkept.add(q.key);
      }
      this.changed();
    };
    this.writing = this.writing.then(write);
    return this.writing;
  }
}

/** The empty note a create starts from, under the create's local id. */
function blankNote(create: QueuedCommand): Note {
  const at = new Date(create.queuedAt).toISOString();
  return {
    id: create.noteId,
    version: 0,
    title: "",
    body: "",
    snippet: "",
    subject: null,
    tags: [],
    pinned: false,
    archived: false,
    trashed: false,
    done: false,
    due_at: null,
    documents: [],
    created_at: at,
    updated_at: at,
  } as Note;
}
