// Keeps the signed-in app in step with the server: follows the live changes
// stream (or, where the server offers none, polls the changes feed) so edits
// made on another device appear without a reload, and knows whether the
// server can be reached (the app says so, and retries when it is back).
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api, ApiError, call, type Schemas } from "./api/client";
import { followChanges, type StreamEvent } from "./changesStream";
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
}

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

/** Follows the changes of the signed-in user and tracks whether the server is reachable. */
export function SyncProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const [online, setOnline] = useState(() => navigator.onLine);
  const [revision, setRevision] = useState(0);
  const listeners = useRef(new Set<Listener>());

  const report = useCallback((outcome: "offline" | "online" | "changed") => {
    if (outcome === "changed") setRevision((r) => r + 1);
    else setOnline(outcome === "online");
  }, []);

  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => void listeners.current.delete(listener);
  }, []);

  useEffect(() => {
    if (!user) return;
    const key = cursorKey(user.username);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let live = true;
    let connection: AbortController | undefined;
    let nudge: () => void = () => {};

    const deliver = (items: NoteChange[]) => {
      if (items.length === 0 || stopped) return;
      listeners.current.forEach((listener) => listener(items));
      setRevision((r) => r + 1);
    };

    const poll = async () => {
      if (live || running || stopped) return;
      running = true;
      clearTimeout(timer);
      try {
        const { items, cursor } = await readFeed(localStorage.getItem(key) ?? "now");
        localStorage.setItem(key, cursor);
        setOnline(true);
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
          setOnline(true);
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
  }, [user]);

  const value = useMemo(() => ({ online, revision, subscribe, report }), [online, revision, subscribe, report]);
  return <SyncContext.Provider value={value}>{children}</SyncContext.Provider>;
}

/** The sync state: online, revision, subscribe, report. */
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

/** The banner that says the app is offline (a live status region). */
export function OfflineStatus() {
  const { online } = useSync();
  return (
    <div role="status" className={online ? "visually-hidden" : "offline-banner"}>
      {online ? "" : "You are offline. Changes will be sent when you are back online."}
    </div>
  );
}
