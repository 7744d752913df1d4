// The service worker (built into /sw.js by plugins/serviceWorker.ts). It
// keeps this build's app shell (index.html, the hashed files under /assets,
// the manifest and the icons) in a cache of its own, so the app opens with
// no network. A page is asked of the network first and, when the network
// cannot answer (or the server fails), it is the cached index.html; the
// build's files come from the cache. The API, the service routes and
// downloads are never touched. A new build brings a new worker with a new
// cache, which takes over at once and deletes the caches of older builds.
import { cacheName, handlingOf, isOldCache } from "./routes";

declare const self: ServiceWorkerGlobalScope;

/** This build's version and the files to keep, written in front of the script by the build. */
declare const ANOTE_BUILD: { version: string; files: string[] };

const CACHE = cacheName(ANOTE_BUILD.version);
const FILES: ReadonlySet<string> = new Set(ANOTE_BUILD.files);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(ANOTE_BUILD.files))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => isOldCache(name, ANOTE_BUILD.version)).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const handling = handlingOf(event.request, self.location.origin, FILES);
  if (handling === "page") event.respondWith(page(event.request));
  else if (handling === "file") event.respondWith(file(event.request));
});

/** A page from the network; the cached app when the network cannot answer or the server fails. */
async function page(request: Request): Promise<Response> {
  try {
    const response = await fetch(request);
    return response.status < 500 ? response : ((await appShell()) ?? response);
  } catch (error) {
    const shell = await appShell();
    if (shell) return shell;
    throw error;
  }
}

// The cache holds one answer per path of this build, so its lookups ignore
// `Vary`: the server varies on `Origin` (CORS) and `Accept-Encoding`, and a
// module script's request carries an `Origin` that the cached one did not.
const ONE_PER_PATH: CacheQueryOptions = { ignoreVary: true };

/** This build's index.html, from its cache. */
async function appShell(): Promise<Response | undefined> {
  return (await caches.open(CACHE)).match("/index.html", ONE_PER_PATH);
}

/** A file of the build, from the cache (from the network if it is missing there). */
async function file(request: Request): Promise<Response> {
  return (await (await caches.open(CACHE)).match(request, ONE_PER_PATH)) ?? fetch(request);
}
