-- Where sealing began: events up to this global sequence were written
-- before seals existed and may stay unsealed; every later event must carry
-- a seal, so seals stripped from a stream are noticed by `anote audit
-- verify`. (A log that did not exist before sealing records 0.)
CREATE TABLE sealing_start (
    unsealed_through BIGINT NOT NULL
);
INSERT INTO sealing_start (unsealed_through)
SELECT COALESCE(max(position), 0) FROM events
WHERE hash IS NULL
  AND position < COALESCE((SELECT min(position) FROM events WHERE hash IS NOT NULL),
                          9223372036854775807);
