// Search results for `/search?q=`: best first, each with its fragments and
// the matches marked.
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../api/client";
import { Highlight } from "../highlight";
import { noteTitle } from "../notes/NoteCard";
import { Link, useSearchParams } from "../router";
import { Loading } from "../ui/Loading";
import { useTitle } from "../ui/useTitle";

type SearchResult = Schemas["SearchResult"];

/** The search results screen. */
export default function SearchScreen() {
  const q = (useSearchParams().get("q") ?? "").trim();
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useTitle(q ? `Search: ${q}` : "Search");

  useEffect(() => {
    let current = true;
    setResults(null);
    setError(null);
    if (!q) return;
    call(() => api.GET("/v1/search", { params: { query: { q, limit: 50 } } })).then(
      (page) => current && setResults(page.items),
      () => current && setError("The search could not be run. Please try again."),
    );
    return () => {
      current = false;
    };
  }, [q]);

  return (
    <>
      <h1>{q ? `Results for “${q}”` : "Search"}</h1>
      {!q && <p>Type in the search box above and press Enter.</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
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
              {result.note.subject && <span className="note-meta">{result.note.subject}</span>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
