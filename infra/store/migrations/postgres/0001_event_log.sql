-- The event log: the only source of truth.
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: readers follow (tx_id, position) below the
    -- oldest running transaction, so no late commit is ever skipped.
    tx_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid NOT NULL UNIQUE,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_type     text NOT NULL,
    schema_version integer NOT NULL,
    payload        jsonb NOT NULL,
    metadata       jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    -- The optimistic lock: two writers cannot both add the same version.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_commit_order ON events (tx_id, position);

-- Usernames are unique across user streams; claimed in the same transaction
-- as the UserRegistered event.
CREATE TABLE usernames (
    username text PRIMARY KEY,
    user_id  uuid NOT NULL UNIQUE
);

-- Password hashes never enter the log.
CREATE TABLE credentials (
    user_id       uuid PRIMARY KEY,
    password_hash text NOT NULL
);

-- Refresh tokens, stored as SHA-256 hashes.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    refresh_hash bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

-- First replies of commands sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       smallint NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
