// The editor's state and its conversation with the server. Every change is
// based on a version (`If-Match`) and goes through the outbox, which keeps it
// on this device until the server confirms it (offline, it waits there and a
// reload finds it again). The commands and the news from elsewhere (the
// changes feed, a panel's own write) are handled one at a time in order;
// news of a note whose changes are still on their way wait until they
// arrived. A change made elsewhere to a field this editor also changed is a
// conflict to resolve by the student (also when the outbox finds it later,
// sending what was typed offline); anything else is merged in without
// losing typing.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, type Note } from "../api/client";
import { getNote, getNoteAt, purgeNote, type NoteAction, type Written } from "../api/notes";
import { applyToFields, applyToNote, flagsAfter, type Command, type QueuedCommand } from "../offline/commands";
import type { Outcome } from "../offline/outbox";
import type { OfflineStore } from "../offline/store";
import { useSync } from "../sync";
import { readDraftBackup, writeDraftBackup } from "./draftBackup";
import {
  dueInstant,
  FIELD_NAMES,
  fieldsOf,
  parseTags,
  sameField,
  sameFields,
  TEXT_FIELDS,
  type Fields,
} from "./fields";

/** How long after the last keystroke the editor saves. */
export const AUTOSAVE_DELAY_MS = 1000;

/** Where saving stands. */
export type SaveStatus = "saved" | "saving" | "unsaved" | "offline" | "error";

/** Another version of the text than the one this editor's changes are based on. */
export interface Conflict {
  /** The note's current version (the one to save on top of). */
  version: number;
  /** The fields at that version. */
  theirs: Fields;
}

/** Everything the editor screen shows. */
export interface EditorModel {
  /** The note as the server last showed it (flags, documents, dates). */
  note: Note;
  /** The version `base` is. */
  version: number;
  /** The fields at `version`. */
  base: Fields;
  /** The fields as typed. */
  draft: Fields;
  status: SaveStatus;
  error: string | null;
  conflict: Conflict | null;
  /** The note was deleted (here or elsewhere). */
  gone: boolean;
}

/** How the conflict is settled. */
export type Resolution = { keep: "mine" } | { keep: "theirs" } | { keep: "merged"; title: string; body: string };

