// Searching the kept notes: every word, anywhere in title, body, tags or subject.
import { describe, expect, it } from "vitest";
import { makeNote } from "../test/notes";
import { excerpt, searchKept } from "./search";

const notes = [
  makeNote({ id: "a", title: "Limits", body: "The limit of a sequence", tags: ["exam"], updated_at: "2026-01-01T00:00:00Z" }),
  makeNote({ id: "b", title: "Résumé", body: "Cells divide", subject: "Biology", tags: [], updated_at: "2026-02-01T00:00:00Z" }),
  makeNote({ id: "c", title: "Gone", body: "limit", trashed: true }),
];

describe("searchKept", () => {
  it("finds notes with every word, in any field, case and accents aside, newest first", () => {
    expect(searchKept(notes, "LIMIT exam").map((n) => n.id)).toEqual(["a"]);
    expect(searchKept(notes, "resume biology").map((n) => n.id)).toEqual(["b"]);
    expect(searchKept(notes, "limit cells")).toEqual([]);
    expect(searchKept(notes, "   ")).toEqual([]);
  });

  it("leaves the trash out", () => {
    expect(searchKept(notes, "limit").map((n) => n.id)).toEqual(["a"]);
  });

  it("shows the text around the first match", () => {
    const long = makeNote({ body: `${"word ".repeat(60)}needle ${"tail ".repeat(60)}` });
    const text = excerpt(long, "needle");
    expect(text).toContain("needle");
    expect(text.startsWith("…")).toBe(true);
    expect(text.endsWith("…")).toBe(true);
  });
});
