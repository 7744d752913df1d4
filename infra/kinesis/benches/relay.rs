//! Relay benchmark: events/s published to the Kinesis emulator with one
//! record per event, with the events of a shard packed into a JSON array
//! (earlier releases), and packed into a KPL aggregated record (the
//! default), measured in the same run.
//!
//! `cargo bench -p anote-kinesis --bench relay` (PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`, the emulator at `ANOTE_TEST_KINESIS_ENDPOINT`;
//! `ANOTE_BENCH_EVENTS` events, default 4,000, over 400 streams and 4 shards).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::NoteId;
use anote_kinesis::relay::aggregation::{Packing, ShardMap};
use anote_kinesis::relay::kinesis::{create_stream, emulator_client, KinesisSink};
use anote_kinesis::relay::{OutRecord, PutResult, RecordSink, Relay, RelayError};
use anote_store::db::PgDatabase;
use anote_store::event_store::{Append, EventStore, Metadata, NewEvent, PgEventStore, Position};
use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use tokio::sync::watch;
use uuid::Uuid;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn fresh_stream(client: &Client) -> String {
    let name = format!("anote-bench-{}", Uuid::new_v4().simple());
    create_stream(client, &name, 4)
        .await
        .expect("the Kinesis emulator answers");
    name
}

/// Fills a fresh log with `events` small events over 400 streams.
async fn fresh_log(
    url: &str,
    events: usize,
) -> (PgDatabase, Arc<dyn EventStore>, Position, String) {
    let schema = format!("bench_relay_{}", Uuid::new_v4().simple());
    let db = PgDatabase::connect(url, Some(&schema), 8)
        .await
        .expect("PostgreSQL");
    db.migrate(anote_store::migrations::postgres())
        .await
        .expect("migrates");
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.clone()));
    let streams: Vec<_> = (0..400).map(|_| NoteId::new().stream()).collect();
    let mut last = Position::START;
    for n in 0..events {
        let append = Append {
            stream: streams[n % streams.len()].clone(),
            expected_version: (n / streams.len()) as u64,
            events: vec![NewEvent {
                event_id: Uuid::new_v4(),
                event_type: "NoteEdited".into(),
                schema_version: 1,
                payload: serde_json::json!({ "body": format!("revision {n} of a short note") }),
            }],
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            side_writes: Vec::new(),
        };
        last = store.append(append).await.expect("appends").position;
    }
    (db, store, last, schema)
}

/// The Kinesis sink, counting the records and bytes it is given.
struct Counting {
    sink: KinesisSink,
    records: AtomicUsize,
    bytes: AtomicUsize,
}

#[async_trait]
impl RecordSink for Counting {
    async fn put(&self, records: &[OutRecord]) -> Result<Vec<PutResult>, RelayError> {
        self.records.fetch_add(records.len(), Ordering::Relaxed);
        let bytes = records.iter().map(|r| r.data.len()).sum();
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.sink.put(records).await
    }

    async fn shard_map(&self) -> Result<Option<ShardMap>, RelayError> {
        self.sink.shard_map().await
    }
}

/// Publishes `events` events packed as `packing`; returns how long it
/// took, how many records and how many bytes of data were put.
async fn run(
    url: &str,
    client: &Client,
    events: usize,
    packing: Packing,
) -> (Duration, usize, usize) {
    let (db, store, last, schema) = fresh_log(url, events).await;
    let stream = fresh_stream(client).await;
    let sink = Arc::new(Counting {
        sink: KinesisSink::new(client.clone(), &stream),
        records: AtomicUsize::new(0),
        bytes: AtomicUsize::new(0),
    });
    let relay = Relay::new("bench", db.clone(), store, sink.clone(), 2_000).with_packing(packing);
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn({
        let relay = relay.clone();
        async move { relay.run(Duration::from_millis(5), stopped).await }
    });
    while relay.checkpoint().await.expect("reads") < last {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    stop.send(true).expect("stops");
    running.await.expect("relay ran");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(db.pool())
        .await
        .expect("drops");
    (
        took,
        sink.records.load(Ordering::Relaxed),
        sink.bytes.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let url = env(
        "ANOTE_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let events: usize = env("ANOTE_BENCH_EVENTS", "4000").parse().expect("a number");
    let client = emulator_client(&env("ANOTE_TEST_KINESIS_ENDPOINT", "http://127.0.0.1:4568"));
    println!("| records            | events | seconds | events/s | records put | bytes/event |");
    println!("|--------------------|-------:|--------:|---------:|------------:|------------:|");
    for (label, packing) in [
        ("one per event", Packing::Single),
        ("JSON array", Packing::JsonArray),
        ("KPL aggregated", Packing::Kpl),
    ] {
        let (took, records, bytes) = run(&url, &client, events, packing).await;
        println!(
            "| {label:<18} | {events:>6} | {:>7.2} | {:>8.0} | {records:>11} | {:>11.0} |",
            took.as_secs_f64(),
            events as f64 / took.as_secs_f64(),
            bytes as f64 / events as f64
        );
    }
}
