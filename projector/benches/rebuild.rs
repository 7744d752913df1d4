//! Rebuild benchmark: events/s when the projector rebuilds the note views
//! from the PostgreSQL event log into fresh tables, opening each event's
//! content with its note's key as it does in production.
//!
//! `cargo bench -p anote-projector --bench rebuild` (PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`; `ANOTE_BENCH_EVENTS` events, default 100,000,
//! over 1,000 notes).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use anote_domain::note::{NewNote, NoteEvent};
use anote_domain::values::{Body, Tags, Title};
use anote_domain::{NoteId, UserId};
use anote_infra::db::{PgDatabase, Tables};
use anote_infra::event_store::shredding::{self, NoteKey};
use anote_infra::event_store::{
    codec, Append, EventStore, Metadata, PgEventStore, Position, SideWrite,
};
use anote_infra::read_store::PgReadStore;
use anote_projector::Projector;
use uuid::Uuid;

const NOTES: usize = 1_000;

#[tokio::main]
async fn main() {
    let url = std::env::var("ANOTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let events: usize = std::env::var("ANOTE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let schema = format!("bench_rebuild_{}", Uuid::new_v4().simple());
    let log = PgDatabase::connect(&url, Some(&schema), 8)
        .await
        .expect("PostgreSQL");
    log.migrate(Tables::EventLog).await.expect("migrates");
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(log.clone()));

    // Each note: created, then edited; appended 100 events at a time.
    let owner = UserId::new();
    let per_note = events / NOTES;
    for _ in 0..NOTES {
        let id = NoteId::new();
        let new = NewNote {
            title: Title::parse("Lecture").expect("valid"),
            body: Body::parse("# Notes").expect("valid"),
            subject: None,
            tags: Tags::default(),
            due_at: None,
        };
        let mut all = vec![codec::encode(&NoteEvent::NoteCreated {
            owner,
            title: new.title,
            body: new.body,
            subject: new.subject,
            tags: new.tags,
            due_at: new.due_at,
        })
        .expect("encodes")];
        for n in 1..per_note {
            let edit = NoteEvent::NoteEdited {
                title: None,
                body: Body::parse(&format!("revision {n} of the lecture notes")).ok(),
            };
            all.push(codec::encode(&edit).expect("encodes"));
        }
        // Sealed with the note's key, as the command API writes them.
        let key = NoteKey::generate();
        for event in &mut all {
            shredding::seal(&mut event.payload, event.event_id, &key).expect("seals");
        }
        let mut version = 0;
        for chunk in all.chunks(100) {
            let side_writes = if version == 0 {
                vec![SideWrite::CreateNoteKey {
                    note: id,
                    owner,
                    key: key.clone(),
                }]
            } else {
                Vec::new()
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

    let read = PgDatabase::connect(&url, Some(&format!("{schema}_read")), 8)
        .await
        .expect("PostgreSQL");
    read.migrate(Tables::ReadModels).await.expect("migrates");
    let projector = Projector::new(
        "rebuild",
        store,
        Arc::new(PgReadStore::new(read.clone())),
        5_000,
    );
    let started = Instant::now();
    let mut after = Position::START;
    while let Some(next) = projector.step(after).await.expect("projects") {
        after = next;
    }
    let took = started.elapsed().as_secs_f64();
    let total = per_note * NOTES;
    println!("| events  | notes | seconds | events/s |");
    println!("|--------:|------:|--------:|---------:|");
    println!(
        "| {total:>7} | {NOTES:>5} | {took:>7.2} | {:>8.0} |",
        total as f64 / took
    );
    for (db, name) in [(&log, schema.clone()), (&read, format!("{schema}_read"))] {
        sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
            .execute(db.pool())
            .await
            .expect("drops");
    }
}
