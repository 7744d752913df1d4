-- Live share links (a revoked link's row is deleted). Tokens are derived
-- from the id with an HMAC and never stored.
CREATE TABLE share_links (
    id         uuid PRIMARY KEY,
    note_id    uuid NOT NULL,
    owner_id   uuid NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX share_links_note ON share_links (note_id);
