//! The relay: publishes the event log, in commit-safe order, to a record
//! stream (Kinesis), and moves its checkpoint only after the stream has
//! acknowledged every event up to it. Delivery is at least once.

pub mod aggregation;
pub mod kinesis;
mod leadership;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::watch;
use tracing::Instrument;

use crate::record::Envelope;
use aggregation::{Packing, ShardMap};
use anote_metrics as metrics;
use anote_store::db::{to_i64, PgDatabase};
use anote_store::error::StoreError;
use anote_store::event_store::{EventStore, Position, RecordedEvent};
pub use leadership::Leadership;

/// The name (checkpoint and lock key) of the relay to Kinesis.
pub const KINESIS_RELAY: &str = "kinesis";

/// How far relay `name` of this event-log database has published.
pub async fn published(db: &PgDatabase, name: &str) -> Result<Position, StoreError> {
    leadership::checkpoint(db, name).await
}

/// The most records one `PutRecords` call takes.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// The most bytes (data and partition keys) one `PutRecords` call takes.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;

/// One record to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    /// Decides the shard: the event's stream id, so a stream stays in order.
    pub partition_key: String,
    /// Overrides the partition key's hash to address one shard (aggregated
    /// records).
    pub explicit_hash_key: Option<String>,
    /// The JSON envelope of the event, or several envelopes packed
    /// ([`aggregation`]).
    pub data: Vec<u8>,
}

impl OutRecord {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// What the record stream said about one record of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutResult {
    /// Stored.
    Ok,
    /// Refused for now because the shard is over its limits.
    Throttled,
    /// Refused for another reason (worth retrying).
    Failed(String),
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The log or the checkpoint could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record stream could not be called at all.
    #[error("record stream: {0}")]
    Sink(String),
    /// This relay lost its leadership (its lock connection dropped).
    #[error("leadership lost")]
    LostLeadership,
}

/// A stream of records, such as a Kinesis data stream.
#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Puts up to 500 records (5 MiB) in one call; one result per record, in
    /// order. An error means the whole call failed.
    async fn put(&self, records: &[OutRecord]) -> Result<Vec<PutResult>, RelayError>;

    /// The hash-key ranges of the open shards, for aggregation; `None` when
    /// the sink has no shards.
    async fn shard_map(&self) -> Result<Option<ShardMap>, RelayError> {
        Ok(None)
    }
}

/// Back-off with jitter: a random pause between half and all of
/// `base · 2^attempt`, capped.
fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(50).saturating_mul(2u32.saturating_pow(attempt.min(10)));
    let ceiling = ceiling.min(Duration::from_secs(5));
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(5_000);
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
}

