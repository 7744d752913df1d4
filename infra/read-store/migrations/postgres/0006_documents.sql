-- Documents: listed in their note's view (as JSON) and, one row each, in
-- document_views for lookups by id and per owner.
ALTER TABLE note_views ADD COLUMN documents jsonb NOT NULL DEFAULT '[]';

CREATE TABLE document_views (
    document_id  uuid PRIMARY KEY,
    note_id      uuid NOT NULL,
    owner_id     uuid NOT NULL,
    file_name    text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    status       text NOT NULL,
    submitted_at timestamptz
);
CREATE INDEX document_views_note ON document_views (note_id);
CREATE INDEX document_views_owner ON document_views (owner_id, document_id);
