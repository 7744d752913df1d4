// Starts a real `anote serve` for the browser tests and the budgets: a fresh
// data folder, a free loopback port, and the process stopped (and the folder
// removed) by the returned `stop`.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The anote binary to test: `ANOTE_BIN`, else the debug build in
 * `$CARGO_TARGET_DIR` or the repository's `target/`.
 * @returns {string}
 */
export function anoteBinary() {
  if (process.env.ANOTE_BIN) return process.env.ANOTE_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(webDir, "..", "target");
  return join(target, "debug", "anote");
}

/** @returns {Promise<number>} a port of 127.0.0.1 nobody listens on right now */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
      server.close(() => done(port));
    });
  });
}

/**
 * Starts `anote serve` with a fresh data folder and waits for its
 * `anote listening on http://ADDR` line.
 * @param {{ logFile?: string, env?: Record<string, string> }} [options]
 *   `logFile` receives the server's standard error; `env` adds variables.
 * @returns {Promise<{ url: string, pid: number, stop: () => Promise<void> }>}
 */
export async function startAnote(options = {}) {
  const bin = anoteBinary();
  if (!existsSync(bin)) {
    throw new Error(`no anote binary at ${bin}: build it (cargo build) or set ANOTE_BIN`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), "anote-web-"));
  const port = await freePort();
  const child = spawn(bin, ["serve"], {
    env: {
      ...process.env,
      ANOTE_DATA_DIR: dataDir,
      ANOTE_LISTEN: `127.0.0.1:${port}`,
      ANOTE_LOG: process.env.ANOTE_LOG ?? "warn",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (options.logFile) child.stderr.pipe(createWriteStream(options.logFile));
  else child.stderr.resume();

  const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
  const url = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`anote serve did not start within 60 s (${bin})`)), 60_000);
    let seen = "";
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = /anote listening on (http:\/\/\S+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        done(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`anote serve exited (${code ?? signal}) before listening; see ${options.logFile ?? "its output"}`));
    });
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  return { url, pid: child.pid ?? 0, stop };
}
