//! Replay benchmark: events/s when the read models are rebuilt from a log of
//! sealed events (each event's content opened with its note's key, as in
//! production), three ways in one run:
//! - the projector alone, in this process, from the PostgreSQL log;
//! - `anote replay` on PostgreSQL: a blue/green rebuild beside the live
//!   schema, the switch and the old schema's removal, as a process;
//! - `anote replay` embedded: a new SQLite build from the SQLite log.
//!
//! `cargo bench --bench replay` (PostgreSQL at `ANOTE_TEST_DATABASE_URL`;
//! `ANOTE_BENCH_EVENTS` events, default 100,000, over 1,000 notes).
#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use anote_domain::note::NoteEvent;
use anote_domain::values::{Body, Tags, Title};
use anote_domain::{NoteId, UserId};
use anote_projector::Projector;
use anote_read_store::PgReadStore;
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::shredding::{self, NoteKey};
use anote_store::event_store::{
    codec, Append, EventStore, Metadata, PgEventStore, SideWrite, SqliteEventStore,
};
use common::env;
use uuid::Uuid;

const NOTES: usize = 1_000;

/// Appends `per_note` events to each of `NOTES` notes: created, then edited,
/// sealed with the note's key, 100 events per append.
async fn seed(store: &dyn EventStore, per_note: usize) {
    let owner = UserId::new();
    for _ in 0..NOTES {
        let id = NoteId::new();
        let mut all = vec![codec::encode(&NoteEvent::NoteCreated {
            owner,
            title: Title::parse("Lecture").expect("valid"),
            body: Body::parse("# Notes").expect("valid"),
            subject: None,
            tags: Tags::default(),
            due_at: None,
        })
        .expect("encodes")];
        for n in 1..per_note {
            let edit = NoteEvent::NoteEdited {
                title: None,
                body: Body::parse(&format!("revision {n} of the lecture notes")).ok(),
            };
            all.push(codec::encode(&edit).expect("encodes"));
        }
        let key = NoteKey::generate();
        for event in &mut all {
            shredding::seal(&mut event.payload, event.event_id, &key).expect("seals");
        }
        let mut version = 0;
        for chunk in all.chunks(100) {
            let side_writes = match version {
                0 => vec![SideWrite::CreateNoteKey {
                    note: id,
                    owner,
                    key: key.clone(),
                }],
                _ => Vec::new(),
            };
            let append = Append {
                stream: id.stream(),
                expected_version: version,
                events: chunk.to_vec(),
                metadata: Metadata::for_request(Some(owner), Uuid::new_v4()),
                side_writes,
            };
            version = store.append(append).await.expect("appends").version;
        }
    }
}

/// Runs `anote replay` with these variables; returns its wall time in seconds.
fn anote_replay(vars: &[(&str, String)]) -> f64 {
    let started = Instant::now();
    let mut replay = common::anote(&["replay"], vars);
    assert!(replay.0.wait().expect("waits").success(), "anote replay");
    started.elapsed().as_secs_f64()
}

fn row(how: &str, events: usize, seconds: f64) {
    println!(
        "| {how:<32} | {events:>7} | {seconds:>7.2} | {:>8.0} |",
        events as f64 / seconds
    );
}

async fn drop_schemas(db: &PgDatabase, schemas: &[String]) {
    for name in schemas {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(db.pool())
            .await
            .expect("drops");
    }
}

#[tokio::main]
async fn main() {
    let url = env(
        "ANOTE_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let per_note: usize = env("ANOTE_BENCH_EVENTS", "100000")
        .parse::<usize>()
        .expect("a number")
        / NOTES;
    let events = per_note * NOTES;

    let schema = format!("bench_replay_{}", Uuid::new_v4().simple());
    let log = PgDatabase::connect(&url, Some(&schema), 8)
        .await
        .expect("PostgreSQL");
    log.migrate(anote_store::migrations::postgres())
        .await
        .expect("migrates");
    let pg: Arc<dyn EventStore> = Arc::new(PgEventStore::new(log.clone()));
    seed(pg.as_ref(), per_note).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteDatabase::open(&dir.path().join("anote.sqlite3"))
        .await
        .expect("SQLite");
    sqlite
        .migrate(anote_store::migrations::sqlite())
        .await
        .expect("migrates");
    seed(&SqliteEventStore::new(sqlite), per_note).await;

    println!("| how                              | events  | seconds | events/s |");
    println!("|----------------------------------|--------:|--------:|---------:|");
    let rebuilt = format!("{schema}_rebuilt");
    let read = PgDatabase::connect(&url, Some(&rebuilt), 8)
        .await
        .expect("PostgreSQL");
    read.migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    let projector =
        Projector::new("rebuild", pg, Arc::new(PgReadStore::new(read)), 5_000).building();
    let started = Instant::now();
    projector.catch_up(|_| {}).await.expect("projects");
    row(
        "projector in process, PostgreSQL",
        events,
        started.elapsed().as_secs_f64(),
    );

    let live = format!("{schema}_read");
    let seconds = anote_replay(&[
        ("ANOTE_DATABASE_URL", url.clone()),
        ("ANOTE_DATABASE_SCHEMA", schema.clone()),
        ("ANOTE_READ_DATABASE_SCHEMA", live.clone()),
    ]);
    row("anote replay, PostgreSQL", events, seconds);
    let seconds = anote_replay(&[("ANOTE_DATA_DIR", dir.path().display().to_string())]);
    row("anote replay, embedded (SQLite)", events, seconds);

    drop_schemas(&log, &[schema, rebuilt, live]).await;
}
