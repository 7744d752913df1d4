-- Each note's data key (crypto-shredding): written with its creation,
-- deleted when it is purged or its owner's account is deleted. Never in the
-- log nor in Kinesis records.
CREATE TABLE note_keys (
    note_id  uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    key      bytea NOT NULL
);
CREATE INDEX note_keys_owner ON note_keys (owner_id);
