import { createShareLink, expect, expectNoInjectedMarkup, openPanel, signIn, test, watchDialogs } from "./fixtures";

const IMG = "<img src=x onerror=alert(1)>";
const BODY = [
  `Hostile ${IMG} image`,
  "",
  "[press me](javascript:alert(2)) and <a href=\"javascript:alert(3)\">raw</a>",
  "",
  "<script>alert(4)</script> <svg onload=alert(5)></svg>",
  "",
  "hostile marker",
].join("\n");

test("script in a title, body, tag or file name never runs, anywhere", async ({ page, browser, account, api, dialogs }) => {
  const note = await api.createNote({ title: `Hostile ${IMG}`, body: BODY, tags: ["<b>x</b>"], subject: IMG });
  await api.getNote(note.id, note.position);
  await signIn(page, account);

  // The list, the sidebar's subjects and tags.
  await expect(page.getByRole("list", { name: "Notes" }).getByRole("link", { name: `Hostile ${IMG}` })).toBeVisible();
  await expectNoInjectedMarkup(page);

  // The editor and its preview; a document with a hostile name.
  await page.goto(`/notes/${note.id}`);
  await expect(page.getByRole("textbox", { name: "Title" })).toHaveValue(`Hostile ${IMG}`);
  const preview = page.getByRole("region", { name: "Preview" });
  await expect(preview).toContainText("hostile marker");
  await expect(preview).toContainText(IMG);
  await expectNoInjectedMarkup(page);
  const pressMe = preview.getByText("press me");
  if (await pressMe.count()) await pressMe.first().click();

  const docs = await openPanel(page, "Documents");
  await docs.getByLabel("Add a document").setInputFiles({
    name: `${IMG}.pdf`,
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4\n%%EOF\n"),
  });
  await expect(docs.getByRole("button", { name: /^Download / }).or(docs.getByRole("link", { name: /^Download / }))).toBeVisible({ timeout: 30_000 });
  await expectNoInjectedMarkup(page);

  // Search results with highlights around the hostile text.
  await page.goto("/search?q=hostile");
  await expect(page.getByRole("list", { name: "Search results" }).getByRole("listitem")).toHaveCount(1);
  await expectNoInjectedMarkup(page);

  // History of the note (diffs show the raw text).
  await page.goto(`/notes/${note.id}`);
  await openPanel(page, "History");
  await expect(page.getByRole("list", { name: "Versions" }).getByRole("listitem").first()).toBeVisible();
  await expectNoInjectedMarkup(page);

  // The public page, signed out.
  const url = await createShareLink(page);
  const stranger = await browser.newContext();
  try {
    watchDialogs(stranger, dialogs);
    const pub = await stranger.newPage();
    await pub.goto(url);
    await expect(pub.getByRole("heading", { level: 1 })).toHaveText(`Hostile ${IMG}`);
    await expect(pub.getByText("hostile marker")).toBeVisible();
    await expect(pub.getByRole("list", { name: "Documents" }).getByRole("link")).toHaveCount(1);
    await expectNoInjectedMarkup(pub);
    await pub.waitForTimeout(300);
  } finally {
    await stranger.close();
  }
  // The `dialogs` fixture fails the test if any page above opened one.
});
