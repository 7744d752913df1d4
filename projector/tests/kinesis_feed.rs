//! The whole read path through Kinesis: event log → relay → Kinesis emulator
//! → projector instances holding shard leases → read models in PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::note::{self, NewNote, Note, NoteAction, NoteCommand};
use anote_domain::values::{Body, Tags, Title};
use anote_domain::{NoteId, UserId};
use anote_kinesis::feed::kinesis::{KinesisShards, Leases};
use anote_kinesis::record::kpl;
use anote_kinesis::relay::aggregation::Packing;
use anote_kinesis::relay::kinesis::KinesisSink;
use anote_kinesis::relay::{Relay, KINESIS_RELAY};
use anote_projector::kinesis_feed::{FeedSettings, KinesisFeed};
use anote_projector::Projector;
use anote_read_store::{PgReadStore, ReadStore};
use anote_store::db::PgDatabase;
use anote_store::event_store::{codec, Append, EventStore, Metadata, PgEventStore, Position};
use anote_testkit::db::{pg_event_log, pg_read_models};
use anote_testkit::env::{fresh_schema, fresh_stream, kinesis_client};
use aws_sdk_kinesis::Client;
use tokio::sync::watch;
use uuid::Uuid;

const PROJECTOR: &str = "note_views";

/// A log, read models, a fresh Kinesis stream, and a running relay.
struct Pipeline {
    log: PgDatabase,
    events: Arc<dyn EventStore>,
    read: PgDatabase,
    reads: Arc<dyn ReadStore>,
    client: Client,
    stream: String,
    stop_relay: watch::Sender<bool>,
}

impl Pipeline {
    async fn start(shards: i32) -> Self {
        let schema = fresh_schema();
        let log = pg_event_log(&schema, 8).await;
        let read = pg_read_models(&format!("{schema}_read"), 8).await;
        let events: Arc<dyn EventStore> = Arc::new(PgEventStore::new(log.clone()));
        let client = kinesis_client();
        let stream = fresh_stream(&client, shards).await;
        let relay = Relay::new(
            KINESIS_RELAY,
            log.clone(),
            events.clone(),
            Arc::new(KinesisSink::new(client.clone(), &stream)),
            500,
        )
        .with_packing(Packing::Kpl);
        let (stop_relay, relay_stopped) = watch::channel(false);
        tokio::spawn(async move { relay.run(Duration::from_millis(10), relay_stopped).await });
        Self {
            log,
            events,
            reads: Arc::new(PgReadStore::new(read.clone())),
            read,
            client,
            stream,
            stop_relay,
        }
    }

    /// A projector instance; returns its stop switch and its lease table view.
    fn instance(&self, name: &str) -> (watch::Sender<bool>, Leases, tokio::task::JoinHandle<()>) {
        let projector = Projector::new(PROJECTOR, self.events.clone(), self.reads.clone(), 500);
        let leases = Leases::new(
            self.read.clone(),
            &self.stream,
            name,
            Duration::from_millis(1_500),
        );
        let settings = FeedSettings {
            lease_ttl: Duration::from_millis(1_500),
            batch: 500,
            idle: Duration::from_millis(50),
        };
        let feed = KinesisFeed::new(
            projector,
            KinesisShards::new(self.client.clone(), &self.stream, self.events.clone()),
            leases.clone(),
            self.log.clone(),
            settings,
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move { feed.run(stopped).await });
        (stop, leases, task)
    }

