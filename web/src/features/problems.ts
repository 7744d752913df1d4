/** Failed requests said in words. */
import { ApiError } from "../api/client";

/** What most screens say for an error code; a screen may say it its own way. */
const COMMON: Record<string, string> = {
  note_not_found: "This note no longer exists.",
  note_trashed: "This note is in the trash. Restore it first.",
  unauthorized: "Your session has ended. Sign in again.",
  token_revoked: "Your session has ended. Sign in again.",
  write_contention: "Anote is busy with this note. Try again in a moment.",
  overloaded: "Anote is busy. Try again in a moment.",
  request_timeout: "Anote took too long to answer. Try again.",
  not_ready: "Anote is starting up. Try again in a moment.",
  projection_behind: "Anote is catching up. Try again in a moment.",
  internal: "Something went wrong on the server. Try again.",
  network: "Anote could not be reached. Check your connection and try again.",
};

/**
 * The sentence for a failed request: `words` for its code if given, the common
 * sentence for it, or else what the server said.
 */
export function describeProblem(error: unknown, words: Record<string, string> = {}): string {
  if (error instanceof ApiError) {
    const said = words[error.code] ?? COMMON[error.code];
    if (said) return said;
    const { detail, title } = error.problem ?? {};
    if (detail) return sentence(detail);
    if (title) return sentence(title);
    return `The request failed (${error.status}).`;
  }
  return error instanceof Error ? sentence(error.message) : "Something went wrong. Try again.";
}

/** `text` with a capital first letter and a closing full stop. */
function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
