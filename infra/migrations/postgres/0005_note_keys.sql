-- Each note's data key (crypto-shredding): written with its creation,
-- deleted when it is purged. Never in the log nor in Kinesis records.
CREATE TABLE note_keys (
    note_id uuid PRIMARY KEY,
    key     bytea NOT NULL
);
