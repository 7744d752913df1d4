// The browser tab's title follows the screen (screen readers announce it too).
import { useEffect } from "react";

/** Sets `document.title` to "<title> – Anote" while mounted. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} – Anote` : "Anote";
  }, [title]);
}
