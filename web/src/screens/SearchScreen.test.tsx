// Search results link to their notes and mark the matches, as text.
import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import SearchScreen from "./SearchScreen";

describe("SearchScreen", () => {
  it("lists the results with their highlighted fragments", async () => {
    const server = fakeServer().on("GET", "/v1/search", {
      body: {
        items: [
          { note: makeNote({ id: "n1", title: "Limits" }), rank: 1, highlight: "the <mark>limit</mark> of <b>x</b>" },
        ],
      },
    });
    renderSignedIn(<SearchScreen />, "/search?q=limit");
    const list = await screen.findByRole("list", { name: "Search results" });
    const item = within(list).getByRole("listitem");
    expect(within(item).getByRole("link", { name: "Limits" })).toHaveAttribute("href", "/notes/n1");
    expect(item.querySelector("mark")?.textContent).toBe("limit");
    expect(item.querySelector("b")).toBeNull();
    expect(item).toHaveTextContent("the limit of <b>x</b>");
    expect(server.requests("GET", "/v1/search")[0].query.get("q")).toBe("limit");
  });
});
