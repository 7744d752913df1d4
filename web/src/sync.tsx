// Keeps the signed-in app in step with the server: follows the live changes
// stream (or, where the server offers none, polls the changes feed) so edits
// made on another device appear without a reload, knows whether the server
// can be reached (the app says so, and retries when it is back), and holds
// this device's offline store: the notes kept for reading offline (the feed's
// news go into it) and the outbox of changes waiting to be sent, which goes
// out when the server answers again.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { api, ApiError, call, type Note, type Schemas } from "./api/client";
import { followChanges, type StreamEvent } from "./changesStream";
import { OfflineStore } from "./offline/store";
import type { OutboxState } from "./offline/outbox";
import { useSession } from "./session";

/** One entry of the changes feed: a note in its latest state, or a purged one. */
export type NoteChange = Schemas["Change"];

/** Receives a batch of changes from the feed. */
type Listener = (changes: NoteChange[]) => void;

interface SyncValue {
  /** Whether the server answered the last time it was asked. */
  online: boolean;
  /** Bumped whenever notes changed (here or elsewhere): counts and lists may be stale. */
  revision: number;
  /** Calls `listener` with every batch of changes from the feed; returns the unsubscribe. */
  subscribe(listener: Listener): () => void;
  /** Tells the app a request failed (offline) or worked (online) and that notes may have changed. */
  report(outcome: "offline" | "online" | "changed"): void;
  /** The signed-in user's offline store (kept notes, outbox); null until it is open. */
  offline: OfflineStore | null;
  /** The offline store, once it is open. */
  whenOffline(): Promise<OfflineStore>;
  /** What the outbox holds: waiting changes, held ones, when the app last synced. */
  outbox: OutboxState;
}

/** What the outbox holds before the store is open. */
const NOTHING_WAITING: OutboxState = { waiting: 0, held: [], blocked: null, unkept: false, lastSynced: null };
const noStore = () => () => {};

/** How often the changes feed is asked while the page is visible, when there is no stream. */
export const POLL_INTERVAL_MS = 4000;

/** The longest wait before a stream that ended or failed is opened again. */
const MAX_RECONNECT_MS = 30_000;

const SyncContext = createContext<SyncValue | null>(null);

function cursorKey(username: string): string {
  return `anote.changes.${username}`;
}

/**
 * Reads the feed from `since`, page by page; returns the changes and the new
 * cursor. A device that has no cursor yet asks for the feed's current end
 * (`since=now`): it has just loaded its notes, so the backlog is not news.
 */
async function readFeed(since: string): Promise<{ items: NoteChange[]; cursor: string }> {
  const items: NoteChange[] = [];
  let cursor = since;
  for (;;) {
    const query = { since: cursor, limit: 500 };
    const page = await call(() => api.GET("/v1/changes", { params: { query } }));
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!page.has_more) return { items, cursor: page.next_cursor };
  }
}

