// Test setup: DOM matchers for every component test, an in-memory IndexedDB,
// and a clean DOM and storage (IndexedDB included) after each.
import "@testing-library/jest-dom/vitest";
import "fake-indexeddb/auto";
import { cleanup, configure } from "@testing-library/react";
import { IDBFactory } from "fake-indexeddb";
import { afterEach } from "vitest";

// findBy… and waitFor wait up to 3 s: the test files run side by side on few cores.
configure({ asyncUtilTimeout: 3000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
  globalThis.indexedDB = new IDBFactory();
});

// jsdom does not lay out or scroll; the router scrolls to the top of a new screen.
window.scrollTo = () => {};
