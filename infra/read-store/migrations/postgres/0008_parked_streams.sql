-- Streams the projector set aside because one of their events keeps failing
-- (a value the read models cannot hold, content that does not open): their
-- later events wait here while every other stream goes on. `anote parked
-- list` lists them; `anote parked retry` projects them again.
CREATE TABLE parked_streams (
    stream_id      text PRIMARY KEY,
    tx             bigint NOT NULL,
    seq            bigint NOT NULL,
    stream_version bigint NOT NULL,
    error          text NOT NULL,
    parked_at      bigint NOT NULL -- microseconds since 1970, as on SQLite
);
