-- Streams the projector set aside because one of their events keeps failing
-- (a value the read models cannot hold, content that does not open): their
-- later events wait here while every other stream goes on. `anote parked
-- list` lists them; `anote parked retry` projects them again.
CREATE TABLE parked_streams (
    stream_id      TEXT PRIMARY KEY,
    tx             INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    stream_version INTEGER NOT NULL,
    error          TEXT NOT NULL,
    parked_at      INTEGER NOT NULL -- microseconds since 1970
);
