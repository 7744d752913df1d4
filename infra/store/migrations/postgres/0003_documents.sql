-- Blob objects that exist or may exist, and the bytes each user holds.
-- Written in the transactions of the note events that cause the changes.
CREATE TABLE document_objects (
    document_id      uuid PRIMARY KEY,
    note_id          uuid NOT NULL,
    owner_id         uuid NOT NULL,
    size             bigint NOT NULL CHECK (size > 0),
    multipart_upload text,
    state            text NOT NULL CHECK (state IN ('pending', 'attached', 'released')),
    abandon_after    timestamptz NOT NULL
);
CREATE INDEX document_objects_sweep ON document_objects (state, abandon_after);

CREATE TABLE document_usage (
    owner_id uuid PRIMARY KEY,
    bytes    bigint NOT NULL CHECK (bytes >= 0)
);
