// Pages through a list of notes by the API's cursors, never more than the
// reader asked for, and keeps the loaded notes in step with the changes feed.
// What it loads is kept on this device; when the server cannot be reached,
// the list is that kept copy (with the changes waiting to be sent), until
// the server answers again.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, call, type Note } from "../api/client";
import { useNoteChanges, useSync, type NoteChange } from "../sync";
import { belongsTo, keptList, listQueries, pinnedFirst, type NotesQuery } from "./filters";

/** Notes per page. */
export const PAGE_SIZE = 50;

interface PagingState {
  notes: Note[];
  /** Which of the view's list queries is being read. */
  source: number;
  cursor: string | null;
  done: boolean;
  loading: boolean;
  error: string | null;
  /** The list is the copy kept on this device (the server could not be reached). */
  kept: boolean;
}

const fresh: PagingState = { notes: [], source: 0, cursor: null, done: false, loading: false, error: null, kept: false };

/** The loaded notes of a view, with `loadMore()` for the next page. */
export function useNotePages(query: NotesQuery) {
  const [state, setState] = useState<PagingState>(fresh);
  const stateRef = useRef(state);
  stateRef.current = state;
  const queryKey = JSON.stringify(query);
  const generation = useRef(0);
  const { online, whenOffline, report } = useSync();

  const loadMore = useCallback(async () => {
    const start = stateRef.current;
    if (start.loading || start.done) return;
    const mine = generation.current;
    const queries = listQueries(JSON.parse(queryKey) as NotesQuery);
    stateRef.current = { ...start, loading: true, error: null };
    setState(stateRef.current);
    let { source, cursor } = start;
    const found: Note[] = [];
    try {
      // Fill at least one page, crossing from the pinned notes to the others if need be.
      while (source < queries.length && found.length < PAGE_SIZE) {
        const q = { ...queries[source], limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) };
        const page = await call(() => api.GET("/v1/notes", { params: { query: q } }));
        found.push(...page.items);
        if (page.next_cursor) cursor = page.next_cursor;
        else [source, cursor] = [source + 1, null];
        if (cursor) break;
      }
      void whenOffline().then((store) => store.cache.keep(found));
      report("online");
      if (mine !== generation.current) return;
      setState((s) => ({
        notes: [...s.notes, ...found.filter((n) => !s.notes.some((m) => m.id === n.id))],
        source,
        cursor,
        done: source >= queries.length,
        loading: false,
        error: null,
        kept: false,
      }));
    } catch (cause) {
      const unreachable = cause instanceof ApiError && cause.status === 0;
      const kept = unreachable ? keptList(await (await whenOffline()).notes(), JSON.parse(queryKey)) : null;
      if (mine !== generation.current) return;
      if (kept) {
        setState({ ...fresh, notes: kept, done: true, kept: true });
        report("offline");
      } else setState((s) => ({ ...s, loading: false, error: "The notes could not be loaded." }));
    }
  }, [queryKey, whenOffline, report]);

  const reload = useCallback(() => {
    generation.current += 1;
    stateRef.current = fresh;
    setState(fresh);
    void loadMore();
  }, [loadMore]);

  useEffect(reload, [reload]);

  // The kept copy gives way to the server's list as soon as the server answers.
  useEffect(() => {
    if (online && stateRef.current.kept) reload();
  }, [online, reload]);

  useNoteChanges(
    useCallback(
      (changes: NoteChange[]) =>
        setState((s) => ({
          ...s,
          notes: applyChanges(s.notes, changes, JSON.parse(queryKey) as NotesQuery),
        })),
      [queryKey],
    ),
  );

  return { ...state, notes: pinnedFirst(state.notes, query.view), loadMore };
}

/** The loaded notes after changes from elsewhere: updated in place, dropped, or added on top. */
export function applyChanges(notes: Note[], changes: NoteChange[], query: NotesQuery): Note[] {
  let next = notes;
  for (const change of changes) {
    const rest = next.filter((n) => n.id !== change.id);
    const note = change.note ? ({ ...change.note, body: undefined } as Note) : null;
    if (!note || !belongsTo(note, query)) next = rest;
    else if (rest.length < next.length) next = next.map((n) => (n.id === note.id ? note : n));
    else next = [note, ...next];
  }
  return next;
}
