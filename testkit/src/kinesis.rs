//! The Kinesis side as the relay and feed tests drive it: publishing a log
//! to a stream, and reading a stream back raw or through the feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_kinesis::feed::kinesis::KinesisShards;
use anote_kinesis::relay::aggregation::Packing;
use anote_kinesis::relay::kinesis::KinesisSink;
use anote_kinesis::relay::Relay;
use anote_store::db::PgDatabase;
use anote_store::event_store::{EventStore, Position, RecordedEvent};
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use aws_sdk_kinesis::Client;
use tokio::sync::watch;

use crate::db::settled;

/// Waits until `relay` has published up to `target`.
pub async fn wait_for_checkpoint(relay: &Relay, target: Position) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.checkpoint().await.expect("reads") < target {
        assert!(Instant::now() < deadline, "the relay did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a relay named `name` over the log of `db` (`events`) into Kinesis
/// stream `stream`, `batch` events at a time packed as `packing`, until it
/// has published the whole log; then stops it.
pub async fn publish_log(
    client: &Client,
    stream: &str,
    db: PgDatabase,
    events: Arc<dyn EventStore>,
    batch: usize,
    packing: Packing,
) {
    let sink = Arc::new(KinesisSink::new(client.clone(), stream));
    let relay = Relay::new("test", db, events.clone(), sink, batch).with_packing(packing);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn({
        let relay = relay.clone();
        async move { relay.run(Duration::from_millis(10), stopped).await }
    });
    wait_for_checkpoint(&relay, settled(events.as_ref()).await).await;
    stop.send(true).expect("stops");
    running.await.expect("relay ran");
}

/// Every record of every shard of stream `name`, shard after shard, each
/// shard's in order.
pub async fn shard_records(client: &Client, name: &str) -> Vec<Vec<Record>> {
    let shards = client
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .expect("lists shards");
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator()
            .map(str::to_owned);
        let mut records = Vec::new();
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .shard_iterator(it)
                .limit(1000)
                .send()
                .await
                .expect("records");
            records.extend(page.records().iter().cloned());
            let caught_up =
                page.records().is_empty() && page.millis_behind_latest().unwrap_or(0) == 0;
            iterator = (!caught_up)
                .then(|| page.next_shard_iterator().map(str::to_owned))
                .flatten();
        }
        out.push(records);
    }
    out
}

/// The first `count` events the feed reads from the first shard of
/// `shards` (pages of 100 records); fails after 30 s.
pub async fn read_through_feed(shards: &KinesisShards, count: usize) -> Vec<RecordedEvent> {
    let shard = shards.list().await.expect("lists").remove(0);
    let mut iterator = shards.iterator(&shard.id, None).await.expect("iterator");
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < count {
        assert!(
            Instant::now() < deadline,
            "the feed did not read every event"
        );
        let page = shards.read(&iterator, 100).await.expect("reads");
        read.extend(page.records.into_iter().map(|(_, event)| event));
        iterator = page.next.expect("an open shard");
    }
    read
}

/// The whole log as the stream carries it: in log order, without seals.
pub async fn published_form(events: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut logged = events
        .read_all(Position::START, 100_000)
        .await
        .expect("reads");
    for event in &mut logged {
        event.seal = None;
    }
    logged
}
