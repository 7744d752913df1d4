import type { Locator } from "@playwright/test";
import { expect, openPanel, signIn, test } from "./fixtures";

/** The item of `versions` whose heading names version `n`. */
function version(versions: Locator, n: number): Locator {
  return versions
    .getByRole("listitem")
    .filter({ has: versions.page().getByRole("heading", { name: new RegExp(`^Version ${n}(\\D|$)`) }) });
}

test("history shows each version with its diff and restores one", async ({ page, account, api }) => {
  const v1 = await api.createNote({ title: "Timeline", body: "1914: war begins" });
  const v2 = await api.editNote(v1.id, v1.version, { body: "1914: war begins\n1918: armistice" });
  const v3 = await api.editNote(v1.id, v2.version, { body: "1918: armistice" });
  await api.getNote(v1.id, v3.position);

  await signIn(page, account);
  await page.goto(`/notes/${v1.id}`);
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("1918: armistice");
  const panel = await openPanel(page, "History");
  const versions = panel.getByRole("list", { name: "Versions" });
  await expect(version(versions, 3)).toBeVisible();
  await expect(version(versions, 2).locator("pre")).toContainText("+1918: armistice");

  await versions.getByRole("button", { name: "View version 1" }).click();
  await expect(panel.getByText("1914: war begins").first()).toBeVisible();

  await versions.getByRole("button", { name: "Restore version 1" }).click();
  await expect(page.getByRole("textbox", { name: "Body" })).toHaveValue("1914: war begins");
  await expect.poll(async () => (await api.getNote(v1.id)).body).toBe("1914: war begins");
  await expect(version(versions, 4)).toBeVisible();
});
