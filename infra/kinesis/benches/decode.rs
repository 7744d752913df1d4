//! Feed decoding benchmark: events/s that the projector's feed takes out
//! of plain records, JSON arrays and KPL aggregated records, in the same run
//! and on the same events (no services needed).
//!
//! `cargo bench -p anote-kinesis --bench decode` (`ANOTE_BENCH_EVENTS`
//! events, default 20,000, packed 500 to a record; the best of 5 rounds).
#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use anote_domain::StreamId;
use anote_kinesis::record::{self, kpl, Envelope};
use anote_store::event_store::{Metadata, Position, RecordedEvent};
use uuid::Uuid;

/// Events like the relay benchmark's: a short sealed-looking body each, 400
/// streams.
fn events(count: usize) -> Vec<RecordedEvent> {
    let streams: Vec<StreamId> = (0..400)
        .map(|_| StreamId::from_stored(format!("note-{}", Uuid::new_v4())))
        .collect();
    (0..count)
        .map(|n| RecordedEvent {
            position: Position::new(1_000, n as u64 + 1),
            event_id: Uuid::new_v4(),
            stream_id: streams[n % streams.len()].clone(),
            stream_version: (n / streams.len()) as u64 + 1,
            event_type: "NoteEdited".into(),
            schema_version: 1,
            payload: serde_json::json!({ "body": { "sealed": "A".repeat(120) } }),
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
            seal: None,
        })
        .collect()
}

/// The records of each shape that carry `events`.
fn records(events: &[RecordedEvent]) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let envelopes: Vec<Vec<u8>> = events
        .iter()
        .map(|e| Envelope::from(e).to_json().expect("serialises"))
        .collect();
    let arrays = envelopes
        .chunks(500)
        .map(|chunk| [b"[".to_vec(), chunk.join(&b','), b"]".to_vec()].concat())
        .collect();
    let aggregates = events
        .chunks(500)
        .zip(envelopes.chunks(500))
        .map(|(events, envelopes)| {
            let mut aggregate = kpl::Aggregate::default();
            for (event, envelope) in events.iter().zip(envelopes) {
                aggregate.push(event.stream_id.as_str(), envelope.clone());
            }
            aggregate.into_bytes()
        })
        .collect();
    vec![
        ("plain", envelopes),
        ("JSON array", arrays),
        ("KPL aggregated", aggregates),
    ]
}

/// The best time of 5 rounds of decoding every record.
fn decode_all(records: &[Vec<u8>], events: usize) -> Duration {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            let decoded: usize = records
                .iter()
                .map(|r| {
                    black_box(record::events_of_record(r).expect("decodes"))
                        .1
                        .len()
                })
                .sum();
            assert_eq!(decoded, events);
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let count: usize = std::env::var("ANOTE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let events = events(count);
    println!("| records            | records | events | ms    | events/s |");
    println!("|--------------------|--------:|-------:|------:|---------:|");
    for (label, records) in records(&events) {
        let took = decode_all(&records, count);
        println!(
            "| {label:<18} | {:>7} | {count:>6} | {:>5.1} | {:>8.0} |",
            records.len(),
            took.as_secs_f64() * 1_000.0,
            count as f64 / took.as_secs_f64()
        );
    }
}
