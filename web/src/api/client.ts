// The typed API client: every request goes through `api`, which adds the
// access token and, when the server says it expired, refreshes it once and
// sends the request again.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

/** The API's named schemas, e.g. `Schemas["NoteBody"]`. */
export type Schemas = components["schemas"];

/** A note as the API shows it (lists leave `body` out). */
export type Note = Schemas["NoteBody"];

/** An RFC 9457 problem reply as the API sends it. */
export type Problem = Schemas["Problem"];

/** What the client needs from the session: the current token and a way to renew it. */
export interface TokenSource {
  /** The access token to send, or null when signed out. */
  accessToken(): string | null;
  /** Gets a new access token; resolves to false when the session is over. */
  refresh(): Promise<boolean>;
}

let tokens: TokenSource = { accessToken: () => null, refresh: async () => false };

/** Connects the client to the session that owns the tokens. */
export function setTokenSource(source: TokenSource): void {
  tokens = source;
}

let lastWrite: { tx: bigint; seq: bigint; text: string } | null = null;

/**
 * Remembers the log position of a write of ours (`Anote-Position`), so that
 * later reads wait until the read models include it (read your writes).
 */
export function rememberPosition(position: string | null): void {
  const match = position?.match(/^(\d{1,19})-(\d{1,19})$/);
  if (!match) return;
  const [tx, seq] = [BigInt(match[1]), BigInt(match[2])];
  if (!lastWrite || tx > lastWrite.tx || (tx === lastWrite.tx && seq > lastWrite.seq)) {
    lastWrite = { tx, seq, text: match[0] };
  }
}

/** Sends a request with the access token, refreshing it once after a 401. */
async function authorizedFetch(request: Request): Promise<Response> {
  if (request.method === "GET" && lastWrite) request.headers.set("Anote-Min-Position", lastWrite.text);
  const response = await sendWithToken(request);
  rememberPosition(response.headers.get("Anote-Position"));
  return response;
}

async function sendWithToken(request: Request): Promise<Response> {
  const token = tokens.accessToken();
  if (!token || request.headers.has("Authorization")) return fetch(request);
  const retry = request.clone();
  request.headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(request);
  // The session routes answer 401 for their own reasons: no refresh there.
  const isSessionRoute = new URL(request.url).pathname.startsWith("/v1/sessions");
  if (response.status !== 401 || isSessionRoute || !(await tokens.refresh())) return response;
  const renewed = tokens.accessToken();
  if (renewed) retry.headers.set("Authorization", `Bearer ${renewed}`);
  return fetch(retry);
}

/** The API client (openapi-fetch over the generated `paths`). */
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: authorizedFetch,
});

/** A problem reply (or a network failure, with status 0) as an exception. */
export class ApiError extends Error {
  /** The HTTP status; 0 when the request never got an answer. */
  readonly status: number;
  /** The problem's stable `code`, e.g. `version_mismatch`. */
  readonly code: string;
  /** The whole problem body, when the server sent one. */
  readonly problem: Partial<Problem> & Record<string, unknown>;
  /** How many seconds the server asked to wait before trying again (`Retry-After`), if it said. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Partial<Problem> & Record<string, unknown>, retryAfter: number | null = null) {
    super(String(problem.detail ?? problem.title ?? `Request failed (${status})`));
    this.name = "ApiError";
    this.status = status;
    this.code = String(problem.code ?? (status === 0 ? "network" : "unknown"));
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** The seconds a `Retry-After` header asks for (a number of seconds or a date), or null. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The data of a successful openapi-fetch result; throws `ApiError` for a problem reply. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    const problem = typeof result.error === "object" && result.error !== null ? result.error : {};
    const retryAfter = retryAfterSeconds(result.response.headers.get("Retry-After"));
    throw new ApiError(result.response.status, problem as ApiError["problem"], retryAfter);
  }
  return result.data as T;
}

/** Runs a request, turning a network failure into an `ApiError` with status 0. */
export async function call<T>(
  request: () => Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result;
  try {
    result = await request();
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    throw new ApiError(0, { detail: "The server could not be reached." });
  }
  return unwrap(result);
}

/** The `If-Match` header value for a note version. */
export function ifMatch(version: number): string {
  return `"${version}"`;
}
