// The shell: "/" focuses the search box, Enter searches, the sidebar lists subjects and tags with counts.
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { renderSignedIn } from "../test/render";
import { Shell } from "./Shell";

describe("Shell", () => {
  beforeEach(() => {
    fakeServer()
      .on("GET", "/v1/subjects", { body: { items: [{ name: "Physics", notes: 3 }] } })
      .on("GET", "/v1/tags", { body: { items: [{ name: "exam", notes: 2 }] } });
  });

  it("names the subjects and tags with their counts, as filters of the list", async () => {
    renderSignedIn(<Shell>screen</Shell>);
    const nav = screen.getByRole("navigation", { name: "Notebook" });
    const subjects = within(nav).getByRole("group", { name: "Subjects" });
    expect(await within(subjects).findByRole("link", { name: "Physics 3" })).toHaveAttribute("href", "/?subject=Physics");
    const tags = within(nav).getByRole("group", { name: "Tags" });
    expect(await within(tags).findByRole("link", { name: "exam 2" })).toHaveAttribute("href", "/?tag=exam");
    for (const name of ["Notes", "Upcoming", "Archive", "Trash", "Account"]) {
      expect(within(nav).getByRole("link", { name })).toBeInTheDocument();
    }
  });

  it("focuses the search box on / and opens the results on Enter", async () => {
    renderSignedIn(<Shell>screen</Shell>);
    const search = within(screen.getByRole("search")).getByRole("textbox", { name: "Search notes" });
    expect(search).not.toHaveFocus();
    await userEvent.keyboard("/");
    expect(search).toHaveFocus();
    await userEvent.keyboard("limits{Enter}");
    expect(location.pathname + location.search).toBe("/search?q=limits");
  });

  it("leaves / alone while typing in a text field", async () => {
    renderSignedIn(
      <Shell>
        <label>
          Body
          <textarea />
        </label>
      </Shell>,
    );
    const body = screen.getByRole("textbox", { name: "Body" });
    await userEvent.type(body, "a/b");
    expect(body).toHaveValue("a/b");
    expect(body).toHaveFocus();
  });
});
