import { describe, expect, it } from "vitest";
import { SseParser } from "./changesStream";

describe("SseParser", () => {
  it("gives whole events across chunks, leaving out comments and unknown events", () => {
    const parser = new SseParser();
    expect(parser.push('event: change\nid: 0-4')).toEqual([]);
    const change = { id: "n1", deleted: true };
    expect(parser.push(`2\ndata: ${JSON.stringify(change)}\n\n:\n\nevent: other\nid: 1\ndata: x\n\n`)).toEqual([
      { type: "change", id: "0-42", change },
    ]);
    expect(parser.push("retry: 2000\r\nevent: ready\r\nid: 0-42\r\ndata\r\n\r\n")).toEqual([{ type: "ready", id: "0-42" }]);
  });

  it("ignores an event without an id", () => {
    expect(new SseParser().push("event: change\ndata: {}\n\n")).toEqual([]);
  });
});
