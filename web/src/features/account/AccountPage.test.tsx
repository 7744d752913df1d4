import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeServer } from "../../test/fakeServer";
import { renderSignedIn } from "../../test/render";
import { problem } from "../testing/doubles";
import { aUsage } from "../testing/fixtures";
import { AccountPage } from "./AccountPage";

let fake: ReturnType<typeof fakeServer>;

beforeEach(() => {
  localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
  fake = fakeServer()
    .on("POST", "/v1/sessions/refresh", { body: { access_token: "token-1", expires_in: 900 } })
    .on("GET", "/v1/account/usage", { body: aUsage({ bytes: 1024 ** 2 }) });
});

afterEach(() => vi.unstubAllGlobals());

/** Puts `text` into the field labelled `label` in one go, as pasting does. */
async function enter(label: string, text: string) {
  await userEvent.click(screen.getByLabelText(label));
  await userEvent.paste(text);
}

function renderPage() {
  renderSignedIn(<AccountPage />, "/account");
}

describe("AccountPage", () => {
  it("changes the password, and says a wrong current password in words", async () => {
    fake.on("PUT", "/v1/account/password", problem(403, "wrong_password"));
    renderPage();
    expect(await screen.findByText("1 MB of 1 GB used")).toBeInTheDocument();

    await enter("Current password", "not it at all");
    await enter("New password", "a much longer one");
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The current password is not right.");

    fake.on("PUT", "/v1/account/password", { status: 204 });
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText(/Your password was changed/)).toBeInTheDocument();
    expect(fake.requests("PUT", "/v1/account/password")[1].body).toEqual({
      current_password: "not it at all",
      new_password: "a much longer one",
    });
    expect(fake.requests("PUT", "/v1/account/password")[1].headers.get("Authorization")).toBe("Bearer token-1");
  });

  it("refuses a short new password before asking the server", async () => {
    renderPage();
    await enter("Current password", "correct horse");
    await enter("New password", "short");
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("The new password must be 10 to 128 characters long.");
    expect(fake.requests("PUT", "/v1/account/password")).toHaveLength(0);
  });

  it("deletes the account once the username is typed, then goes to sign in", async () => {
    fake.on("DELETE", "/v1/account", { status: 204 });
    renderPage();
    const remove = await screen.findByRole("button", { name: "Delete account" });
    await screen.findByText(/Signed in as/);
    expect(remove).toBeDisabled();

    await userEvent.type(screen.getByRole("textbox", { name: "Type your username to confirm" }), "ad");
    expect(remove).toBeDisabled();
    await userEvent.type(screen.getByRole("textbox", { name: "Type your username to confirm" }), "a");
    expect(remove).toBeEnabled();
    await userEvent.click(remove);

    await waitFor(() => expect(location.pathname).toBe("/signin"));
    expect(fake.requests("DELETE", "/v1/account")).toHaveLength(1);
    expect(localStorage.getItem("anote.account")).toBeNull();
  });

  it("says when to try again after too many wrong passwords", async () => {
    fake.on("PUT", "/v1/account/password", { ...problem(429, "too_many_login_attempts"), headers: { "Retry-After": "600" } });
    renderPage();
    await enter("Current password", "guess number six");
    await enter("New password", "a much longer one");
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("Too many wrong passwords. Try again in 10 minutes.");
  });
});
