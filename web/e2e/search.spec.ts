import { checkScreen, expect, searchBox, signIn, test } from "./fixtures";

test("search finds notes and highlights the matches; / focuses it", async ({ page, account, api }) => {
  await api.createNote({ title: "Photosynthesis", body: "Chlorophyll absorbs light in the chloroplast." });
  await api.createNote({ title: "Respiration", body: "Mitochondria release energy." });
  const last = await api.createNote({ title: "Cell walls", body: "Plant cells have a wall; chlorophyll is green." });
  await api.getNote(last.id, last.position);

  await signIn(page, account);
  await page.getByRole("main").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("/");
  await expect(searchBox(page)).toBeFocused();
  await page.keyboard.type("chlorophyll");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/search\?q=chlorophyll$/);

  const results = page.getByRole("list", { name: "Search results" });
  await expect(results.getByRole("listitem")).toHaveCount(2);
  await expect(results.locator("mark").first()).toHaveText(/chlorophyll/i);
  await expect(results.getByRole("link", { name: /Respiration/ })).toHaveCount(0);
  await checkScreen(page, "search", async () => {
    await expect(results.getByRole("listitem")).toHaveCount(2);
  });

  await results.getByRole("link", { name: /Photosynthesis/ }).click();
  await expect(page.getByRole("textbox", { name: "Title" })).toHaveValue("Photosynthesis");
});
