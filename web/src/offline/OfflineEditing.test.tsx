// Edits made offline wait in the outbox (the status says how many), go out
// with the same Idempotency-Key when the server is back, and a note that
// moved on elsewhere meanwhile ends in the conflict view.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { NoteEditor } from "../editor/EditorScreen";
import { SyncStatus } from "../shell/SyncStatus";
import { fakeServer } from "../test/fakeServer";
import { makeNote, makePastNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { OfflineStore } from "./store";

const note = makeNote({ version: 3, body: "before" });
const notePath = `/v1/notes/${note.id}`;

describe("editing offline", () => {
  let server: ReturnType<typeof fakeServer>;
  let reachable: boolean;
  beforeEach(() => {
    reachable = false;
    server = fakeServer();
  });

  async function typeOffline(text: string) {
    renderSignedIn(
      <>
        <SyncStatus />
        <NoteEditor initial={note} />
      </>,
    );
    const body = screen.getByRole("textbox", { name: "Body" });
    await userEvent.click(body);
    await userEvent.paste(text);
    await screen.findByText("Offline — will retry", {}, { timeout: 8000 });
  }

  it("queues the edit, says it waits, and sends it once with the same key when back online", async () => {
    server.on("PATCH", notePath, () => {
      if (!reachable) throw new TypeError("Failed to fetch");
      return { body: { id: note.id, version: 4, position: "5-0" } };
    });
    await typeOffline(" and after");
    expect(screen.getByText(/1 change waiting to be sent/)).toBeInTheDocument();

    reachable = true;
    dispatchEvent(new Event("online"));
    await screen.findByText("Saved", {}, { timeout: 8000 });
    const patches = server.requests("PATCH", notePath);
    const keys = new Set(patches.map((p) => p.headers.get("Idempotency-Key")));
    expect(keys.size).toBe(1);
    expect(patches.at(-1)?.body).toEqual({ body: "before and after" });
    await waitFor(() => expect(screen.queryByText(/waiting to be sent/)).toBeNull());
    expect(screen.getByText(/Last synced/)).toBeInTheDocument();
  });

  it("ends in the conflict view when the note was changed elsewhere meanwhile", async () => {
    server.on("PATCH", notePath, () => {
      if (!reachable) throw new TypeError("Failed to fetch");
      return { status: 412, body: { code: "version_mismatch", status: 412, current_version: 4 } };
    });
    server.on("GET", notePath, (request) =>
      request.query.get("version") === "4" ? { body: makePastNote({ id: note.id, version: 4, body: "theirs" }) } : undefined,
    );
    await typeOffline(" mine");

    reachable = true;
    dispatchEvent(new Event("online"));
    const conflict = await screen.findByRole("region", { name: "Conflict" }, { timeout: 8000 });
    expect(within(conflict).getByText("before mine")).toBeInTheDocument();
    expect(within(conflict).getByText("theirs")).toBeInTheDocument();
    expect(screen.getByText("Unsaved changes")).toBeInTheDocument();
    const held = screen.getByRole("list", { name: "Changes not sent" });
    expect(held).toHaveTextContent(/changed elsewhere too/);
  });

  it("shows what the server refused with its reason, and the student discards it", async () => {
    server.on("PUT", `${notePath}/tags`, {
      status: 422,
      body: { code: "validation_failed", status: 422, detail: "a tag is at most 40 characters" },
    });
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    const store = await OfflineStore.open("ada");
    await store.cache.keep([note]);
    store.close();
    renderSignedIn(
      <>
        <SyncStatus />
        <NoteEditor initial={note} />
      </>,
    );
    const tags = screen.getByRole("textbox", { name: /^Tags/ });
    await userEvent.clear(tags);
    await userEvent.type(tags, "x".repeat(41));
    const held = await screen.findByRole("list", { name: "Changes not sent" }, { timeout: 8000 });
    await waitFor(() => expect(held).toHaveTextContent(/Tags change of “Limits” was not accepted: .*at most 40 characters/));
    expect(await screen.findByRole("alert")).toHaveTextContent(/at most 40 characters/);

    await userEvent.click(within(held).getByRole("button", { name: "Discard" }));
    await waitFor(() => expect(screen.queryByRole("list", { name: "Changes not sent" })).toBeNull());
    expect(tags).toHaveValue("exam");
    expect(screen.getByText("Saved")).toBeInTheDocument();
    expect(server.requests("PUT", `${notePath}/tags`)).toHaveLength(1);
  });
});
