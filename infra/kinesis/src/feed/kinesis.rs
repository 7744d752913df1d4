//! Reading a Kinesis stream shard by shard, with shard leases in PostgreSQL
//! so that several projector instances split the shards between them.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use sqlx::Row;

use crate::record::{self, Carried};
use anote_domain::StreamId;
use anote_store::db::PgDatabase;
use anote_store::error::StoreError;
use anote_store::event_store::{EventStore, RecordedEvent};

/// A shard and the shards it was split or merged from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The shard id.
    pub id: String,
    /// Its parents, which must be read to their end first.
    pub parents: Vec<String>,
}

/// One `GetRecords` answer.
#[derive(Clone, Debug)]
pub struct ShardPage {
    /// The events, with the sequence numbers of their records (an aggregated
    /// record gives several events one number), in shard order.
    pub records: Vec<(String, RecordedEvent)>,
    /// Where to read next; `None` once a closed shard is read to its end.
    pub next: Option<String>,
    /// Nothing was left in the shard after these records.
    pub caught_up: bool,
}

/// Reads the shards of one stream, taking from the log the events that
/// were too large for a record.
#[derive(Clone)]
pub struct KinesisShards {
    client: Client,
    stream: String,
    log: Arc<dyn EventStore>,
}

fn sdk_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable("Kinesis", err.to_string())
}

impl KinesisShards {
    /// The shards of `stream`, whose events are those of `log`.
    pub fn new(client: Client, stream: &str, log: Arc<dyn EventStore>) -> Self {
        Self {
            client,
            stream: stream.to_owned(),
            log,
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Every shard of the stream, open or closed.
    pub async fn list(&self) -> Result<Vec<Shard>, StoreError> {
        let mut shards = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let page = request
                .send()
                .await
                .map_err(|e| sdk_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
            for shard in page.shards() {
                let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect();
                shards.push(Shard {
                    id: shard.shard_id().to_owned(),
                    parents,
                });
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(shards);
            }
        }
    }

    /// An iterator after `sequence`, or at the shard's start.
    pub async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<String, StoreError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| sdk_error("no shard iterator"))
    }

    /// Up to `limit` records from `iterator`.
    pub async fn read(&self, iterator: &str, limit: i32) -> Result<ShardPage, StoreError> {
        let output = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
        let mut records = Vec::new();
        for record in output.records() {
            let sequence = record.sequence_number();
            // One damaged record must not stop its shard for good. None of
            // it is applied; its events are in the log, and a stream it held
            // is filled from there at its next event.
            let (format, carried) = match record::events_of_record(record.data().as_ref()) {
                Ok(decoded) => decoded,
                Err(err) => {
                    self.skip(sequence, err.reason(), &err);
                    continue;
                }
            };
            let mut events = Vec::with_capacity(carried.len());
            for carried in carried {
                match carried {
                    Carried::Event(event) => events.push(event),
                    Carried::InLog {
                        stream_id,
                        stream_version,
                        event_id,
                    } => match self
                        .logged_event(&stream_id, stream_version, event_id)
                        .await?
                    {
                        Some(event) => events.push(event),
                        None => {
                            let missing = format!("event {event_id} ({stream_id} version {stream_version}) is not in the log");
                            self.skip(sequence, "not_in_log", &missing);
                            events.clear();
                            break;
                        }
                    },
                }
            }
            if !events.is_empty() {
                anote_metrics::count(
                    "anote_projector_records_total",
                    "Kinesis records read, by shape: plain (one event), kpl (KPL-aggregated) or json_array (an earlier release's packing).",
                    &[("stream", self.stream.as_str()), ("format", format.name())],
                    1,
                );
                records.extend(events.into_iter().map(|e| (sequence.to_owned(), e)));
            }
        }
        Ok(ShardPage {
            records,
            next: output.next_shard_iterator().map(str::to_owned),
            caught_up: output.millis_behind_latest() == Some(0),
        })
    }

