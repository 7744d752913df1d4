// Sign in and sign up: the only screens a signed-out visitor sees (besides shared pages).
import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { Link, useRouter } from "../router";
import { useSession } from "../session";
import { useTitle } from "../ui/useTitle";

/** The sign-in form at `/signin`. */
export function SignInScreen() {
  const { signIn } = useSession();
  const { search } = useRouter();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useSubmit();

  return (
    <AuthLayout title="Sign in to Anote" error={error}>
      <form onSubmit={(event) => run(event, () => signIn(username, password))}>
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        New here? <Link to={`/signup${search}`}>Create an account</Link>
      </p>
    </AuthLayout>
  );
}

/** The registration form at `/signup`; signs in right after. */
export function SignUpScreen() {
  const { signUp } = useSession();
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useSubmit();

  return (
    <AuthLayout title="Create your Anote account" error={error}>
      <form onSubmit={(event) => run(event, () => signUp(username, displayName, password))}>
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            minLength={3}
            maxLength={32}
            pattern="[A-Za-z0-9_.\-]+"
            aria-describedby="username-hint"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <p id="username-hint" className="hint">
          3 to 32 letters, digits, dots, dashes or underscores.
        </p>
        <label>
          Display name
          <input
            name="display_name"
            autoComplete="name"
            required
            maxLength={80}
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            required
            minLength={10}
            maxLength={128}
            aria-describedby="password-hint"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <p id="password-hint" className="hint">
          At least 10 characters.
        </p>
        <button type="submit" className="primary" disabled={busy}>
          Create account
        </button>
      </form>
      <p>
        Already have an account? <Link to="/signin">Sign in</Link>
      </p>
    </AuthLayout>
  );
}

function AuthLayout({ title, error, children }: { title: string; error: string | null; children: ReactNode }) {
  useTitle(title);
  return (
    <main id="main" className="auth">
      <h1>
        <span className="brand">Anote</span>
        <span className="auth-title">{title}</span>
      </h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {children}
    </main>
  );
}

/** Runs a form's action once at a time and keeps its error in words. */
function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (event: FormEvent, action: () => Promise<void>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (cause) {
      setError(describeAuthError(cause));
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** What went wrong with a sign-in or sign-up, in words. */
export function describeAuthError(cause: unknown): string {
  if (!(cause instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (cause.code) {
    case "invalid_credentials":
      return "That username and password do not match.";
    case "username_taken":
      return "That username is taken. Please choose another.";
    case "too_many_login_attempts":
      return "Too many attempts. Please wait a few minutes and try again.";
    case "network":
      return "The server could not be reached. Check your connection and try again.";
    default:
      return cause.message;
  }
}
