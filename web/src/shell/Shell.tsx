// The frame around every signed-in screen: the banner with search and "New
// note", the notebook sidebar, and the main landmark.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useRouter } from "../router";
import { Sidebar } from "./Sidebar";
import { SyncStatus } from "./SyncStatus";
import { useCreateNote } from "../notes/useCreateNote";

/** The banner, sidebar and main area around `children`. */
export function Shell({ children }: { children: ReactNode }) {
  const { pathname, search } = useRouter();
  const [menuOpen, setMenuOpen] = useState(false);

  // A new place closes the phone menu.
  useEffect(() => setMenuOpen(false), [pathname, search]);

  // A new screen takes the focus (keyboard and screen-reader users start at its top).
  const firstScreen = useRef(true);
  useEffect(() => {
    if (firstScreen.current) {
      firstScreen.current = false;
      return;
    }
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [pathname]);

  return (
    <div className="shell" data-menu={menuOpen ? "open" : "closed"}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="banner">
        <Link to="/" className="brand">
          Anote
        </Link>
        <SearchBox />
        <NewNoteButton />
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="notebook"
          onClick={() => setMenuOpen((open) => !open)}
        >
          Menu
        </button>
      </header>
      <Sidebar />
      <main id="main" className="main" tabIndex={-1}>
        <SyncStatus />
        {children}
      </main>
    </div>
  );
}

/** The search form; `/` anywhere outside a text field focuses it. */
function SearchBox() {
  const { pathname, search, navigate } = useRouter();
  const input = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState(() => (pathname === "/search" ? new URLSearchParams(search).get("q") ?? "" : ""));

  useEffect(() => {
    if (pathname === "/search") setQuery(new URLSearchParams(search).get("q") ?? "");
  }, [pathname, search]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isEditable(event.target)) return;
      event.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const q = query.trim();
    if (q) navigate(`/search?q=${encodeURIComponent(q)}`);
  };

  return (
    <form role="search" onSubmit={submit}>
      <input
        ref={input}
        type="text"
        enterKeyHint="search"
        aria-label="Search notes"
        placeholder="Search notes  ( / )"
        aria-keyshortcuts="/"
        maxLength={500}
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
    </form>
  );
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/** Creates an empty note and opens it. */
function NewNoteButton() {
  const { create, busy } = useCreateNote();
  return (
    <button type="button" className="primary" onClick={() => void create()} disabled={busy}>
      New note
    </button>
  );
}
