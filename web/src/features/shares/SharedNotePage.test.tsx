import { render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeServer } from "../../test/fakeServer";
import { problem } from "../testing/doubles";
import { SharedNotePage } from "./SharedNotePage";

afterEach(() => vi.unstubAllGlobals());

const shared = {
  title: "<img src=x onerror=alert(1)>",
  body: "Some **bold** text",
  subject: "Physics",
  tags: ["exam", "waves"],
  due_at: "2026-12-10T12:00:00Z",
  done: false,
  updated_at: "2026-12-01T10:00:00Z",
  documents: [
    {
      id: "d1",
      file_name: "<b>slides</b>.pdf",
      content_type: "application/pdf",
      size: 2048,
      status: "attached",
      submitted_at: null,
      sha256: "ab",
    },
  ],
};

describe("SharedNotePage", () => {
  it("shows the shared note read-only, user text as text, with download links", async () => {
    fakeServer().on("GET", "/v1/shared/tok1", { body: shared });
    render(<SharedNotePage token="tok1" />);

    const heading = await screen.findByRole("heading", { level: 1 });
    expect(heading).toHaveTextContent("<img src=x onerror=alert(1)>");
    expect(document.querySelector("img")).toBeNull();
    expect(screen.getByText("Physics")).toBeInTheDocument();
    expect(screen.getByText("waves")).toBeInTheDocument();
    const documents = screen.getByRole("list", { name: "Documents" });
    const download = within(documents).getByRole("link", { name: "<b>slides</b>.pdf" });
    expect(download).toHaveAttribute("href", "/v1/shared/tok1/documents/d1");
  });

  it("says a revoked, expired or unknown link is not available", async () => {
    fakeServer().on("GET", "/v1/shared/gone", problem(404, "shared_note_not_found"));
    render(<SharedNotePage token="gone" />);

    expect(await screen.findByRole("heading", { level: 1, name: "This link is not available" })).toBeInTheDocument();
  });
});
