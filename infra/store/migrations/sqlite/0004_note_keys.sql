-- Each note's data key (crypto-shredding): written with its creation,
-- deleted when it is purged or its owner's account is deleted. Never in the
-- log.
CREATE TABLE note_keys (
    note_id  BLOB PRIMARY KEY,
    owner_id BLOB NOT NULL,
    key      BLOB NOT NULL
);
CREATE INDEX note_keys_owner ON note_keys (owner_id);
