// Search results for `/search?q=`: best first, each with its fragments and
// the matches marked. When the server cannot be reached, the notes kept on
// this device are searched instead (every word in the title, body, tags or
// subject), and the screen says so.
import { useEffect, useRef, useState } from "react";
import { api, ApiError, call, type Schemas } from "../api/client";
import { Highlight } from "../highlight";
import { noteTitle } from "../notes/NoteCard";
import { excerpt, searchKept } from "../offline/search";
import { Link, useSearchParams } from "../router";
import { useSync } from "../sync";
import { Loading } from "../ui/Loading";
import { useTitle } from "../ui/useTitle";

/** A result: the server's (with marked fragments), or a kept note's (with a plain excerpt). */
type SearchResult = Schemas["SearchResult"] & { excerpt?: string };

/** The search over the notes kept on this device, as results. */
async function searchHere(notes: Promise<Schemas["NoteBody"][]>, q: string): Promise<SearchResult[]> {
  return searchKept(await notes, q)
    .slice(0, 50)
    .map((note) => ({ note, excerpt: excerpt(note, q) }) as SearchResult);
}

/** The search results screen. */
export default function SearchScreen() {
  const q = (useSearchParams().get("q") ?? "").trim();
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [kept, setKept] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const { online, whenOffline, report } = useSync();
  useTitle(q ? `Search: ${q}` : "Search");

  // Back online, a search of the kept notes runs on the server again.
  const showsKept = useRef(kept);
  showsKept.current = kept;
  useEffect(() => {
    if (online && showsKept.current) setAttempt((n) => n + 1);
  }, [online]);

  useEffect(() => {
    let current = true;
    setResults(null);
    setError(null);
    setKept(false);
    if (!q) return;
    call(() => api.GET("/v1/search", { params: { query: { q, limit: 50 } } })).then(
      (page) => {
        report("online");
        if (current) setResults(page.items);
      },
      async (cause) => {
        if (!(cause instanceof ApiError && cause.status === 0)) {
          if (current) setError("The search could not be run. Please try again.");
          return;
        }
        const found = await searchHere(whenOffline().then((store) => store.notes()), q);
        if (!current) return;
        setResults(found);
        setKept(true);
        report("offline");
      },
    );
    return () => {
      current = false;
    };
  }, [q, whenOffline, report, attempt]);

  return (
    <>
      <h1>{q ? `Results for “${q}”` : "Search"}</h1>
      {!q && <p>Type in the search box above and press Enter.</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {kept && <p className="offline-copy">Offline: these are the notes kept on this device that match.</p>}
      {q && !results && !error && <Loading label="Searching…" />}
      {results && results.length === 0 && <p className="empty">No notes match.</p>}
      {results && results.length > 0 && (
        <ul className="note-list" aria-label="Search results">
          {results.map((result) => (
            <li key={result.note.id} className="note-card">
              <Link to={`/notes/${result.note.id}`} className="title">
                {noteTitle(result.note)}
              </Link>
              {result.highlight && (
                <p className="snippet">
                  <Highlight text={result.highlight} />
                </p>
              )}
              {result.excerpt && <p className="snippet">{result.excerpt}</p>}
              {result.note.subject && <span className="note-meta">{result.note.subject}</span>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