    /// Event `event_id`, version `version` of `stream`, as the log has it
    /// (an event published without its payload); `None` when it has not.
    async fn logged_event(
        &self,
        stream: &StreamId,
        version: u64,
        event_id: uuid::Uuid,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        let found = self
            .log
            .read_stream(stream, version.saturating_sub(1))
            .await?
            .into_iter()
            .find(|e| e.stream_version == version && e.event_id == event_id);
        Ok(found.map(|event| RecordedEvent {
            seal: None,
            ..event
        }))
    }

    /// Logs and counts a record skipped for `reason`.
    fn skip(&self, sequence: &str, reason: &str, error: &dyn std::fmt::Display) {
        tracing::error!(stream = %self.stream, %sequence, %reason, %error, "a record was skipped whole");
        anote_metrics::count(
            "anote_projector_skipped_records_total",
            "Kinesis records skipped, by cause: checksum, truncated, malformed (KPL), envelope, or not_in_log (an event left out for its size that the log does not have).",
            &[("stream", self.stream.as_str()), ("reason", reason)],
            1,
        );
    }
}

/// A lease this instance holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLease {
    /// The shard.
    pub shard_id: String,
    /// Its checkpoint: the last sequence number applied.
    pub sequence: Option<String>,
}

/// The shard leases of one stream, as seen by one projector instance.
#[derive(Clone, Debug)]
pub struct Leases {
    db: PgDatabase,
    stream: String,
    owner: String,
    ttl: Duration,
}

impl Leases {
    /// Leases of `stream` held as `owner` for `ttl` at a time.
    pub fn new(db: PgDatabase, stream: &str, owner: &str, ttl: Duration) -> Self {
        Self {
            db,
            stream: stream.to_owned(),
            owner: owner.to_owned(),
            ttl,
        }
    }

    /// This instance's name in the lease table.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Records shards the table does not know yet.
    pub async fn sync(&self, shards: &[Shard]) -> Result<(), StoreError> {
        for shard in shards {
            sqlx::query(
                "INSERT INTO kinesis_leases (stream, shard_id, parents) VALUES ($1, $2, $3)
                 ON CONFLICT (stream, shard_id) DO NOTHING",
            )
            .bind(&self.stream)
            .bind(&shard.id)
            .bind(&shard.parents)
            .execute(self.db.pool())
            .await?;
        }
        Ok(())
    }

