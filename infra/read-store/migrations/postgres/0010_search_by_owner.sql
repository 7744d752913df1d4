-- A search costs what the searching student's notes cost, however many
-- notes others have: the text vector also holds its owner, as the lexeme
-- `~` followed by the owner's id with its hyphens (no word of a note can
-- become it: the parser splits words at hyphens), and a search asks the index for the owner's
-- lexeme and the words together, so the index hands back the owner's
-- matching notes only instead of every student's.
DROP INDEX note_views_search;
ALTER TABLE note_views DROP COLUMN search;
ALTER TABLE note_views ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
    || array_to_tsvector(ARRAY['~' || owner_id::text])
) STORED;
CREATE INDEX note_views_search ON note_views USING gin (search);
