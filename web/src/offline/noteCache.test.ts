// The kept notes: bodies kept per version, older news ignored, confirmed
// commands taken in, and the store's view with the waiting changes done.
import { describe, expect, it } from "vitest";
import { makeNote } from "../test/notes";
import { openDatabase } from "./db";
import { NoteCache } from "./noteCache";
import { OfflineStore } from "./store";

async function cache() {
  return new NoteCache(await openDatabase("ada"));
}

describe("NoteCache", () => {
  it("keeps a body while the list brings the same version without it, and drops it for a newer one", async () => {
    const notes = await cache();
    await notes.keep([makeNote({ id: "a", version: 2, body: "full text" })]);
    await notes.keep([makeNote({ id: "a", version: 2, body: undefined })]);
    expect((await notes.get("a"))?.body).toBe("full text");
    await notes.keep([makeNote({ id: "a", version: 3, title: "Renamed", body: undefined })]);
    expect(await notes.get("a")).toMatchObject({ version: 3, title: "Renamed", body: undefined });
  });

  it("never goes back to an older version", async () => {
    const notes = await cache();
    await notes.keep([makeNote({ id: "a", version: 5, title: "New" })]);
    await notes.keep([makeNote({ id: "a", version: 4, title: "Old" })]);
    expect((await notes.get("a"))?.title).toBe("New");
  });

  it("takes in what the server confirmed, at the version it made", async () => {
    const notes = await cache();
    await notes.keep([makeNote({ id: "a", version: 1, body: "before" })]);
    const queued = { seq: 1, key: "k", noteId: "a", ifMatch: 1, queuedAt: 0, command: { kind: "edit", patch: { body: "after" } } } as const;
    await notes.confirm(queued, { id: "a", version: 2, position: "1-0" });
    expect(await notes.get("a")).toMatchObject({ version: 2, body: "after" });
  });

  it("forgets a purged note", async () => {
    const notes = await cache();
    await notes.keep([makeNote({ id: "a" })]);
    await notes.forget("a");
    expect(await notes.get("a")).toBeNull();
  });
});

describe("OfflineStore", () => {
  it("shows the kept notes with the waiting changes done, and opens only notes whose body it kept", async () => {
    const store = await OfflineStore.open("ada");
    await store.cache.keep([
      makeNote({ id: "a", version: 1, title: "Kept", body: "text" }),
      makeNote({ id: "b", version: 1, title: "Listed only", body: undefined }),
    ]);
    await store.outbox.submit("a", { kind: "tags", tags: ["offline"] }, 1);
    const local = await store.outbox.create({ title: "", body: "" });
    await store.outbox.submit(local, { kind: "edit", patch: { title: "Written offline" } }, 0);

    const notes = await store.notes();
    expect(notes.map((n) => [n.title, n.tags])).toEqual(
      expect.arrayContaining([
        ["Kept", ["offline"]],
        ["Listed only", ["exam"]],
        ["Written offline", []],
      ]),
    );
    expect((await store.savedNote("a"))?.tags).toEqual(["exam"]);
    expect(await store.savedNote("b")).toBeNull();
    expect(await store.savedNote(local)).toMatchObject({ id: local, version: 0, title: "" });
    store.close();
  });
});
