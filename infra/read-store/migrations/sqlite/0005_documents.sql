-- Documents: listed in their note's view (as JSON) and, one row each, in
-- document_views for lookups by id and per owner.
ALTER TABLE note_views ADD COLUMN documents TEXT NOT NULL DEFAULT '[]';

CREATE TABLE document_views (
    document_id  BLOB PRIMARY KEY,
    note_id      BLOB NOT NULL,
    owner_id     BLOB NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    submitted_at INTEGER
);
CREATE INDEX document_views_note ON document_views (note_id);
CREATE INDEX document_views_owner ON document_views (owner_id, document_id);