    async fn wait_for(&self, position: Position) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.reads.checkpoint(PROJECTOR).await.expect("reads") < position {
            assert!(
                Instant::now() < deadline,
                "the read models never reached {position}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Creates `notes` notes and edits each `edits` times; returns the states and the last position.
async fn write(
    events: &dyn EventStore,
    owner: UserId,
    notes: usize,
    edits: usize,
) -> (HashMap<NoteId, (Note, u64)>, Position) {
    let mut state: HashMap<NoteId, (Note, u64)> = HashMap::new();
    let mut last = Position::START;
    let ids: Vec<NoteId> = (0..notes).map(|_| NoteId::new()).collect();
    for round in 0..=edits {
        for id in &ids {
            let action = if round == 0 {
                NoteAction::Create(NewNote {
                    title: Title::parse("t").expect("valid"),
                    body: Body::parse("b").expect("valid"),
                    subject: None,
                    tags: Tags::default(),
                    due_at: None,
                })
            } else {
                NoteAction::Edit {
                    title: None,
                    body: Body::parse(&format!("revision {round}")).ok(),
                }
            };
            let (current, version) = state.get(id).cloned().unwrap_or_default();
            let decided = note::decide(
                &current,
                NoteCommand {
                    actor: owner,
                    action,
                },
            )
            .expect("allowed");
            let append = Append {
                stream: id.stream(),
                expected_version: version,
                events: decided
                    .iter()
                    .map(codec::encode)
                    .collect::<Result<_, _>>()
                    .expect("encodes"),
                metadata: Metadata::for_request(Some(owner), Uuid::new_v4()),
                side_writes: Vec::new(),
            };
            let appended = events.append(append).await.expect("appends");
            last = appended.position;
            state.insert(
                *id,
                (decided.iter().fold(current, note::evolve), appended.version),
            );
        }
    }
    (state, last)
}

async fn assert_views_match(
    reads: &dyn ReadStore,
    owner: UserId,
    state: &HashMap<NoteId, (Note, u64)>,
) {
    for (id, (note, version)) in state {
        let view = reads
            .note(owner, *id)
            .await
            .expect("reads")
            .expect("projected");
        let live = note.live().expect("live");
        assert_eq!(
            (view.version, view.body.as_str()),
            (*version, live.body().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_reaches_the_read_models_through_kinesis() {
    let pipeline = Pipeline::start(4).await;
    let (stop, _, task) = pipeline.instance("only");
    let owner = UserId::new();
    let (state, last) = write(pipeline.events.as_ref(), owner, 24, 5).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &state).await;

    // Later writes arrive too, and an idle projector stays caught up.
    let (more, last) = write(pipeline.events.as_ref(), owner, 6, 2).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &more).await;
    stop.send(true).expect("stops");
    task.await.expect("feed ran");
    pipeline.stop_relay.send(true).expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_that_does_not_decode_stops_nothing() {
    let pipeline = Pipeline::start(1).await;
    let mut damaged = kpl::Aggregate::default();
    damaged.push("garbage", b"{}".to_vec());
    damaged.push("garbage", b"{}".to_vec());
    let mut damaged = damaged.into_bytes();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    for garbage in [
        &b"not an envelope"[..],
        &b"\xf3\x89\x9a\xc2\x00\x01"[..],
        &damaged[..],
    ] {
        pipeline
            .client
            .put_record()
            .stream_name(&pipeline.stream)
            .partition_key("garbage")
            .data(aws_sdk_kinesis::primitives::Blob::new(garbage))
            .send()
            .await
            .expect("puts");
    }
    let (stop, _, task) = pipeline.instance("only");
    let owner = UserId::new();
    let (state, last) = write(pipeline.events.as_ref(), owner, 8, 2).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &state).await;
    stop.send(true).expect("stops");
    task.await.expect("feed ran");
    pipeline.stop_relay.send(true).expect("stops");
}

async fn wait_for_holders(
    leases: &Leases,
    ok: impl Fn(&[(String, Option<String>)]) -> bool,
) -> Vec<(String, Option<String>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let holders = leases.holders().await.expect("reads");
        if ok(&holders) {
            return holders;
        }
        assert!(
            Instant::now() < deadline,
            "leases never settled: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_split_the_shards_and_a_survivor_takes_over() {
    let pipeline = Pipeline::start(4).await;
    let (_stop_a, leases, task_a) = pipeline.instance("a");
    let (stop_b, _, task_b) = pipeline.instance("b");
    let owned_by = |holders: &[(String, Option<String>)], who: &str| {
        holders
            .iter()
            .filter(|(_, o)| o.as_deref() == Some(who))
            .count()
    };
    wait_for_holders(&leases, |h| owned_by(h, "a") == 2 && owned_by(h, "b") == 2).await;

    let owner = UserId::new();
    let (state, last) = write(pipeline.events.as_ref(), owner, 16, 2).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &state).await;

    // "a" dies without giving its leases back; "b" takes them when they expire.
    task_a.abort();
    wait_for_holders(&leases, |h| owned_by(h, "b") == 4).await;
    let (more, last) = write(pipeline.events.as_ref(), owner, 16, 2).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &more).await;
    stop_b.send(true).expect("stops");
    task_b.await.expect("feed ran");
    pipeline.stop_relay.send(true).expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_shard_is_read_to_its_end_before_its_children() {
    let pipeline = Pipeline::start(1).await;
    let (stop, leases, task) = pipeline.instance("only");
    let owner = UserId::new();
    let (before, last) = write(pipeline.events.as_ref(), owner, 8, 2).await;
    pipeline.wait_for(last).await;

    // Split the only shard in two; the parent closes, the children open.
    let parent = pipeline
        .client
        .list_shards()
        .stream_name(&pipeline.stream)
        .send()
        .await
        .expect("lists");
    let parent = parent.shards()[0].shard_id().to_owned();
    pipeline
        .client
        .split_shard()
        .stream_name(&pipeline.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key((u128::MAX / 2).to_string())
        .send()
        .await
        .expect("splits");
    let (after, last) = write(pipeline.events.as_ref(), owner, 8, 2).await;
    pipeline.wait_for(last).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &before).await;
    assert_views_match(pipeline.reads.as_ref(), owner, &after).await;
    let holders = wait_for_holders(&leases, |h| {
        h.len() == 2 && h.iter().all(|(_, o)| o.as_deref() == Some("only"))
    })
    .await;
    assert!(
        holders.iter().all(|(shard, _)| *shard != parent),
        "the parent is finished: {holders:?}"
    );
    stop.send(true).expect("stops");
    task.await.expect("feed ran");
    pipeline.stop_relay.send(true).expect("stops");
}
