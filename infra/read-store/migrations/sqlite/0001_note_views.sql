-- Read models: rebuilt from the event log at will, never the source of truth.
CREATE TABLE note_views (
    id         BLOB PRIMARY KEY,
    owner_id   BLOB NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    snippet    TEXT NOT NULL,
    subject    TEXT,
    tags       TEXT NOT NULL, -- JSON array
    pinned     INTEGER NOT NULL,
    archived   INTEGER NOT NULL,
    trashed    INTEGER NOT NULL,
    purged     INTEGER NOT NULL, -- tombstone: content cleared
    due_at     INTEGER,          -- microseconds since the Unix epoch
    done       INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX note_views_owner_updated ON note_views (owner_id, updated_at DESC, id DESC);

CREATE TABLE projector_checkpoints (
    name TEXT PRIMARY KEY,
    tx   INTEGER NOT NULL,
    seq  INTEGER NOT NULL
);
