// Builds the service worker: src/serviceWorker/worker.ts becomes /sw.js (a
// classic script: no import or export), with this build's version and the
// files to keep for offline use (every file of the build and of public/)
// written in front of it. The version is a hash of those files' names and
// bytes, so every new build brings a new worker and a new cache, and the
// same sources give the same bytes.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import type { Plugin } from "vite";

const ENTRY = "src/serviceWorker/worker.ts";
const FILE_NAME = "sw.js";

/** The files under `dir` as their URL paths and bytes (hidden ones left out). */
function filesUnder(dir: string, root = dir): [string, Buffer][] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => !entry.name.startsWith("."))
    .flatMap((entry): [string, Buffer][] => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return filesUnder(path, root);
      return [[`/${relative(root, path).split(sep).join("/")}`, readFileSync(path)]];
    });
}

/** The plugin that emits `/sw.js`. */
export function serviceWorker(): Plugin {
  let publicDir = "";
  return {
    name: "anote-service-worker",
    apply: "build",
    configResolved(config) {
      publicDir = config.publicDir;
    },
    buildStart() {
      this.emitFile({ type: "chunk", id: ENTRY, fileName: FILE_NAME });
    },
    generateBundle: {
      order: "post",
      handler(_options, bundle) {
        const worker = bundle[FILE_NAME];
        if (worker?.type !== "chunk") return this.error(`${FILE_NAME} is missing from the build`);
        if (/^\s*(import|export)\b/m.test(worker.code)) {
          return this.error(`${FILE_NAME} must be a classic script, but it imports or exports`);
        }
        const files = new Map<string, string | Uint8Array>(filesUnder(publicDir));
        for (const [name, output] of Object.entries(bundle)) {
          if (name === FILE_NAME || name.startsWith(".")) continue;
          files.set(`/${name}`, output.type === "chunk" ? output.code : output.source);
        }
        const urls = [...files.keys()].sort();
        const hash = createHash("sha256");
        for (const url of urls) hash.update(url).update("\0").update(files.get(url)!).update("\0");
        const build = { version: hash.digest("hex").slice(0, 16), files: urls };
        worker.code = `const ANOTE_BUILD = ${JSON.stringify(build)};\n${worker.code}`;
      },
    },
  };
}
