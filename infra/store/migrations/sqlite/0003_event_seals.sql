-- Tamper evidence: each event is sealed with
--   hash = sha256(prev_hash || sha256(canonical content))
-- where prev_hash is the hash of the stream's previous event (32 zero bytes
-- for the first); computed by the writer.
ALTER TABLE events ADD COLUMN prev_hash BLOB;
ALTER TABLE events ADD COLUMN hash BLOB;
