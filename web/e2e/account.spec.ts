import { Api, freshUsername } from "../scripts/anote-api.mjs";
import { checkScreen, expect, signIn, test } from "./fixtures";

test("a student signs up, signs out and signs back in", async ({ page }) => {
  const username = freshUsername("newcomer");
  const password = "a long enough password";

  await page.goto("/");
  await expect(page).toHaveURL(/\/signin$/);
  await checkScreen(page, "sign-in", async () => {
    await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  });

  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page).toHaveURL(/\/signup$/);
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Display name" }).fill("Grace Newcomer");
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();

  // Registering gives no session: the app either signs in on its own or asks.
  const newNote = page.getByRole("button", { name: "New note" });
  const signInButton = page.getByRole("button", { name: "Sign in" });
  await expect(newNote.or(signInButton)).toBeVisible();
  if (await signInButton.isVisible()) {
    await signIn(page, { username, password, displayName: "Grace Newcomer" });
  }
  await expect(page.getByRole("banner")).toContainText("Anote");
  await expect(page.getByRole("navigation", { name: "Notebook" })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  // Signed out means signed out after a reload too (the refresh cookie is gone).
  await page.reload();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();

  await signIn(page, { username, password, displayName: "Grace Newcomer" });
});

test("a wrong password is refused in words", async ({ page, account }) => {
  await page.goto("/signin");
  await page.getByRole("textbox", { name: "Username" }).fill(account.username);
  await page.getByLabel("Password", { exact: true }).fill("not the password at all");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(page.getByRole("button", { name: "New note" })).toHaveCount(0);
});

test("a student changes the password, then deletes the account", async ({ page, account, baseURL }) => {
  await signIn(page, account);
  await page.getByRole("navigation", { name: "Notebook" }).getByRole("link", { name: "Account" }).click();
  await expect(page).toHaveURL(/\/account$/);
  const deleteButton = page.getByRole("button", { name: "Delete account" });
  await checkScreen(page, "account", async () => {
    await expect(deleteButton).toBeVisible();
  });

  const newPassword = "an even longer new password";
  await page.getByLabel("Current password").fill(account.password);
  await page.getByLabel("New password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  const renewed = { ...account, password: newPassword };
  await expect
    .poll(() => Api.signIn(baseURL!, renewed).then(() => "signed in", (error: Error) => error.message))
    .toBe("signed in");
  await expect(Api.signIn(baseURL!, account)).rejects.toThrow(/401/);

  const confirm = page.getByRole("textbox", { name: "Type your username to confirm" });
  await expect(deleteButton).toBeDisabled();
  await confirm.fill(`${account.username}x`);
  await expect(deleteButton).toBeDisabled();
  await confirm.fill(account.username);
  await expect(deleteButton).toBeEnabled();
  await deleteButton.click();

  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await expect(Api.signIn(baseURL!, renewed)).rejects.toThrow(/401/);
  await page.reload();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
});

test("a student downloads every note as a zip", async ({ page, account, api }) => {
  const note = await api.createNote({ title: "Exam plan", body: "Revise chapter 3.", subject: "Maths" });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  await page.goto("/account");
  const downloading = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download my notes (.zip)" }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^anote-export-\d{4}-\d{2}-\d{2}\.zip$/);
  const stream = await download.createReadStream();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const archive = Buffer.concat(chunks);
  expect(archive.subarray(0, 2).toString()).toBe("PK");
  // Entry names are stored as they are: the note's file and the manifest.
  expect(archive.includes("Maths/Exam plan.md")).toBe(true);
  expect(archive.includes("manifest.json")).toBe(true);
});