    /// Says this instance is alive, extends the leases it holds (a lease
    /// that lapsed while this instance was slow is still its own until
    /// another takes it, and is extended too), gives back those above its
    /// fair share (the open shards divided by the live instances), and
    /// returns the ones it still holds.
    pub async fn renew(&self) -> Result<Vec<String>, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO kinesis_consumers (stream, owner, seen_at) VALUES ($1, $2, now())
             ON CONFLICT (stream, owner) DO UPDATE SET seen_at = now()",
        )
        .bind(&self.stream)
        .bind(&self.owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE kinesis_leases SET expires_at = now() + $3 * interval '1 millisecond'
             WHERE stream = $1 AND owner = $2 AND NOT finished",
        )
        .bind(&self.stream)
        .bind(&self.owner)
        .bind(self.ttl_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "WITH owners AS (
                 SELECT count(*) AS n FROM kinesis_consumers
                 WHERE stream = $1 AND seen_at > now() - $3 * interval '1 millisecond'),
             open AS (SELECT count(*) AS n FROM kinesis_leases WHERE stream = $1 AND NOT finished),
             excess AS (
                 SELECT shard_id FROM kinesis_leases
                 WHERE stream = $1 AND owner = $2 AND expires_at > now() AND NOT finished
                 ORDER BY shard_id DESC
                 OFFSET (SELECT ceil(open.n::float8 / GREATEST(owners.n, 1))::bigint FROM open, owners))
             UPDATE kinesis_leases SET owner = NULL, expires_at = NULL
             WHERE stream = $1 AND shard_id IN (SELECT shard_id FROM excess)",
        )
        .bind(&self.stream)
        .bind(&self.owner)
        .bind(self.ttl_ms())
        .execute(&mut *tx)
        .await?;
        let held = sqlx::query_scalar(
            "SELECT shard_id FROM kinesis_leases
             WHERE stream = $1 AND owner = $2 AND expires_at > now() AND NOT finished",
        )
        .bind(&self.stream)
        .bind(&self.owner)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Takes free or expired leases of shards whose parents are finished, up
    /// to this instance's fair share.
    pub async fn claim(&self) -> Result<Vec<HeldLease>, StoreError> {
        let rows = sqlx::query(
            "WITH others AS (
                 SELECT count(*) AS n FROM kinesis_consumers
                 WHERE stream = $1 AND owner <> $2 AND seen_at > now() - $3 * interval '1 millisecond'),
             open AS (SELECT count(*) AS n FROM kinesis_leases WHERE stream = $1 AND NOT finished),
             mine AS (
                 SELECT count(*) AS n FROM kinesis_leases
                 WHERE stream = $1 AND owner = $2 AND expires_at > now() AND NOT finished),
             wanted AS (
                 SELECT GREATEST(0, ceil(open.n::float8 / (others.n + 1))::bigint - mine.n) AS n
                 FROM open, others, mine),
             candidates AS (
                 SELECT l.shard_id FROM kinesis_leases l
                 WHERE l.stream = $1 AND NOT l.finished
                   AND (l.owner IS NULL OR l.expires_at <= now())
                   AND NOT EXISTS (
                       SELECT 1 FROM kinesis_leases p
                       WHERE p.stream = $1 AND p.shard_id = ANY (l.parents) AND NOT p.finished)
                 ORDER BY l.shard_id
                 LIMIT (SELECT n FROM wanted)
                 FOR UPDATE SKIP LOCKED)
             UPDATE kinesis_leases SET owner = $2, expires_at = now() + $3 * interval '1 millisecond'
             WHERE stream = $1 AND shard_id IN (SELECT shard_id FROM candidates)
             RETURNING shard_id, sequence",
        )
        .bind(&self.stream)
        .bind(&self.owner)
        .bind(self.ttl_ms())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HeldLease {
                    shard_id: row.try_get("shard_id")?,
                    sequence: row.try_get("sequence")?,
                })
            })
            .collect()
    }

    /// The checkpoint of a shard this instance holds (read again after the
    /// read models were switched to a new build).
    pub async fn checkpoint(&self, shard: &str) -> Result<HeldLease, StoreError> {
        let sequence: Option<Option<String>> = sqlx::query_scalar(
            "SELECT sequence FROM kinesis_leases
             WHERE stream = $1 AND shard_id = $2 AND owner = $3 AND expires_at > now()",
        )
        .bind(&self.stream)
        .bind(shard)
        .bind(&self.owner)
        .fetch_optional(self.db.pool())
        .await?;
        let sequence = sequence.ok_or_else(|| StoreError::LeaseLost(shard.to_owned()))?;
        Ok(HeldLease {
            shard_id: shard.to_owned(),
            sequence,
        })
    }

    /// Gives back every lease this instance holds and leaves (on a clean stop).
    pub async fn release(&self) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE kinesis_leases SET owner = NULL, expires_at = NULL WHERE stream = $1 AND owner = $2")
            .bind(&self.stream)
            .bind(&self.owner)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM kinesis_consumers WHERE stream = $1 AND owner = $2")
            .bind(&self.stream)
            .bind(&self.owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who holds which shard now (for operators and tests).
    pub async fn holders(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT shard_id, CASE WHEN expires_at > now() THEN owner END AS owner
             FROM kinesis_leases WHERE stream = $1 AND NOT finished ORDER BY shard_id",
        )
        .bind(&self.stream)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("shard_id")?, row.try_get("owner")?)))
            .collect()
    }
}
