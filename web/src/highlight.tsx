// Search fragments arrive as text with `<mark>…</mark>` around the matches.
// They are split into text nodes and <mark> elements: nothing in a fragment is
// ever parsed as HTML.

/** A piece of a fragment: plain text, or a match. */
export interface FragmentPart {
  text: string;
  marked: boolean;
}

/** Splits a fragment at its `<mark>` and `</mark>` markers. */
export function parseHighlight(fragment: string): FragmentPart[] {
  const parts: FragmentPart[] = [];
  let marked = false;
  for (const piece of fragment.split(/(<mark>|<\/mark>)/)) {
    if (piece === "<mark>") marked = true;
    else if (piece === "</mark>") marked = false;
    else if (piece) parts.push({ text: piece, marked });
  }
  return parts;
}

/** Renders a search fragment with its matches marked, as text. */
export function Highlight({ text }: { text: string }) {
  return (
    <>
      {parseHighlight(text).map((part, index) =>
        part.marked ? <mark key={index}>{part.text}</mark> : <span key={index}>{part.text}</span>,
      )}
    </>
  );
}
