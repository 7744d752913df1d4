/**
 * What every browser test shares: the address of the app under test, a
 * fresh account per test (with an API client for it), a guard that fails the
 * test when any page opens a JavaScript dialog (`alert`, `confirm`, …: user
 * content must never run script), and `checkScreen`, which runs axe-core on
 * a screen and saves its screenshots at phone and desktop width.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { test as base, expect, type BrowserContext, type Page } from "@playwright/test";
import { Api, freshUsername, type Account } from "../scripts/anote-api.mjs";

export { expect };

/** The two widths every main screen is checked and photographed at. */
const VIEWPORTS = [
  { width: 375, height: 812 },
  { width: 1280, height: 800 },
] as const;

interface Fixtures {
  /** A freshly registered account, not signed in anywhere yet. */
  account: Account;
  /** The API, signed in as `account`. */
  api: Api;
  /** Messages of the JavaScript dialogs pages of this test opened. */
  dialogs: string[];
}

export const test = base.extend<Fixtures>({
  baseURL: async ({}, use) => {
    const url = process.env.ANOTE_E2E_BASE_URL;
    if (!url) throw new Error("ANOTE_E2E_BASE_URL is not set: the global setup did not start anote serve");
    await use(url);
  },

  account: async ({ baseURL }, use) => {
    const account = {
      username: freshUsername("student"),
      displayName: "Ada Student",
      password: "correct horse battery",
    };
    await Api.register(baseURL!, account);
    await use(account);
  },

  api: async ({ baseURL, account }, use) => {
    await use(await Api.signIn(baseURL!, account));
  },

  dialogs: [
    async ({ context }, use) => {
      const dialogs: string[] = [];
      watchDialogs(context, dialogs);
      await use(dialogs);
      expect(dialogs, "no page may open a JavaScript dialog").toEqual([]);
    },
    { auto: true },
  ],
});

/**
 * Records in `dialogs` (and dismisses) every JavaScript dialog a page of
 * `context` opens; the `dialogs` fixture fails the test when there was one.
 */
export function watchDialogs(context: BrowserContext, dialogs: string[]): void {
  context.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()} on ${dialog.page()?.url()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => {});
  });
}

/** Signs `account` in through the sign-in screen and waits for the notes. */
export async function signIn(page: Page, account: Account): Promise<void> {
  await page.goto("/signin");
  await page.getByRole("textbox", { name: "Username" }).fill(account.username);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "New note" })).toBeVisible();
}

/**
 * Checks the screen `page` shows: a screenshot at phone and at desktop width
 * (and at desktop width in the dark scheme) goes to
 * `test-results/screenshots/<name>-<width>x<height>[-dark].png`, and axe-core
 * finds no serious or critical violation at phone width (light) nor at
 * desktop width (dark), so both layouts and both colour schemes are judged.
 * `ready` waits for what must be on the screen before it is judged.
 */
export async function checkScreen(page: Page, name: string, ready: () => Promise<void>): Promise<void> {
  const folder = join(test.info().project.outputDir, "..", "screenshots");
  mkdirSync(folder, { recursive: true });
  const original = page.viewportSize();
  const [phone, desktop] = VIEWPORTS;
  const shoot = (suffix = "") =>
    page.screenshot({
      path: join(folder, `${name}-${page.viewportSize()?.width}x${page.viewportSize()?.height}${suffix}.png`),
      fullPage: true,
    });
  try {
    await page.setViewportSize(phone);
    await ready();
    await expectAccessible(page, `${name} at ${phone.width} px`);
    await shoot();
    await page.setViewportSize(desktop);
    await ready();
    await shoot();
    await page.emulateMedia({ colorScheme: "dark" });
    await ready();
    await expectAccessible(page, `${name} at ${desktop.width} px in the dark scheme`);
    await shoot("-dark");
  } finally {
    await page.emulateMedia({ colorScheme: null });
    if (original) await page.setViewportSize(original);
  }
}

async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const severe = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help}: ${v.nodes.map((n) => `${n.html.slice(0, 160)} ${n.failureSummary ?? ""}`).join(" | ")}`);
  expect(severe, `axe-core on ${what}`).toEqual([]);
}

/**
 * Waits until the service worker is active and controls `page`: by then it
 * has kept the app's files for use offline.
 */
export async function controlledByServiceWorker(page: Page): Promise<void> {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

/** The search box of the shell (a `searchbox` or a `textbox`, named "Search notes"). */
export function searchBox(page: Page) {
  const search = page.getByRole("search");
  return search.getByRole("searchbox", { name: "Search notes" }).or(search.getByRole("textbox", { name: "Search notes" }));
}

/** Shows the editor's "Documents", "Share" or "History" panel (a tab or a button) and returns its region. */
export async function openPanel(page: Page, name: "Documents" | "Share" | "History") {
  await page.getByRole("tab", { name, exact: true }).or(page.getByRole("button", { name, exact: true })).click();
  return page.getByRole("region", { name, exact: true });
}

/** In the open editor, creates a share link and returns its full URL (`…/s/<token>`). */
export async function createShareLink(page: Page): Promise<string> {
  const panel = await openPanel(page, "Share");
  const items = panel.getByRole("list", { name: "Share links" }).getByRole("listitem");
  const before = await items.count();
  await panel.getByRole("button", { name: "Create link" }).click();
  await expect(items).toHaveCount(before + 1);
  const link = items.first().getByRole("link", { name: /\/s\// });
  await expect(link, "the share link's full URL, /s/<token>").toBeVisible();
  const url = ((await link.textContent()) ?? "").trim();
  expect(url).toMatch(/^https?:\/\/[^/]+\/s\/[A-Za-z0-9_-]+$/);
  expect(new URL(url).origin).toBe(new URL(page.url()).origin);
  return url;
}

/** Fails when the page holds markup that user content could have injected. */
export async function expectNoInjectedMarkup(page: Page): Promise<void> {
  const injected = await page.evaluate(() => ({
    onerror: document.querySelectorAll("[onerror]").length,
    javascriptLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    injectedImages: document.querySelectorAll('img[src="x"]').length,
  }));
  expect(injected).toEqual({ onerror: 0, javascriptLinks: 0, injectedImages: 0 });
}
