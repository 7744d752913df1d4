/** The note the feature panels work on, as the API serves it now. */
import { api, call, type Note } from "../api/client";

/** What every note command answers: the note's new version and the position of its event. */
export interface CommandReply {
  version: number;
  position: string;
}

/**
 * The note now; with `position` (a command reply's), a view that includes
 * that command.
 */
export async function fetchNote(id: string, position?: string): Promise<Note> {
  // Asked without `version` or `at`, the route answers the note now, not a past one.
  return (await call(() =>
    api.GET("/v1/notes/{id}", {
      params: { path: { id } },
      headers: position ? { "Anote-Min-Position": position } : {},
    }),
  )) as Note;
}
