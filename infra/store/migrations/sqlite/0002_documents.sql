-- Blob objects that exist or may exist, and the bytes each user holds.
-- Written in the transactions of the note events that cause the changes.
CREATE TABLE document_objects (
    document_id      BLOB PRIMARY KEY,
    note_id          BLOB NOT NULL,
    owner_id         BLOB NOT NULL,
    size             INTEGER NOT NULL CHECK (size > 0),
    multipart_upload TEXT,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'attached', 'released')),
    abandon_after    INTEGER NOT NULL
);
CREATE INDEX document_objects_sweep ON document_objects (state, abandon_after);

CREATE TABLE document_usage (
    owner_id BLOB PRIMARY KEY,
    bytes    INTEGER NOT NULL CHECK (bytes >= 0)
);
