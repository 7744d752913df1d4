/** A note's changes (`GET /v1/notes/{id}/history`) in words. */
import type { Schemas } from "../../api/client";
import { formatDateTime } from "../format";

/** One change of a note, as the history lists it. */
export type Change = Schemas["HistoryChange"];

const KINDS: Record<string, string> = {
  NoteCreated: "Created",
  NoteImported: "Imported",
  NoteEdited: "Edited",
  NoteTagsSet: "Tags changed",
  NoteMovedToSubject: "Subject changed",
  NotePinned: "Pinned",
  NoteUnpinned: "Unpinned",
  NoteArchived: "Archived",
  NoteUnarchived: "Taken out of the archive",
  NoteDueDateSet: "Due date set",
  NoteDueDateCleared: "Due date cleared",
  AssignmentCompleted: "Marked done",
  AssignmentReopened: "Reopened",
  NoteTrashed: "Moved to the trash",
  NoteRestored: "Restored from the trash",
  NotePurged: "Deleted for good",
  NoteShared: "Share link created",
  NoteShareRevoked: "Share link revoked",
  NoteContentRestored: "Earlier version restored",
  DocumentUploadRequested: "Upload started",
  DocumentAttached: "Document attached",
  DocumentUploadFailed: "Upload failed",
  DocumentRemoved: "Document removed",
  DocumentSubmitted: "Document handed in",
};

/** The kind of a change in words ("Edited"), or its event type when it is new to the app. */
export function kindOf(change: Change): string {
  return KINDS[change.type] ?? change.type;
}

type Fields = Record<string, unknown>;

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * What a change set, line by line ("Title: Limits", "Tags: exam, maths"),
 * besides the body, whose diff is shown on its own.
 */
export function detailsOf(change: Change): string[] {
  const fields = (change.changes ?? {}) as Fields;
  const lines: string[] = [];
  if (change.type === "NoteContentRestored" && typeof fields.from_version === "number") {
    lines.push(`From version ${fields.from_version}`);
  }
  const content = (change.type === "NoteContentRestored" ? fields.content : fields) as Fields | undefined;
  // A new note lists what it was created with; a later change also says what it cleared.
  const showEmpty = change.type !== "NoteCreated" && change.type !== "NoteImported";
  const add = (label: string, value: string | null) => {
    if (value) lines.push(`${label}: ${value}`);
    else if (showEmpty) lines.push(`${label}: (none)`);
  };
  if (content) {
    if ("title" in content) add("Title", text(content.title));
    if ("subject" in content) add("Subject", text(content.subject));
    if (Array.isArray(content.tags)) add("Tags", content.tags.join(", "));
    const due = text(content.due_at);
    if (due) lines.push(`Due: ${formatDateTime(due)}`);
  }
  const fileName = text((fields.spec as Fields | undefined)?.file_name);
  if (fileName) lines.push(`File: ${fileName}`);
  if (change.type === "NoteImported" && Array.isArray(fields.documents)) {
    for (const document of fields.documents as Fields[]) {
      const name = text((document.spec as Fields | undefined)?.file_name);
      if (name) lines.push(`File: ${name}`);
    }
  }
  return lines;
}

/** How a line of a unified diff is styled: by its first character. */
export function diffLineClass(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---")) return "diff-file";
  if (line.startsWith("@@")) return "diff-hunk";
  if (line.startsWith("+")) return "diff-added";
  if (line.startsWith("-")) return "diff-removed";
  return "diff-context";
}
