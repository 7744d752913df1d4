import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import type { Page } from "@playwright/test";
import { expect, openPanel, signIn, test } from "./fixtures";

/** A small but well-formed PDF. */
function pdf(text: string): Buffer {
  const content = `BT /F1 24 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/** `size` bytes that start like a PDF and vary (so a wrong part order shows). */
function bigPdf(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
  bytes.write("%PDF-1.4\n", 0, "latin1");
  return bytes;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** The link or button "Download <name>" of the documents panel. */
function downloadControl(page: Page, name: string) {
  const panel = page.getByRole("region", { name: "Documents" });
  return panel.getByRole("link", { name: `Download ${name}` }).or(panel.getByRole("button", { name: `Download ${name}` }));
}

/** Clicks "Download <name>" and returns the downloaded bytes. */
async function download(page: Page, name: string): Promise<Buffer> {
  const [file] = await Promise.all([
    page.waitForEvent("download", { timeout: 30_000 }),
    downloadControl(page, name).click(),
  ]);
  return readFile(await file.path());
}

async function openDocuments(page: Page, id: string) {
  await page.goto(`/notes/${id}`);
  return openPanel(page, "Documents");
}

test("upload a PDF, download the same bytes, hand it in, remove it", async ({ page, account, api }) => {
  const due = new Date(Date.now() + 72 * 3_600_000).toISOString();
  const note = await api.createNote({ title: "Physics homework", body: "Problem set 3", due_at: due });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  const panel = await openDocuments(page, note.id);

  const bytes = pdf("Problem set 3 answers");
  await panel.getByLabel("Add a document").setInputFiles({ name: "answers.pdf", mimeType: "application/pdf", buffer: bytes });
  await expect(downloadControl(page, "answers.pdf")).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText(/ of .* used/)).toBeVisible();

  expect(sha256(await download(page, "answers.pdf"))).toBe(sha256(bytes));

  await panel.getByRole("button", { name: "Hand in answers.pdf" }).click();
  await expect
    .poll(async () => (await api.getNote(note.id)).documents?.[0]?.submitted_at ?? null)
    .not.toBeNull();

  await panel.getByRole("button", { name: "Remove answers.pdf" }).click();
  await page.getByRole("dialog", { name: "Remove answers.pdf?" }).getByRole("button", { name: "Remove", exact: true }).click();
  await expect(panel.getByRole("button", { name: "Remove answers.pdf" })).toHaveCount(0);
  await expect.poll(async () => (await api.getNote(note.id)).documents?.length ?? 0).toBe(0);
});

test("a 20 MiB file goes up in parts and comes back whole", async ({ page, account, api }) => {
  test.setTimeout(150_000);
  const note = await api.createNote({ title: "Recorded lecture notes", body: "Scans" });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  const panel = await openDocuments(page, note.id);

  const parts: string[] = [];
  page.on("request", (request) => {
    if (request.method() === "PUT" && new URL(request.url()).pathname.startsWith("/v1/blobs/")) parts.push(request.url());
  });
  const bytes = bigPdf(20 * 1024 * 1024);
  const file = test.info().outputPath("scans.pdf");
  await writeFile(file, bytes);
  await panel.getByLabel("Add a document").setInputFiles(file, { timeout: 30_000 });
  await expect(downloadControl(page, "scans.pdf")).toBeVisible({ timeout: 90_000 });
  expect(parts.length, "PUT requests of the upload").toBeGreaterThanOrEqual(2);

  expect(sha256(await download(page, "scans.pdf"))).toBe(sha256(bytes));
});

test("a file of a type the server refuses is refused in words before any upload", async ({ page, account, api }) => {
  const note = await api.createNote({ title: "Tools", body: "none" });
  await api.getNote(note.id, note.position);
  await signIn(page, account);
  const panel = await openDocuments(page, note.id);
  const puts: string[] = [];
  page.on("request", (request) => {
    if (request.method() === "PUT") puts.push(request.url());
  });
  await panel.getByLabel("Add a document").setInputFiles({
    name: "setup.exe",
    mimeType: "application/x-msdownload",
    buffer: Buffer.from("MZ not really a program"),
  });
  await expect(page.getByRole("alert")).toBeVisible();
  expect(puts).toEqual([]);
});
