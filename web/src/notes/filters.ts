// Which notes a list shows, and how that maps onto the API's list queries.
import type { Note } from "../api/client";

/** The lists of notes: everyday notes, the archive and the trash. */
export type NotesView = "notes" | "archive" | "trash";

/** The orders the API offers. */
export type NoteSort = "updated" | "created" | "title" | "due";

/** What a list shows. */
export interface NotesQuery {
  view: NotesView;
  sort: NoteSort;
  subject: string | null;
  tag: string | null;
}

/** One `GET /v1/notes` query (without paging). */
export interface ListQuery {
  sort: NoteSort;
  subject?: string;
  tag?: string;
  pinned?: boolean;
  archived?: boolean;
  trashed?: boolean;
}

/**
 * The list queries a view reads, one after the other: the everyday list reads
 * the pinned notes first, then the others, so pinned notes always lead.
 */
export function listQueries(query: NotesQuery): ListQuery[] {
  const base: ListQuery = {
    sort: query.sort,
    ...(query.subject ? { subject: query.subject } : {}),
    ...(query.tag ? { tag: query.tag } : {}),
  };
  switch (query.view) {
    case "notes":
      return [
        { ...base, pinned: true },
        { ...base, pinned: false },
      ];
    case "archive":
      return [{ ...base, archived: true }];
    case "trash":
      return [{ ...base, trashed: true }];
  }
}

/** Whether a note belongs in the list (used to place changes from elsewhere). */
export function belongsTo(note: Note, query: NotesQuery): boolean {
  if (query.subject && note.subject !== query.subject) return false;
  if (query.tag && !note.tags.includes(query.tag)) return false;
  if (query.sort === "due" && !note.due_at) return false;
  switch (query.view) {
    case "notes":
      return !note.archived && !note.trashed;
    case "archive":
      return note.archived && !note.trashed;
    case "trash":
      return note.trashed;
  }
}

/** The notes of `notes` the list shows, in its order (for the copy kept on this device). */
export function keptList(notes: Note[], query: NotesQuery): Note[] {
  const by: Record<NoteSort, (a: Note, b: Note) => number> = {
    updated: (a, b) => b.updated_at.localeCompare(a.updated_at),
    created: (a, b) => b.created_at.localeCompare(a.created_at),
    title: (a, b) => a.title.toLowerCase().localeCompare(b.title.toLowerCase()),
    due: (a, b) => (a.due_at ?? "").localeCompare(b.due_at ?? ""),
  };
  return notes.filter((note) => belongsTo(note, query)).sort(by[query.sort]);
}

/** Pinned notes first (in the everyday list), each group in the order it came. */
export function pinnedFirst(notes: Note[], view: NotesView): Note[] {
  if (view !== "notes") return notes;
  return [...notes.filter((n) => n.pinned), ...notes.filter((n) => !n.pinned)];
}
