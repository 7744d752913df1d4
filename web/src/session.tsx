// The signed-in session. The access token lives in this module's memory only;
// the refresh token is an HttpOnly cookie the server sets on sign-in, so a
// reload gets a new access token through `POST /v1/sessions/refresh`. Refreshes
// are serialised across tabs (the cookie rotates on every use). A reload
// that cannot reach the server opens the app of the account this device last
// signed in (offline: what it kept), and confirms the session when the server
// answers again. Signing out forgets what this device kept of the account.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { clearDraftBackups } from "./editor/draftBackup";
import { api, ApiError, call, setTokenSource, type Schemas } from "./api/client";
import { deleteDatabase } from "./offline/db";

/** Who is signed in. */
export interface Account {
  /** The (case-folded) username. */
  username: string;
}

/**
 * Where the session stands: `offline` is the account this device last signed
 * in, not confirmed yet because the server cannot be reached.
 */
export type SessionStatus = "loading" | "signedIn" | "signedOut" | "unreachable" | "offline";

/** What `useSession()` gives. */
export interface Session {
  status: SessionStatus;
  /** The signed-in account, or null. */
  user: Account | null;
  /** Signs in (the server sets the refresh cookie); throws `ApiError`. */
  signIn(username: string, password: string): Promise<void>;
  /** Opens an account, then signs in; throws `ApiError`. */
  signUp(username: string, displayName: string, password: string): Promise<void>;
  /** Ends the session here and in the other tabs. */
  signOut(): Promise<void>;
  /** Forgets the session after the account was deleted (the server already ended it). */
  forget(): void;
  /** Tries the refresh cookie again (after the server could not be reached). */
  retry(): void;
}

/** The tokens of a sign-in or refresh (the refresh token itself stays in the cookie). */
type TokenReply = Pick<Schemas["SessionReply"], "access_token" | "expires_in">;

/** How often a session not confirmed for want of a server is tried again (and when the browser is back online). */
const OFFLINE_RETRY_MS = 30_000;

const ACCOUNT_KEY = "anote.account";
const ROTATED_KEY = "anote.refreshed";
const LOCK_NAME = "anote-refresh";
const channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("anote-session");

let accessToken: string | null = null;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let inFlight: Promise<boolean> | null = null;
let onExpired: () => void = () => {};

/** Keeps a new access token and plans its renewal a minute before it expires. */
function keep(reply: TokenReply): void {
  accessToken = reply.access_token;
  clearTimeout(renewTimer);
  const seconds = Math.max(reply.expires_in - 60, reply.expires_in / 2, 5);
  renewTimer = setTimeout(() => {
    void refresh().then((ok) => ok || onExpired());
  }, seconds * 1000);
}

function drop(): void {
  accessToken = null;
  clearTimeout(renewTimer);
}

/** Runs `task` while holding the cross-tab refresh lock (where the browser has one). */
async function withRefreshLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  return locks ? await locks.request(LOCK_NAME, task) : task();
}

/** One exchange of the cookie for a new access token; false when the session is over. */
async function exchangeCookie(): Promise<boolean> {
  const { data, response } = await api.POST("/v1/sessions/refresh", {
    body: {},
    credentials: "same-origin",
  });
  if (data) {
    keep(data);
    return true;
  }
  // 401: no cookie, or a used or revoked one. Any other refusal ends the session too;
  // only an unreachable or failing server leaves it undecided.
  if (response.status < 500) return false;
  throw new ApiError(response.status, {});
}

/** When any tab last rotated the cookie (to tell a lost race from an ended session). */
function lastRotation(): string | null {
  return localStorage.getItem(ROTATED_KEY);
}

/**
 * Gets a new access token through the refresh cookie, one refresh at a time
 * across tabs. A tab whose cookie another tab rotated meanwhile (a browser
 * without locks) retries once.
 */
function refresh(): Promise<boolean> {
  inFlight ??= withRefreshLock(async () => {
    const before = lastRotation();
    const renewed = (await exchangeCookie()) || (lastRotation() !== before && (await exchangeCookie()));
    if (renewed) localStorage.setItem(ROTATED_KEY, String(Date.now()));
    return renewed;
  }).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

setTokenSource({ accessToken: () => accessToken, refresh: () => refresh().catch(() => false) });

function storedAccount(): Account | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(ACCOUNT_KEY) ?? "null");
    return parsed && typeof parsed.username === "string" ? { username: parsed.username } : null;
  } catch {
    return null;
  }
}

const SessionContext = createContext<Session | null>(null);

/** Holds the session for the app: restores it after a reload and keeps it fresh. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<SessionStatus>("loading");
  const [user, setUser] = useState<Account | null>(null);

  const end = useCallback(() => {
    drop();
    localStorage.removeItem(ACCOUNT_KEY);
    setUser(null);
    setStatus("signedOut");
  }, []);

  // The status as the last render saw it: trying again while offline keeps the app on the screen.
  const statusNow = useRef(status);
  statusNow.current = status;

  const restore = useCallback(() => {
    if (statusNow.current !== "offline") setStatus("loading");
    refresh().then(
      (ok) => {
        if (!ok) return end();
        setUser(storedAccount() ?? { username: "" });
        setStatus("signedIn");
      },
      () => {
        const account = storedAccount();
        if (account) setUser((known) => (known?.username === account.username ? known : account));
        setStatus(account ? "offline" : "unreachable");
      },
    );
  }, [end]);

  useEffect(() => {
    if (status !== "offline") return;
    const timer = setInterval(restore, OFFLINE_RETRY_MS);
    addEventListener("online", restore);
    return () => {
      clearInterval(timer);
      removeEventListener("online", restore);
    };
  }, [status, restore]);

  useEffect(() => {
    onExpired = end;
    restore();
    const onMessage = (event: MessageEvent) => {
      if (event.data === "signed-out") end();
      if (event.data === "signed-in" && !accessToken) restore();
    };
    channel?.addEventListener("message", onMessage);
    return () => channel?.removeEventListener("message", onMessage);
  }, [end, restore]);

  const signIn = useCallback(async (username: string, password: string) => {
    const reply = await call(() =>
      api.POST("/v1/sessions", {
        body: { username, password, refresh_cookie: true },
        credentials: "same-origin",
      }),
    );
    keep(reply);
    localStorage.setItem(ROTATED_KEY, String(Date.now()));
    const account = { username: username.trim().toLowerCase() };
    localStorage.setItem(ACCOUNT_KEY, JSON.stringify(account));
    setUser(account);
    setStatus("signedIn");
    channel?.postMessage("signed-in");
  }, []);

  const signUp = useCallback(
    async (username: string, displayName: string, password: string) => {
      await call(() => api.POST("/v1/accounts", { body: { username, password, display_name: displayName } }));
      await signIn(username, password);
    },
    [signIn],
  );

  /** Forgets this device's copy of the account (kept drafts, notes, outbox) and ends the session everywhere. */
  const leave = useCallback(() => {
    const account = storedAccount();
    clearDraftBackups();
    end();
    channel?.postMessage("signed-out");
    if (account) void deleteDatabase(account.username);
  }, [end]);

  const signOut = useCallback(async () => {
    await api.DELETE("/v1/sessions", { credentials: "same-origin" }).catch(() => undefined);
    leave();
  }, [leave]);

  const session = useMemo<Session>(
    () => ({ status, user, signIn, signUp, signOut, forget: leave, retry: restore }),
    [status, user, signIn, signUp, signOut, leave, restore],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** The current session; only inside `SessionProvider`. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession() outside SessionProvider");
  return session;
}
