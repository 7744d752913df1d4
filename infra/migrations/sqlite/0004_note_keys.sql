-- Each note's data key (crypto-shredding): written with its creation,
-- deleted when it is purged. Never in the log.
CREATE TABLE note_keys (
    note_id BLOB PRIMARY KEY,
    key     BLOB NOT NULL
);
