// Notes for component tests.
import type { Note, Schemas } from "../api/client";

/** A note with sensible defaults; `fields` override them. */
export function makeNote(fields: Partial<Note> = {}): Note {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    title: "Limits",
    body: "# Lecture 1",
    snippet: "Lecture 1",
    subject: "Maths",
    tags: ["exam"],
    pinned: false,
    archived: false,
    trashed: false,
    due_at: null,
    done: false,
    version: 1,
    created_at: "2026-11-30T10:00:00Z",
    updated_at: "2026-11-30T10:00:00Z",
    documents: [],
    ...fields,
  } as Note;
}

/** A note as it was at a version (`GET /v1/notes/{id}?version=N`); `fields` override the defaults. */
export function makePastNote(fields: Partial<Schemas["PastNote"]> = {}): Schemas["PastNote"] {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    version: 1,
    recorded_at: "2026-12-01T10:00:00Z",
    title: "Limits",
    body: "# Lecture 1",
    subject: "Maths",
    tags: ["exam"],
    pinned: false,
    archived: false,
    trashed: false,
    due_at: null,
    done: false,
    ...fields,
  };
}
