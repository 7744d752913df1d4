// When the server cannot be reached, the notes list, a note and the search
// fall back to the notes kept on this device, and say so.
import { screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import EditorScreen from "../editor/EditorScreen";
import { NotesScreen } from "../notes/NotesScreen";
import SearchScreen from "../screens/SearchScreen";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import { OfflineStore } from "./store";

const kept = makeNote({ id: "00000000-0000-4000-8000-00000000000a", title: "Optics", body: "Lenses bend light" });
const unreachable = () => {
  throw new TypeError("Failed to fetch");
};

describe("reading offline", () => {
  beforeEach(async () => {
    localStorage.setItem("anote.account", JSON.stringify({ username: "ada" }));
    const store = await OfflineStore.open("ada");
    await store.cache.keep([kept, makeNote({ id: "listed", title: "Listed only", body: undefined })]);
    store.close();
    fakeServer().on("GET", "/v1/notes", unreachable).on("GET", "/v1/search", unreachable).on("GET", /^\/v1\/notes\//, unreachable);
  });

  it("lists the kept notes", async () => {
    renderSignedIn(<NotesScreen view="notes" />);
    expect(await screen.findByText(/Offline copy/)).toBeInTheDocument();
    const list = screen.getByRole("list", { name: "Notes" });
    expect(within(list).getByRole("link", { name: "Optics" })).toHaveAttribute("href", `/notes/${kept.id}`);
    expect(within(list).getByRole("link", { name: "Listed only" })).toBeInTheDocument();
  });

  it("opens a kept note in the editor", async () => {
    renderSignedIn(<EditorScreen id={kept.id} />);
    expect(await screen.findByRole("textbox", { name: "Body" })).toHaveValue("Lenses bend light");
    expect(screen.getByText(/Offline copy/)).toBeInTheDocument();
  });

  it("says that a note it never opened cannot be shown offline", async () => {
    renderSignedIn(<EditorScreen id="listed" />);
    expect(await screen.findByRole("alert")).toHaveTextContent(/was not kept on this device/);
  });

  it("searches the kept notes", async () => {
    renderSignedIn(<SearchScreen />, "/search?q=lenses");
    const results = await screen.findByRole("list", { name: "Search results" });
    expect(within(results).getByRole("link", { name: "Optics" })).toBeInTheDocument();
    expect(within(results).getByText(/Lenses bend light/)).toBeInTheDocument();
    expect(screen.getByText(/notes kept on this device/)).toBeInTheDocument();
  });
});
