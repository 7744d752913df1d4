-- Tamper evidence: each event is sealed with
--   hash = sha256(prev_hash || sha256(canonical content))
-- where prev_hash is the hash of the stream's previous event (32 zero bytes
-- for the first). The writer passes the content digest in `hash`; this
-- trigger chains it to the previous event (earlier rows of the same INSERT
-- are visible to it), so an append stays one statement.
ALTER TABLE events ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

CREATE FUNCTION events_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev bytea;
BEGIN
    IF NEW.hash IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT e.hash INTO prev FROM events e
    WHERE e.stream_id = NEW.stream_id AND e.stream_version = NEW.stream_version - 1;
    NEW.prev_hash := COALESCE(prev, decode(repeat('00', 32), 'hex'));
    NEW.hash := sha256(NEW.prev_hash || NEW.hash);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_seal BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_seal();
