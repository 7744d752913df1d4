// A modal question with one dangerous answer (the browser's <dialog>: focus
// is kept inside and Escape cancels).
import { useEffect, useRef, type ReactNode } from "react";

/** Asks to confirm; `confirmLabel` names the button that does it. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  children: ReactNode;
  onConfirm(): void;
  onCancel(): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (props.open && !element.open) element.showModal?.();
    if (!props.open && element.open) element.close();
  }, [props.open]);

  return (
    <dialog ref={dialog} aria-labelledby="confirm-title" onCancel={props.onCancel} onClose={props.onCancel}>
      {props.open && (
        <>
          <h2 id="confirm-title">{props.title}</h2>
          {props.children}
          <div className="dialog-actions">
            <button type="button" onClick={props.onCancel} autoFocus>
              Cancel
            </button>
            <button type="button" className="danger" onClick={props.onConfirm}>
              {props.confirmLabel}
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}
