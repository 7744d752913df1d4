import type { Page } from "@playwright/test";
import { checkScreen, controlledByServiceWorker, expect, searchBox, signIn, test } from "./fixtures";

/** The editor's save status ("Saved", "Offline — will retry", …). */
function saveStatus(page: Page) {
  return page.getByRole("status").filter({ hasText: /^(Saved|Saving…|Unsaved changes|Offline — will retry|Not saved)$/ });
}

/** The shell's status line (offline, changes waiting, last synced). */
function syncStatus(page: Page) {
  return page.getByRole("status").filter({ hasText: /You are offline|waiting to be sent|Last synced/ });
}

/** Opens the note titled `title` from the notes list (the sidebar's "Notes" first). */
async function openFromList(page: Page, title: string): Promise<void> {
  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Notes", exact: true }).click();
  await page.getByRole("list", { name: "Notes" }).getByRole("link", { name: title }).click();
  await expect(page.getByRole("textbox", { name: "Title" })).toHaveValue(title);
}

/** How many changes the status line says are waiting. */
async function waitingCount(page: Page): Promise<number> {
  const text = (await syncStatus(page).textContent()) ?? "";
  const match = /(\d+) changes? waiting to be sent/.exec(text);
  return match ? Number(match[1]) : 0;
}

test("the app is installable, its worker keeps it, and offline it opens with the kept notes", async ({ page, context, account, api, request }) => {
  const kept = await api.createNote({ title: "Photosynthesis", body: "Plants turn light into sugar." });
  const listed = await api.createNote({ title: "Listed before the tunnel", body: "Only listed." });
  await api.getNote(listed.id, listed.position);

  const manifest = await request.get("/manifest.webmanifest");
  expect(manifest.headers()["content-type"]).toBe("application/manifest+json");
  const app = await manifest.json();
  expect(app).toMatchObject({ name: "Anote", start_url: "/", display: "standalone" });
  expect(app.short_name).toBeTruthy();
  const icons: { src: string; sizes: string; purpose?: string }[] = app.icons;
  expect(icons.map((icon) => icon.sizes)).toEqual(expect.arrayContaining(["192x192", "512x512"]));
  expect(icons.some((icon) => icon.purpose === "maskable")).toBe(true);
  for (const icon of icons) {
    const image = await request.get(icon.src);
    expect(image.headers()["content-type"], icon.src).toBe("image/png");
  }
  const worker = await request.get("/sw.js");
  expect(worker.headers()["content-type"]).toBe("text/javascript; charset=utf-8");
  expect(worker.headers()["cache-control"]).toBe("no-cache");

  await signIn(page, account);
  await expect(page.locator('link[rel="manifest"]')).toHaveAttribute("href", "/manifest.webmanifest");
  await expect(page.locator('meta[name="theme-color"]').first()).toHaveAttribute("content", /^#/);
  await controlledByServiceWorker(page);
  const list = page.getByRole("list", { name: "Notes" });
  await expect(list.getByRole("link", { name: "Listed before the tunnel" })).toBeVisible();
  await list.getByRole("link", { name: "Photosynthesis" }).click();
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("Plants turn light into sugar.");

  await context.setOffline(true);
  const reloaded = await page.reload();
  expect(reloaded?.fromServiceWorker(), "the page came from the worker's cache").toBe(true);
  await expect(page.getByRole("button", { name: "New note" })).toBeVisible();
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("Plants turn light into sugar.");
  await expect(syncStatus(page)).toContainText("You are offline.");
  await expect(page.getByText(/Offline copy/)).toBeVisible();

  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Notes", exact: true }).click();
  await expect(page.getByText(/Offline copy/)).toBeVisible();
  await expect(list.getByRole("link", { name: "Listed before the tunnel" })).toBeVisible();
  await checkScreen(page, "notes-offline", async () => {
    await expect(syncStatus(page)).toContainText("You are offline.");
  });
  await list.getByRole("link", { name: "Photosynthesis" }).click();
  await expect(page).toHaveURL(new RegExp(`/notes/${kept.id}$`));
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("Plants turn light into sugar.");

  await searchBox(page).fill("light sugar");
  await searchBox(page).press("Enter");
  const results = page.getByRole("list", { name: "Search results" });
  await expect(results.getByRole("link", { name: "Photosynthesis" })).toBeVisible();
  await expect(page.getByText(/notes kept on this device/)).toBeVisible();
});

test("changes made offline survive a reload and reach the server exactly once when back online", async ({ page, context, account, api }) => {
  const edited = await api.createNote({ title: "Edited offline", body: "Line one." });
  const trashed = await api.createNote({ title: "Trashed offline", body: "Old news." });
  const tagged = await api.createNote({ title: "Tagged offline", body: "Needs tags." });
  await api.getNote(tagged.id, tagged.position);
  await signIn(page, account);
  await controlledByServiceWorker(page);
  // Each note opened once online is kept with its body.
  for (const title of ["Edited offline", "Trashed offline", "Tagged offline"]) await openFromList(page, title);

  await context.setOffline(true);
  await page.getByRole("button", { name: "New note" }).click();
  await expect(page).toHaveURL(/\/notes\/local-/);
  await page.getByRole("textbox", { name: "Title" }).fill("Written on the train");
  await page.getByRole("textbox", { name: "Body" }).fill("Thoughts with no network.");
  await expect(saveStatus(page)).toHaveText("Offline — will retry", { timeout: 15_000 });

  await openFromList(page, "Edited offline");
  await page.getByRole("textbox", { name: "Body" }).fill("Line one.\nLine two, offline.");
  await expect(saveStatus(page)).toHaveText("Offline — will retry", { timeout: 15_000 });

  await openFromList(page, "Trashed offline");
  await page.getByRole("button", { name: "Move to trash" }).click();
  await expect(page.getByRole("button", { name: "Restore" })).toBeVisible();

  await openFromList(page, "Tagged offline");
  await page.getByRole("textbox", { name: "Tags" }).fill("train, offline");
  await expect(saveStatus(page)).toHaveText("Offline — will retry", { timeout: 15_000 });

  await expect(syncStatus(page)).toContainText(/\d+ changes waiting to be sent/);
  const waiting = await waitingCount(page);
  expect(waiting, "create, its text, the edit, the trash and the tags").toBeGreaterThanOrEqual(5);

  await page.reload();
  await expect(page.getByRole("textbox", { name: "Tags" })).toHaveValue("train, offline");
  await expect(syncStatus(page)).toContainText(`${waiting} changes waiting to be sent`);
  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Notes", exact: true }).click();
  await expect(page.getByRole("list", { name: "Notes" }).getByRole("link", { name: "Written on the train" })).toBeVisible();

  await context.setOffline(false);
  await expect(syncStatus(page)).toContainText("Last synced", { timeout: 30_000 });
  await expect(syncStatus(page)).not.toContainText("waiting to be sent", { timeout: 30_000 });

  const titled = (await api.listNotes({ limit: "100" })).items.filter((n) => n.title === "Written on the train");
  expect(titled, "one note created, however often its create was sent").toHaveLength(1);
  const created = await api.getNote(titled[0].id);
  expect(created.body).toBe("Thoughts with no network.");
  const createdHistory = await api.history(created.id);
  expect(createdHistory.filter((c) => c.type === "NoteCreated")).toHaveLength(1);

  const edits = (await api.history(edited.id)).filter((c) => c.type === "NoteEdited");
  expect(edits, "the offline edit, once").toHaveLength(1);
  expect((await api.getNote(edited.id)).body).toBe("Line one.\nLine two, offline.");

  const trashes = (await api.history(trashed.id)).filter((c) => c.type === "NoteTrashed");
  expect(trashes, "the trash, once").toHaveLength(1);

  const tagging = (await api.history(tagged.id)).filter((c) => c.type === "NoteTagsSet");
  expect(tagging, "the tags, once").toHaveLength(1);
  expect((await api.getNote(tagged.id)).tags).toEqual(["offline", "train"]);
});

test("a change whose reply was lost is sent again with its key and done once", async ({ page, context, account, api }) => {
  const note = await api.createNote({ title: "Flaky network", body: "Start." });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  await openFromList(page, "Flaky network");

  // The first edit reaches the server, but its reply never reaches the page.
  let lost = 0;
  await context.route(`**/v1/notes/${note.id}`, async (route) => {
    if (route.request().method() !== "PATCH" || lost > 0) return route.continue();
    lost += 1;
    await route.fetch();
    await route.abort("internetdisconnected");
  });
  await page.getByRole("textbox", { name: "Body" }).fill("Start.\nSent once.");
  await expect(saveStatus(page)).toHaveText("Saved", { timeout: 30_000 });
  expect(lost).toBe(1);
  const edits = (await api.history(note.id)).filter((c) => c.type === "NoteEdited");
  expect(edits, "the edit, once, though it was sent twice").toHaveLength(1);
});

test("an offline edit of a note changed meanwhile on another device ends in the conflict view", async ({ page, context, account, api }) => {
  const note = await api.createNote({ title: "Lab report", body: "Method." });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  await openFromList(page, "Lab report");

  await context.setOffline(true);
  await page.getByRole("textbox", { name: "Body" }).fill("Method.\nMine, from the train.");
  await expect(saveStatus(page)).toHaveText("Offline — will retry", { timeout: 15_000 });
  const theirs = await api.editNote(note.id, note.version, { body: "Method.\nTheirs, from the laptop." });
  await api.getNote(note.id, theirs.position);

  await context.setOffline(false);
  const conflict = page.getByRole("region", { name: "Conflict" });
  await expect(conflict).toBeVisible({ timeout: 30_000 });
  await expect(conflict.getByText(/Mine, from the train\./)).toBeVisible();
  await expect(conflict.getByText(/Theirs, from the laptop\./)).toBeVisible();
  await expect(saveStatus(page)).toHaveText("Unsaved changes");
  expect((await api.getNote(note.id)).body, "nothing was overwritten").toBe("Method.\nTheirs, from the laptop.");
  await expect(page.getByRole("list", { name: "Changes not sent" })).toContainText("changed elsewhere too");
  await checkScreen(page, "conflict-after-offline", async () => {
    await expect(conflict).toBeVisible();
  });

  await conflict.getByRole("button", { name: "Keep mine" }).click();
  await expect(saveStatus(page)).toHaveText("Saved", { timeout: 15_000 });
  await expect.poll(async () => (await api.getNote(note.id)).body).toBe("Method.\nMine, from the train.");
  await expect(page.getByRole("list", { name: "Changes not sent" })).toHaveCount(0);
});
