/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { serviceWorker } from "./plugins/serviceWorker.ts";

/** Where `npm run dev` and `npm run preview` send API requests. */
const anoteUrl = process.env.ANOTE_URL ?? "http://127.0.0.1:8080";
const proxy = {
  "/v1": { target: anoteUrl, changeOrigin: false },
  "/openapi.json": { target: anoteUrl, changeOrigin: false },
};

export default defineConfig({
  plugins: [react(), serviceWorker()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The page's Content-Security-Policy allows no inline script: no preload polyfill.
    modulePreload: { polyfill: false },
    // Nothing becomes a data: URL inside CSS or JS; every asset is a file of its own.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    // Autosave waits a second by design; a busy machine may take a while more.
    testTimeout: 20_000,
  },
});