/// Splits records into calls within the per-call limits, keeping their order.
fn calls(records: Vec<OutRecord>) -> Vec<Vec<OutRecord>> {
    let mut calls = Vec::new();
    let mut current: Vec<OutRecord> = Vec::new();
    let mut bytes = 0;
    for record in records {
        if current.len() == MAX_RECORDS_PER_CALL
            || (!current.is_empty() && bytes + record.size() > MAX_BYTES_PER_CALL)
        {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += record.size();
        current.push(record);
    }
    if !current.is_empty() {
        calls.push(current);
    }
    calls
}

/// Puts `records` until every one is stored: after a partial failure only
/// the failed records are sent again, after a pause that grows with each
/// attempt (with jitter), so a throttled shard is not hammered.
pub async fn put_all(sink: &dyn RecordSink, records: Vec<OutRecord>) -> Result<(), RelayError> {
    for mut pending in calls(records) {
        let mut attempt = 0;
        while !pending.is_empty() {
            match sink.put(&pending).await {
                Ok(results) => {
                    let failed: Vec<OutRecord> = pending
                        .into_iter()
                        .zip(results.iter().map(Some).chain(std::iter::repeat(None)))
                        .filter(|(_, r)| !matches!(r, Some(PutResult::Ok)))
                        .map(|(record, _)| record)
                        .collect();
                    if !failed.is_empty() {
                        let throttled = results
                            .iter()
                            .filter(|r| **r == PutResult::Throttled)
                            .count();
                        tracing::warn!(
                            failed = failed.len(),
                            throttled,
                            attempt,
                            "records refused; sending them again"
                        );
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                    pending = failed;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "PutRecords failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
    Ok(())
}

/// Publishes the event log of one PostgreSQL database.
#[derive(Clone)]
pub struct Relay {
    name: String,
    db: PgDatabase,
    events: Arc<dyn EventStore>,
    sink: Arc<dyn RecordSink>,
    batch_size: usize,
    packing: Packing,
    /// The sink's shards (for packing), and when they were looked up.
    shards: Arc<tokio::sync::Mutex<CachedShardMap>>,
}

/// A shard map (or the sink's answer that it has none) and when it was
/// looked up.
type CachedShardMap = Option<(Instant, Option<ShardMap>)>;

/// How often an idle relay refreshes its lag gauges (a published batch
/// refreshes them at once).
const LAG_REPORT_EVERY: Duration = Duration::from_secs(1);

/// How long a looked-up shard map is used before it is looked up again.
const SHARD_MAP_AGE: Duration = Duration::from_secs(30);

impl Relay {
    /// A relay named `name` (its checkpoint's and its lock's key) that sends
    /// one record per event.
    pub fn new(
        name: &str,
        db: PgDatabase,
        events: Arc<dyn EventStore>,
        sink: Arc<dyn RecordSink>,
        batch_size: usize,
    ) -> Self {
        Self {
            name: name.to_owned(),
            db,
            events,
            sink,
            batch_size: batch_size.max(1),
            packing: Packing::Single,
            shards: Arc::default(),
        }
    }

    /// Packs the events bound for one shard into shared records as
    /// `packing` says.
    pub fn with_packing(mut self, packing: Packing) -> Self {
        self.packing = packing;
        self
    }

    /// The records for a batch: one per event, or packed per shard.
    async fn records(&self, batch: &[RecordedEvent]) -> Result<Vec<OutRecord>, RelayError> {
        let records = batch.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        if self.packing == Packing::Single {
            return Ok(records);
        }
        let mut cached = self.shards.lock().await;
        if cached
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > SHARD_MAP_AGE)
        {
            *cached = Some((Instant::now(), self.sink.shard_map().await?));
        }
        Ok(match cached.as_ref().and_then(|(_, map)| map.as_ref()) {
            Some(map) => aggregation::aggregate(records, map, self.packing),
            None => records,
        })
    }

    /// How far this relay has published.
    pub async fn checkpoint(&self) -> Result<Position, RelayError> {
        leadership::checkpoint(&self.db, &self.name)
            .await
            .map_err(Into::into)
    }

    /// Publishes the next batch of the log after `after` and moves the
    /// checkpoint; returns it, or `None` when the log has nothing new. A
    /// batch is published in its `relay_step` span: the relay's name, the
    /// positions it goes from (excluded) and to, its number of events and
    /// of records (fewer when aggregated).
    pub async fn step(
        &self,
        leader: &mut Leadership,
        after: Position,
    ) -> Result<Option<Position>, RelayError> {
        let batch = self.events.read_all(after, self.batch_size).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "relay_step",
            relay = %self.name,
            from = %after,
            to = %last,
            events = batch.len(),
            records = tracing::field::Empty,
        );
        self.publish(leader, &batch, last).instrument(span).await?;
        Ok(Some(last))
    }

    /// Publishes `batch`, whose last event is at `last`, and moves the
    /// checkpoint there.
    async fn publish(
        &self,
        leader: &mut Leadership,
        batch: &[RecordedEvent],
        last: Position,
    ) -> Result<(), RelayError> {
        let records = self.records(batch).await?;
        tracing::Span::current().record("records", records.len());
        put_all(self.sink.as_ref(), records).await?;
        leader.save_checkpoint(&self.name, last).await?;
        let published = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        metrics::count(
            "anote_relay_published_total",
            "Events the relay published.",
            &[],
            published,
        );
        self.report_lag(last).await
    }

    /// Sets the lag gauges: events committed but not yet published after
    /// `published` (counted up to 100,000), and the age of the oldest.
    async fn report_lag(&self, published: Position) -> Result<(), RelayError> {
        let (events, seconds): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(recorded_at))::float8 FROM (
                SELECT recorded_at FROM events
                WHERE (tx_id, position) > ($1::text::xid8, $2)
                ORDER BY tx_id, position LIMIT 100000) AS unpublished",
        )
        .bind(published.tx().to_string())
        .bind(to_i64(published.seq())?)
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| RelayError::Store(e.into()))?;
        #[allow(clippy::cast_precision_loss)]
        let events = events as f64;
        metrics::gauge(
            "anote_relay_lag_events",
            "Committed events not yet published.",
            &[],
            events,
        );
        metrics::gauge(
            "anote_relay_lag_seconds",
            "Age of the oldest committed event not yet published.",
            &[],
            seconds.unwrap_or(0.0).max(0.0),
        );
        Ok(())
    }

    /// Waits to be the one active relay (a hot standby until then), then
    /// publishes until `stop` turns true. Losing the lock sends it back to
    /// waiting.
    pub async fn run(&self, idle: Duration, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let mut leader = match Leadership::acquire(&self.db, &self.name, &mut stop).await {
                Ok(Some(leader)) => leader,
                Ok(None) => return,
                Err(err) => {
                    tracing::error!(relay = %self.name, error = %err, "cannot take part in leader election");
                    pause(Duration::from_secs(1), &mut stop).await;
                    continue;
                }
            };
            tracing::info!(relay = %self.name, "leading");
            if let Err(err) = self.lead(&mut leader, idle, &mut stop).await {
                tracing::error!(relay = %self.name, error = %err, "relay stopped leading");
                pause(Duration::from_secs(1), &mut stop).await;
            }
        }
    }

    async fn lead(
        &self,
        leader: &mut Leadership,
        idle: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        let mut after = leadership::checkpoint(&self.db, &self.name).await?;
        let mut reported = Instant::now();
        while !*stop.borrow() {
            match self.step(leader, after).await? {
                Some(next) => {
                    after = next;
                    reported = Instant::now();
                }
                None => {
                    // Idle polls come every few milliseconds; the lag query
                    // needs to run only now and then.
                    if reported.elapsed() >= LAG_REPORT_EVERY {
                        self.report_lag(after).await?;
                        reported = Instant::now();
                    }
                    pause(idle, stop).await;
                }
            }
        }
        Ok(())
    }
}

