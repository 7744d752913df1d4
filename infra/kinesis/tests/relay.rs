//! The relay against a real PostgreSQL and a real Kinesis emulator (a fresh
//! stream per test).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anote_domain::{NoteId, StreamId};
use anote_kinesis::feed::kinesis::KinesisShards;
use anote_kinesis::record::{self, Carried, RecordFormat};
use anote_kinesis::relay::aggregation::Packing;
use anote_kinesis::relay::kinesis::KinesisSink;
use anote_kinesis::relay::Relay;
use anote_store::db::PgDatabase;
use anote_store::event_store::{
    Append, EventStore, Metadata, NewEvent, PgEventStore, Position, RecordedEvent,
};
use anote_testkit::db::{pg_event_log, settled};
use anote_testkit::env::{fresh_schema, fresh_stream, kinesis_client};
use anote_testkit::kinesis::{
    publish_log, published_form, read_through_feed, shard_records, wait_for_checkpoint,
};
use aws_sdk_kinesis::Client;
use tokio::sync::watch;
use uuid::Uuid;

async fn fresh_log() -> (PgDatabase, Arc<dyn EventStore>) {
    let db = pg_event_log(&fresh_schema(), 8).await;
    (db.clone(), Arc::new(PgEventStore::new(db)))
}

/// Appends `per_stream` events to each of `streams` streams, interleaved.
async fn fill(events: &dyn EventStore, streams: &[StreamId], per_stream: u64) {
    for version in 0..per_stream {
        for stream in streams {
            let append = Append {
                stream: stream.clone(),
                expected_version: version,
                events: vec![NewEvent {
                    event_id: Uuid::new_v4(),
                    event_type: "TestHappened".into(),
                    schema_version: 1,
                    payload: serde_json::json!({ "v": version + 1 }),
                }],
                metadata: Metadata::for_request(None, Uuid::new_v4()),
                side_writes: Vec::new(),
            };
            events.append(append).await.expect("appends");
        }
    }
}

/// The events of every record of every shard, in shard order.
async fn read_stream(client: &Client, name: &str) -> Vec<Vec<RecordedEvent>> {
    read_records(client, name)
        .await
        .into_iter()
        .map(|shard| shard.into_iter().flat_map(|(_, events)| events).collect())
        .collect()
}

/// Every record of every shard, decoded, in shard order.
async fn read_records(client: &Client, name: &str) -> Vec<Vec<(RecordFormat, Vec<RecordedEvent>)>> {
    let decode = |data: &[u8]| {
        let (format, carried) = record::events_of_record(data).expect("decodes");
        let events = carried
            .into_iter()
            .map(|c| match c {
                Carried::Event(event) => event,
                Carried::InLog { .. } => panic!("small events travel whole"),
            })
            .collect();
        (format, events)
    };
    shard_records(client, name)
        .await
        .iter()
        .map(|shard| shard.iter().map(|r| decode(r.data().as_ref())).collect())
        .collect()
}

