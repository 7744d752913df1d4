-- The log position of the last event applied to each note, for the
-- changes feed (`GET /v1/changes?since=`).
ALTER TABLE note_views ADD COLUMN changed_tx bigint NOT NULL DEFAULT 0;
ALTER TABLE note_views ADD COLUMN changed_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX note_views_owner_changed ON note_views (owner_id, changed_tx, changed_seq);
