// The routes: which screen each address shows, and who may see it.
import { lazy, Suspense, useEffect, useRef } from "react";
import { Router, matchPath, useRouter } from "./router";
import { SessionProvider, useSession } from "./session";
import { SignInScreen, SignUpScreen } from "./screens/AuthScreens";
import { Loading } from "./ui/Loading";
import { SignedInApp } from "./shell/SignedInApp";

const SharedNotePage = lazy(() =>
  import("./features/shares/SharedNotePage").then((m) => ({ default: m.SharedNotePage })),
);

/** The whole app. */
export function App() {
  return (
    <Router>
      <SessionProvider>
        <Routes />
      </SessionProvider>
    </Router>
  );
}

function Routes() {
  const { pathname, search, navigate } = useRouter();
  const session = useSession();
  const shared = matchPath("/s/:token", pathname);
  const authPage = pathname === "/signin" || pathname === "/signup";

  // Signing out leaves for the sign-in page; arriving signed out at a page comes back to it after.
  const wasSignedIn = useRef(false);
  useEffect(() => {
    if (shared || session.status === "loading" || session.status === "unreachable") return;
    const signedOutHere = wasSignedIn.current;
    const signedIn = session.status === "signedIn" || session.status === "offline";
    wasSignedIn.current = signedIn;
    if (session.status === "signedOut" && !authPage) {
      const plain = signedOutHere || (pathname === "/" && !search);
      navigate(plain ? "/signin" : `/signin?next=${encodeURIComponent(pathname + search)}`, { replace: true });
    } else if (signedIn && authPage) {
      navigate(safeNext(new URLSearchParams(search).get("next")), { replace: true });
    }
  }, [shared, session.status, authPage, pathname, search, navigate]);

  if (shared) {
    return (
      <Suspense fallback={<Loading />}>
        <SharedNotePage token={shared.token} />
      </Suspense>
    );
  }
  if (session.status === "unreachable") return <Unreachable onRetry={session.retry} />;
  if (session.status === "loading") return <Loading />;
  if (session.status === "signedOut") {
    return pathname === "/signup" ? <SignUpScreen /> : <SignInScreen />;
  }
  if (authPage) return <Loading />;
  return <SignedInApp />;
}

/** Only a path inside the app may be a place to return to after signing in. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function Unreachable({ onRetry }: { onRetry(): void }) {
  useEffect(() => {
    addEventListener("online", onRetry);
    return () => removeEventListener("online", onRetry);
  }, [onRetry]);
  return (
    <main className="centered">
      <h1>Anote cannot be reached</h1>
      <p role="status">You are offline or the server is not answering. It will try again when you are back online.</p>
      <button type="button" onClick={onRetry}>
        Try again
      </button>
    </main>
  );
}
