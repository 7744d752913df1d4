// The live changes feed: `GET /v1/changes/stream` read as Server-Sent Events
// through the API client (so the access token is sent, and refreshed once
// when it expired), one event at a time.
import { api, ApiError, type Schemas } from "./api/client";

/** One event of the stream: a change, or `ready` once the backlog is sent. */
export type StreamEvent =
  | { type: "change"; id: string; change: Schemas["Change"] }
  | { type: "ready"; id: string };

/** Splits Server-Sent Events text into events; feed it text as it arrives. */
export class SseParser {
  private buffer = "";

  /** The events `text` completes, in order (comments and unknown events left out). */
  push(text: string): StreamEvent[] {
    this.buffer += text.replace(/\r\n?/g, "\n");
    const events: StreamEvent[] = [];
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event = parseBlock(block);
      if (event) events.push(event);
    }
    return events;
  }
}

function parseBlock(block: string): StreamEvent | null {
  let type = "message";
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (id === null) return null;
  if (type === "ready") return { type, id };
  if (type === "change") return { type, id, change: JSON.parse(data.join("\n")) as Schemas["Change"] };
  return null;
}

/**
 * Follows the stream from `since` until it ends (the server restarted, the
 * token expired) or `signal` aborts it (then it returns quietly), calling
 * `onEvent` for each event.
 * Throws `ApiError`: status 0 when the server could not be reached, or the
 * problem the server answered instead of a stream.
 */
export async function followChanges(
  since: string,
  signal: AbortSignal,
  onEvent: (event: StreamEvent) => void,
): Promise<void> {
  let result;
  try {
    result = await api.GET("/v1/changes/stream", {
      params: { query: { since } },
      parseAs: "stream",
      signal,
    });
  } catch {
    if (signal.aborted) return;
    throw new ApiError(0, { detail: "The server could not be reached." });
  }
  const { response, error } = result;
  if (!response.ok || !response.body) {
    // openapi-fetch has read a refusal's problem document already.
    const problem = typeof error === "object" && error !== null ? error : {};
    throw new ApiError(response.status, problem as ApiError["problem"]);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.push(value).forEach(onEvent);
    }
  } catch {
    if (!signal.aborted) throw new ApiError(0, { detail: "The stream was cut off." });
  }
}
