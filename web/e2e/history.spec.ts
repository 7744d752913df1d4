import { expect, signIn, test } from "./fixtures";

test("history shows each version with its diff and restores one", async ({ page, account, api }) => {
  const v1 = await api.createNote({ title: "Timeline", body: "1914: war begins" });
  const v2 = await api.editNote(v1.id, v1.version, { body: "1914: war begins\n1918: armistice" });
  const v3 = await api.editNote(v1.id, v2.version, { body: "1918: armistice" });
  await api.getNote(v1.id, v3.position);

  await signIn(page, account);
  await page.goto(`/notes/${v1.id}`);
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("1918: armistice");
  await page.getByRole("tab", { name: "History" }).or(page.getByRole("button", { name: "History", exact: true })).click();
  const panel = page.getByRole("region", { name: "History" });
  const versions = panel.getByRole("list", { name: "Versions" });
  await expect(versions.getByRole("listitem").filter({ hasText: /Version 3\b/ })).toBeVisible();
  const second = versions.getByRole("listitem").filter({ hasText: /Version 2\b/ });
  await expect(second.locator("pre")).toContainText("+1918: armistice");

  await versions.getByRole("button", { name: "View version 1" }).click();
  await expect(panel.getByText("1914: war begins").first()).toBeVisible();

  await versions.getByRole("button", { name: "Restore version 1" }).click();
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("1914: war begins");
  await expect.poll(async () => (await api.getNote(v1.id)).body).toBe("1914: war begins");
  await expect(versions.getByRole("listitem").filter({ hasText: /Version 4\b/ })).toBeVisible();
});
