import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeServer } from "../../test/fakeServer";
import { renderSignedIn } from "../../test/render";
import { FakeXhr, problem } from "../testing/doubles";
import { aNote, aUsage, allowModalDialogs } from "../testing/fixtures";
import { DocumentsPanel } from "./DocumentsPanel";

const MiB = 1024 * 1024;

const attached = {
  id: "d1",
  file_name: "report.pdf",
  content_type: "application/pdf",
  size: 5,
  status: "attached",
  submitted_at: null,
  sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
};

let fake: ReturnType<typeof fakeServer>;

beforeEach(() => {
  allowModalDialogs();
  FakeXhr.install();
  fake = fakeServer().on("GET", "/v1/account/usage", { body: aUsage() });
});

afterEach(() => vi.unstubAllGlobals());

function renderPanel(note = aNote()) {
  const onChanged = vi.fn();
  renderSignedIn(<DocumentsPanel note={note} onChanged={onChanged} />);
  return { onChanged, input: screen.getByLabelText("Add a document") };
}

describe("DocumentsPanel uploads", () => {
  it("requests the upload, sends the file with exactly the signed headers, then completes it", async () => {
    fake
      .on("POST", "/v1/notes/n1/documents", {
        status: 201,
        body: {
          id: "d1",
          upload_url: "http://localhost:3000/v1/blobs/notes/n1/documents/d1?signature=abc",
          upload_headers: {
            "content-type": "application/pdf",
            "content-disposition": "attachment; filename=\"report.pdf\"",
            "content-length": "5",
          },
          expires_at: "2026-12-01T23:59:00Z",
          version: 2,
          position: "0-5",
        },
      })
      .on("POST", "/v1/notes/n1/documents/d1/complete", { body: { id: "d1", note_id: "n1", version: 3, position: "0-6" } })
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 3, documents: [attached] }) });
    const { onChanged, input } = renderPanel();
    const file = new File(["hello"], "report.pdf", { type: "application/pdf" });

    await userEvent.upload(input, file);

    await waitFor(() => expect(FakeXhr.sent).toHaveLength(1));
    expect(fake.requests("POST", "/v1/notes/n1/documents")[0].body).toEqual({
      file_name: "report.pdf",
      content_type: "application/pdf",
      size: 5,
    });
    const put = FakeXhr.sent[0];
    expect(put.method).toBe("PUT");
    expect(put.url).toBe("http://localhost:3000/v1/blobs/notes/n1/documents/d1?signature=abc");
    // The browser sets Content-Length itself; everything else goes as signed.
    expect(put.headers).toEqual({
      "content-type": "application/pdf",
      "content-disposition": "attachment; filename=\"report.pdf\"",
    });
    expect(put.body).toBe(file);
    expect(onChanged).toHaveBeenCalledWith({ version: 2, position: "0-5" });

    put.progress(2);
    const bar = await screen.findByRole("progressbar", { name: "Uploading report.pdf" });
    await waitFor(() => expect(bar).toHaveAttribute("value", "2"));
    expect(fake.requests("POST", "/v1/notes/n1/documents/d1/complete")).toHaveLength(0);

    put.respond(200);
    expect(await screen.findByRole("button", { name: "Download report.pdf" })).toBeInTheDocument();
    expect(fake.requests("POST", "/v1/notes/n1/documents/d1/complete")).toHaveLength(1);
    expect(onChanged).toHaveBeenLastCalledWith({ version: 3, position: "0-6" });
    expect(fake.requests("GET", "/v1/notes/n1")[0].headers.get("Anote-Min-Position")).toBe("0-6");
    expect(screen.queryByRole("progressbar")).not.toBeInTheDocument();
  });

  it("sends a large file's parts in order, one after the other, with the overall progress", async () => {
    const size = 20 * MiB + 3;
    const bytes = new Uint8Array(size);
    bytes[0] = 1;
    bytes[8 * MiB] = 2;
    bytes[16 * MiB] = 3;
    const file = new File([bytes], "lecture.zip", { type: "application/zip" });
    const parts = [
      { number: 1, size: 8 * MiB, url: "http://store/part1", headers: { "x-part": "1" } },
      { number: 2, size: 8 * MiB, url: "http://store/part2", headers: { "x-part": "2" } },
      { number: 3, size: 4 * MiB + 3, url: "http://store/part3", headers: { "x-part": "3" } },
    ];
    fake
      .on("POST", "/v1/notes/n1/documents", {
        status: 201,
        body: { id: "d2", parts, expires_at: "2026-12-01T23:59:00Z", version: 2, position: "0-5" },
      })
      .on("POST", "/v1/notes/n1/documents/d2/complete", { body: { id: "d2", note_id: "n1", version: 3, position: "0-6" } })
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 3 }) });
    const { input } = renderPanel();

    await userEvent.upload(input, file);

    for (const [index, part] of parts.entries()) {
      await waitFor(() => expect(FakeXhr.sent).toHaveLength(index + 1));
      const put = FakeXhr.sent[index];
      expect(put.url).toBe(part.url);
      expect(put.headers).toEqual(part.headers);
      expect(put.body!.size).toBe(part.size);
      const first = new Uint8Array(await put.body!.slice(0, 1).arrayBuffer());
      expect(first[0]).toBe(index + 1);
      if (index === 1) {
        put.progress(MiB);
        const bar = await screen.findByRole("progressbar", { name: "Uploading lecture.zip" });
        await waitFor(() => expect(bar).toHaveAttribute("value", String(9 * MiB)));
        expect(bar).toHaveAttribute("max", String(size));
      }
      put.respond(200);
    }

    await waitFor(() => expect(fake.requests("POST", "/v1/notes/n1/documents/d2/complete")).toHaveLength(1));
    expect(FakeXhr.sent).toHaveLength(3);
  });

  it("refuses a file over the size limit in words before any request", async () => {
    fake.on("GET", "/v1/account/usage", { body: aUsage({ max_document_bytes: 1024 }) });
    const { input } = renderPanel();
    await screen.findByText(/of 1 GB used/);

    await userEvent.upload(input, new File([new Uint8Array(2048)], "huge.pdf", { type: "application/pdf" }));

    expect(await screen.findByRole("alert")).toHaveTextContent(
      "“huge.pdf” is too large (2 KB): documents can be at most 1 KB.",
    );
    expect(fake.requests("POST", "/v1/notes/n1/documents")).toHaveLength(0);
    expect(FakeXhr.sent).toHaveLength(0);
  });

  it("refuses a file that would pass the quota before any request", async () => {
    fake.on("GET", "/v1/account/usage", { body: aUsage({ bytes: 1024 ** 3 - 100 }) });
    const { input } = renderPanel();
    await screen.findByText(/used/);

    await userEvent.upload(input, new File([new Uint8Array(200)], "notes.txt", { type: "text/plain" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("does not fit in your storage");
    expect(fake.requests("POST", "/v1/notes/n1/documents")).toHaveLength(0);
  });

  it("says in words when the API refuses the file's type", async () => {
    fake.on("POST", "/v1/notes/n1/documents", problem(415, "content_type_not_allowed"));
    const { input } = renderPanel();

    await userEvent.upload(input, new File(["MZ"], "setup.exe", { type: "application/x-msdownload" }));

    expect(await screen.findByRole("alert")).toHaveTextContent(
      "“setup.exe” was not uploaded. Files of this type (application/x-msdownload) are not accepted.",
    );
    expect(FakeXhr.sent).toHaveLength(0);
  });

  it("removes the pending document when the store refuses the bytes", async () => {
    fake
      .on("POST", "/v1/notes/n1/documents", {
        status: 201,
        body: { id: "d1", upload_url: "http://store/d1", upload_headers: {}, expires_at: "x", version: 2, position: "0-5" },
      })
      .on("DELETE", "/v1/notes/n1/documents/d1", { body: { id: "d1", note_id: "n1", version: 3, position: "0-6" } })
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 3 }) });
    const { input } = renderPanel();

    await userEvent.upload(input, new File(["hello"], "report.pdf", { type: "application/pdf" }));
    await waitFor(() => expect(FakeXhr.sent).toHaveLength(1));
    FakeXhr.sent[0].respond(403);

    expect(await screen.findByRole("alert")).toHaveTextContent("“report.pdf” was not uploaded. The upload link expired");
    await waitFor(() => expect(fake.requests("DELETE", "/v1/notes/n1/documents/d1")).toHaveLength(1));
    expect(fake.requests("POST", "/v1/notes/n1/documents/d1/complete")).toHaveLength(0);
  });
});

