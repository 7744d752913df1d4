// Searching the notes kept on this device, for when the server cannot be
// reached: every word typed must appear in the title, body, tags or subject.
import type { Note } from "../api/client";

/** The notes that match every word of `query` (case and accents aside), most recently updated first. */
export function searchKept(notes: Note[], query: string): Note[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  return notes
    .filter((note) => {
      if (note.trashed) return false;
      const text = fold([note.title, note.body ?? note.snippet, note.subject ?? "", ...note.tags].join("\n"));
      return words.every((word) => text.includes(word));
    })
    .sort((a, b) => b.updated_at.localeCompare(a.updated_at));
}

/** The text around the first match of `query` in the note's body (or its start), as plain text. */
export function excerpt(note: Note, query: string, length = 160): string {
  const body = (note.body ?? note.snippet).replace(/\s+/g, " ").trim();
  const first = fold(query).split(/\s+/).filter(Boolean)[0] ?? "";
  const at = first ? fold(body).indexOf(first) : -1;
  const start = Math.max(0, at - length / 4);
  const cut = body.slice(start, start + length);
  return `${start > 0 ? "…" : ""}${cut}${start + length < body.length ? "…" : ""}`;
}

/** Lower case without accents, so "Résumé" matches "resume". */
function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
}
