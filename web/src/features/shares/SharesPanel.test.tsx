import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeServer } from "../../test/fakeServer";
import { problem } from "../testing/doubles";
import { aNote } from "../testing/fixtures";
import { SharesPanel } from "./SharesPanel";

const link = {
  id: "s1",
  token: "tok1",
  url: "/s/tok1",
  expires_at: null as string | null,
  created_at: "2026-12-01T10:00:00Z",
};

let fake: ReturnType<typeof fakeServer>;
let links: (typeof link)[];

beforeEach(() => {
  links = [];
  fake = fakeServer().on("GET", "/v1/notes/n1/shares", () => ({ body: { items: links } }));
});

afterEach(() => vi.unstubAllGlobals());

function renderPanel() {
  const onChanged = vi.fn();
  render(<SharesPanel note={aNote({ version: 4 })} onChanged={onChanged} />);
  return onChanged;
}

describe("SharesPanel", () => {
  it("creates a link with an expiry and lists its full address", async () => {
    fake.on("POST", "/v1/notes/n1/shares", () => {
      links = [{ ...link, expires_at: "2030-01-02T03:04:00.000Z" }];
      return { status: 201, body: { id: "s1", token: "tok1", url: "/s/tok1", version: 5, position: "0-9" } };
    });
    const onChanged = renderPanel();
    expect(await screen.findByText("No live links.")).toBeInTheDocument();

    const expires = screen.getByLabelText("Expires");
    await userEvent.type(expires, "2030-01-02T03:04");
    await userEvent.click(screen.getByRole("button", { name: "Create link" }));

    const list = await screen.findByRole("list", { name: "Share links" });
    const address = `${location.origin}/s/tok1`;
    expect(within(list).getByText(address)).toBeInTheDocument();
    expect(fake.requests("POST", "/v1/notes/n1/shares")[0].body).toEqual({
      expires_at: new Date("2030-01-02T03:04").toISOString(),
    });
    expect(onChanged).toHaveBeenCalledWith({ version: 5, position: "0-9" });
    const reload = fake.requests("GET", "/v1/notes/n1/shares").at(-1)!;
    expect(reload.headers.get("Anote-Min-Position")).toBe("0-9");
    await waitFor(() => expect(expires).toHaveValue(""));
  });

  it("creates a link that never expires when no expiry is given", async () => {
    fake.on("POST", "/v1/notes/n1/shares", () => {
      links = [link];
      return { status: 201, body: { id: "s1", token: "tok1", url: "/s/tok1", version: 5, position: "0-9" } };
    });
    renderPanel();
    await userEvent.click(screen.getByRole("button", { name: "Create link" }));

    expect(await screen.findByText(/Never expires/)).toBeInTheDocument();
    expect(fake.requests("POST", "/v1/notes/n1/shares")[0].body).toEqual({});
  });

  it("revokes a link", async () => {
    links = [link];
    fake.on("DELETE", "/v1/notes/n1/shares/s1", () => {
      links = [];
      return { body: { id: "n1", version: 5, position: "0-9" } };
    });
    const onChanged = renderPanel();
    const item = within(await screen.findByRole("list", { name: "Share links" })).getByRole("listitem");

    await userEvent.click(within(item).getByRole("button", { name: "Revoke" }));

    expect(await screen.findByText("No live links.")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("heading", { name: "Share" })).toHaveFocus());
    expect(fake.requests("DELETE", "/v1/notes/n1/shares/s1")).toHaveLength(1);
    expect(onChanged).toHaveBeenCalledWith({ version: 5, position: "0-9" });
  });

  it("says why a link was not created", async () => {
    fake.on("POST", "/v1/notes/n1/shares", problem(409, "too_many_shares"));
    renderPanel();
    await userEvent.click(screen.getByRole("button", { name: "Create link" }));

    expect(await screen.findByRole("alert")).toHaveTextContent(
      "The link was not created. This note has as many live links as it can have. Revoke one first.",
    );
  });

  it("copies the full address, or selects it when the clipboard is not there", async () => {
    links = [link];
    const writeText = vi.fn().mockResolvedValue(undefined);
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    renderPanel();
    const copy = await screen.findByRole("button", { name: "Copy link" });

    await userEvent.click(copy);
    expect(writeText).toHaveBeenCalledWith(`${location.origin}/s/tok1`);
    expect(await screen.findByText("Link copied.")).toBeInTheDocument();

    writeText.mockRejectedValue(new Error("denied"));
    await userEvent.click(copy);
    await waitFor(() => expect(window.getSelection()?.toString()).toBe(`${location.origin}/s/tok1`));
    expect(await screen.findByText(/copy it with Ctrl\+C/)).toBeInTheDocument();
  });
});