describe("DocumentsPanel documents", () => {
  it("downloads through the JSON variant with the token, then goes to the URL", async () => {
    const assign = vi.fn();
    vi.stubGlobal("location", { ...window.location, origin: window.location.origin, assign });
    fake.on("GET", "/v1/documents/d1", { body: { url: "/v1/blobs/d1?signature=x", expires_at: "x" } });
    renderPanel(aNote({ documents: [attached] }));

    await userEvent.click(screen.getByRole("button", { name: "Download report.pdf" }));

    await waitFor(() => expect(assign).toHaveBeenCalledWith("/v1/blobs/d1?signature=x"));
    expect(fake.requests("GET", "/v1/documents/d1")[0].headers.get("Accept")).toBe("application/json");
  });

  it("removes a document after confirmation", async () => {
    fake
      .on("DELETE", "/v1/notes/n1/documents/d1", { body: { id: "d1", note_id: "n1", version: 3, position: "0-6" } })
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 3 }) });
    const { onChanged } = renderPanel(aNote({ version: 2, documents: [attached] }));

    await userEvent.click(screen.getByRole("button", { name: "Remove report.pdf" }));
    const dialog = screen.getByRole("dialog", { name: "Remove report.pdf?" });
    expect(fake.requests("DELETE", "/v1/notes/n1/documents/d1")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Remove" }));

    expect(await screen.findByText("No documents yet.")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("heading", { name: "Documents" })).toHaveFocus());
    expect(onChanged).toHaveBeenCalledWith({ version: 3, position: "0-6" });
  });

  it("hands a document in for an assignment and shows when", async () => {
    const handedIn = { ...attached, submitted_at: "2026-12-01T09:30:00Z" };
    fake
      .on("POST", "/v1/notes/n1/documents/d1/submit", { body: { id: "d1", note_id: "n1", version: 3, position: "0-6" } })
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 3, due_at: "2026-12-02T12:00:00Z", documents: [handedIn] }) });
    renderPanel(aNote({ version: 2, due_at: "2026-12-02T12:00:00Z", documents: [attached] }));

    await userEvent.click(screen.getByRole("button", { name: "Hand in report.pdf" }));

    expect(await screen.findByText(/^Handed in /)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Hand in report.pdf" })).not.toBeInTheDocument();
  });

  it("offers no hand-in for a note that is not an assignment", () => {
    renderPanel(aNote({ documents: [attached] }));
    expect(screen.queryByRole("button", { name: /Hand in/ })).not.toBeInTheDocument();
  });
});
