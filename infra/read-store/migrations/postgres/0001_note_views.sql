-- Read models: rebuilt from the event log at will, never the source of truth.
CREATE TABLE note_views (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    snippet    text NOT NULL,
    subject    text,
    tags       text[] NOT NULL,
    pinned     boolean NOT NULL,
    archived   boolean NOT NULL,
    trashed    boolean NOT NULL,
    -- A purged note stays as a tombstone without content, so that a late
    -- duplicate of an old event cannot bring it back.
    purged     boolean NOT NULL,
    due_at     timestamptz,
    done       boolean NOT NULL,
    version    bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX note_views_owner_updated ON note_views (owner_id, updated_at DESC, id DESC);

-- How far each projector has applied the log; written in the same
-- transaction as the read-model changes.
CREATE TABLE projector_checkpoints (
    name text PRIMARY KEY,
    tx   bigint NOT NULL,
    seq  bigint NOT NULL
);
