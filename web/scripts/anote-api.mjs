// A few calls of Anote's HTTP API, for the browser tests and the budgets:
// setting up what they need faster than through the screens (accounts,
// notes, edits) and checking what the server holds afterwards.

/**
 * A user the tests made, with the password to sign in.
 * @typedef {{ username: string, displayName: string, password: string }} Account
 */

/**
 * A document of a note (the fields the tests read).
 * @typedef {{ id: string, file_name: string, size: number, status: string, submitted_at?: string | null }} NoteDocument
 */

/**
 * A note as the query API returns it (the fields the tests read).
 * @typedef {{ id: string, title: string, body?: string, version: number, due_at?: string | null,
 *   done: boolean, tags: string[], subject?: string | null, documents?: NoteDocument[] }} Note
 */

/**
 * What a command returns: the note's new version and the log position.
 * @typedef {{ id: string, version: number, position: string }} Written
 */

/**
 * One change of a note's history (the fields the tests read).
 * @typedef {{ type: string, version: number, changes: Record<string, unknown> }} HistoryChange
 */

let counter = 0;

/**
 * A fresh username (3–32 of `a-z0-9_.-`), unique within this run.
 * @param {string} prefix
 */
export function freshUsername(prefix) {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}-${process.pid}-${counter}-${random}`.slice(0, 32);
}

/**
 * The later of two log positions (`"0-42"`: numbers separated by dashes).
 * @param {string} a
 * @param {string} b
 */
export function laterPosition(a, b) {
  const pa = a.split("-").map(Number);
  const pb = b.split("-").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i += 1) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0) ? a : b;
  }
  return a;
}

/** Calls the API at `baseURL` as one signed-in user. */
export class Api {
  /**
   * @param {string} baseURL
   * @param {string} token an access token
   */
  constructor(baseURL, token) {
    this.baseURL = baseURL;
    this.token = token;
  }

  /**
   * Registers `account` (no session).
   * @param {string} baseURL
   * @param {Account} account
   * @returns {Promise<void>}
   */
  static async register(baseURL, account) {
    await call(baseURL, "POST", "/v1/accounts", undefined, {
      username: account.username,
      display_name: account.displayName,
      password: account.password,
    });
  }

  /**
   * Signs `account` in and returns a client carrying its access token.
   * @param {string} baseURL
   * @param {Account} account
   * @returns {Promise<Api>}
   */
  static async signIn(baseURL, account) {
    const session = await call(baseURL, "POST", "/v1/sessions", undefined, {
      username: account.username,
      password: account.password,
    });
    return new Api(baseURL, session.access_token);
  }

  /**
   * Creates a note.
   * @param {{ title: string, body: string, subject?: string, tags?: string[], due_at?: string }} note
   * @returns {Promise<Written>}
   */
  createNote(note) {
    return call(this.baseURL, "POST", "/v1/notes", this.token, note);
  }

  /**
   * Changes a note's title or body on top of `version`.
   * @param {string} id
   * @param {number} version
   * @param {{ title?: string, body?: string }} change
   * @returns {Promise<Written>}
   */
  editNote(id, version, change) {
    return call(this.baseURL, "PATCH", `/v1/notes/${id}`, this.token, change, { "If-Match": `"${version}"` });
  }

  /**
   * Reads a note, once the read models have caught up with `after` (a position) if given.
   * @param {string} id
   * @param {string} [after]
   * @returns {Promise<Note>}
   */
  getNote(id, after) {
    return call(this.baseURL, "GET", `/v1/notes/${id}`, this.token, undefined, minPosition(after));
  }

  /**
   * Every change of a note, oldest first (read from the log: exact at once), page by page.
   * @param {string} id
   * @returns {Promise<HistoryChange[]>}
   */
  async history(id) {
    /** @type {HistoryChange[]} */
    const changes = [];
    for (let after = 0; ; ) {
      /** @type {{ items: HistoryChange[], next?: number | null }} */
      const page = await call(this.baseURL, "GET", `/v1/notes/${id}/history?limit=200&after=${after}`, this.token);
      changes.push(...page.items);
      if (page.next == null) return changes;
      after = page.next;
    }
  }

  /**
   * One page of the caller's notes, once the read models have caught up with `after` if given.
   * @param {Record<string, string>} query
   * @param {string} [after]
   * @returns {Promise<{ items: Note[], next_cursor?: string | null }>}
   */
  listNotes(query, after) {
    const search = new URLSearchParams(query).toString();
    return call(this.baseURL, "GET", `/v1/notes?${search}`, this.token, undefined, minPosition(after));
  }
}

/** @param {string} [after] @returns {Record<string, string>} */
function minPosition(after) {
  return after ? { "Anote-Min-Position": after } : {};
}

/**
 * One request; throws with the status and problem text unless it succeeded.
 * @param {string} baseURL
 * @param {string} method
 * @param {string} path
 * @param {string | undefined} token
 * @param {unknown} [body]
 * @param {Record<string, string>} [headers]
 * @returns {Promise<any>}
 */
async function call(baseURL, method, path, token, body, headers = {}) {
  const reply = await fetch(new URL(path, baseURL), {
    method,
    headers: {
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await reply.text();
  if (!reply.ok) throw new Error(`${method} ${path}: ${reply.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
