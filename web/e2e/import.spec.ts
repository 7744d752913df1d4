import { Api, freshUsername } from "../scripts/anote-api.mjs";
import { expect, signIn, test } from "./fixtures";

test("an export of one account is imported into another from the account page", async ({ page, account, baseURL }) => {
  // Another account's notes, exported through the API.
  const other = { username: freshUsername("export"), displayName: "Bo", password: "correct horse battery" };
  await Api.register(baseURL!, other);
  const theirs = await Api.signIn(baseURL!, other);
  const note = await theirs.createNote({ title: "Optics", body: "Lenses bend light.", subject: "Physics", tags: ["exam"] });
  await theirs.getNote(note.id, note.position);
  const exported = await fetch(`${baseURL}/v1/account/export`, {
    headers: { Authorization: `Bearer ${theirs.token}`, "Anote-Min-Position": note.position },
  });
  expect(exported.status).toBe(200);
  const archive = Buffer.from(await exported.arrayBuffer());

  await signIn(page, account);
  await page.goto("/account");
  await page.getByLabel("Archive").setInputFiles({ name: "notes.zip", mimeType: "application/zip", buffer: archive });
  await page.getByRole("button", { name: "Import notes" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Imported 1 note." })).toBeVisible();

  // The same archive again adds nothing.
  await page.getByRole("button", { name: "Import notes" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Imported 0 notes. 1 note had been imported before." })).toBeVisible();

  await page.goto("/");
  await expect(page.getByRole("list", { name: "Notes" }).getByRole("link", { name: "Optics" })).toBeVisible();

  // A file that is not a zip is refused in words.
  await page.goto("/account");
  await page.getByLabel("Archive").setInputFiles({ name: "notes.zip", mimeType: "application/zip", buffer: Buffer.from("not a zip") });
  await page.getByRole("button", { name: "Import notes" }).click();
  await expect(page.getByRole("alert")).toHaveText("The archive was not imported. This file is not a zip archive that can be read.");
});
