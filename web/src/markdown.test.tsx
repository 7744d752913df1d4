// User Markdown can never become script.
import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Highlight, parseHighlight } from "./highlight";
import { isSafeAddress, Markdown } from "./markdown";

describe("Markdown", () => {
  it("escapes raw HTML and drops script addresses", () => {
    const { container } = render(
      <Markdown source={'<img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](JaVa\tScRiPt:alert(1)) [ok](https://example.org)'} />,
    );
    expect(container.querySelector("img")).toBeNull();
    const links = [...container.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.org"]);
    expect(links[0].getAttribute("rel")).toBe("noopener noreferrer");
  });

  it("allows only http, https, mailto and relative addresses", () => {
    expect(isSafeAddress("https://x.org")).toBe(true);
    expect(isSafeAddress("mailto:a@b.c")).toBe(true);
    expect(isSafeAddress("/notes/1")).toBe(true);
    expect(isSafeAddress("data:text/html,<script>")).toBe(false);
    expect(isSafeAddress("vbscript:x")).toBe(false);
    expect(isSafeAddress("//evil.example/x")).toBe(false);
  });
});

describe("Highlight", () => {
  it("marks matches and keeps everything else as text", () => {
    expect(parseHighlight("a <mark>b</mark> c")).toEqual([
      { text: "a ", marked: false },
      { text: "b", marked: true },
      { text: " c", marked: false },
    ]);
    const { container } = render(<Highlight text={"<img src=x onerror=alert(1)> <mark>hit</mark>"} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("mark")?.textContent).toBe("hit");
    expect(container.textContent).toBe("<img src=x onerror=alert(1)> hit");
  });
});
