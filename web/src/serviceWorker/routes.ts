// What the service worker answers and what it leaves alone: the app's pages
// and the files of its build only; never the API, the service routes
// (health, readiness, metrics, the API document) nor a download, which go to
// the network as if there were no worker.

/** How the service worker handles a request. */
export type Handling = "page" | "file" | "network";

/** The prefix of the caches of the app's builds. */
const CACHE_PREFIX = "anote-app-";

/** Whether `path` is the API's or a service route's (as the server says: `anote_http::is_api_path`). */
function isServerPath(path: string): boolean {
  return (
    path === "/v1" || path.startsWith("/v1/") || ["/openapi.json", "/healthz", "/readyz", "/metrics"].includes(path)
  );
}

/**
 * How to handle a request: a page of the app (`page`), a file of the build
 * (`file`: `files` holds their paths), or nothing to do with the worker.
 */
export function handlingOf(
  request: { method: string; url: string; mode: string },
  origin: string,
  files: ReadonlySet<string>,
): Handling {
  if (request.method !== "GET") return "network";
  const url = new URL(request.url);
  if (url.origin !== origin || isServerPath(url.pathname)) return "network";
  if (request.mode === "navigate") return "page";
  return files.has(url.pathname) ? "file" : "network";
}

/** The name of the cache of the build `version`. */
export function cacheName(version: string): string {
  return CACHE_PREFIX + version;
}

/** Whether the cache `name` holds an older build than `version` (to delete). */
export function isOldCache(name: string, version: string): boolean {
  return name.startsWith(CACHE_PREFIX) && name !== cacheName(version);
}
