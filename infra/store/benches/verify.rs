//! `audit verify` throughput: events/s checked (canonical JSON, two SHA-256
//! and the chain comparison per event, read in commit order) on PostgreSQL
//! and on SQLite, after writing the log in appends of 100 events.
//!
//! `cargo bench -p anote-store --bench verify` (PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`; `ANOTE_BENCH_EVENTS` events, default 200,000,
//! over 1,000 streams).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use anote_domain::NoteId;
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::audit::verify;
use anote_store::event_store::{
    Append, EventStore, Metadata, NewEvent, PgEventStore, SqliteEventStore,
};
use uuid::Uuid;

const STREAMS: usize = 1_000;
const PER_APPEND: usize = 100;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Writes `events` note-sized events over the streams.
async fn fill(store: &dyn EventStore, events: usize) {
    let streams: Vec<_> = (0..STREAMS).map(|_| NoteId::new().stream()).collect();
    let mut versions = vec![0u64; STREAMS];
    for batch in 0..events / PER_APPEND {
        let s = batch % STREAMS;
        let append = Append {
            stream: streams[s].clone(),
            expected_version: versions[s],
            events: (0..PER_APPEND)
                .map(|n| NewEvent {
                    event_id: Uuid::new_v4(),
                    event_type: "NoteEdited".into(),
                    schema_version: 1,
                    payload: serde_json::json!({
                        "title": format!("Lecture {n}"),
                        "body": "# Limits\n\nA sequence converges when its terms get close. ".repeat(4),
                    }),
                })
                .collect(),
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            side_writes: Vec::new(),
        };
        store.append(append).await.expect("appends");
        versions[s] += PER_APPEND as u64;
    }
}

async fn measure(label: &str, store: &dyn EventStore, events: usize) {
    fill(store, events).await;
    let started = Instant::now();
    let report = verify(store, None, 5_000).await.expect("verifies");
    let took = started.elapsed().as_secs_f64();
    assert!(report.breaks.is_empty());
    println!(
        "| {label:<10} | {:>9} | {:>8.2} | {:>10.0} |",
        report.events,
        took,
        report.events as f64 / took
    );
}

#[tokio::main]
async fn main() {
    let events: usize = env("ANOTE_BENCH_EVENTS", "200000")
        .parse()
        .expect("a number");
    println!("| log        |    events | time (s) |   events/s |");
    println!("|------------|----------:|---------:|-----------:|");
    let url = env(
        "ANOTE_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let schema = format!("bench_{}", Uuid::new_v4().simple());
    let db = PgDatabase::connect(&url, Some(&schema), 8)
        .await
        .expect("PostgreSQL");
    db.migrate(anote_store::migrations::postgres())
        .await
        .expect("migrates");
    let pg: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db));
    measure("PostgreSQL", &*pg, events).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteDatabase::open(&dir.path().join("bench.sqlite3"))
        .await
        .expect("SQLite");
    db.migrate(anote_store::migrations::sqlite())
        .await
        .expect("migrates");
    let sqlite: Arc<dyn EventStore> = Arc::new(SqliteEventStore::new(db));
    measure("SQLite", &*sqlite, events).await;
}
