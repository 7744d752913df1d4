-- Live share links (a revoked link's row is deleted). Tokens are derived
-- from the id with an HMAC and never stored.
CREATE TABLE share_links (
    id         BLOB PRIMARY KEY,
    note_id    BLOB NOT NULL,
    owner_id   BLOB NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX share_links_note ON share_links (note_id);
