-- How far each relay has published the log; moved only after the record
-- stream acknowledged every event up to it.
CREATE TABLE relay_checkpoints (
    name text PRIMARY KEY,
    tx   bigint NOT NULL,
    seq  bigint NOT NULL
);