/// Publishes 200 events of 20 streams to a fresh 4-shard stream, packed as
/// `packing` says, and checks that each arrives once, in its stream's
/// order; returns the shapes of the records that carried them.
async fn publish_once_in_stream_order(packing: Packing) -> Vec<RecordFormat> {
    let client = kinesis_client();
    let name = fresh_stream(&client, 4).await;
    let (db, events) = fresh_log().await;
    let streams: Vec<StreamId> = (0..20).map(|_| NoteId::new().stream()).collect();
    fill(events.as_ref(), &streams, 10).await;
    publish_log(&client, &name, db, events.clone(), 64, packing).await;

    let records = read_records(&client, &name).await;
    let shards: Vec<Vec<RecordedEvent>> = records
        .iter()
        .map(|shard| shard.iter().flat_map(|(_, e)| e.clone()).collect())
        .collect();
    let published: Vec<&RecordedEvent> = shards.iter().flatten().collect();
    let ids: HashSet<Uuid> = published.iter().map(|e| e.event_id).collect();
    assert_eq!(
        published.len(),
        200,
        "each event once (no failures happened)"
    );
    let logged: HashSet<Uuid> = events
        .read_all(Position::START, 1_000)
        .await
        .expect("reads")
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, logged);
    for shard in &shards {
        let mut last: HashMap<&StreamId, u64> = HashMap::new();
        for e in shard {
            let previous = last.insert(&e.stream_id, e.stream_version).unwrap_or(0);
            assert_eq!(
                e.stream_version,
                previous + 1,
                "{} in order on its shard",
                e.stream_id
            );
        }
    }
    let metrics = anote_metrics::render();
    for line in [
        "anote_relay_published_total 200",
        "anote_relay_lag_events 0",
        "anote_relay_lag_seconds 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let used = shards.iter().filter(|s| !s.is_empty()).count();
    assert!(
        used > 1,
        "partition keys spread the streams over the shards"
    );
    records
        .into_iter()
        .flatten()
        .map(|(format, _)| format)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_is_published_once_in_stream_order() {
    let records = publish_once_in_stream_order(Packing::Single).await;
    assert_eq!(
        records,
        vec![RecordFormat::Plain; 200],
        "one record per event"
    );
}

/// Packed records are all of shape `packed`, but for plain ones (a shard
/// with one event in a batch).
fn assert_shapes(records: &[RecordFormat], packed: RecordFormat) {
    assert!(records.contains(&packed), "{records:?}");
    assert!(
        records
            .iter()
            .all(|f| *f == packed || *f == RecordFormat::Plain),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kpl_records_carry_every_event_in_stream_order() {
    let records = publish_once_in_stream_order(Packing::Kpl).await;
    assert!(
        records.len() <= 4 * 4,
        "at most one record per shard per batch of 64 events, got {}",
        records.len()
    );
    assert_shapes(&records, RecordFormat::Kpl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_arrays_are_still_written_on_request() {
    let records = publish_once_in_stream_order(Packing::JsonArray).await;
    assert!(records.len() <= 4 * 4, "{records:?}");
    assert_shapes(&records, RecordFormat::JsonArray);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_takes_over_when_the_leader_stops() {
    let client = kinesis_client();
    let name = fresh_stream(&client, 2).await;
    let (db, events) = fresh_log().await;
    let sink = Arc::new(KinesisSink::new(client.clone(), &name));
    let streams: Vec<StreamId> = (0..5).map(|_| NoteId::new().stream()).collect();
    fill(events.as_ref(), &streams, 4).await;

    let leader = Relay::new("shared", db.clone(), events.clone(), sink.clone(), 64);
    let (stop_leader, leader_stopped) = watch::channel(false);
    let leading = tokio::spawn({
        let relay = leader.clone();
        async move { relay.run(Duration::from_millis(10), leader_stopped).await }
    });
    wait_for_checkpoint(&leader, settled(events.as_ref()).await).await;

    let standby = Relay::new("shared", db.clone(), events.clone(), sink, 64);
    let (stop_standby, standby_stopped) = watch::channel(false);
    let waiting = tokio::spawn({
        let relay = standby.clone();
        async move { relay.run(Duration::from_millis(10), standby_stopped).await }
    });
    stop_leader.send(true).expect("stops");
    leading.await.expect("leader ran");

    let more: Vec<StreamId> = (0..5).map(|_| NoteId::new().stream()).collect();
    fill(events.as_ref(), &more, 4).await;
    wait_for_checkpoint(&standby, settled(events.as_ref()).await).await;
    stop_standby.send(true).expect("stops");
    waiting.await.expect("standby ran");

    let published: HashSet<Uuid> = read_stream(&client, &name)
        .await
        .into_iter()
        .flatten()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(published.len(), 40, "both halves published, nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_too_large_for_a_record_is_read_from_the_log() {
    let client = kinesis_client();
    let name = fresh_stream(&client, 1).await;
    let (db, events) = fresh_log().await;
    let before: Vec<StreamId> = (0..3).map(|_| NoteId::new().stream()).collect();
    fill(events.as_ref(), &before, 2).await;
    // 600 KiB of line breaks: 1.2 MiB as JSON, past Kinesis's 1 MiB.
    events
        .append(Append {
            stream: NoteId::new().stream(),
            expected_version: 0,
            events: vec![NewEvent {
                event_id: Uuid::new_v4(),
                event_type: "TestHappened".into(),
                schema_version: 1,
                payload: serde_json::json!({ "body": "\n".repeat(600 * 1024) }),
            }],
            metadata: Metadata::for_request(None, Uuid::new_v4()),
            side_writes: Vec::new(),
        })
        .await
        .expect("appends");
    let after: Vec<StreamId> = (0..3).map(|_| NoteId::new().stream()).collect();
    fill(events.as_ref(), &after, 2).await;

    publish_log(&client, &name, db, events.clone(), 64, Packing::Kpl).await;

    let logged = published_form(events.as_ref()).await;
    let shards = KinesisShards::new(client.clone(), &name, events.clone());
    let read = read_through_feed(&shards, logged.len()).await;
    assert_eq!(
        read, logged,
        "every event, the large one from the log, in order"
    );
    let metrics = anote_metrics::render();
    assert!(
        metrics
            .lines()
            .any(|l| l == "anote_relay_payloads_left_in_log_total 1"),
        "{metrics}"
    );
}
