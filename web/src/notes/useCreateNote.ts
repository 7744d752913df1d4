// Creating a note: one request (safe to repeat: it carries an idempotency key), then the editor.
import { useState } from "react";
import { api, call } from "../api/client";
import { useRouter, useSearchParams } from "../router";
import { useSync } from "../sync";

/** `create()` makes an empty note (in the subject being browsed, if any) and opens it. */
export function useCreateNote() {
  const { navigate } = useRouter();
  const params = useSearchParams();
  const { report } = useSync();
  const [busy, setBusy] = useState(false);

  const create = async () => {
    setBusy(true);
    const subject = params.get("subject");
    const key = crypto.randomUUID();
    try {
      const reply = await call(() =>
        api.POST("/v1/notes", {
          body: { title: "", body: "", ...(subject ? { subject } : {}) },
          headers: { "Idempotency-Key": key },
        }),
      );
      report("changed");
      navigate(`/notes/${reply.id}`);
    } catch {
      report("offline");
    } finally {
      setBusy(false);
    }
  };
  return { create, busy };
}
