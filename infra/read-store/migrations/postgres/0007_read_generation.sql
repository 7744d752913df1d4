-- Which build of the read models this schema holds. `anote replay` builds a
-- new schema beside the live one and switches them; a live projector's batch
-- commits only if the generation is still the one it read its views from.
CREATE TABLE read_generation (
    n bigint NOT NULL
);
INSERT INTO read_generation (n) VALUES (0);
