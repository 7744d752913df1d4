// Everything behind sign-in: the shell around the screen the address names.
// The notes list comes with the first load; other screens load on demand.
import { lazy, Suspense, type ReactNode } from "react";
import { matchPath, useRouter } from "../router";
import { SyncProvider } from "../sync";
import { Loading } from "../ui/Loading";
import { NotesScreen, type NotesView } from "../notes/NotesScreen";
import { Shell } from "./Shell";

const EditorScreen = lazy(() => import("../editor/EditorScreen"));
const UpcomingScreen = lazy(() => import("../screens/UpcomingScreen"));
const SearchScreen = lazy(() => import("../screens/SearchScreen"));
const AccountPage = lazy(() => import("../features/account/AccountPage").then((m) => ({ default: m.AccountPage })));

const listViews: Record<string, NotesView> = { "/": "notes", "/archive": "archive", "/trash": "trash" };

/** The signed-in app. */
export function SignedInApp() {
  return (
    <SyncProvider>
      <Shell>
        <Screen />
      </Shell>
    </SyncProvider>
  );
}

function Screen() {
  const { pathname } = useRouter();
  const note = matchPath("/notes/:id", pathname);
  const view = listViews[pathname.replace(/(.)\/+$/, "$1")];
  if (view) return <NotesScreen view={view} />;
  if (note) return lazily(<EditorScreen key={note.id} id={note.id} />);
  if (pathname === "/upcoming") return lazily(<UpcomingScreen />);
  if (pathname === "/search") return lazily(<SearchScreen />);
  if (pathname === "/account") return lazily(<AccountPage />);
  return <NotFound />;
}

function lazily(screen: ReactNode) {
  return <Suspense fallback={<Loading />}>{screen}</Suspense>;
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
    </>
  );
}
