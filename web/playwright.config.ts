import { defineConfig } from "@playwright/test";

/**
 * The browser tests: Debian's Chromium (never a downloaded one) against a
 * real `anote serve` that `e2e/global-setup.ts` starts with a fresh data
 * folder, or against `ANOTE_E2E_BASE_URL` when that is set.
 */
export default defineConfig({
  testDir: "./e2e",
  outputDir: "./test-results/artifacts",
  globalSetup: "./e2e/global-setup.ts",
  fullyParallel: true,
  // Two cores here: one browser per core.
  workers: 2,
  forbidOnly: !!process.env.CI,
  // One retry on these busy two-core machines; the report marks a test that needed it as flaky.
  retries: 1,
  // Most tests take 5 to 20 s; the margin is for a machine busy with other builds.
  timeout: 90_000,
  expect: { timeout: 10_000 },
  reporter: [["list"], ["html", { outputFolder: "./test-results/report", open: "never" }]],
  use: {
    headless: true,
    viewport: { width: 1280, height: 800 },
    timezoneId: "UTC",
    launchOptions: { executablePath: "/usr/bin/chromium" },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
  },
});
