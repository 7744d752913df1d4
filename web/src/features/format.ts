/** Words and numbers as the feature screens show them. */

const UNITS = ["bytes", "KB", "MB", "GB", "TB"];

/** A size in bytes as people read it: "512 bytes", "1.5 MB" (1 KB = 1024 bytes). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  const rounded = value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${rounded} ${UNITS[unit]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An RFC 3339 instant in the reader's time zone and language. */
export function formatDateTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

/**
 * A `datetime-local` input's value ("2026-12-01T14:30", the reader's local time)
 * as an RFC 3339 instant, or undefined when it is empty or not a date.
 */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
