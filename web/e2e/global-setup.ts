import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { FullConfig } from "@playwright/test";
import { startAnote } from "../scripts/anote-server.mjs";

/**
 * Starts `anote serve` for the whole run (unless `ANOTE_E2E_BASE_URL` names a
 * running app) and hands its address to the tests through the environment;
 * the returned function stops it when the run ends.
 */
export default async function globalSetup(config: FullConfig): Promise<(() => Promise<void>) | undefined> {
  if (process.env.ANOTE_E2E_BASE_URL) return undefined;
  const results = join(dirname(config.configFile ?? "."), "test-results");
  mkdirSync(results, { recursive: true });
  const server = await startAnote({ logFile: join(results, "anote-serve.log") });
  process.env.ANOTE_E2E_BASE_URL = server.url;
  return server.stop;
}
