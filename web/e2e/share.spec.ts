import { checkScreen, createShareLink, expect, signIn, test, watchDialogs } from "./fixtures";

test("share a note, open the link signed out, then revoke it", async ({ page, browser, account, api, dialogs }) => {
  const note = await api.createNote({ title: "Revision plan", body: "Week 1: **mechanics**\n\nWeek 2: waves" });
  await api.getNote(note.id, note.position);

  await signIn(page, account);
  await page.goto(`/notes/${note.id}`);
  const url = await createShareLink(page);
  const links = page.getByRole("region", { name: "Share" }).getByRole("list", { name: "Share links" });
  await expect(links.getByRole("button", { name: "Copy link" })).toBeVisible();

  const stranger = await browser.newContext();
  try {
    watchDialogs(stranger, dialogs);
    const pub = await stranger.newPage();
    await pub.goto(url);
    await expect(pub.getByRole("heading", { level: 1 })).toHaveText("Revision plan");
    await expect(pub.locator("strong").filter({ hasText: "mechanics" })).toBeVisible();
    await expect(pub.getByRole("textbox")).toHaveCount(0);
    await checkScreen(pub, "public-page", async () => {
      await expect(pub.getByRole("heading", { level: 1 })).toHaveText("Revision plan");
    });

    await links.getByRole("listitem").first().getByRole("button", { name: "Revoke" }).click();
    await expect(links.getByRole("listitem")).toHaveCount(0);
    await expect(async () => {
      await pub.reload();
      await expect(pub.getByRole("heading", { name: "This link is not available" })).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 15_000 });
    await expect(pub.getByText("Week 2: waves")).toHaveCount(0);
  } finally {
    await stranger.close();
  }
});
