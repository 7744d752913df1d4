/**
 * Test doubles for the component tests of the features (beside the fake
 * server of `src/test`): problem replies, and a fake `XMLHttpRequest` for the
 * uploads to the store.
 */
import { vi } from "vitest";
import type { Reply } from "../../test/fakeServer";

/** A problem answer with this status and code. */
export function problem(status: number, code: string, extra: Record<string, unknown> = {}): Reply {
  return { status, body: { type: `https://anote.dev/problems/${code}`, title: code, status, code, ...extra } };
}

/** A fake `XMLHttpRequest`: each request waits until the test answers it. */
export class FakeXhr {
  /** Every request made, in order. */
  static sent: FakeXhr[] = [];

  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: Blob | null = null;
  status = 0;
  readonly upload: { onprogress: ((event: { loaded: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  /** Installs the fake as the global `XMLHttpRequest`, forgetting earlier requests. */
  static install() {
    FakeXhr.sent = [];
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  send(body: Blob) {
    this.body = body;
    FakeXhr.sent.push(this);
  }

  abort() {
    this.onabort?.();
  }

  /** Reports `loaded` bytes sent. */
  progress(loaded: number) {
    this.upload.onprogress?.({ loaded });
  }

  /** Answers with `status` (200 unless told). */
  respond(status = 200) {
    this.status = status;
    this.onload?.();
  }
}
