// Upcoming assignments: overdue ones marked; "Mark done" completes on the note's version.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeServer } from "../test/fakeServer";
import { makeNote } from "../test/notes";
import { renderSignedIn } from "../test/render";
import UpcomingScreen from "./UpcomingScreen";

describe("UpcomingScreen", () => {
  it("marks overdue assignments and completes one with If-Match", async () => {
    const late = makeNote({ id: "late", title: "Essay", due_at: "2020-01-01T10:00:00Z", version: 4 });
    const soon = makeNote({ id: "soon", title: "Lab report", due_at: "2999-01-01T10:00:00Z" });
    const server = fakeServer()
      .on("GET", "/v1/assignments/upcoming", { body: { items: [late, soon] } })
      .on("POST", "/v1/notes/late/complete", { body: { id: "late", version: 5, position: "7-0" } });
    renderSignedIn(<UpcomingScreen />, "/upcoming");

    const list = await screen.findByRole("list", { name: "Upcoming assignments" });
    const [first, second] = within(list).getAllByRole("listitem");
    expect(first).toHaveTextContent("Overdue");
    expect(second).not.toHaveTextContent("Overdue");

    await userEvent.click(within(first).getByRole("button", { name: "Mark done" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(1));
    expect(server.requests("POST", "/v1/notes/late/complete")[0].headers.get("If-Match")).toBe('"4"');
  });
});
