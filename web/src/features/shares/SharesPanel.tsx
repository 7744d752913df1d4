import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { api, call, type Note, type Schemas } from "../../api/client";
import { formatDateTime, localInputToIso } from "../format";
import type { CommandReply } from "../note";
import { describeProblem } from "../problems";
import "./SharesPanel.css";

/** A live share link of a note. */
type ShareLink = Schemas["ShareBody"];

/** Props of {@link SharesPanel}. */
export interface SharesPanelProps {
  note: Note;
  /** Called with each command's reply, so the editor knows the note's new version. */
  onChanged(reply: CommandReply): void;
}

/** How the share commands' refusals are said. */
const WORDS: Record<string, string> = {
  expiry_in_past: "The expiry must be in the future.",
  too_many_shares: "This note has as many live links as it can have. Revoke one first.",
  share_not_found: "This link was already revoked.",
  note_trashed: "This note is in the trash: restore it before sharing it.",
};

/** The full address of a share link (the API gives the path of the app's page). */
export function fullShareUrl(link: { url: string }): string {
  return new URL(link.url, location.origin).href;
}

/**
 * The note's read-only share links: create one (with an optional expiry),
 * copy its address, and revoke it.
 */
export function SharesPanel({ note, onChanged }: SharesPanelProps) {
  const headingId = useId();
  const hintId = useId();
  const [links, setLinks] = useState<ShareLink[] | null>(null);
  const [expires, setExpires] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);

  const load = useCallback(
    async (position?: string) => {
      try {
        const page = await call(() =>
          api.GET("/v1/notes/{id}/shares", {
            params: { path: { id: note.id } },
            headers: position ? { "Anote-Min-Position": position } : {},
          }),
        );
        setLinks(page.items);
      } catch (problem) {
        setError(`The links could not be loaded. ${describeProblem(problem, WORDS)}`);
      }
    },
    [note.id],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function command(run: () => Promise<CommandReply>, done: string, failure: string) {
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const reply = await run();
      onChanged({ version: reply.version, position: reply.position });
      await load(reply.position);
      setNotice(done);
      return true;
    } catch (problem) {
      setError(`${failure} ${describeProblem(problem, WORDS)}`);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function create(event: FormEvent) {
    event.preventDefault();
    const expiresAt = localInputToIso(expires);
    if (expires && !expiresAt) {
      setError("The expiry is not a date and time.");
      return;
    }
    const created = await command(
      () =>
        call(() =>
          api.POST("/v1/notes/{id}/shares", {
            params: { path: { id: note.id } },
            body: expiresAt ? { expires_at: expiresAt } : {},
          }),
        ),
      "Link created.",
      "The link was not created.",
    );
    if (created) setExpires("");
  }

  async function revoke(link: ShareLink) {
    const revoked = await command(
      () =>
        call(() =>
          api.DELETE("/v1/notes/{id}/shares/{share_id}", {
            params: { path: { id: note.id, share_id: link.id } },
          }),
        ),
      "Link revoked: it no longer opens the note.",
      "The link was not revoked.",
    );
    // Its buttons are gone: keyboard focus goes back to the panel.
    if (revoked) heading.current?.focus();
  }

  async function copy(link: ShareLink, address: HTMLElement | null) {
    setError(null);
    try {
      await navigator.clipboard.writeText(fullShareUrl(link));
      setNotice("Link copied.");
    } catch {
      if (address) window.getSelection()?.selectAllChildren(address);
      setNotice("The link could not be copied here: it is selected, copy it with Ctrl+C (⌘C on a Mac).");
    }
  }

  return (
    <section className="shares-panel" aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        Share
      </h2>
      <p className="hint">Anyone with a link can read this note and download its documents, without signing in.</p>
      <form className="share-form" onSubmit={create}>
        <label>
          Expires
          <input
            type="datetime-local"
            value={expires}
            onChange={(event) => setExpires(event.currentTarget.value)}
            aria-describedby={hintId}
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          Create link
        </button>
        <p id={hintId} className="hint">
          Optional: leave it empty for a link that works until you revoke it.
        </p>
      </form>

      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <p aria-live="polite" className="shares-notice">
        {notice}
      </p>

      {links && links.length === 0 && <p className="muted">No live links.</p>}
      {links && links.length > 0 && (
        <ul className="share-links" aria-label="Share links">
          {links.map((link) => (
            <ShareLinkItem key={link.id} link={link} busy={busy} onCopy={copy} onRevoke={() => void revoke(link)} />
          ))}
        </ul>
      )}
    </section>
  );
}

interface ShareLinkItemProps {
  link: ShareLink;
  busy: boolean;
  onCopy(link: ShareLink, address: HTMLElement | null): void;
  onRevoke(): void;
}

/** One live link: its address, when it expires, and its buttons. */
function ShareLinkItem({ link, busy, onCopy, onRevoke }: ShareLinkItemProps) {
  const [address, setAddress] = useState<HTMLElement | null>(null);
  const url = fullShareUrl(link);
  return (
    <li className="share-link">
      <a href={url} ref={setAddress} className="share-link-url" target="_blank" rel="noopener noreferrer">
        {url}
      </a>
      <span className="muted">
        {link.expires_at ? `Expires ${formatDateTime(link.expires_at)}` : "Never expires"} · created{" "}
        {formatDateTime(link.created_at)}
      </span>
      <div className="share-link-actions">
        <button type="button" onClick={() => onCopy(link, address)}>
          Copy link
        </button>
        <button type="button" onClick={onRevoke} disabled={busy}>
          Revoke
        </button>
      </div>
    </li>
  );
}