/** The editor of one note: its model and what can be done to it. */
export function useNoteEditor(initial: Note) {
  const { report, offline, whenOffline } = useSync();
  const [model, setModel] = useState<EditorModel>(() => initialModel(initial, offline?.outbox.pending(initial.id) ?? []));
  const current = useRef(model);
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // The newest news from elsewhere that arrived while changes of this note were on their way.
  const deferred = useRef<Note | null>(null);
  const id = initial.id;

  const update = useCallback((change: Partial<EditorModel>) => {
    current.current = { ...current.current, ...change };
    setModel(current.current);
  }, []);

  /** Runs `task` after every task before it (one at a time, in order). */
  const enqueue = useCallback(<T,>(task: () => Promise<T>): Promise<T> => {
    const run = queue.current.then(task, task);
    queue.current = run.catch(() => undefined);
    return run;
  }, []);

  /**
   * Takes in the note's fields at a newer version: fields this editor left alone
   * follow them, fields changed on both sides are a conflict (text) or keep
   * this editor's value (the rest). True when there is a conflict.
   */
  const rebase = useCallback(
    (theirs: Fields, version: number): boolean => {
      const m = current.current;
      if (version <= m.version) return m.conflict !== null;
      update(rebased(m, theirs, version));
      return current.current.conflict !== null;
    },
    [update],
  );

  /** Reads the note at the version the server says is current and rebases on it. */
  const resync = useCallback(
    async (version: number): Promise<boolean> => rebase(fieldsOf(await getNoteAt(id, version)), version),
    [id, rebase],
  );

  /**
   * Hands the changed fields to the outbox, one command each, on top of what
   * it already holds for this note. Resolves `sent` when the server has them,
   * `queued` when they wait for it, `held` when one waits for the student.
   */
  const sendChanges = useCallback(
    async (store: OfflineStore): Promise<Outcome> => {
      const sending = current.current.draft;
      const pending = pendingFields(current.current.base, store.outbox.pending(id));
      const changed = (name: keyof Fields) => !sameField(name, sending[name], pending[name]);
      const commands: Command[] = [];
      const text = (["title", "body"] as const).filter(changed);
      if (text.length > 0) commands.push({ kind: "edit", patch: Object.fromEntries(text.map((n) => [n, sending[n]])) });
      if (changed("subject")) commands.push({ kind: "subject", subject: sending.subject.trim() || null });
      if (changed("tags")) commands.push({ kind: "tags", tags: parseTags(sending.tags) });
      if (changed("due")) commands.push({ kind: "due", dueAt: dueInstant(sending.due) });
      let outcome: Outcome = "sent";
      for (const command of commands) {
        outcome = await store.outbox.submit(id, command, current.current.version);
        if (outcome === "held") break;
      }
      return outcome;
    },
    [id],
  );

  /**
   * Settles a conflict the outbox found (a text edit refused because the note
   * moved on): reads the note as it is now and takes it in; unless that is a
   * conflict to show, the held edit goes again with this editor's text on the
   * newer version. A refusal for another reason is shown. False when the held
   * command still waits (for the student, or for the server to be reachable).
   */
  const settleHeld = useCallback(
    async (store: OfflineStore, held: QueuedCommand): Promise<boolean> => {
      if (held.held?.reason !== "conflict") {
        update({ status: "error", error: describeError(new ApiError(held.held?.status ?? 0, { ...held.held })) });
        return false;
      }
      const now = held.held.currentVersion ?? 0;
      if (now > current.current.version) await resync(now);
      if (current.current.conflict) {
        update({ status: "unsaved" });
        return false;
      }
      const m = current.current;
      const patch = Object.fromEntries(TEXT_FIELDS.filter((n) => m.draft[n] !== m.base[n]).map((n) => [n, m.draft[n]]));
      await store.outbox.settle(id, m.version, patch);
      return true;
    },
    [id, resync, update],
  );

  const schedule = useCallback((delay: number, save: () => void) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(save, delay);
  }, []);

  /** Takes in a newer view of the note: its flags at once, its fields merged with the draft. */
  const takeIn = useCallback(
    (note: Note) => {
      if (note.version <= current.current.version) return;
      update({ note: { ...note } });
      rebase(fieldsOf(note), note.version);
    },
    [rebase, update],
  );

  /** Takes in the news that waited for this note's changes, once none is on its way any more. */
  const takeDeferred = useCallback(
    (store: OfflineStore) => {
      const news = deferred.current;
      if (!news || store.outbox.pending(id).length > 0) return;
      deferred.current = null;
      takeIn(news);
    },
    [id, takeIn],
  );

  /** Saves what was typed now (and again later if typing went on meanwhile). */
  const flush = useCallback((): Promise<void> => {
    clearTimeout(timer.current);
    return enqueue(async () => {
      if (current.current.conflict || current.current.gone) return;
      const store = await whenOffline();
      try {
        const held = store.outbox.pending(id).find((q) => q.held);
        if (held && !(await settleHeld(store, held))) return;
        const m = current.current;
        if (sameFields(m.draft, pendingFields(m.base, store.outbox.pending(id)))) {
          update({ status: statusNow(m, store, id), error: null });
          return takeDeferred(store);
        }
        update({ status: "saving", error: null });
        const outcome = await sendChanges(store);
        if (outcome === "queued") {
          if (store.outbox.getState().blocked === "offline") report("offline");
          return update({ status: "offline" });
        }
        if (outcome === "held") return update({ status: "unsaved" });
        update({ status: statusNow(current.current, store, id) });
        if (current.current.status === "unsaved") schedule(AUTOSAVE_DELAY_MS, () => void flush());
      } catch (cause) {
        if (cause instanceof ApiError && cause.status === 0) {
          report("offline");
          update({ status: "offline" });
        } else {
          update({ status: "error", error: describeError(cause) });
        }
      }
    });
  }, [enqueue, id, report, schedule, sendChanges, settleHeld, takeDeferred, update, whenOffline]);

  /** Records typing in one field; the save follows after a pause. */
  const edit = useCallback(
    (name: keyof Fields, value: string) => {
      const m = current.current;
      update({ draft: { ...m.draft, [name]: value }, status: m.status === "offline" ? "offline" : "unsaved" });
      if (!m.conflict) schedule(AUTOSAVE_DELAY_MS, () => void flush());
    },
    [flush, schedule, update],
  );

  /** Settles a conflict, then saves the chosen text on top of the current version. */
  const resolve = useCallback(
    (resolution: Resolution) =>
      enqueue(async () => {
        const m = current.current;
        if (!m.conflict) return;
        const { theirs, version } = m.conflict;
        const chosen =
          resolution.keep === "theirs"
            ? { title: theirs.title, body: theirs.body }
            : resolution.keep === "mine"
              ? { title: m.draft.title, body: m.draft.body }
              : { title: resolution.title, body: resolution.body };
        update({ conflict: null, base: theirs, version, draft: { ...m.draft, ...chosen } });
      }).then(() => flush()),
    [enqueue, flush, update],
  );

  /**
   * Takes in a newer view of the note (from the changes feed or after a
   * panel's write); while changes of this note are on their way, it waits for
   * them (it may be one of them coming back).
   */
  const receive = useCallback(
    (note: Note) =>
      enqueue(async () => {
        if (note.version <= current.current.version) return;
        if (offline && offline.outbox.pending(id).length > 0) {
          if (!deferred.current || deferred.current.version < note.version) deferred.current = note;
          return;
        }
        takeIn(note);
      }),
    [enqueue, id, offline, takeIn],
  );

  /** After a panel changed the note (documents, shares, a restored version): read it again. */
  const refresh = useCallback(async () => {
    try {
      await receive(await getNote(id));
    } catch (cause) {
      update({ error: describeError(cause) });
    }
  }, [id, receive, update]);

  /** Pins, archives, completes, trashes, … the note (after saving what was typed); shown at once. */
  const act = useCallback(
    (action: NoteAction) =>
      flush().then(() =>
        enqueue(async () => {
          const store = await whenOffline();
          update({ note: { ...current.current.note, ...flagsAfter(action) } });
          const outcome = await store.outbox.submit(id, { kind: "action", action }, current.current.version);
          if (outcome === "queued" && store.outbox.getState().blocked === "offline") report("offline");
        }),
      ),
    [enqueue, flush, id, report, update, whenOffline],
  );

  /** Deletes the note (from the trash) for good. */
  const purge = useCallback(
    () =>
      enqueue(async () => {
        try {
          await purgeNote(id, current.current.version);
          update({ gone: true });
          report("changed");
          return true;
        } catch (cause) {
          update({ error: describeError(cause) });
          return false;
        }
      }),
    [enqueue, id, report, update],
  );

  /** The note was purged elsewhere. */
  const markGone = useCallback(() => update({ gone: true }), [update]);

  /** Takes in a command the server confirmed: the fields it set are the base now, at the version it made. */
  const confirmed = useCallback(
    (store: OfflineStore, queued: QueuedCommand, written: Written) => {
      const m = current.current;
      // An older version is known already; the same one is a command that changed nothing.
      if (written.version < m.version) return;
      const note = { ...applyToNote(m.note, queued.command, queued.queuedAt), id: written.id, version: written.version };
      const next = { ...m, note, version: written.version, base: applyToFields(m.base, queued.command) };
      update({ note, version: next.version, base: next.base, status: m.conflict ? m.status : statusNow(next, store, id) });
      takeDeferred(store);
    },
    [id, takeDeferred, update],
  );

  /** Undoes in the draft what a refused command the student discarded would have set. */
  const discarded = useCallback(
    (store: OfflineStore, queued: QueuedCommand) => {
      const m = current.current;
      const undone = { ...m, draft: { ...m.draft } };
      const set = applyToFields(m.base, queued.command);
      for (const name of FIELD_NAMES) if (!sameField(name, set[name], m.base[name])) undone.draft[name] = m.base[name];
      update({ draft: undone.draft, error: null, status: statusNow(undone, store, id) });
    },
    [id, update],
  );

  // What the outbox confirms moves this editor's version on; what it finds
  // refused or conflicting is settled as soon as it can be.
  useEffect(() => {
    if (!offline) return;
    return offline.outbox.listen((event) => {
      if (event.queued.noteId !== offline.outbox.resolveId(id)) return;
      if (event.type === "held") void flush();
      else if (event.type === "discarded") discarded(offline, event.queued);
      else confirmed(offline, event.queued, event.written);
    });
  }, [offline, id, flush, confirmed, discarded]);

  // What the server has not confirmed is kept in this browser until it is.
  // (During a conflict `base` is still what the draft was typed on, so a
  // reload finds the conflict again.)
  const { version, base, draft } = model;
  useEffect(() => {
    writeDraftBackup(id, sameFields(draft, base) ? null : { version, base, draft });
  }, [id, version, base, draft]);

  // Once the outbox is there, what an earlier visit left (a kept draft, or
  // changes still in the outbox) is saved, or its conflict shown, at once;
  // the status says what still waits. (Typing meanwhile waits for its pause.)
  const leftByEarlierVisit = useRef(model.status === "unsaved");
  useEffect(() => {
    if (offline && (leftByEarlierVisit.current || offline.outbox.pending(id).length > 0)) void flush();
  }, [offline, id, flush]);

  // Leaving the editor saves what is still unsaved (closing the page needs no
  // warning: the kept draft is saved on the next visit); back online, it saves at once.
  useEffect(() => {
    const backOnline = () => {
      if (current.current.status === "offline" || current.current.status === "unsaved") void flush();
    };
    addEventListener("online", backOnline);
    return () => {
      removeEventListener("online", backOnline);
      clearTimeout(timer.current);
      void flush();
    };
  }, [flush]);

  return { model, edit, resolve, receive, refresh, act, purge, markGone };
}

