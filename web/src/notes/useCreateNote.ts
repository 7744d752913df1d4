// Creating a note: a command of the outbox (safe to repeat: it carries an
// idempotency key), then the editor. Offline, the note opens at once under a
// local id and is created when the server can be reached.
import { useState } from "react";
import { useRouter, useSearchParams } from "../router";
import { useSync } from "../sync";

/** `create()` makes an empty note (in the subject being browsed, if any) and opens it. */
export function useCreateNote() {
  const { navigate } = useRouter();
  const params = useSearchParams();
  const { whenOffline } = useSync();
  const [busy, setBusy] = useState(false);

  const create = async () => {
    setBusy(true);
    const subject = params.get("subject");
    try {
      const { outbox } = await whenOffline();
      const id = await outbox.create({ title: "", body: "", ...(subject ? { subject } : {}) });
      navigate(`/notes/${id}`);
    } finally {
      setBusy(false);
    }
  };
  return { create, busy };
}
