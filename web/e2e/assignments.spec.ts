import { checkScreen, expect, signIn, test } from "./fixtures";

/** `date` as a `datetime-local` input's value, in the browser's time zone (UTC here). */
function localInput(date: Date): string {
  return date.toISOString().slice(0, 16);
}

test("assignments: a due date, the upcoming view with overdue ones marked, mark done", async ({ page, account, api }) => {
  const hour = 3_600_000;
  const late = await api.createNote({
    title: "Essay on Hamlet",
    body: "Act III",
    due_at: new Date(Date.now() - 24 * hour).toISOString(),
  });
  const plain = await api.createNote({ title: "Lab: titration", body: "Bring goggles." });
  await api.getNote(plain.id, plain.position);

  await signIn(page, account);
  await page.goto(`/notes/${plain.id}`);
  const due = new Date(Date.now() + 48 * hour);
  await page.getByLabel("Due").fill(localInput(due));
  await expect(page.getByRole("status").filter({ hasText: /^Saved$/ })).toBeVisible({ timeout: 15_000 });
  await expect
    .poll(async () => {
      const dueAt = (await api.getNote(plain.id)).due_at;
      return dueAt ? new Date(dueAt).toISOString().slice(0, 16) : null;
    })
    .toBe(localInput(due));

  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Upcoming" }).click();
  await expect(page).toHaveURL(/\/upcoming$/);
  const upcoming = page.getByRole("list", { name: "Upcoming assignments" });
  const essay = upcoming.getByRole("listitem").filter({ hasText: "Essay on Hamlet" });
  const lab = upcoming.getByRole("listitem").filter({ hasText: "Lab: titration" });
  await expect(essay).toContainText("Overdue");
  await expect(lab).toBeVisible();
  await expect(lab).not.toContainText("Overdue");
  await checkScreen(page, "upcoming", async () => {
    await expect(upcoming.getByRole("listitem")).toHaveCount(2);
  });

  await essay.getByRole("button", { name: "Mark done" }).click();
  await expect(essay).toHaveCount(0);
  await expect.poll(async () => (await api.getNote(late.id)).done).toBe(true);

  // And from the editor: mark done, then reopen.
  await page.goto(`/notes/${plain.id}`);
  await page.getByRole("button", { name: "Mark done" }).click();
  await expect(page.getByRole("button", { name: "Reopen" })).toBeVisible();
  await expect.poll(async () => (await api.getNote(plain.id)).done).toBe(true);
  await page.getByRole("button", { name: "Reopen" }).click();
  await expect(page.getByRole("button", { name: "Mark done" })).toBeVisible();
  await expect.poll(async () => (await api.getNote(plain.id)).done).toBe(false);
});
