// Shown when the note changed elsewhere while it was being edited here: both
// texts side by side, and three ways out that never lose either of them.
import { useEffect, useRef, useState } from "react";
import type { Fields } from "./fields";
import { mergeText } from "./mergeText";
import type { Resolution } from "./useNoteEditor";

/** The conflict between this editor's text (`mine`) and the current version's (`theirs`). */
export function ConflictView(props: {
  mine: Pick<Fields, "title" | "body">;
  theirs: Pick<Fields, "title" | "body">;
  onResolve(resolution: Resolution): void;
}) {
  const { mine, theirs, onResolve } = props;
  const [merging, setMerging] = useState(false);
  const [mergedTitle, setMergedTitle] = useState(mine.title);
  const [mergedBody, setMergedBody] = useState(() => mergeText(mine.body, theirs.body));
  const heading = useRef<HTMLHeadingElement>(null);
  const mergedField = useRef<HTMLTextAreaElement>(null);

  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (merging) mergedField.current?.focus();
  }, [merging]);

  return (
    <section className="conflict" aria-labelledby="conflict-heading">
      <h2 id="conflict-heading" ref={heading} tabIndex={-1}>
        Conflict
      </h2>
      <p>
        This note was changed somewhere else while you were editing it. Choose what to keep; nothing is saved
        until you do.
      </p>
      <div className="conflict-sides">
        <Side heading="Your version" text={mine} />
        <Side heading="Their version" text={theirs} />
      </div>
      <div className="conflict-actions">
        <button type="button" className="primary" onClick={() => onResolve({ keep: "mine" })}>
          Keep mine
        </button>
        <button type="button" onClick={() => onResolve({ keep: "theirs" })}>
          Take theirs
        </button>
        <button type="button" aria-expanded={merging} onClick={() => setMerging(true)}>
          Merge by hand
        </button>
      </div>
      {merging && (
        <form
          className="editor"
          onSubmit={(event) => {
            event.preventDefault();
            onResolve({ keep: "merged", title: mergedTitle, body: mergedBody });
          }}
        >
          {mine.title !== theirs.title && (
            <label>
              Merged title
              <input value={mergedTitle} maxLength={200} onChange={(e) => setMergedTitle(e.target.value)} />
            </label>
          )}
          <label>
            Merged text
            <textarea ref={mergedField} value={mergedBody} onChange={(e) => setMergedBody(e.target.value)} />
          </label>
          <p className="hint">Both texts are combined above: lines they share once, then yours, then theirs.</p>
          <div>
            <button type="submit" className="primary">
              Save merged
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function Side({ heading, text }: { heading: string; text: Pick<Fields, "title" | "body"> }) {
  return (
    <div className="conflict-side">
      <h3>{heading}</h3>
      <p>
        <strong>{text.title || "Untitled"}</strong>
      </p>
      <pre>{text.body}</pre>
    </div>
  );
}
