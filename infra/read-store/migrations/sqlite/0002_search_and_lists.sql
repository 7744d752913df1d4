-- Full-text search over title and body (FTS5, kept in step by triggers).
CREATE VIRTUAL TABLE note_search USING fts5(title, body, content = 'note_views', content_rowid = 'rowid');

CREATE TRIGGER note_views_search_insert AFTER INSERT ON note_views BEGIN
    INSERT INTO note_search (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
CREATE TRIGGER note_views_search_delete AFTER DELETE ON note_views BEGIN
    INSERT INTO note_search (note_search, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
END;
CREATE TRIGGER note_views_search_update AFTER UPDATE ON note_views BEGIN
    INSERT INTO note_search (note_search, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
    INSERT INTO note_search (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
INSERT INTO note_search (note_search) VALUES ('rebuild');

CREATE INDEX note_views_owner_due ON note_views (owner_id, due_at) WHERE due_at IS NOT NULL AND done = 0;
