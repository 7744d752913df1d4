/**
 * Adding a document to a note: check it against the limits, ask the API for
 * upload URLs, send the bytes straight to the store, then complete it.
 */
import { api, call, type Schemas } from "../../api/client";
import { formatBytes } from "../format";
import { put, putParts } from "./transfer";
import type { Usage } from "./usage";

/** The API's answer to an upload request: one URL, or parts above 16 MiB. */
export type UploadReply = Schemas["UploadReply"];
/** The API's answer to a document command. */
export type DocumentReply = Schemas["DocumentReply"];

/** Media types by file extension, for files the browser gives no type. */
const TYPES_BY_EXTENSION: Record<string, string> = {
  md: "text/markdown",
  markdown: "text/markdown",
  txt: "text/plain",
  pdf: "application/pdf",
  rtf: "application/rtf",
  zip: "application/zip",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text",
};

/** The media type to declare for `file`: the browser's, or one known from its extension. */
export function contentTypeOf(file: File): string {
  if (file.type) return file.type;
  const extension = file.name.includes(".") ? file.name.split(".").pop()!.toLowerCase() : "";
  return TYPES_BY_EXTENSION[extension] ?? "application/octet-stream";
}

/**
 * Why `file` cannot be uploaded, in words, or null when it fits: empty, larger
 * than the largest document allowed, or more than the storage left.
 * `pendingBytes` counts files of the same drop checked before this one.
 */
export function refusalOf(file: File, usage: Usage, pendingBytes = 0): string | null {
  if (file.size === 0) return `“${file.name}” is empty.`;
  if (file.size > usage.max_document_bytes) {
    return `“${file.name}” is too large (${formatBytes(file.size)}): documents can be at most ${formatBytes(usage.max_document_bytes)}.`;
  }
  const free = Math.max(0, usage.quota_bytes - usage.bytes - pendingBytes);
  if (file.size > free) {
    return `“${file.name}” (${formatBytes(file.size)}) does not fit in your storage: ${formatBytes(free)} of ${formatBytes(usage.quota_bytes)} is free.`;
  }
  return null;
}

/** What an upload tells while it runs. */
export interface UploadEvents {
  /** The API accepted the request: the note has a pending document now. */
  onRequested(reply: UploadReply): void;
  /** Bytes of the file sent so far. */
  onProgress(sent: number): void;
  /** Aborts the transfer of the bytes. */
  signal?: AbortSignal;
}

/** A transfer that failed after the API had recorded the pending document. */
export class UploadFailed extends Error {
  /** The pending document, to be removed. */
  readonly documentId: string;

  constructor(documentId: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : "The upload failed.", { cause });
    this.name = "UploadFailed";
    this.documentId = documentId;
  }
}

/**
 * Uploads `file` to note `noteId`: the request (refused with an `ApiError` for a
 * file too large, of a type not allowed, or over the quota), the bytes (a
 * failure is an {@link UploadFailed}), then the completion, whose reply it returns.
 */
export async function uploadDocument(noteId: string, file: File, events: UploadEvents): Promise<DocumentReply> {
  const reply = await call(() =>
    api.POST("/v1/notes/{id}/documents", {
      params: { path: { id: noteId } },
      body: { file_name: file.name, content_type: contentTypeOf(file), size: file.size },
    }),
  );
  events.onRequested(reply);
  try {
    if (reply.parts && reply.parts.length > 0) {
      await putParts(file, reply.parts, events.onProgress, events.signal);
    } else if (reply.upload_url) {
      const headers = reply.upload_headers ?? {};
      await put({ url: reply.upload_url, headers, body: file }, events.onProgress, events.signal);
    } else {
      throw new Error("The server gave no upload address.");
    }
  } catch (error) {
    throw new UploadFailed(reply.id, error);
  }
  return await call(() =>
    api.POST("/v1/notes/{id}/documents/{document_id}/complete", {
      params: { path: { id: noteId, document_id: reply.id } },
    }),
  );
}
