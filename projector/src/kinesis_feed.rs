//! The Kinesis feed: each projector instance holds leases on some shards of
//! the relay's stream and applies their records; together the instances
//! cover every shard, a child shard only after its parents are finished.

use std::collections::HashMap;
use std::time::Duration;

use anote_kinesis::feed::kinesis::{HeldLease, KinesisShards, Leases};
use anote_kinesis::relay;
use anote_read_store::ShardProgress;
use anote_store::db::PgDatabase;
use anote_store::event_store::Position;
use anote_store::StoreError;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::runner::{Projector, ProjectorError};

/// Settings of a Kinesis feed.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Records per `GetRecords` call.
    pub batch: i32,
    /// Pause after a read that found nothing.
    pub idle: Duration,
}

/// One projector instance reading Kinesis.
#[derive(Clone)]
pub struct KinesisFeed {
    projector: Projector,
    shards: KinesisShards,
    leases: Leases,
    /// The event-log database, for the relay's checkpoint.
    log: PgDatabase,
    settings: FeedSettings,
}

impl KinesisFeed {
    /// A feed applying `shards` through `projector`, holding `leases`.
    pub fn new(
        projector: Projector,
        shards: KinesisShards,
        leases: Leases,
        log: PgDatabase,
        settings: FeedSettings,
    ) -> Self {
        Self {
            projector,
            shards,
            leases,
            log,
            settings,
        }
    }

    /// Runs until `stop` turns true: keeps the leases (renewing, claiming,
    /// giving back above the fair share) and reads each held shard. Runs in
    /// the `kinesis_feed` span (the stream and this instance's name), each
    /// shard's reader in a `shard` span within it.
    pub async fn run(&self, stop: watch::Receiver<bool>) {
        let span = tracing::info_span!(
            "kinesis_feed",
            stream = %self.shards.stream(),
            owner = %self.leases.owner(),
        );
        self.keep_leases(stop).instrument(span).await;
    }

    async fn keep_leases(&self, mut stop: watch::Receiver<bool>) {
        let mut readers: HashMap<String, JoinHandle<()>> = HashMap::new();
        while !*stop.borrow() {
            if let Err(err) = self.tend(&mut readers).await {
                tracing::warn!(error = %err, "shard leases could not be tended");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.lease_ttl / 3) => {}
                _ = stop.changed() => {}
            }
        }
        for (_, reader) in readers.drain() {
            reader.abort();
        }
        if let Err(err) = self.leases.release().await {
            tracing::warn!(error = %err, "shard leases could not be given back");
        }
    }

    /// One round of lease keeping.
    async fn tend(&self, readers: &mut HashMap<String, JoinHandle<()>>) -> Result<(), StoreError> {
        // Renewed first: listing the shards is a call to Kinesis, and a slow
        // one must not let the leases lapse (readers restarting from their
        // checkpoints over and over would never catch up).
        let held = self.leases.renew().await?;
        readers.retain(|shard, reader| {
            let keep = held.contains(shard) && !reader.is_finished();
            if !keep {
                reader.abort();
            }
            keep
        });
        // A held shard whose reader stopped (its lease lapsed for a moment,
        // say): read on from its checkpoint.
        let orphans: Vec<&String> = held.iter().filter(|s| !readers.contains_key(*s)).collect();
        for shard in orphans {
            let lease = self.leases.checkpoint(shard).await?;
            self.start_reader(readers, lease);
        }
        self.leases.sync(&self.shards.list().await?).await?;
        for lease in self.leases.claim().await? {
            tracing::info!(shard = %lease.shard_id, owner = %self.leases.owner(), "shard lease taken");
            self.start_reader(readers, lease);
        }
        Ok(())
    }

    /// Reads the shard of `lease` in the background, in its `shard` span.
    fn start_reader(&self, readers: &mut HashMap<String, JoinHandle<()>>, lease: HeldLease) {
        let feed = self.clone();
        let shard = lease.shard_id.clone();
        let span = tracing::info_span!("shard", shard = %shard);
        let reader = async move { feed.read_shard(lease).await };
        readers.insert(shard, tokio::spawn(reader.instrument(span)));
    }

    /// Reads one shard from its checkpoint until it ends or the lease is
    /// lost; after a switch to new read models, from their checkpoint.
    async fn read_shard(&self, lease: HeldLease) {
        let shard = lease.shard_id.clone();
        let mut outcome = self.follow(lease).await;
        while let Err(ProjectorError::Store(StoreError::Switched)) = outcome {
            tracing::info!(%shard, "read models switched; reading on from their checkpoint");
            outcome = match self.leases.checkpoint(&shard).await {
                Ok(held) => self.follow(held).await,
                Err(err) => Err(err.into()),
            };
        }
        match outcome {
            Ok(()) => tracing::info!(%shard, "shard finished"),
            Err(ProjectorError::Store(StoreError::LeaseLost(_))) => {
                tracing::info!(%shard, "shard lease lost");
            }
            Err(err) => {
                tracing::error!(%shard, error = %err, "shard reading stopped; it will be taken up again")
            }
        }
    }

    async fn follow(&self, lease: HeldLease) -> Result<(), ProjectorError> {
        let mut sequence = lease.sequence;
        let mut iterator = self
            .shards
            .iterator(&lease.shard_id, sequence.as_deref())
            .await?;
        loop {
            let span = tracing::info_span!(
                "shard_page",
                events = tracing::field::Empty,
                sequence = tracing::field::Empty,
                caught_up = tracing::field::Empty,
            );
            let read = self.apply_page(&lease.shard_id, &iterator, &mut sequence);
            let (next, idle) = read.instrument(span).await?;
            match next {
                None => return Ok(()),
                Some(next) => iterator = next,
            }
            if idle {
                tokio::time::sleep(self.settings.idle).await;
            }
        }
    }

    /// Reads one page of `shard` at `iterator` and applies it, moving
    /// `sequence` to its last record; records in the current (`shard_page`)
    /// span how many events the page held, its last sequence number and
    /// whether it was caught up with the shard's newest record. Returns the next iterator (`None`
    /// at the end of a closed shard) and whether the page was empty.
    async fn apply_page(
        &self,
        shard: &str,
        iterator: &str,
        sequence: &mut Option<String>,
    ) -> Result<(Option<String>, bool), ProjectorError> {
        // Read before the records: everything published by then that
        // went to this shard is in them if the shard is caught up.
        let published: Position = relay::published(&self.log, relay::KINESIS_RELAY).await?;
        let page = self.shards.read(iterator, self.settings.batch).await?;
        if let Some((last, _)) = page.records.last() {
            *sequence = Some(last.clone());
        }
        let span = tracing::Span::current();
        span.record("events", page.records.len());
        span.record("caught_up", page.caught_up);
        if let Some(sequence) = sequence.as_deref() {
            span.record("sequence", sequence);
        }
        let events: Vec<_> = page.records.into_iter().map(|(_, event)| event).collect();
        let progress = ShardProgress {
            stream: self.shards.stream().to_owned(),
            shard_id: shard.to_owned(),
            owner: self.leases.owner().to_owned(),
            sequence: sequence.clone(),
            caught_up_to: page.caught_up.then_some(published),
            finished: page.next.is_none(),
        };
        let idle = events.is_empty();
        self.projector.apply_shard(&events, progress).await?;
        Ok((page.next, idle))
    }
}

/// The lease owner name of this process: host and a random suffix.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "projector".to_owned());
    format!("{host}-{}", uuid::Uuid::new_v4().simple())
}
