import { expect, signIn, test } from "./fixtures";

test("offline: the app says so, keeps the edit and sends it when back online", async ({ page, context, account, api }) => {
  const note = await api.createNote({ title: "Train notes", body: "Before the tunnel." });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  await page.goto(`/notes/${note.id}`);
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("Before the tunnel.");

  await context.setOffline(true);
  await expect(page.getByRole("status").filter({ hasText: "You are offline." })).toBeVisible();
  await page.getByRole("textbox", { name: "Body" }).fill("Before the tunnel.\nIn the tunnel.");
  await expect(page.getByRole("status").filter({ hasText: /Offline — will retry|Unsaved changes/ })).toBeVisible({ timeout: 15_000 });

  await context.setOffline(false);
  await expect(page.getByRole("status").filter({ hasText: /^Saved$/ })).toBeVisible({ timeout: 20_000 });
  await expect.poll(async () => (await api.getNote(note.id)).body).toBe("Before the tunnel.\nIn the tunnel.");
});

test("another device's change arrives on the live stream without a reload or polling", async ({ page, account, api }) => {
  const note = await api.createNote({ title: "Shared between tabs", body: "one" });
  await api.getNote(note.id, note.position);
  const path = (url: string) => new URL(url).pathname;
  const streaming = page.waitForResponse((r) => path(r.url()) === "/v1/changes/stream" && r.status() === 200);
  const polls: string[] = [];
  page.on("request", (r) => {
    if (path(r.url()) === "/v1/changes") polls.push(r.url());
  });
  await signIn(page, account);
  await streaming;
  const list = page.getByRole("list", { name: "Notes" });
  await expect(list.getByRole("link", { name: "Shared between tabs" })).toBeVisible();

  const edited = await api.editNote(note.id, note.version, { title: "Renamed elsewhere" });
  await api.getNote(note.id, edited.position);
  await expect(list.getByRole("link", { name: "Renamed elsewhere" })).toBeVisible({ timeout: 15_000 });
  expect(polls, "the stream, not the polled feed, brought the change").toEqual([]);
});
