import { useId, useState, type FormEvent } from "react";
import { api, call } from "../../api/client";
import { useRouter } from "../../router";
import { useSession } from "../../session";
import { useTitle } from "../../ui/useTitle";
import { UsageMeter } from "../documents/UsageMeter";
import { describeProblem } from "../problems";
import { ImportNotes } from "./ImportNotes";
import "./AccountPage.css";

/** The password rule of the API (`PUT /v1/account/password`). */
const PASSWORD_LENGTH = { min: 10, max: 128 };

/**
 * The account screen (`/account`): change the password, see the storage used,
 * download every note as a zip, import a zip of Markdown files, and delete the
 * account after typing the username, which signs out.
 */
export function AccountPage() {
  const { user } = useSession();
  useTitle("Account");
  return (
    <div className="account-page">
      <h1>Account</h1>
      {user?.username && (
        <p>
          Signed in as <strong>{user.username}</strong>.
        </p>
      )}
      <ChangePassword username={user?.username ?? ""} />
      <Storage />
      <ExportNotes />
      <ImportNotes />
      <DeleteAccount username={user?.username ?? ""} />
    </div>
  );
}

/** "Try again in 3 minutes." from a `Retry-After` in seconds. */
function retryIn(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "Try again later.";
  if (seconds < 60) return `Try again in ${Math.ceil(seconds)} seconds.`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "Try again in a minute." : `Try again in ${minutes} minutes.`;
}

/** The form that changes the password. */
function ChangePassword({ username }: { username: string }) {
  const headingId = useId();
  const hintId = useId();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice("");
    if (!current) return setError("Enter your current password.");
    if (next.length < PASSWORD_LENGTH.min || next.length > PASSWORD_LENGTH.max) {
      return setError(`The new password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long.`);
    }
    setBusy(true);
    let retryAfter = 0;
    try {
      await call(async () => {
        const result = await api.PUT("/v1/account/password", {
          body: { current_password: current, new_password: next },
        });
        retryAfter = Number(result.response.headers.get("Retry-After"));
        return result;
      });
      setCurrent("");
      setNext("");
      setNotice("Your password was changed. Your other devices were signed out.");
    } catch (problem) {
      setError(
        describeProblem(problem, {
          wrong_password: "The current password is not right.",
          too_many_login_attempts: `Too many wrong passwords. ${retryIn(retryAfter)}`,
          validation_failed: `The new password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long.`,
          account_not_found: "This account no longer exists.",
        }),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="account-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Password</h2>
      <form className="account-form" onSubmit={submit} noValidate>
        {/* Password managers file a new password under the username beside it. */}
        <input type="text" name="username" autoComplete="username" value={username} readOnly hidden />
        <label>
          Current password
          <input
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
          />
        </label>
        <label>
          New password
          <input
            type="password"
            autoComplete="new-password"
            value={next}
            aria-describedby={hintId}
            onChange={(e) => setNext(e.currentTarget.value)}
          />
        </label>
        <p id={hintId} className="hint">
          {PASSWORD_LENGTH.min} to {PASSWORD_LENGTH.max} characters. Your other devices will be signed out.
        </p>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <p aria-live="polite" className="account-notice">
          {notice}
        </p>
        <div>
          <button type="submit" className="primary" disabled={busy}>
            Change password
          </button>
        </div>
      </form>
    </section>
  );
}

/** How much storage the documents take. */
function Storage() {
  const headingId = useId();
  return (
    <section className="account-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Storage</h2>
      <UsageMeter />
    </section>
  );
}

/** Downloads every note and document as a zip (`GET /v1/account/export`). */
function ExportNotes() {
  const headingId = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function download() {
    setBusy(true);
    setError(null);
    try {
      const archive = await call(() => api.GET("/v1/account/export", { parseAs: "blob" }));
      const link = document.createElement("a");
      link.href = URL.createObjectURL(archive as Blob);
      link.download = `anote-export-${new Date().toISOString().slice(0, 10)}.zip`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (problem) {
      setError(`The notes were not exported. ${describeProblem(problem)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="account-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Export</h2>
      <p>Every note as a Markdown file, in a folder per subject, with its documents beside it.</p>
      <button type="button" onClick={() => void download()} disabled={busy}>
        {busy ? "Preparing the archive…" : "Download my notes (.zip)"}
      </button>
      {error && <p role="alert">{error}</p>}
    </section>
  );
}

/** Deleting the account, once the username is typed. */
function DeleteAccount({ username }: { username: string }) {
  const headingId = useId();
  const { forget } = useSession();
  const { navigate } = useRouter();
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const confirmed = username !== "" && typed.trim().toLowerCase() === username.toLowerCase();

  async function remove(event: FormEvent) {
    event.preventDefault();
    if (!confirmed) return;
    setBusy(true);
    setError(null);
    try {
      await call(() => api.DELETE("/v1/account", {}));
      forget();
      navigate("/signin", { replace: true });
    } catch (problem) {
      setError(`The account was not deleted. ${describeProblem(problem)}`);
      setBusy(false);
    }
  }

  return (
    <section className="account-section account-danger" aria-labelledby={headingId}>
      <h2 id={headingId}>Delete account</h2>
      <p>
        This deletes your account, your notes and your documents for good, and signs you out everywhere. Share links
        stop working. It cannot be undone.
      </p>
      <form className="account-form" onSubmit={remove}>
        <label>
          Type your username to confirm
          <input
            type="text"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div>
          <button type="submit" className="danger" disabled={!confirmed || busy}>
            Delete account
          </button>
        </div>
      </form>
    </section>
  );
}
