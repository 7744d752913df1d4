// This device's store for working offline: one IndexedDB database per
// signed-in user, holding the notes kept for reading (`notes`), the commands
// waiting to be sent (`outbox`) and a few facts (`meta`: when the app last
// synced, the server ids of notes created here). A small promise wrapper
// over the raw API; where IndexedDB is missing or refused, there is no
// database and the app keeps what it has in memory only.

/** The object stores of the database. */
export type StoreName = "notes" | "outbox" | "meta";

const VERSION = 1;

/** The database's name for `username` (usernames are `a-z0-9_.-`). */
export function databaseName(username: string): string {
  return `anote-offline.${username}`;
}

/**
 * Opens the user's database (creating its stores the first time); null when
 * this browser offers no IndexedDB or refuses it (private modes, a full disk).
 * The connection closes itself when the database is to be deleted (signing
 * out in another tab), so deleting never waits on it.
 */
export async function openDatabase(username: string): Promise<IDBDatabase | null> {
  if (typeof indexedDB === "undefined") return null;
  try {
    const opening = indexedDB.open(databaseName(username), VERSION);
    opening.onupgradeneeded = () => {
      const db = opening.result;
      if (!db.objectStoreNames.contains("notes")) db.createObjectStore("notes", { keyPath: "id" });
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "key" });
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
    };
    const db = await settled(opening);
    db.onversionchange = () => db.close();
    return db;
  } catch {
    return null;
  }
}

/** Deletes the user's database (signing out); never fails. */
export async function deleteDatabase(username: string): Promise<void> {
  if (typeof indexedDB === "undefined") return;
  try {
    await settled(indexedDB.deleteDatabase(databaseName(username)));
  } catch {
    // Nothing more can be done; the next sign-in of this user starts from what is left.
  }
}

/** The result of a request, once it succeeded. */
function settled<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

/**
 * Runs `work` in one transaction over `stores` and resolves with what it
 * returned once the transaction committed (rejects with the transaction's
 * error: a `QuotaExceededError` when the device is out of room). `work`
 * must only queue requests (their callbacks may queue more): awaiting
 * anything else inside it would end the transaction early.
 */
export function transact<T>(
  db: IDBDatabase,
  stores: StoreName | StoreName[],
  mode: IDBTransactionMode,
  work: (tx: IDBTransaction) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let result: T;
    let tx: IDBTransaction;
    try {
      tx = db.transaction(stores, mode);
      result = work(tx);
    } catch (error) {
      reject(error);
      return;
    }
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

/** Every value of a store, in key order. */
export function readAll<T>(db: IDBDatabase, store: StoreName): Promise<T[]> {
  const box: { request?: IDBRequest<T[]> } = {};
  return transact(db, store, "readonly", (tx) => {
    box.request = tx.objectStore(store).getAll() as IDBRequest<T[]>;
  }).then(() => box.request?.result ?? []);
}

/** The value of a store under `key`, if there is one. */
export function readOne<T>(db: IDBDatabase, store: StoreName, key: IDBValidKey): Promise<T | undefined> {
  const box: { request?: IDBRequest<T | undefined> } = {};
  return transact(db, store, "readonly", (tx) => {
    box.request = tx.objectStore(store).get(key) as IDBRequest<T | undefined>;
  }).then(() => box.request?.result);
}
