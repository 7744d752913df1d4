-- A search costs what the searching student's notes cost, however many
-- notes others have: each owner gets a number, and their notes' rowids
-- (the full-text index's document ids) lie in a range of their own,
-- [number << 32, (number + 1) << 32). A search asks the index for the
-- owner's range only, so it seeks past everyone else's entries instead of
-- reading them. New views take the next rowid of their owner's range
-- (`SqliteReadStore::apply`).
CREATE TABLE note_owners (
    number   INTEGER PRIMARY KEY,
    owner_id BLOB NOT NULL UNIQUE
);
INSERT INTO note_owners (owner_id) SELECT DISTINCT owner_id FROM note_views ORDER BY owner_id;

-- Renumber the existing views (their old rowids are all below 1 << 32),
-- then index them again under their new rowids.
DROP TRIGGER note_views_search_insert;
DROP TRIGGER note_views_search_delete;
DROP TRIGGER note_views_search_update;
UPDATE note_views SET rowid = placed.rowid_in_range FROM (
    SELECT v.rowid AS was,
           (o.number << 32) + row_number() OVER (PARTITION BY v.owner_id ORDER BY v.rowid) AS rowid_in_range
    FROM note_views v JOIN note_owners o ON o.owner_id = v.owner_id
) AS placed
WHERE note_views.rowid = placed.was;
INSERT INTO note_search (note_search) VALUES ('rebuild');

CREATE TRIGGER note_views_search_insert AFTER INSERT ON note_views BEGIN
    INSERT INTO note_search (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
CREATE TRIGGER note_views_search_delete AFTER DELETE ON note_views BEGIN
    INSERT INTO note_search (note_search, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
END;
-- Only a new title or body is indexed again: a pin, a tag or a due date
-- leaves the index alone.
CREATE TRIGGER note_views_search_update AFTER UPDATE ON note_views
WHEN old.title IS NOT new.title OR old.body IS NOT new.body BEGIN
    INSERT INTO note_search (note_search, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
    INSERT INTO note_search (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
