/**
 * Test doubles for the component tests of the features: a fake API behind
 * `fetch`, and a fake `XMLHttpRequest` for the uploads to the store.
 */
import { vi } from "vitest";

/** A request the fake API received. */
export interface Received {
  method: string;
  /** Path and query, e.g. `/v1/notes/n1/history?limit=50`. */
  path: string;
  headers: Headers;
  body: unknown;
}

/** An answer of the fake API: a JSON body with a status (200 if left out). */
export interface Answer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (request: Received) => Answer | Promise<Answer>;

/** A fake API: routes by method and path pattern; records every request. */
export class FakeApi {
  readonly received: Received[] = [];
  private readonly routes: { method: string; pattern: RegExp; handler: Handler }[] = [];

  /**
   * Answers `method` on paths matching `pattern` (a path with `*` for one
   * segment, matched against the path without its query).
   */
  on(method: string, pattern: string, handler: Handler | Answer): this {
    const regex = new RegExp(`^${pattern.replace(/[.?+]/g, "\\$&").replace(/\*/g, "[^/]+")}$`);
    this.routes.unshift({ method, pattern: regex, handler: typeof handler === "function" ? handler : () => handler });
    return this;
  }

  /** The requests received for `method` and an exact path (query left out). */
  requests(method: string, path: string): Received[] {
    return this.received.filter((r) => r.method === method && r.path.split("?")[0] === path);
  }

  /** Installs this fake as the global `fetch`. */
  install(): this {
    vi.stubGlobal("fetch", async (input: Request) => {
      const url = new URL(input.url);
      const text = await input.text();
      const received: Received = {
        method: input.method,
        path: url.pathname + url.search,
        headers: input.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      this.received.push(received);
      const route = this.routes.find((r) => r.method === input.method && r.pattern.test(url.pathname));
      const answer = route ? await route.handler(received) : problem(404, "route_not_found");
      const status = answer.status ?? 200;
      const isProblem = status >= 400;
      return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
        status,
        headers: {
          "Content-Type": isProblem ? "application/problem+json" : "application/json",
          ...answer.headers,
        },
      });
    });
    return this;
  }
}

/** A problem answer with this status and code. */
export function problem(status: number, code: string, extra: Record<string, unknown> = {}): Answer {
  return { status, body: { type: `https://anote.dev/problems/${code}`, title: code, status, code, ...extra } };
}

/** A fake `XMLHttpRequest`: each request waits until the test answers it. */
export class FakeXhr {
  /** Every request made, in order. */
  static sent: FakeXhr[] = [];

  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: Blob | null = null;
  status = 0;
  readonly upload: { onprogress: ((event: { loaded: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  /** Installs the fake as the global `XMLHttpRequest`, forgetting earlier requests. */
  static install() {
    FakeXhr.sent = [];
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  send(body: Blob) {
    this.body = body;
    FakeXhr.sent.push(this);
  }

  abort() {
    this.onabort?.();
  }

  /** Reports `loaded` bytes sent. */
  progress(loaded: number) {
    this.upload.onprogress?.({ loaded });
  }

  /** Answers with `status` (200 unless told). */
  respond(status = 200) {
    this.status = status;
    this.onload?.();
  }
}
