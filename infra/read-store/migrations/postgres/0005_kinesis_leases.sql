-- Shard leases of the projectors that read Kinesis. A lease is held by one
-- instance until it expires; its checkpoint (the last sequence number
-- applied) is written in the same transaction as the read-model changes,
-- and only while the lease is held.
CREATE TABLE kinesis_leases (
    stream        text NOT NULL,
    shard_id      text NOT NULL,
    parents       text[] NOT NULL,
    owner         text,
    expires_at    timestamptz,
    sequence      text,
    -- Every event the relay had published up to this log position, and that
    -- went to this shard, is applied.
    watermark_tx  bigint NOT NULL DEFAULT 0,
    watermark_seq bigint NOT NULL DEFAULT 0,
    finished      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (stream, shard_id)
);

-- The projector instances alive for a stream (each renews its row with its
-- leases), so that the shards are shared fairly among them.
CREATE TABLE kinesis_consumers (
    stream  text NOT NULL,
    owner   text NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (stream, owner)
);
