import type { Page, Route } from "@playwright/test";
import { checkScreen, expect, signIn, test, watchDialogs } from "./fixtures";

/** The id of the note the editor at `page` shows. */
function noteId(page: Page): string {
  const match = /\/notes\/([0-9a-f-]{36})/.exec(page.url());
  if (!match) throw new Error(`not an editor URL: ${page.url()}`);
  return match[1];
}

test("a student writes a note that autosaves and is still there after a reload", async ({ page, account, api }) => {
  await signIn(page, account);
  await page.getByRole("button", { name: "New note" }).click();
  await expect(page).toHaveURL(/\/notes\/[0-9a-f-]{36}$/);

  await page.getByRole("textbox", { name: "Title" }).fill("Optics: lenses");
  await page.getByRole("textbox", { name: "Body" }).fill("Converging lenses have **positive** focal length.\n\n- real image\n- virtual image");
  await page.getByRole("textbox", { name: "Subject" }).fill("Physics");
  await page.getByRole("textbox", { name: "Tags" }).fill("exam, optics");
  const preview = page.getByRole("region", { name: "Preview" });
  await expect(preview.locator("strong")).toHaveText("positive");
  await expect(preview.getByRole("listitem")).toHaveText(["real image", "virtual image"]);

  const status = page.getByRole("status").filter({ hasText: /Saved|Saving…|Unsaved changes|Offline — will retry/ });
  await expect(status).toHaveText("Saved", { timeout: 15_000 });
  const id = noteId(page);
  await expect
    .poll(async () => {
      const note = await api.getNote(id);
      return { title: note.title, body: note.body, subject: note.subject, tags: note.tags };
    })
    .toEqual({
      title: "Optics: lenses",
      body: "Converging lenses have **positive** focal length.\n\n- real image\n- virtual image",
      subject: "Physics",
      tags: ["exam", "optics"],
    });
  await checkScreen(page, "editor", async () => {
    await expect(status).toHaveText("Saved");
  });

  // A reload keeps the session (refresh cookie) and the text.
  await page.reload();
  await expect(page.getByRole("textbox", { name: "Title" })).toHaveValue("Optics: lenses");
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue(/positive/);

  const nav = page.getByRole("navigation", { name: "Notebook" });
  await nav.getByRole("link", { name: "Notes", exact: true }).click();
  const list = page.getByRole("list", { name: "Notes" });
  await expect(list.getByRole("link", { name: "Optics: lenses" })).toBeVisible();
  await expect(nav.getByRole("group", { name: "Subjects" }).getByRole("link", { name: /^Physics\s*1$/ })).toBeVisible();
  await expect(nav.getByRole("group", { name: "Tags" }).getByRole("link", { name: /^optics\s*1$/ })).toBeVisible();

  await page.reload();
  await expect(list.getByRole("link", { name: "Optics: lenses" })).toBeVisible();
  await list.getByRole("link", { name: "Optics: lenses" }).click();
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue(/Converging lenses/);
});

test("the list puts pinned notes first and sorts by title", async ({ page, account, api }) => {
  const first = await api.createNote({ title: "Algebra", body: "rings" });
  await api.createNote({ title: "Biology", body: "cells" });
  const last = await api.createNote({ title: "Chemistry", body: "bonds" });
  await api.getNote(last.id, last.position);

  await signIn(page, account);
  const list = page.getByRole("list", { name: "Notes" });
  await expect(list.getByRole("listitem")).toHaveCount(3);
  await page.getByRole("combobox", { name: "Sort by" }).selectOption({ label: "Title" });
  await expect(list.getByRole("link")).toHaveText([/Algebra/, /Biology/, /Chemistry/]);

  await list.getByRole("link", { name: "Biology" }).click();
  await page.getByRole("button", { name: "Pin" }).click();
  await expect(page.getByRole("button", { name: "Unpin" })).toBeVisible();
  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Notes", exact: true }).click();
  await expect(list.getByRole("listitem").first()).toContainText("Biology");
  await expect(list.getByRole("listitem").first()).toContainText("Pinned");
  await checkScreen(page, "notes", async () => {
    await expect(list.getByRole("listitem")).toHaveCount(3);
  });

  // Archive one: it leaves the list for the archive.
  await list.getByRole("link", { name: "Algebra" }).click();
  await page.getByRole("button", { name: "Archive", exact: true }).click();
  await expect(page.getByRole("button", { name: "Unarchive" })).toBeVisible();
  await expect.poll(async () => (await api.getNote(first.id)).title).toBe("Algebra");
  const nav = page.getByRole("navigation", { name: "Notebook" });
  await nav.getByRole("link", { name: "Notes", exact: true }).click();
  await expect(list.getByRole("listitem")).toHaveCount(2);
  await nav.getByRole("link", { name: "Archive" }).click();
  await expect(page.getByRole("main").getByRole("link", { name: "Algebra" })).toBeVisible();
});

