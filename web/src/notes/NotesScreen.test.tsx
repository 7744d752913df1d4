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

  /** Waits until the list shows its first page (the feed answers after that). */
  const firstPageShown = () => screen.findByRole("link", { name: "Note 1" }, { timeout: 8000 });

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

  it("follows the changes feed: renamed notes change in place, new ones come on top", async () => {
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    localStorage.setItem("anote.changes.ada", "1-0");
    const renamed = { ...makeNote({ id: "Note-1", title: "Renamed elsewhere" }), body: "text" };
    const added = { ...makeNote({ id: "new", title: "Written on the phone" }), body: "text" };
    server.on("GET", "/v1/changes", async (request) => {
      await firstPageShown();
      return request.query.get("since") === "1-0"
        ? {
            body: {
              items: [renamed, added].map((note) => ({ id: note.id, deleted: false, note })),
              next_cursor: "2-0",
              has_more: false,
            },
          }
        : { body: { items: [], next_cursor: "2-0", has_more: false } };
    });
    renderSignedIn(<NotesScreen view="notes" />);
    const list = await screen.findByRole("list", { name: "Notes" });
    expect(await within(list).findByRole("link", { name: "Renamed elsewhere" }, { timeout: 8000 })).toBeInTheDocument();
    expect(within(list).queryByRole("link", { name: "Note 1" })).toBeNull();
    const items = within(list).getAllByRole("listitem");
    expect(within(items[2]).getByRole("link")).toHaveAccessibleName("Written on the phone");
  });

  it("starts a new device at the feed's end instead of reading its backlog", async () => {
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    const old = { ...makeNote({ id: "far", title: "Far down the list" }), body: "text" };
    server.on("GET", "/v1/changes", async (request) =>
      request.query.get("since") === "now"
        ? { body: { items: [], next_cursor: "2-0", has_more: false } }
        : { body: { items: [{ id: old.id, deleted: false, note: old }], next_cursor: "3-0", has_more: false } },
    );
    renderSignedIn(<NotesScreen view="notes" />);
    const list = await screen.findByRole("list", { name: "Notes" });
    await waitFor(() => expect(localStorage.getItem("anote.changes.ada")).toBe("2-0"));
    expect(server.requests("GET", "/v1/changes").map((r) => r.query.get("since"))).toEqual(["now"]);
    expect(within(list).queryByRole("link", { name: "Far down the list" })).toBeNull();
  });
});
