// The editor's state and its conversation with the server. Every change is
// based on a version (`If-Match`); the commands and the news from elsewhere
// (the changes feed, a panel's own write) are handled one at a time in order.
// A change made elsewhere to a field this editor also changed is a conflict to
// resolve by the student; anything else is merged in without losing typing.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, type Note } from "../api/client";
import {
  editNote,
  getNote,
  getNoteAt,
  noteAction,
  purgeNote,
  setDue,
  setSubject,
  setTags,
  type NoteAction,
  type Written,
} from "../api/notes";
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

/** How often a save that could not reach the server is tried again. */
export const OFFLINE_RETRY_MS = 5000;

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
  const { report } = useSync();
  const [model, setModel] = useState<EditorModel>(() => initialModel(initial));
  const current = useRef(model);
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
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

  /** Sends one command on the current version; a stale version is resynced and tried once more. */
  const command = useCallback(
    async (send: (version: number) => Promise<Written>): Promise<Written | null> => {
      try {
        return await send(current.current.version);
      } catch (cause) {
        if (!(cause instanceof ApiError) || cause.status !== 412) throw cause;
        const conflicted = await resync(Number(cause.problem.current_version));
        return conflicted ? null : send(current.current.version);
      }
    },
    [resync],
  );

  /** Sends the changed fields, one command each; returns false when a conflict stopped it. */
  const sendChanges = useCallback(async (): Promise<boolean> => {
    const sending = current.current.draft;
    const changed = (name: keyof Fields) => !sameField(name, sending[name], current.current.base[name]);
    const accept = (reply: Written | null, names: (keyof Fields)[]) => {
      if (!reply) return false;
      const base = { ...current.current.base };
      for (const name of names) base[name] = sending[name];
      update({ base, version: reply.version });
      return true;
    };
    if (changed("title") || changed("body")) {
      const names = (["title", "body"] as const).filter(changed);
      const patch = Object.fromEntries(names.map((name) => [name, sending[name]]));
      const reply = await command((v) => editNote(id, v, patch));
      if (!accept(reply, [...names])) return false;
    }
    let catalogue = false;
    if (changed("subject")) {
      const subject = sending.subject.trim() || null;
      if (!accept(await command((v) => setSubject(id, v, subject)), ["subject"])) return false;
      catalogue = true;
    }
    if (changed("tags")) {
      const tags = parseTags(sending.tags);
      if (!accept(await command((v) => setTags(id, v, tags)), ["tags"])) return false;
      catalogue = true;
    }
    if (changed("due")) {
      const due = dueInstant(sending.due);
      if (!accept(await command((v) => setDue(id, v, due)), ["due"])) return false;
    }
    if (catalogue) report("changed");
    return true;
  }, [command, id, report, update]);

  const schedule = useCallback((delay: number, save: () => void) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(save, delay);
  }, []);

  /** Saves what was typed now (and again later if typing went on meanwhile). */
  const flush = useCallback((): Promise<void> => {
    clearTimeout(timer.current);
    return enqueue(async () => {
      const m = current.current;
      if (m.conflict || m.gone) return;
      if (sameFields(m.draft, m.base)) {
        if (m.status !== "saved") update({ status: "saved", error: null });
        return;
      }
      update({ status: "saving", error: null });
      try {
        const done = await sendChanges();
        report("online");
        if (!done) return update({ status: "unsaved" });
        const now = current.current;
        const settled = sameFields(now.draft, now.base);
        update({ status: settled ? "saved" : "unsaved" });
        if (!settled) schedule(AUTOSAVE_DELAY_MS, () => void flush());
      } catch (cause) {
        if (cause instanceof ApiError && cause.status === 0) {
          report("offline");
          update({ status: "offline" });
          schedule(OFFLINE_RETRY_MS, () => void flush());
        } else {
          update({ status: "error", error: describeError(cause) });
        }
      }
    });
  }, [enqueue, report, schedule, sendChanges, update]);

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

  /** Takes in a newer view of the note (from the changes feed or after a panel's write). */
  const receive = useCallback(
    (note: Note) =>
      enqueue(async () => {
        if (note.version <= current.current.version) return;
        update({ note: { ...note } });
        rebase(fieldsOf(note), note.version);
      }),
    [enqueue, rebase, update],
  );

  /** After a panel changed the note (documents, shares, a restored version): read it again. */
  const refresh = useCallback(async () => {
    try {
      await receive(await getNote(id));
    } catch (cause) {
      update({ error: describeError(cause) });
    }
  }, [id, receive, update]);

  /** Pins, archives, completes, trashes, … the note (after saving what was typed). */
  const act = useCallback(
    (action: NoteAction) =>
      flush().then(() => enqueue(async () => {
        try {
          const reply = await command((v) => noteAction(id, v, action));
          if (!reply) return;
          const m = current.current;
          update({ version: reply.version, note: { ...m.note, ...flagsAfter(action), version: reply.version } });
          report("changed");
        } catch (cause) {
          update({ error: describeError(cause) });
        }
      })),
    [command, enqueue, flush, id, report, update],
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

  // What the server has not confirmed is kept in this browser until it is.
  // (During a conflict `base` is still what the draft was typed on, so a
  // reload finds the conflict again.)
  const { version, base, draft } = model;
  useEffect(() => {
    writeDraftBackup(id, sameFields(draft, base) ? null : { version, base, draft });
  }, [id, version, base, draft]);

  // A draft restored from an earlier visit is saved (or its conflict shown) at once.
  useEffect(() => {
    if (current.current.status === "unsaved") void flush();
  }, [flush]);

  // Leaving the editor saves what is still unsaved (closing the page needs no
  // warning: the kept draft is saved on the next visit); back online, it saves at once.
  useEffect(() => {
    const backOnline = () => {
      if (current.current.status === "offline") void flush();
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
 * meanwhile, so a text changed on both sides is a conflict).
 */
function initialModel(note: Note): EditorModel {
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
  if (!backup || backup.version > note.version || sameFields(backup.draft, fields)) return model;
  const restored = { ...model, version: backup.version, base: backup.base, draft: backup.draft, status: "unsaved" as const };
  return note.version > backup.version ? { ...restored, ...rebased(restored, fields, note.version) } : restored;
}

/** The note's flags after an action. */
function flagsAfter(action: NoteAction): Partial<Note> {
  switch (action) {
    case "pin":
      return { pinned: true };
    case "unpin":
      return { pinned: false };
    case "archive":
      return { archived: true };
    case "unarchive":
      return { archived: false };
    case "complete":
      return { done: true };
    case "reopen":
      return { done: false };
    case "trash":
      return { trashed: true };
    case "restore":
      return { trashed: false };
  }
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