/** The fields once the outbox has sent what it holds for the note. */
function pendingFields(base: Fields, pending: QueuedCommand[]): Fields {
  return pending.reduce((fields, queued) => applyToFields(fields, queued.command), base);
}

/** Where saving stands: all confirmed, all with the outbox (sending or waiting for the network), or typed since. */
function statusNow(m: EditorModel, store: OfflineStore, id: string): SaveStatus {
  if (sameFields(m.draft, m.base)) return "saved";
  if (!sameFields(m.draft, pendingFields(m.base, store.outbox.pending(id)))) return "unsaved";
  return store.outbox.getState().blocked === null ? "saving" : "offline";
}

/**
 * The model after taking in the note's fields at a newer `version`: fields
 * the draft left alone follow them; a title or body changed on both sides is
 * a conflict (the rest keep the draft's value).
 */
function rebased(m: EditorModel, theirs: Fields, version: number): Partial<EditorModel> {
  const draft = { ...m.draft };
  let conflict = false;
  for (const name of FIELD_NAMES) {
    if (sameField(name, m.draft[name], m.base[name])) draft[name] = theirs[name];
    else if ((TEXT_FIELDS as readonly string[]).includes(name)) {
      const movedThere = !sameField(name, theirs[name], m.base[name]);
      if (movedThere && !sameField(name, theirs[name], m.draft[name])) conflict = true;
    }
  }
  return conflict ? { draft, conflict: { version, theirs } } : { draft, base: theirs, version };
}

