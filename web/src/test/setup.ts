// Test setup: DOM matchers for every component test, and a clean DOM and storage after each.
import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// findBy… and waitFor wait up to 3 s: the test files run side by side on few cores.
configure({ asyncUtilTimeout: 3000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
});

// jsdom does not lay out or scroll; the router scrolls to the top of a new screen.
window.scrollTo = () => {};
