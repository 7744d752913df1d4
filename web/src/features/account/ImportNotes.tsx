// Bringing notes in: a zip of Markdown files (an export of Anote, or an
// Obsidian vault or a Joplin export, zipped) sent to `POST
// /v1/account/import`, and what became of each file.
import { useId, useState, type FormEvent } from "react";
import { api, call, type Schemas } from "../../api/client";
import { useSync } from "../../sync";
import { describeProblem } from "../problems";

/** The server's report of an import. */
type ImportReport = Schemas["ImportReport"];

/** How many notes the report says came in, were there already, or were refused. */
export function summary(report: ImportReport): string {
  const notes = (n: number) => (n === 1 ? "1 note" : `${n} notes`);
  const parts = [`Imported ${notes(report.imported)}.`];
  if (report.existing > 0) parts.push(`${notes(report.existing)} had been imported before.`);
  if (report.refused > 0) parts.push(`${notes(report.refused)} could not be imported.`);
  return parts.join(" ");
}

/** The form that imports an archive, and its report. */
export function ImportNotes() {
  const headingId = useId();
  const inputId = useId();
  const { report: tell } = useSync();
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!file) return setError("Choose a .zip file first.");
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      const reply = await call(() =>
        api.POST("/v1/account/import", {
          body: file as unknown as string,
          bodySerializer: (body: unknown) => body as Blob,
          headers: { "Content-Type": "application/zip" },
        }),
      );
      setReport(reply);
      tell("changed");
    } catch (problem) {
      setError(
        `The archive was not imported. ${describeProblem(problem, {
          invalid_archive: "This file is not a zip archive that can be read.",
          unsupported_media_type: "Choose a .zip file.",
          payload_too_large: "The archive is larger than 2 GiB.",
          imports_busy: "Anote is busy importing other archives. Try again in a minute.",
        })}`,
      );
    } finally {
      setBusy(false);
    }
  }

  const problems = (report?.files ?? []).filter((f) => f.status === "refused");
  return (
    <section className="account-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Import</h2>
      <p>
        A .zip of Markdown files: an export of Anote, or an Obsidian vault or Joplin export. Folders become subjects;
        importing the same archive again adds nothing twice.
      </p>
      <form className="account-form" onSubmit={(event) => void submit(event)}>
        <label htmlFor={inputId}>Archive</label>
        <input
          id={inputId}
          type="file"
          accept=".zip,application/zip"
          onChange={(event) => setFile(event.target.files?.[0] ?? null)}
        />
        <button type="submit" disabled={busy || !file}>
          {busy ? "Importing…" : "Import notes"}
        </button>
      </form>
      {error && <p role="alert">{error}</p>}
      {report && (
        <div role="status">
          <p>{summary(report)}</p>
          {problems.length > 0 && (
            <ul aria-label="Files not imported">
              {problems.map((f) => (
                <li key={f.path}>
                  <code>{f.path}</code>: {f.detail ?? f.code}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
