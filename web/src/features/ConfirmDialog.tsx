import { useEffect, useId, useRef } from "react";

/** Props of {@link ConfirmDialog}. */
export interface ConfirmDialogProps {
  /** The dialog's heading and accessible name, a question such as "Remove notes.pdf?". */
  title: string;
  /** What confirming does, in a sentence. */
  message: string;
  /** The confirming button's text, such as "Remove". */
  confirmLabel: string;
  onConfirm(): void;
  onCancel(): void;
}

/**
 * A modal question before something that cannot be undone. It opens as soon as it
 * is rendered (the page behind it is inert); Escape or "Cancel" close it.
 */
export function ConfirmDialog({ title, message, confirmLabel, onConfirm, onCancel }: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const messageId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={messageId}
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <p id={messageId}>{message}</p>
      <div className="dialog-actions">
        <button type="button" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
