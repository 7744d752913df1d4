// Renders a component inside the app's providers (router, session, sync), as the app does.
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { Router } from "../router";
import { SessionProvider } from "../session";
import { SyncProvider } from "../sync";

/** Renders `ui` signed in (the fake server answers the refresh), at `path`. */
export function renderSignedIn(ui: ReactNode, path = "/") {
  history.replaceState(null, "", path);
  return render(
    <Router>
      <SessionProvider>
        <SyncProvider>{ui}</SyncProvider>
      </SessionProvider>
    </Router>,
  );
}
