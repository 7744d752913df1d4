// The editor saves a second after typing stops, on the version it was based on.
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { NoteEditor } from "./EditorScreen";
import { fieldsOf } from "./fields";

const note = makeNote({ version: 3 });
const notePath = `/v1/notes/${note.id}`;

describe("NoteEditor", () => {
  let server: ReturnType<typeof fakeServer>;
  beforeEach(() => {
    localStorage.clear();
    server = fakeServer();
  });

  it("autosaves after the pause with If-Match of the version it edits", async () => {
    server.on("PATCH", notePath, { body: { id: note.id, version: 4, position: "5-0" } });
    renderSignedIn(<NoteEditor initial={note} />, `/notes/${note.id}`);

    const body = screen.getByRole("textbox", { name: "Body" });
    await userEvent.clear(body);
    await userEvent.click(body);
    await userEvent.paste("Derivatives");

    expect(server.requests("PATCH", notePath)).toHaveLength(0);
    expect(screen.getByText("Unsaved changes")).toBeInTheDocument();

    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(1), { timeout: 8000 });
    const [patch] = server.requests("PATCH", notePath);
    expect(patch.headers.get("If-Match")).toBe('"3"');
    expect(patch.body).toEqual({ body: "Derivatives" });
    await waitFor(() => expect(screen.getByText("Saved")).toBeInTheDocument());
  });

  it("saves text left unsaved by an earlier visit on the version it was typed on", async () => {
    const base = fieldsOf(note);
    localStorage.setItem(`anote.draft.${note.id}`, JSON.stringify({ version: 3, base, draft: { ...base, body: "kept" } }));
    server.on("PATCH", notePath, { body: { id: note.id, version: 4, position: "5-0" } });
    renderSignedIn(<NoteEditor initial={note} />);

    expect(screen.getByRole("textbox", { name: "Body" })).toHaveValue("kept");
    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(1));
    expect(server.requests("PATCH", notePath)[0].body).toEqual({ body: "kept" });
    await waitFor(() => expect(localStorage.getItem(`anote.draft.${note.id}`)).toBeNull());
  });

  it("shows a conflict when the note changed since the unsaved text was typed", async () => {
    const base = { ...fieldsOf(note), body: "older" };
    localStorage.setItem(`anote.draft.${note.id}`, JSON.stringify({ version: 2, base, draft: { ...base, body: "mine" } }));
    renderSignedIn(<NoteEditor initial={note} />);
    const conflict = await screen.findByRole("region", { name: "Conflict" });
    expect(conflict).toHaveTextContent("mine");
    expect(conflict).toHaveTextContent(note.body!);
    expect(server.requests("PATCH", notePath)).toHaveLength(0);
  });

  it("renders the preview from the body, safely", async () => {
    renderSignedIn(<NoteEditor initial={makeNote({ body: "**bold** <img src=x onerror=alert(1)>" })} />);
    const preview = screen.getByRole("region", { name: "Preview" });
    expect(preview.querySelector("strong")?.textContent).toBe("bold");
    expect(preview.querySelector("img")).toBeNull();
    expect(preview.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("bases the next save on the version the last one made", async () => {
    let version = 3;
    server.on("PATCH", notePath, () => ({ body: { id: note.id, version: ++version, position: `${version}-0` } }));
    renderSignedIn(<NoteEditor initial={note} />);

    const title = screen.getByRole("textbox", { name: "Title" });
    await userEvent.click(title);
    await userEvent.paste(" one");
    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(1), { timeout: 8000 });
    await userEvent.paste(" two");
    await waitFor(() => expect(server.requests("PATCH", notePath)).toHaveLength(2), { timeout: 8000 });

    const [first, second] = server.requests("PATCH", notePath);
    expect(first.headers.get("If-Match")).toBe('"3"');
    expect(second.headers.get("If-Match")).toBe('"4"');
    expect(second.body).toEqual({ title: "Limits one two" });
  });
});
