import { describe, expect, it } from "vitest";
import { mergeText } from "./mergeText";

describe("mergeText", () => {
  it("keeps shared lines once and every other line of both", () => {
    expect(mergeText("a\nmine\nc", "a\ntheirs\nc")).toBe("a\nmine\ntheirs\nc");
    expect(mergeText("a\nb", "a\nb\nc")).toBe("a\nb\nc");
    expect(mergeText("same", "same")).toBe("same");
  });
});
