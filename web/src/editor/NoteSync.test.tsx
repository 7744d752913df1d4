// Changes from another device reach the open editor without clobbering typing.
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import type { Note } from "../api/client";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { NoteEditor } from "./EditorScreen";

const note = makeNote({ version: 3, body: "first" });
const notePath = `/v1/notes/${note.id}`;

/** A feed that has `change` waiting for a device that already read it up to "1-0". */
function feedWith(server: ReturnType<typeof fakeServer>, change: Note) {
  localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
  localStorage.setItem("anote.changes.ada", "1-0");
  server.on("GET", "/v1/changes", (request) =>
    request.query.get("since") === "1-0"
      ? { body: { items: [{ id: change.id, deleted: false, note: change }], next_cursor: "2-0", has_more: false } }
      : { body: { items: [], next_cursor: "2-0", has_more: false } },
  );
}

describe("NoteEditor and the changes feed", () => {
  let server: ReturnType<typeof fakeServer>;
  beforeEach(() => {
    server = fakeServer();
  });

  it("shows another device's text when nothing is being typed here", async () => {
    feedWith(server, { ...note, version: 4, body: "from the phone" });
    renderSignedIn(<NoteEditor initial={note} />);
    await waitFor(() => expect(screen.getByRole("textbox", { name: "Body" })).toHaveValue("from the phone"), {
      timeout: 8000,
    });
  });

  it("takes in a change of flags while typing, and saves the typing on the newer version", async () => {
    feedWith(server, { ...note, version: 4, pinned: true });
    server.on("PATCH", notePath, { body: { id: note.id, version: 5, position: "6-0" } });
    renderSignedIn(<NoteEditor initial={note} />);
    await screen.findByRole("button", { name: "Unpin" }, { timeout: 8000 });

    await userEvent.click(screen.getByRole("textbox", { name: "Body" }));
    await userEvent.paste(" and more");
    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(1), { timeout: 8000 });
    const [patch] = server.requests("PATCH", notePath);
    expect(patch.headers.get("If-Match")).toBe('"4"');
    expect(patch.body).toEqual({ body: "first and more" });
    expect(screen.queryByRole("region", { name: "Conflict" })).toBeNull();
  });
});
