// The outbox keeps commands on the device, sends them in order with one key
// each (the same on every try), rewrites local ids and chained versions, and
// hands conflicts to the editor instead of overwriting or dropping them.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Written } from "../api/notes";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import type { QueuedCommand } from "./commands";
import { openDatabase } from "./db";
import { NoteCache } from "./noteCache";
import { Outbox, type OutboxEvent, type Transport } from "./outbox";

/** A server double for the outbox: versions per note, replies remembered per key, and scripted failures. */
function fakeTransport() {
  const versions = new Map<string, number>();
  const replies = new Map<string, Written>();
  const sent: { key: string; noteId: string; kind: string; version: number }[] = [];
  const failures: ((queued: QueuedCommand) => ApiError | "lose-reply" | null)[] = [];
  let created = 0;
  const send: Transport = async (queued, version) => {
    sent.push({ key: queued.key, noteId: queued.noteId, kind: queued.command.kind, version });
    const failure = failures.shift()?.(queued) ?? null;
    if (failure instanceof ApiError) throw failure;
    const replayed = replies.get(queued.key);
    if (replayed) return replayed;
    let id = queued.noteId;
    if (queued.command.kind === "create") {
      id = `server-${++created}`;
      versions.set(id, 0);
    } else if (versions.get(id) !== version) {
      throw new ApiError(412, { code: "version_mismatch", current_version: versions.get(id) });
    }
    const written = { id, version: (versions.get(id) ?? 0) + 1, position: `${sent.length}-0` };
    versions.set(id, written.version);
    replies.set(queued.key, written);
    if (failure === "lose-reply") throw new ApiError(0, {});
    return written;
  };
  return { send, sent, versions, failures };
}

async function outboxWith(send: Transport) {
  const db = await openDatabase("ada");
  const outbox = await Outbox.load(db, new NoteCache(db), send);
  return { db, outbox };
}

