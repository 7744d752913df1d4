// The service worker answers the app's pages and its build's files, and
// leaves the API, the service routes and downloads to the network.
import { describe, expect, it } from "vitest";
import { cacheName, handlingOf, isOldCache } from "./routes";

const origin = "https://anote.example";
const files = new Set(["/index.html", "/assets/index-abc.js", "/manifest.webmanifest"]);
const get = (path: string, mode = "cors") => handlingOf({ method: "GET", url: origin + path, mode }, origin, files);

describe("handlingOf", () => {
  it("serves pages and the build's files", () => {
    expect(get("/", "navigate")).toBe("page");
    expect(get("/notes/123?x=1", "navigate")).toBe("page");
    expect(get("/assets/index-abc.js")).toBe("file");
    expect(get("/manifest.webmanifest")).toBe("file");
  });

  it("never touches the API, the service routes, downloads or other origins", () => {
    for (const path of ["/v1/notes", "/v1/changes/stream", "/v1/documents/1", "/v1/blobs/x", "/v1", "/healthz", "/readyz", "/metrics", "/openapi.json"]) {
      expect(get(path), path).toBe("network");
      expect(get(path, "navigate"), `${path} as a page`).toBe("network");
    }
    expect(handlingOf({ method: "GET", url: "https://s3.example/doc", mode: "navigate" }, origin, files)).toBe("network");
    expect(handlingOf({ method: "POST", url: `${origin}/`, mode: "navigate" }, origin, files)).toBe("network");
    expect(get("/assets/unknown.js")).toBe("network");
  });
});

describe("caches", () => {
  it("names one cache per build and finds the older ones", () => {
    expect(isOldCache(cacheName("old"), "new")).toBe(true);
    expect(isOldCache(cacheName("new"), "new")).toBe(false);
    expect(isOldCache("someone-elses", "new")).toBe(false);
  });
});
