import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeServer } from "../../test/fakeServer";
import { makePastNote } from "../../test/notes";
import { renderSignedIn } from "../../test/render";
import { problem } from "../testing/doubles";
import { aNote } from "../testing/fixtures";
import { HistoryPanel } from "./HistoryPanel";

const history = [
  {
    version: 1,
    type: "NoteCreated",
    actor: "u1",
    at: "2026-12-01T10:00:00Z",
    position: "0-1",
    changes: { title: "Limits", body: "one", subject: "Maths", tags: ["exam"], due_at: null },
    body_diff: "@@ -0,0 +1 @@\n+one\n",
  },
  {
    version: 2,
    type: "NoteEdited",
    actor: "u1",
    at: "2026-12-01T10:05:00Z",
    position: "0-2",
    changes: { body: "two" },
    body_diff: "@@ -1 +1 @@\n-one\n+two\n",
  },
  {
    version: 3,
    type: "NotePinned",
    actor: "u1",
    at: "2026-12-01T10:06:00Z",
    position: "0-3",
    changes: {},
  },
];

let fake: ReturnType<typeof fakeServer>;

beforeEach(() => {
  fake = fakeServer()
    .on("GET", "/v1/notes/n1/history", (request) => {
      const after = Number(request.query.get("after"));
      return { body: { items: history.filter((change) => change.version > after) } };
    });
});

afterEach(() => vi.unstubAllGlobals());

function renderPanel() {
  const onRestored = vi.fn();
  renderSignedIn(<HistoryPanel note={aNote({ version: 3 })} onRestored={onRestored} />);
  return onRestored;
}

describe("HistoryPanel", () => {
  it("lists the versions newest first, with their kind and the body diff as text", async () => {
    renderPanel();
    const list = await screen.findByRole("list", { name: "Versions" });
    const items = within(list).getAllByRole("listitem").filter((item) => item.parentElement === list);
    expect(items.map((item) => within(item).getByRole("heading").textContent)).toEqual([
      "Version 3 (current)",
      "Version 2",
      "Version 1",
    ]);
    expect(within(items[1]).getByText("Edited")).toBeInTheDocument();
    const diff = items[1].querySelector("pre")!;
    expect(diff.textContent).toBe("@@ -1 +1 @@\n-one\n+two\n");
    expect(within(diff).getByText("-one")).toHaveClass("diff-removed");
    expect(within(diff).getByText("+two")).toHaveClass("diff-added");
    expect(within(items[0]).queryByRole("button", { name: "Restore version 3" })).not.toBeInTheDocument();
    const [first] = fake.requests("GET", "/v1/notes/n1/history");
    expect(first.query.toString()).toBe("after=0&limit=200");
  });

  it("restores a version with If-Match of the current version", async () => {
    fake.on("POST", "/v1/notes/n1/versions/1/restore", { body: { id: "n1", version: 4, position: "0-7" } });
    const onRestored = renderPanel();

    await userEvent.click(await screen.findByRole("button", { name: "Restore version 1" }));

    await waitFor(() => expect(onRestored).toHaveBeenCalledWith({ version: 4, position: "0-7" }));
    const [restore] = fake.requests("POST", "/v1/notes/n1/versions/1/restore");
    expect(restore.headers.get("If-Match")).toBe('"3"');
    expect(await screen.findByText("Version 1 restored as version 4.")).toBeInTheDocument();
    await waitFor(() =>
      expect(fake.requests("GET", "/v1/notes/n1/history").at(-1)!.query.toString()).toBe("after=3&limit=200"),
    );
  });

  it("says the note changed when the restore is refused, and refreshes on request", async () => {
    fake
      .on("POST", "/v1/notes/n1/versions/1/restore", problem(412, "version_mismatch", { current_version: 5 }))
      .on("GET", "/v1/notes/n1", { body: aNote({ version: 5 }) });
    renderPanel();

    await userEvent.click(await screen.findByRole("button", { name: "Restore version 1" }));

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The note changed since this history was loaded (it is at version 5 now)");
    await userEvent.click(within(alert).getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(screen.queryByRole("alert")).not.toBeInTheDocument());

    fake.on("POST", "/v1/notes/n1/versions/1/restore", { body: { id: "n1", version: 6, position: "0-9" } });
    await userEvent.click(screen.getByRole("button", { name: "Restore version 1" }));
    await waitFor(() => expect(fake.requests("POST", "/v1/notes/n1/versions/1/restore")).toHaveLength(2));
    expect(fake.requests("POST", "/v1/notes/n1/versions/1/restore")[1].headers.get("If-Match")).toBe('"5"');
  });

  it("shows the note as it was at a version", async () => {
    fake.on("GET", "/v1/notes/n1", (request) =>
      request.query.get("version") === "1"
        ? {
            body: makePastNote({ id: "n1", title: "Limits then", body: "one" }),
          }
        : problem(400, "invalid_query"),
    );
    renderPanel();

    const view = await screen.findByRole("button", { name: "View version 1" });
    await userEvent.click(view);

    const past = await screen.findByRole("article", { name: "Version 1 as it was" });
    expect(within(past).getByRole("heading", { name: "Limits then" })).toBeInTheDocument();
    expect(within(past).getByText("one")).toBeInTheDocument();
    expect(view).toHaveAttribute("aria-expanded", "true");
  });

  it("shows the latest versions first and earlier ones page by page", async () => {
    const many = Array.from({ length: 45 }, (_, index) => ({
      version: index + 1,
      type: "NoteEdited",
      actor: "u1",
      at: "2026-12-01T10:00:00Z",
      position: `0-${index + 1}`,
      changes: {},
    }));
    fake.on("GET", "/v1/notes/n1/history", (request) => {
      const after = Number(request.query.get("after"));
      const limit = Number(request.query.get("limit"));
      return { body: { items: many.filter((change) => change.version > after).slice(0, limit) } };
    });
    renderSignedIn(<HistoryPanel note={aNote({ version: 45 })} onRestored={vi.fn()} />);
    const list = await screen.findByRole("list", { name: "Versions" });
    // Plain DOM queries: role queries are slow over 45 versions.
    const versions = () => Array.from(list.querySelectorAll("h3"), (heading) => heading.textContent);
    expect(versions()).toHaveLength(20);
    expect(versions()[0]).toBe("Version 45 (current)");

    await userEvent.click(screen.getByText("Show earlier versions"));
    await waitFor(() => expect(versions()).toHaveLength(40));
    await userEvent.click(screen.getByText("Show earlier versions"));
    await waitFor(() => expect(versions()).toHaveLength(45));
    expect(versions().at(-1)).toBe("Version 1");
    expect(screen.queryByText("Show earlier versions")).not.toBeInTheDocument();
    const pages = fake.requests("GET", "/v1/notes/n1/history").map((r) => r.query.toString());
    expect(pages).toEqual(["after=25&limit=200", "after=5&limit=20", "after=0&limit=5"]);
  });
});
