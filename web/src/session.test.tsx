// The session restores itself through the refresh cookie and renews an expired token once.
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { api } from "./api/client";
import { databaseName, openDatabase } from "./offline/db";
import { SessionProvider, useSession } from "./session";
import { fakeServer } from "./test/fakeServer";

function WhoAmI() {
  const session = useSession();
  return (
    <>
      <p>{session.status}</p>
      <button onClick={() => void session.signIn("Ada", "correct horse battery")}>sign in</button>
      <button onClick={() => void session.signOut()}>sign out</button>
    </>
  );
}

describe("SessionProvider", () => {
  let server: ReturnType<typeof fakeServer>;
  beforeEach(() => {
    server = fakeServer();
  });

  it("restores the session after a reload through the cookie, with an empty body", async () => {
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    expect(await screen.findByText("signedIn")).toBeInTheDocument();
    const [refresh] = server.requests("POST", "/v1/sessions/refresh");
    expect(refresh.body).toEqual({});
  });

  it("is signed out when the cookie is refused, and signs in asking for the cookie", async () => {
    server.on("POST", "/v1/sessions/refresh", { status: 401, body: { code: "invalid_refresh_token", status: 401 } });
    server.on("POST", "/v1/sessions", { body: { access_token: "fresh", expires_in: 900, token_type: "Bearer" } });
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    expect(await screen.findByText("signedOut")).toBeInTheDocument();
    expect(server.requests("POST", "/v1/sessions/refresh")).toHaveLength(1);

    await userEvent.click(screen.getByRole("button", { name: "sign in" }));
    expect(await screen.findByText("signedIn")).toBeInTheDocument();
    expect(server.requests("POST", "/v1/sessions")[0].body).toEqual({
      username: "Ada",
      password: "correct horse battery",
      refresh_cookie: true,
    });
  });

  it("renews an expired access token once and repeats the request", async () => {
    let tokens = 0;
    server.on("POST", "/v1/sessions/refresh", () => ({
      body: { access_token: `token-${++tokens}`, expires_in: 900, token_type: "Bearer" },
    }));
    server.on("GET", "/v1/tags", (request) =>
      request.headers.get("Authorization") === "Bearer token-2"
        ? { body: { items: [{ name: "exam", notes: 1 }] } }
        : { status: 401, body: { code: "unauthorized", status: 401 } },
    );
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    await screen.findByText("signedIn");
    const { data } = await api.GET("/v1/tags");
    expect(data?.items).toEqual([{ name: "exam", notes: 1 }]);
    expect(server.requests("GET", "/v1/tags").map((r) => r.headers.get("Authorization"))).toEqual([
      "Bearer token-1",
      "Bearer token-2",
    ]);
  });

  it("signs out: the server ends the session, the app forgets the token", async () => {
    server.on("DELETE", "/v1/sessions", { status: 204 });
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    await screen.findByText("signedIn");
    await userEvent.click(screen.getByRole("button", { name: "sign out" }));
    await waitFor(() => expect(screen.getByText("signedOut")).toBeInTheDocument());
    expect(server.requests("DELETE", "/v1/sessions")[0].headers.get("Authorization")).toBe("Bearer token");
  });

  it("opens the account this device remembers when the server cannot be reached, and confirms it once back", async () => {
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    let reachable = false;
    server.on("POST", "/v1/sessions/refresh", () => {
      if (!reachable) throw new TypeError("Failed to fetch");
      return { body: { access_token: "token", expires_in: 900, token_type: "Bearer" } };
    });
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    expect(await screen.findByText("offline")).toBeInTheDocument();
    reachable = true;
    dispatchEvent(new Event("online"));
    expect(await screen.findByText("signedIn")).toBeInTheDocument();
  });

  it("cannot open anything offline without a remembered account", async () => {
    server.on("POST", "/v1/sessions/refresh", () => {
      throw new TypeError("Failed to fetch");
    });
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    expect(await screen.findByText("unreachable")).toBeInTheDocument();
  });

  it("signing out deletes what this device kept of the account", async () => {
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    server.on("DELETE", "/v1/sessions", { status: 204 });
    (await openDatabase("ada"))?.close();
    render(
      <SessionProvider>
        <WhoAmI />
      </SessionProvider>,
    );
    await screen.findByText("signedIn");
    await userEvent.click(screen.getByRole("button", { name: "sign out" }));
    await waitFor(async () => {
      const names = (await indexedDB.databases()).map((db) => db.name);
      expect(names).not.toContain(databaseName("ada"));
    });
  });
});
