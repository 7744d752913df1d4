//! The KPL aggregation format checked against code written elsewhere: AWS's
//! Python module `aws-kinesis-agg` (`tests/kpl/kpl_agg.py`, installed by the
//! test command) de-aggregates the records the relay put on the Kinesis
//! emulator, and aggregates records that Anote's feed then reads.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anote_domain::{NoteId, StreamId};
use anote_kinesis::feed::kinesis::KinesisShards;
use anote_kinesis::record::kpl;
use anote_kinesis::record::{Carried, Envelope};
use anote_kinesis::relay::aggregation::Packing;
use anote_store::db::PgDatabase;
use anote_store::event_store::{
    Append, EventStore, Metadata, NewEvent, PgEventStore, RecordedEvent,
};
use anote_testkit::db::pg_event_log;
use anote_testkit::env::{fresh_schema, fresh_stream, kinesis_client, kpl_python};
use anote_testkit::kinesis::{publish_log, published_form, read_through_feed, shard_records};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::Client;
use base64::Engine;
use serde_json::{json, Value};
use uuid::Uuid;

/// Runs the module's `command` (`aggregate` or `deaggregate`) on `input`.
fn module(command: &str, input: &Value) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kpl/kpl_agg.py");
    let mut child = Command::new(kpl_python())
        .args([script, command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("writes");
    let output = child.wait_with_output().expect("python ends");
    assert!(
        output.status.success(),
        "aws-kinesis-agg {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON list")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("base64 text"))
        .expect("base64")
}

/// A fresh log holding `per_stream` events of each of `streams` streams,
/// interleaved, with payloads of several sizes and scripts; returns it and
/// its events in log order (without seals, which envelopes do not carry).
async fn filled_log(
    streams: usize,
    per_stream: u64,
) -> (PgDatabase, Arc<dyn EventStore>, Vec<RecordedEvent>) {
    let db = pg_event_log(&fresh_schema(), 8).await;
    let events: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.clone()));
    let ids: Vec<StreamId> = (0..streams).map(|_| NoteId::new().stream()).collect();
    for version in 0..per_stream {
        for (n, stream) in ids.iter().enumerate() {
            let body = format!("Übung {version} — {}", "λ".repeat(n * 37));
            events
                .append(Append {
                    stream: stream.clone(),
                    expected_version: version,
                    events: vec![NewEvent {
                        event_id: Uuid::new_v4(),
                        event_type: "NoteEdited".into(),
                        schema_version: 1,
                        payload: json!({ "body": body }),
                    }],
                    metadata: Metadata::for_request(None, Uuid::new_v4()),
                    side_writes: Vec::new(),
                })
                .await
                .expect("appends");
        }
    }
    let logged = published_form(events.as_ref()).await;
    (db, events, logged)
}

/// Every record of every shard of stream `name`, as the module's
/// `deaggregate` takes them, shard after shard.
async fn raw_records(client: &Client, name: &str) -> Vec<Vec<Value>> {
    shard_records(client, name)
        .await
        .iter()
        .map(|shard| {
            shard
                .iter()
                .map(|record| {
                    json!({
                        "partitionKey": record.partition_key(),
                        "sequenceNumber": record.sequence_number(),
                        "data": b64(record.data().as_ref()),
                    })
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_kinesis_agg_unpacks_the_relays_records_into_the_logs_envelopes() {
    let client = kinesis_client();
    let name = fresh_stream(&client, 2).await;
    let (db, events, logged) = filled_log(24, 6).await;
    publish_log(&client, &name, db, events, 50, Packing::Kpl).await;

    let shards = raw_records(&client, &name).await;
    let aggregated = shards
        .iter()
        .flatten()
        .filter(|r| kpl::is_aggregated(&unb64(&r["data"])))
        .count();
    assert!(aggregated >= 2, "the relay wrote KPL records");
    let mut seen = Vec::new();
    for records in &shards {
        let users = module("deaggregate", &Value::Array(records.clone()));
        // The user records of a shard are the log's envelopes of the
        // streams on that shard, byte for byte, in log order.
        let expected: Vec<&RecordedEvent> = logged
            .iter()
            .filter(|e| {
                users
                    .iter()
                    .any(|u| u["partitionKey"] == e.stream_id.as_str())
            })
            .collect();
        assert_eq!(users.len(), expected.len(), "each event once");
        for (user, event) in users.iter().zip(&expected) {
            let data = unb64(&user["data"]);
            assert_eq!(user["partitionKey"], event.stream_id.as_str());
            assert_eq!(
                data,
                Envelope::from(*event).to_json().expect("serialises"),
                "the envelope of {} v{}",
                event.stream_id,
                event.stream_version
            );
            assert_eq!(
                Envelope::from_json(&data).expect("decodes"),
                Carried::Event((*event).clone())
            );
        }
        let packed: Vec<&Value> = users.iter().filter(|u| u["aggregated"] == true).collect();
        assert!(
            packed
                .windows(2)
                .all(|w| w[0]["sequenceNumber"] != w[1]["sequenceNumber"]
                    || w[0]["subSequenceNumber"].as_u64().map(|n| n + 1)
                        == w[1]["subSequenceNumber"].as_u64()),
            "sub-sequence numbers count up within a record"
        );
        seen.extend(expected.into_iter().map(|e| e.event_id));
    }
    seen.sort_unstable();
    let mut all: Vec<Uuid> = logged.iter().map(|e| e.event_id).collect();
    all.sort_unstable();
    assert_eq!(seen, all, "every event of the log, on one shard each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_reads_records_aggregated_by_aws_kinesis_agg_and_refuses_damaged_ones() {
    let client = kinesis_client();
    let name = fresh_stream(&client, 1).await;
    let (_db, events, logged) = filled_log(10, 4).await;
    let users: Vec<Value> = logged
        .iter()
        .map(|e| {
            json!({
                "partitionKey": e.stream_id.as_str(),
                "data": b64(&Envelope::from(e).to_json().expect("serialises")),
            })
        })
        .collect();
    let aggregated = module("aggregate", &Value::Array(users));
    assert_eq!(aggregated.len(), 1, "40 small events fit one record");
    let good = unb64(&aggregated[0]["data"]);
    assert!(kpl::is_aggregated(&good));

    // Damaged copies first: a checksum flipped, the end cut off, and a
    // record too short to hold a checksum. None of their events may come
    // out; the good record after them must.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let cut = good[..good.len() - 100].to_vec();
    let stub = good[..12].to_vec();
    let key = aggregated[0]["partitionKey"].as_str().expect("a key");
    for data in [flipped, cut, stub, good] {
        client
            .put_record()
            .stream_name(&name)
            .partition_key(key)
            .data(Blob::new(data))
            .send()
            .await
            .expect("puts");
    }

    let shards = KinesisShards::new(client.clone(), &name, events);
    let read = read_through_feed(&shards, logged.len()).await;
    assert_eq!(read, logged, "the same events, in order, each once");

    let metrics = anote_metrics::render();
    for line in [
        format!("anote_projector_records_total{{stream=\"{name}\",format=\"kpl\"}} 1"),
        format!("anote_projector_skipped_records_total{{stream=\"{name}\",reason=\"checksum\"}} 2"),
        format!(
            "anote_projector_skipped_records_total{{stream=\"{name}\",reason=\"truncated\"}} 1"
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
}
