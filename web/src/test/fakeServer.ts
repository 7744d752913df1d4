// A stand-in for the server in component tests: `fetch` replaced by a double
// that answers from route handlers and records every request it was sent.
import { vi } from "vitest";

/** A request the double received. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

/** A handler's answer: status and JSON body (and headers). */
export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (request: SeenRequest) => Reply | undefined | Promise<Reply | undefined>;

/** Installs the double as `fetch`; `on(method, path, handler)` adds answers (the newest wins). */
export function fakeServer() {
  const routes: { method: string; path: string | RegExp; handler: Handler }[] = [];
  const seen: SeenRequest[] = [];

  const fetchDouble = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const text = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    const entry: SeenRequest = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: text ? JSON.parse(text) : undefined,
    };
    seen.push(entry);
    for (const route of [...routes].reverse()) {
      const pathMatches = typeof route.path === "string" ? route.path === url.pathname : route.path.test(url.pathname);
      if (route.method !== request.method || !pathMatches) continue;
      const reply = await route.handler(entry);
      if (!reply) continue;
      const status = reply.status ?? 200;
      const isProblem = status >= 400;
      return new Response(status === 204 ? null : JSON.stringify(reply.body ?? {}), {
        status,
        headers: {
          "Content-Type": isProblem ? "application/problem+json" : "application/json",
          ...reply.headers,
        },
      });
    }
    return new Response(JSON.stringify({ code: "route_not_found", status: 404 }), {
      status: 404,
      headers: { "Content-Type": "application/problem+json" },
    });
  });
  vi.stubGlobal("fetch", fetchDouble);

  const server = {
    seen,
    /** Answers `method path` with `handler` (or a fixed reply). */
    on(method: string, path: string | RegExp, handler: Handler | Reply) {
      routes.push({ method, path, handler: typeof handler === "function" ? handler : () => handler });
      return server;
    },
    /** The requests seen for `method path`. */
    requests(method: string, path: string | RegExp) {
      return seen.filter(
        (r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)),
      );
    },
  };
  // A signed-in session and a quiet changes feed, unless a test says otherwise.
  server
    .on("POST", "/v1/sessions/refresh", { body: { access_token: "token", expires_in: 900, token_type: "Bearer" } })
    .on("GET", "/v1/changes", { body: { items: [], next_cursor: "1-0", has_more: false } })
    .on("GET", "/v1/subjects", { body: { items: [] } })
    .on("GET", "/v1/tags", { body: { items: [] } });
  return server;
}