/// Sleeps for `how_long` or until `stop` changes.
async fn pause(how_long: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(how_long) => {}
        _ = stop.changed() => {}
    }
}

/// The record that carries one event: its envelope, or, when that is too
/// large for a record, its envelope without the payload, which readers take
/// from the log.
fn record(event: &RecordedEvent) -> Result<OutRecord, RelayError> {
    let partition_key = event.stream_id.to_string();
    let envelope = Envelope::from(event);
    let mut data = envelope.to_json()?;
    if data.len() + partition_key.len() > aggregation::MAX_RECORD_BYTES {
        tracing::info!(event_id = %event.event_id, bytes = data.len(), "event too large for a record; published without its payload");
        metrics::count(
            "anote_relay_payloads_left_in_log_total",
            "Events too large for a Kinesis record, published without their payload (readers take it from the log).",
            &[],
            1,
        );
        data = envelope.without_payload().to_json()?;
    }
    Ok(OutRecord {
        partition_key,
        explicit_hash_key: None,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A sink that refuses some records the first times it sees them.
    struct FlakySink {
        refusals: Mutex<Vec<(String, u32)>>,
        stored: Mutex<Vec<String>>,
        calls: Mutex<u32>,
    }

    #[async_trait]
    impl RecordSink for FlakySink {
        async fn put(&self, records: &[OutRecord]) -> Result<Vec<PutResult>, RelayError> {
            *self.calls.lock().expect("lock") += 1;
            let mut refusals = self.refusals.lock().expect("lock");
            Ok(records
                .iter()
                .map(|r| {
                    let key = String::from_utf8_lossy(&r.data).into_owned();
                    match refusals.iter_mut().find(|(k, left)| *k == key && *left > 0) {
                        Some((_, left)) => {
                            *left -= 1;
                            PutResult::Throttled
                        }
                        None => {
                            self.stored.lock().expect("lock").push(key);
                            PutResult::Ok
                        }
                    }
                })
                .collect())
        }
    }

    fn rec(n: usize) -> OutRecord {
        OutRecord {
            partition_key: format!("s{}", n % 3),
            explicit_hash_key: None,
            data: n.to_string().into_bytes(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_refused_records_are_sent_again_until_all_are_stored() {
        let sink = FlakySink {
            refusals: Mutex::new(vec![("3".into(), 2), ("7".into(), 1)]),
            stored: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        };
        put_all(&sink, (0..10).map(rec).collect())
            .await
            .expect("all stored");
        let mut sorted = sink.stored.lock().expect("lock").clone();
        sorted.sort_by_key(|s| s.parse::<u32>().unwrap_or(0));
        assert_eq!(
            sorted,
            (0..10).map(|n| n.to_string()).collect::<Vec<_>>(),
            "each record stored exactly once"
        );
        assert_eq!(
            *sink.calls.lock().expect("lock"),
            3,
            "one call, then one per retry of the refused"
        );
    }

    #[test]
    fn calls_respect_the_count_and_size_limits() {
        let many: Vec<OutRecord> = (0..1_201).map(rec).collect();
        let sizes: Vec<usize> = calls(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500, 201]);
        let big = |n: u8| OutRecord {
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: vec![n; 2 * 1024 * 1024],
        };
        let sizes: Vec<usize> = calls(vec![big(1), big(2), big(3)])
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![2, 1]);
    }

    #[test]
    fn back_off_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(50));
        assert!(backoff(3) >= Duration::from_millis(200));
        assert!(backoff(30) <= Duration::from_secs(5));
    }
}
