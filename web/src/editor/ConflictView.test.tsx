// A 412 shows both texts; each way out saves the right text on the current version.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { makeNote, makePastNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { NoteEditor } from "./EditorScreen";

const note = makeNote({ version: 1, title: "Limits", body: "line one\nline two" });
const notePath = `/v1/notes/${note.id}`;

/** A server on which another device saved version 2 with its own text. */
function serverWithConflict() {
  const server = fakeServer();
  server.on("PATCH", notePath, (request) =>
    request.headers.get("If-Match") === '"1"'
      ? { status: 412, body: { code: "version_mismatch", status: 412, title: "Version mismatch", current_version: 2 } }
      : { body: { id: note.id, version: 3, position: "9-0" } },
  );
  server.on("GET", notePath, (request) =>
    request.query.get("version") === "2"
      ? {
          body: makePastNote({ id: note.id, version: 2, title: "Limits", body: "line one\ntheir line" }),
        }
      : undefined,
  );
  return server;
}

async function makeConflict() {
  renderSignedIn(<NoteEditor initial={note} />);
  const body = screen.getByRole("textbox", { name: "Body" });
  await userEvent.clear(body);
  await userEvent.click(body);
  await userEvent.paste("line one\nmy line");
  return screen.findByRole("region", { name: "Conflict" }, { timeout: 8000 });
}

describe("ConflictView", () => {
  let server: ReturnType<typeof serverWithConflict>;
  beforeEach(() => {
    server = serverWithConflict();
  });

  it("shows both versions side by side", async () => {
    const conflict = await makeConflict();
    expect(within(conflict).getByRole("heading", { name: "Your version" })).toBeInTheDocument();
    expect(within(conflict).getByRole("heading", { name: "Their version" })).toBeInTheDocument();
    expect(within(conflict).getByText(/my line/)).toBeInTheDocument();
    expect(within(conflict).getByText(/their line/)).toBeInTheDocument();
  });

  it("keeps mine: saves my text on the current version", async () => {
    const conflict = await makeConflict();
    await userEvent.click(within(conflict).getByRole("button", { name: "Keep mine" }));
    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(2));
    const last = server.requests("PATCH", notePath)[1];
    expect(last.headers.get("If-Match")).toBe('"2"');
    expect(last.body).toEqual({ body: "line one\nmy line" });
    expect(screen.queryByRole("region", { name: "Conflict" })).toBeNull();
    await waitFor(() => expect(screen.getByText("Saved")).toBeInTheDocument());
  });

  it("takes theirs: the editor shows their text and sends nothing over it", async () => {
    const conflict = await makeConflict();
    await userEvent.click(within(conflict).getByRole("button", { name: "Take theirs" }));
    expect(screen.getByRole("textbox", { name: "Body" })).toHaveValue("line one\ntheir line");
    await waitFor(() => expect(screen.getByText("Saved")).toBeInTheDocument());
    expect(server.requests("PATCH", notePath)).toHaveLength(1);
  });

  it("merges by hand: both texts start in the merge, the merged text is saved on the current version", async () => {
    const conflict = await makeConflict();
    await userEvent.click(within(conflict).getByRole("button", { name: "Merge by hand" }));
    const merged = within(conflict).getByRole("textbox", { name: "Merged text" });
    expect(merged).toHaveValue("line one\nmy line\ntheir line");
    await userEvent.type(merged, "{enter}and more");
    await userEvent.click(within(conflict).getByRole("button", { name: "Save merged" }));

    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(2));
    const last = server.requests("PATCH", notePath)[1];
    expect(last.headers.get("If-Match")).toBe('"2"');
    expect(last.body).toEqual({ body: "line one\nmy line\ntheir line\nand more" });
  });
});