/**
 * The editor's first state: the note as loaded, with what an earlier visit
 * typed and never saved put back on top of it (rebased if the note changed
 * meanwhile, so a text changed on both sides is a conflict), or else with
 * the changes the outbox still holds for it.
 */
function initialModel(note: Note, pending: QueuedCommand[]): EditorModel {
  const fields = fieldsOf(note);
  const model: EditorModel = {
    note,
    version: note.version,
    base: fields,
    draft: fields,
    status: "saved",
    error: null,
    conflict: null,
    gone: false,
  };
  const backup = readDraftBackup(note.id);
  if (!backup || backup.version > note.version) {
    const draft = pendingFields(fields, pending);
    return sameFields(draft, fields) ? model : { ...model, draft, status: "unsaved" };
  }
  if (sameFields(backup.draft, fields)) return model;
  const restored = { ...model, version: backup.version, base: backup.base, draft: backup.draft, status: "unsaved" as const };
  return note.version > backup.version ? { ...restored, ...rebased(restored, fields, note.version) } : restored;
}

/** An error of a command, in words. */
export function describeError(cause: unknown): string {
  if (!(cause instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (cause.code) {
    case "note_trashed":
      return "This note is in the trash: restore it to change it.";
    case "not_an_assignment":
      return "Only a note with a due date can be marked done.";
    case "validation_failed":
      return `Not saved: ${cause.message}`;
    case "network":
      return "The server could not be reached.";
    default:
      return cause.message;
  }
}