test("trash: restore a note, then delete one forever after confirming", async ({ page, account, api }) => {
  const keep = await api.createNote({ title: "Keep me", body: "needed" });
  const drop = await api.createNote({ title: "Drop me", body: "not needed" });
  await api.getNote(drop.id, drop.position);
  await signIn(page, account);
  const nav = page.getByRole("navigation", { name: "Notebook" });
  const main = page.getByRole("main");

  for (const title of ["Keep me", "Drop me"]) {
    await nav.getByRole("link", { name: "Notes", exact: true }).click();
    await main.getByRole("link", { name: title }).click();
    await page.getByRole("button", { name: "Move to trash" }).click();
    await expect(page.getByRole("button", { name: "Restore" })).toBeVisible();
  }
  await nav.getByRole("link", { name: "Trash" }).click();
  await main.getByRole("link", { name: "Keep me" }).click();
  await page.getByRole("button", { name: "Restore" }).click();
  await expect(page.getByRole("button", { name: "Move to trash" })).toBeVisible();

  await nav.getByRole("link", { name: "Trash" }).click();
  await main.getByRole("link", { name: "Drop me" }).click();
  await page.getByRole("button", { name: "Delete forever" }).click();
  const confirm = page.getByRole("dialog");
  await confirm.getByRole("button", { name: "Delete forever" }).click();
  await expect.poll(() => api.getNote(drop.id).then(() => "still there", (error: Error) => error.message)).toMatch(/404|410/);
  await nav.getByRole("link", { name: "Notes", exact: true }).click();
  await expect(main.getByRole("link", { name: "Keep me" })).toBeVisible();
  await expect(main.getByRole("link", { name: "Drop me" })).toHaveCount(0);
  expect((await api.getNote(keep.id)).title).toBe("Keep me");
});

test("a conflict from a second device keeps both texts", async ({ page, browser, account, api, dialogs }) => {
  const created = await api.createNote({ title: "Lab report", body: "Intro." });
  await api.getNote(created.id, created.position);

  await signIn(page, account);
  await page.goto(`/notes/${created.id}`);
  const body = page.getByRole("textbox", { name: "Body" });
  await expect(body).toHaveValue("Intro.");

  // Hold this device's save until the other device has saved its own text.
  let releaseSave: () => void = () => {};
  const held = new Promise<void>((release) => (releaseSave = release));
  let saveSeen: () => void = () => {};
  const saving = new Promise<void>((seen) => (saveSeen = seen));
  await page.route(`**/v1/notes/${created.id}`, async (route: Route) => {
    if (route.request().method() !== "PATCH") return route.fallback();
    saveSeen();
    await held;
    await route.fallback();
  });
  await body.fill("Intro.\nMine: the method section.");
  await saving;

  const other = await browser.newContext();
  watchDialogs(other, dialogs);
  try {
    const second = await other.newPage();
    await signIn(second, account);
    await second.goto(`/notes/${created.id}`);
    await second.getByRole("textbox", { name: "Body" }).fill("Intro.\nTheirs: the results section.");
    await expect(second.getByRole("status").filter({ hasText: /^Saved$/ })).toBeVisible({ timeout: 15_000 });
  } finally {
    await other.close();
  }
  releaseSave();
  await page.unroute(`**/v1/notes/${created.id}`);

  const conflict = page.getByRole("dialog", { name: "Conflict" }).or(page.getByRole("region", { name: "Conflict" }));
  await expect(conflict).toBeVisible({ timeout: 15_000 });
  await expect(conflict.getByRole("heading", { name: "Your version" })).toBeVisible();
  await expect(conflict.getByRole("heading", { name: "Their version" })).toBeVisible();
  await expect(conflict).toContainText("Mine: the method section.");
  await expect(conflict).toContainText("Theirs: the results section.");

  await conflict.getByRole("button", { name: "Merge by hand" }).click();
  const merged = page.getByRole("textbox", { name: "Merged text" });
  await merged.fill("Intro.\nMine: the method section.\nTheirs: the results section.");
  await page.getByRole("button", { name: "Save merged" }).click();
  await expect(conflict).toHaveCount(0);
  await expect(page.getByRole("status").filter({ hasText: /^Saved$/ })).toBeVisible({ timeout: 15_000 });
  await expect
    .poll(async () => (await api.getNote(created.id)).body)
    .toBe("Intro.\nMine: the method section.\nTheirs: the results section.");
  await expect(body).toHaveValue("Intro.\nMine: the method section.\nTheirs: the results section.");
});
