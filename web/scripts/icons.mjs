#!/usr/bin/env node
// Draws the app's icons (public/icons/*.png, named in public/manifest.webmanifest
// and index.html) from public/favicon.svg in Debian's Chromium: the icon at
// 192 and 512 pixels; the same without its rounded corners, the mark inside
// the safe zone, as the maskable icon (512) and the Apple touch icon (180).
// Run it after changing the favicon: node scripts/icons.mjs
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "@playwright/test";

const publicDir = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "public");
const favicon = readFileSync(join(publicDir, "favicon.svg"), "utf8");
// Full bleed: the background fills the square (a platform rounds or masks it).
const fullBleed = favicon.replace(/ rx="[\d.]+"/, "");

/** @type {{ file: string, size: number, svg: string }[]} */
const icons = [
  { file: "icon-192.png", size: 192, svg: favicon },
  { file: "icon-512.png", size: 512, svg: favicon },
  { file: "icon-maskable-512.png", size: 512, svg: fullBleed },
  { file: "apple-touch-icon.png", size: 180, svg: fullBleed },
];

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
try {
  for (const { file, size, svg } of icons) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    const sized = svg.replace("<svg ", `<svg width="${size}" height="${size}" `);
    await page.setContent(`<body style="margin:0">${sized}</body>`);
    await page.screenshot({ path: join(publicDir, "icons", file), omitBackground: true });
    await page.close();
    console.log(`icons: public/icons/${file} (${size}×${size})`);
  }
} finally {
  await browser.close();
}
