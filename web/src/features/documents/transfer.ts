/**
 * Sending a file's bytes straight to the document store: one `PUT` to a
 * presigned URL, or its parts in order, with progress. XMLHttpRequest, because
 * fetch cannot report upload progress.
 */

/** Headers a page may not set itself; the browser sends its own. */
const FORBIDDEN_HEADERS = new Set(["content-length", "host", "connection", "expect", "keep-alive", "transfer-encoding"]);

/** A transfer the store refused or that broke off. */
export class TransferError extends Error {
  /** The store's HTTP status, or 0 when no answer came. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "TransferError";
    this.status = status;
  }
}

/** One `PUT` of the transfer: where, with which signed headers, and which bytes. */
export interface PutRequest {
  url: string;
  headers: Record<string, string>;
  body: Blob;
}

/**
 * Sends `body` to `url` with exactly the signed `headers`, reporting the bytes
 * sent so far. Rejects with a {@link TransferError}, or an `AbortError` when
 * `signal` aborts it.
 */
export function put({ url, headers, body }: PutRequest, onProgress: (sent: number) => void, signal?: AbortSignal) {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("The upload was cancelled.", "AbortError"));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) {
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    const abort = () => xhr.abort();
    signal?.addEventListener("abort", abort, { once: true });
    const done = () => signal?.removeEventListener("abort", abort);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size);
        resolve();
      } else {
        reject(refusal(xhr.status));
      }
    };
    xhr.onerror = () => {
      done();
      reject(new TransferError(0, "The upload was interrupted. Check your connection and try again."));
    };
    xhr.onabort = () => {
      done();
      reject(new DOMException("The upload was cancelled.", "AbortError"));
    };
    xhr.send(body);
  });
}

function refusal(status: number): TransferError {
  if (status === 403) {
    return new TransferError(status, "The upload link expired or was refused. Try again.");
  }
  if (status === 408) {
    return new TransferError(status, "The upload stalled and was cut off. Try again.");
  }
  return new TransferError(status, `The document store refused the upload (${status}). Try again.`);
}

/** One part of a multipart upload as the API describes it. */
export interface Part {
  number: number;
  size: number;
  url: string;
  headers: Record<string, string>;
}

/**
 * Sends `file` in `parts`, one after the other in the order of their numbers,
 * each part the file's next `size` bytes; `onProgress` gets the bytes sent of
 * the whole file.
 */
export async function putParts(file: Blob, parts: Part[], onProgress: (sent: number) => void, signal?: AbortSignal) {
  const ordered = [...parts].sort((a, b) => a.number - b.number);
  let offset = 0;
  for (const part of ordered) {
    const start = offset;
    const body = file.slice(start, start + part.size);
    await put({ url: part.url, headers: part.headers, body }, (sent) => onProgress(start + sent), signal);
    offset += part.size;
  }
}
