// A note's editable fields as the editor holds them (all strings, as typed),
// and how they map to and from the API's values.

/** The fields of a note the editor edits. */
export interface Fields {
  title: string;
  body: string;
  subject: string;
  /** Comma-separated, as typed. */
  tags: string;
  /** A `datetime-local` value in the reader's time zone, or "". */
  due: string;
}

/** The field names, in the order their changes are sent. */
export const FIELD_NAMES = ["title", "body", "subject", "tags", "due"] as const;

/** The fields whose concurrent changes are a conflict to resolve (the others: last write wins). */
export const TEXT_FIELDS = ["title", "body"] as const;

/** What the API says about a note (a current view or a past version). */
export interface NoteFields {
  title: string;
  body?: string | null;
  subject?: string | null;
  tags: string[];
  due_at?: string | null;
}

/** The editor's fields of a note the API sent. */
export function fieldsOf(note: NoteFields): Fields {
  return {
    title: note.title,
    body: note.body ?? "",
    subject: note.subject ?? "",
    tags: note.tags.join(", "),
    due: note.due_at ? toLocalInput(note.due_at) : "",
  };
}

/** Whether two sets of fields mean the same note. */
export function sameFields(a: Fields, b: Fields): boolean {
  return FIELD_NAMES.every((name) => sameField(name, a[name], b[name]));
}

/** Whether two values of a field mean the same (tags ignore spacing and order; subject ignores outer spaces). */
export function sameField(name: keyof Fields, a: string, b: string): boolean {
  if (name === "tags") return parseTags(a).join(",") === parseTags(b).join(",");
  if (name === "subject") return a.trim() === b.trim();
  if (name === "due") return dueInstant(a) === dueInstant(b);
  return a === b;
}

/** The tags typed in a comma-separated field: trimmed, without empties or repeats, sorted. */
export function parseTags(typed: string): string[] {
  const tags = typed
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
  return [...new Set(tags)].sort();
}

/** The RFC 3339 instant of a `datetime-local` value (null for ""). */
export function dueInstant(local: string): string | null {
  if (!local) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A `datetime-local` value (reader's time zone, to the minute) for an instant. */
export function toLocalInput(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
