-- The event log: the only source of truth. One writer at a time, so the
-- position order is the commit order.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       BLOB NOT NULL UNIQUE,
    stream_id      TEXT NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    event_type     TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    recorded_at    INTEGER NOT NULL, -- microseconds since the Unix epoch
    UNIQUE (stream_id, stream_version)
);

CREATE TABLE usernames (
    username TEXT PRIMARY KEY,
    user_id  BLOB NOT NULL UNIQUE
);

CREATE TABLE credentials (
    user_id       BLOB PRIMARY KEY,
    password_hash TEXT NOT NULL
);

CREATE TABLE sessions (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL,
    refresh_hash BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE idempotency_keys (
    user_id      BLOB NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