describe("Outbox", () => {
  let server: ReturnType<typeof fakeTransport>;
  let outbox: Outbox;
  let db: IDBDatabase | null;
  let events: OutboxEvent[];

  beforeEach(async () => {
    server = fakeTransport();
    ({ db, outbox } = await outboxWith(server.send));
    events = [];
    outbox.listen((event) => events.push(event));
  });
  afterEach(() => {
    outbox.close();
    db?.close();
    vi.useRealTimers();
  });

  it("keeps commands queued while it may not send, then sends them in the order they were made", async () => {
    server.versions.set("a", 3).set("b", 7);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "one" } }, 3)).toBe("queued");
    expect(await outbox.submit("b", { kind: "action", action: "trash" }, 7)).toBe("queued");
    expect(await outbox.submit("a", { kind: "tags", tags: ["exam"] }, 3)).toBe("queued");
    expect(outbox.getState()).toMatchObject({ waiting: 3, blocked: "offline" });
    expect(server.sent).toEqual([]);

    outbox.setOpen(true);
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    expect(server.sent.map((s) => [s.noteId, s.kind, s.version])).toEqual([
      ["a", "edit", 3],
      ["b", "action", 7],
      // Based on the version the edit made: it was chained behind it.
      ["a", "tags", 4],
    ]);
    expect(outbox.getState().lastSynced).not.toBeNull();
  });

  it("survives a reload: the queue, its keys and its order are kept on the device", async () => {
    server.versions.set("a", 1);
    await outbox.submit("a", { kind: "edit", patch: { title: "T" } }, 1);
    await outbox.submit("a", { kind: "edit", patch: { body: "B" } }, 1);
    const keys = outbox.pending("a").map((q) => q.key);
    outbox.close();

    const reloaded = await Outbox.load(db, new NoteCache(db), server.send);
    expect(reloaded.pending("a").map((q) => q.key)).toEqual(keys);
    expect(reloaded.pending("a").map((q) => q.ifMatch)).toEqual([1, null]);
    reloaded.setOpen(true);
    await vi.waitFor(() => expect(reloaded.getState().waiting).toBe(0));
    expect(server.sent.map((s) => s.key)).toEqual(keys);
    reloaded.close();
  });

  it("sends a command whose reply was lost again with the same key, so it is done once", async () => {
    server.versions.set("a", 2);
    server.failures.push(() => "lose-reply");
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "once" } }, 2)).toBe("queued");
    expect(outbox.getState().blocked).toBe("offline");

    outbox.kick();
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    expect(server.sent).toHaveLength(2);
    expect(server.sent[1].key).toBe(server.sent[0].key);
    expect(server.versions.get("a")).toBe(3);
    const sent = events.filter((e) => e.type === "sent");
    expect(sent).toHaveLength(1);
  });

  it("rewrites a note created here to its server id, and bases its next commands on the create's version", async () => {
    const localId = await outbox.create({ title: "", body: "" });
    expect(localId).toMatch(/^local-/);
    await outbox.submit(localId, { kind: "edit", patch: { title: "New" } }, 0);
    await outbox.submit(localId, { kind: "action", action: "pin" }, 0);
    expect(outbox.overlay([]).map((n) => [n.id, n.title, n.pinned])).toEqual([[localId, "New", true]]);

    outbox.setOpen(true);
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    expect(server.sent.map((s) => [s.noteId, s.kind, s.version])).toEqual([
      [localId, "create", 0],
      ["server-1", "edit", 1],
      ["server-1", "action", 2],
    ]);
    expect(outbox.resolveId(localId)).toBe("server-1");
    expect(events.filter((e) => e.type === "sent").map((e) => e.queued.noteId)).toEqual([
      "server-1",
      "server-1",
      "server-1",
    ]);
    // Later commands made against the local id go to the server id.
    await outbox.submit(localId, { kind: "action", action: "unpin" }, 3);
    await vi.waitFor(() => expect(server.sent.at(-1)).toMatchObject({ noteId: "server-1", version: 3 }));
  });

  it("holds a text edit the note moved on from as a conflict for the editor, and goes on with other notes", async () => {
    server.versions.set("a", 5).set("b", 1);
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "mine" } }, 4)).toBe("held");
    expect(await outbox.submit("a", { kind: "tags", tags: ["x"] }, 4)).toBe("held");
    expect(await outbox.submit("b", { kind: "edit", patch: { body: "other" } }, 1)).toBe("sent");

    const [held] = outbox.getState().held;
    expect(held.held).toMatchObject({ reason: "conflict", status: 412, currentVersion: 5 });
    expect(events.find((e) => e.type === "held")?.queued.key).toBe(held.key);
    expect(outbox.getState().waiting).toBe(2);
    expect(server.sent.filter((s) => s.noteId === "a")).toHaveLength(1);

    // The editor settles it: the chosen text on the note's version now, under a new key.
    await outbox.settle("a", 5, { body: "merged" });
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    const again = server.sent.filter((s) => s.noteId === "a");
    expect(again.map((s) => [s.kind, s.version])).toEqual([
      ["edit", 4],
      ["edit", 5],
      ["tags", 6],
    ]);
    expect(again[1].key).not.toBe(again[0].key);
  });

  it("sends a command other than an edit again on the newer version", async () => {
    server.versions.set("a", 9);
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "action", action: "trash" }, 8)).toBe("sent");
    expect(server.sent.map((s) => s.version)).toEqual([8, 9]);
    expect(server.sent[1].key).toBe(server.sent[0].key);
  });

  it("holds what the server refuses for the student to discard, never sending it again by itself", async () => {
    server.versions.set("a", 1);
    server.failures.push(() => new ApiError(409, { code: "note_trashed", detail: "the note is in the trash" }));
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "x" } }, 1)).toBe("held");
    expect(await outbox.submit("a", { kind: "tags", tags: ["t"] }, 1)).toBe("held");
    const [refused] = outbox.getState().held;
    expect(refused.held).toMatchObject({ reason: "refused", code: "note_trashed", detail: "the note is in the trash" });
    outbox.kick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.sent).toHaveLength(1);

    await outbox.discard(refused.key);
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    expect(server.sent.map((s) => [s.kind, s.version])).toEqual([
      ["edit", 1],
      ["tags", 1],
    ]);
  });

  it("discards a refused create with the commands of its note", async () => {
    server.failures.push(() => new ApiError(422, { code: "validation_failed", detail: "title too long" }));
    outbox.setOpen(true);
    const id = await outbox.create({ title: "x".repeat(300), body: "" });
    await outbox.submit(id, { kind: "edit", patch: { body: "b" } }, 0);
    expect(outbox.getState().waiting).toBe(2);
    await outbox.discard(outbox.getState().held[0].key);
    expect(outbox.getState().waiting).toBe(0);
    expect(outbox.overlay([])).toEqual([]);
  });

  it("keeps the queue when the session ended, until it may send again", async () => {
    server.versions.set("a", 1);
    server.failures.push(() => new ApiError(401, { code: "unauthorized" }));
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "x" } }, 1)).toBe("queued");
    expect(outbox.getState()).toMatchObject({ waiting: 1, blocked: "signedOut" });
    outbox.kick();
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
  });

  it("waits as long as a busy server asks (Retry-After) before trying again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    server.versions.set("a", 1);
    server.failures.push(() => new ApiError(503, { code: "store_unavailable" }, 30));
    outbox.setOpen(true);
    expect(await outbox.submit("a", { kind: "edit", patch: { body: "x" } }, 1)).toBe("queued");
    expect(outbox.getState().blocked).toBe("busy");
    outbox.kick();
    await vi.advanceTimersByTimeAsync(29_000);
    expect(server.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(server.sent).toHaveLength(2);
    expect(outbox.getState()).toMatchObject({ waiting: 0, blocked: null });
  });

  it("says when it could not keep a command on the device, and still sends it", async () => {
    const memoryOnly = await Outbox.load(null, new NoteCache(null), server.send);
    expect(await memoryOnly.submit("a", { kind: "action", action: "pin" }, 0)).toBe("queued");
    expect(memoryOnly.getState().unkept).toBe(true);
    server.versions.set("a", 0);
    memoryOnly.setOpen(true);
    await vi.waitFor(() => expect(memoryOnly.getState()).toMatchObject({ waiting: 0, unkept: false }));
    memoryOnly.close();
  });
});

describe("Outbox over HTTP", () => {
  it("sends its Idempotency-Key and If-Match with every try", async () => {
    const note = makeNote({ version: 3 });
    let tries = 0;
    const server = fakeServer().on("PATCH", `/v1/notes/${note.id}`, () => {
      tries += 1;
      if (tries === 1) throw new TypeError("Failed to fetch");
      return { body: { id: note.id, version: 4, position: "5-0" } };
    });
    const db = await openDatabase("http");
    const outbox = await Outbox.load(db, new NoteCache(db));
    outbox.setOpen(true);
    expect(await outbox.submit(note.id, { kind: "edit", patch: { body: "x" } }, 3)).toBe("queued");
    outbox.kick();
    await vi.waitFor(() => expect(outbox.getState().waiting).toBe(0));
    const [first, second] = server.requests("PATCH", `/v1/notes/${note.id}`);
    expect(first.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.headers.get("Idempotency-Key")).toBe(first.headers.get("Idempotency-Key"));
    expect(second.headers.get("If-Match")).toBe('"3"');
    expect(second.body).toEqual({ body: "x" });
    outbox.close();
    db?.close();
  });
});
