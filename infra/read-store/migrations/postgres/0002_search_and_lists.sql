-- Full-text search over title (weight A) and body (weight B). The 'simple'
-- configuration folds case without language-specific stemming, since
-- students write in many languages.
ALTER TABLE note_views ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
) STORED;
CREATE INDEX note_views_search ON note_views USING gin (search);

-- Upcoming assignments: due, not done, soonest first.
CREATE INDEX note_views_owner_due ON note_views (owner_id, due_at) WHERE due_at IS NOT NULL AND NOT done;
