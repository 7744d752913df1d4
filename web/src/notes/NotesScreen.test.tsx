// The list reads pinned notes first, then pages through the others by cursor,
// one page at a time.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { NotesScreen } from "./NotesScreen";
import { PAGE_SIZE } from "./useNotePages";

function notes(prefix: string, count: number, pinned = false) {
  return Array.from({ length: count }, (_, i) =>
    makeNote({ id: `${prefix}-${i}`, title: `${prefix} ${i}`, pinned }),
  );
}

describe("NotesScreen", () => {
  let server: ReturnType<typeof fakeServer>;
  beforeEach(() => {
    server = fakeServer();
    const pinned = notes("Pinned", 2, true);
    const first = notes("Note", PAGE_SIZE);
    const second = notes("Later", 3);
    server.on("GET", "/v1/notes", (request) => {
      if (request.query.get("pinned") === "true") return { body: { items: pinned } };
      if (request.query.get("cursor") === "page-2") return { body: { items: second } };
      return { body: { items: first, next_cursor: "page-2" } };
    });
  });

  it("shows pinned notes first, marked, then the others, one page at a time", async () => {
    renderSignedIn(<NotesScreen view="notes" />);
    const list = await screen.findByRole("list", { name: "Notes" });
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(2 + PAGE_SIZE));

    const items = within(list).getAllByRole("listitem");
    expect(within(items[0]).getByRole("link", { name: "Pinned 0" })).toBeInTheDocument();
    expect(within(items[0]).getByText("Pinned")).toBeInTheDocument();
    expect(within(items[2]).getByRole("link", { name: "Note 0" })).toBeInTheDocument();
    expect(within(items[2]).queryByText("Pinned")).toBeNull();

    const reads = server.requests("GET", "/v1/notes");
    expect(reads.map((r) => r.query.get("pinned"))).toEqual(["true", "false"]);
    expect(reads.every((r) => r.query.get("limit") === String(PAGE_SIZE))).toBe(true);
    expect(reads[1].query.get("cursor")).toBeNull();
  });

  it("loads the next page by its cursor with Load more, then stops", async () => {
    renderSignedIn(<NotesScreen view="notes" />);
    const more = await screen.findByRole("button", { name: "Load more" });
    await waitFor(() => expect(more).toBeEnabled());
    await userEvent.click(more);

    await screen.findByRole("link", { name: "Later 2" });
    const reads = server.requests("GET", "/v1/notes");
    expect(reads).toHaveLength(3);
    expect(reads[2].query.get("cursor")).toBe("page-2");
    expect(reads[2].query.get("pinned")).toBe("false");
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    expect(within(screen.getByRole("list", { name: "Notes" })).getAllByRole("listitem")).toHaveLength(2 + PAGE_SIZE + 3);
  });

  it("names untitled notes and sends the chosen sort", async () => {
    server.on("GET", "/v1/notes", (request) =>
      request.query.get("sort") === "title" && request.query.get("pinned") === "false"
        ? { body: { items: [makeNote({ id: "u", title: "" })] } }
        : undefined,
    );
    renderSignedIn(<NotesScreen view="notes" />, "/?sort=title");
    expect(await screen.findByRole("link", { name: "Untitled" })).toBeInTheDocument();
    expect(server.requests("GET", "/v1/notes").every((r) => r.query.get("sort") === "title")).toBe(true);
  });
});