/** Follows the changes of the signed-in user, tracks whether the server is reachable and sends the outbox. */
export function SyncProvider({ children }: { children: ReactNode }) {
  const { user, status } = useSession();
  const username = user?.username ?? null;
  // Until the server confirms the session (a reload while offline), nothing is sent or followed.
  const confirmed = status === "signedIn";
  const [online, setOnline] = useState(() => navigator.onLine && status !== "offline");
  const [revision, setRevision] = useState(0);
  const listeners = useRef(new Set<Listener>());
  const offline = useOfflineStore(username);
  const store = offline.store;
  // The callbacks and the stream read the store through this, so they need not start again when it opens.
  const storeRef = useRef(store);
  storeRef.current = store;
  const outbox = useSyncExternalStore(
    store?.outbox.watch ?? noStore,
    store?.outbox.getState ?? (() => NOTHING_WAITING),
  );

  const report = useCallback(
    (outcome: "offline" | "online" | "changed") => {
      if (outcome === "changed") setRevision((r) => r + 1);
      else setOnline(outcome === "online");
      if (outcome === "online") {
        storeRef.current?.outbox.kick();
        storeRef.current?.outbox.markSynced();
      }
    },
    [],
  );

  // The outbox sends while the session is confirmed; what it confirms may change counts and lists.
  useEffect(() => {
    if (!store) return;
    store.outbox.setOpen(confirmed);
    const kick = () => store.outbox.kick();
    addEventListener("online", kick);
    const unlisten = store.outbox.listen((event) => {
      if (event.type !== "sent") return;
      setOnline(true);
      const { kind } = event.queued.command;
      if (kind !== "edit" && kind !== "due") setRevision((r) => r + 1);
    });
    return () => {
      store.outbox.setOpen(false);
      removeEventListener("online", kick);
      unlisten();
    };
  }, [store, confirmed]);

  useEffect(() => {
    if (status === "offline") setOnline(false);
  }, [status]);

  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => void listeners.current.delete(listener);
  }, []);

  useEffect(() => {
    if (username === null || !confirmed) return;
    const key = cursorKey(username);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let live = true;
    let connection: AbortController | undefined;
    let nudge: () => void = () => {};

    const deliver = (items: NoteChange[]) => {
      if (items.length === 0 || stopped) return;
      void keepChanges(storeRef.current, items);
      listeners.current.forEach((listener) => listener(items));
      setRevision((r) => r + 1);
    };
    const answered = () => {
      setOnline(true);
      storeRef.current?.outbox.kick();
      storeRef.current?.outbox.markSynced();
    };

    const poll = async () => {
      if (live || running || stopped) return;
      running = true;
      clearTimeout(timer);
      try {
        const { items, cursor } = await readFeed(localStorage.getItem(key) ?? "now");
        localStorage.setItem(key, cursor);
        answered();
        deliver(items);
      } catch (cause) {
        if (cause instanceof ApiError && cause.status === 0) setOnline(false);
        if (cause instanceof ApiError && cause.code === "invalid_query") localStorage.removeItem(key);
      } finally {
        running = false;
        if (!stopped && document.visibilityState === "visible") timer = setTimeout(poll, POLL_INTERVAL_MS);
      }
    };

    // Waits until `nudge` is called or, unless `ms` is null, `ms` have passed.
    const pause = (ms: number | null) =>
      new Promise<void>((resume) => {
        nudge = resume;
        if (ms !== null) timer = setTimeout(resume, ms);
      });

    // Follows the stream from the stored cursor while the page is visible
    // (a hidden tab holds no connection: browsers allow a few per server);
    // when it ends or fails, opens it again after a wait that grows with each
    // failure (cut short when the device comes back online or the page is
    // shown). A server without streams, or one that holds as many of this
    // account's as it may, is polled instead.
    const follow = async () => {
      let failures = 0;
      while (!stopped) {
        if (document.visibilityState === "hidden") {
          await pause(null);
          continue;
        }
        connection = new AbortController();
        const onEvent = (event: StreamEvent) => {
          localStorage.setItem(key, event.id);
          failures = 0;
          answered();
          if (event.type === "change") deliver([event.change]);
        };
        try {
          await followChanges(localStorage.getItem(key) ?? "now", connection.signal, onEvent);
        } catch (cause) {
          if (stopped) return;
          failures += 1;
          if (cause instanceof ApiError && cause.status === 0) setOnline(false);
          if (cause instanceof ApiError && cause.code === "invalid_query") localStorage.removeItem(key);
          if (cause instanceof ApiError && [404, 405, 429, 501].includes(cause.status)) {
            live = false;
            void poll();
            return;
          }
        }
        if (connection.signal.aborted) continue;
        await pause(failures === 0 ? 0 : Math.min(MAX_RECONNECT_MS, 1000 * 2 ** Math.min(failures, 5)));
      }
    };

    const wake = () => {
      if (!live) void poll();
      else if (document.visibilityState === "hidden") connection?.abort();
      else nudge();
    };
    const goOffline = () => setOnline(false);
    addEventListener("online", wake);
    addEventListener("offline", goOffline);
    addEventListener("focus", wake);
    document.addEventListener("visibilitychange", wake);
    void follow();
    return () => {
      stopped = true;
      clearTimeout(timer);
      connection?.abort();
      nudge();
      removeEventListener("online", wake);
      removeEventListener("offline", goOffline);
      removeEventListener("focus", wake);
      document.removeEventListener("visibilitychange", wake);
    };
  }, [username, confirmed]);

  const { whenOpen } = offline;
  const value = useMemo(
    () => ({ online, revision, subscribe, report, offline: store, whenOffline: whenOpen, outbox }),
    [online, revision, subscribe, report, store, whenOpen, outbox],
  );
  return <SyncContext.Provider value={value}>{children}</SyncContext.Provider>;
}

/** Opens the offline store of `username` (closed when the user changes or the app goes). */
function useOfflineStore(username: string | null) {
  const [store, setStore] = useState<OfflineStore | null>(null);
  const opening = useRef(pendingStore());

  useEffect(() => {
    if (username === null) return;
    let current = true;
    let opened: OfflineStore | null = null;
    void OfflineStore.open(username).then((store) => {
      if (!current) return store.close();
      opened = store;
      setStore(store);
      opening.current.open(store);
    });
    return () => {
      current = false;
      opened?.close();
      setStore(null);
      opening.current = pendingStore();
    };
  }, [username]);

  // The same function for the app's whole life: it answers for the user signed in when called.
  const whenOpen = useCallback(() => opening.current.promise, []);
  return { store, whenOpen };
}

/** A store still to be opened: its promise, and the function that settles it. */
function pendingStore() {
  let open: (store: OfflineStore) => void = () => {};
  const promise = new Promise<OfflineStore>((resolve) => (open = resolve));
  return { promise, open };
}

/** Keeps the notes of a batch of changes on this device (and forgets the purged ones). */
async function keepChanges(store: OfflineStore | null, changes: NoteChange[]): Promise<void> {
  if (!store) return;
  const notes = changes.flatMap((change) => (change.note ? [change.note as Note] : []));
  await store.cache.keep(notes);
  for (const change of changes) if (change.deleted) await store.cache.forget(change.id);
}

/** The sync state: online, revision, subscribe, report, the offline store and its outbox. */
export function useSync(): SyncValue {
  const sync = useContext(SyncContext);
  if (!sync) throw new Error("useSync() outside SyncProvider");
  return sync;
}

/** Calls `onChanges` with each batch of changes from the feed while mounted. */
export function useNoteChanges(onChanges: Listener): void {
  const { subscribe } = useSync();
  const latest = useRef(onChanges);
  latest.current = onChanges;
  useEffect(() => subscribe((changes) => latest.current(changes)), [subscribe]);
}
