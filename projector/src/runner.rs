//! Applies the log to the read models in batches: one transaction per batch,
//! holding the view changes and the projector's checkpoint.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anote_domain::note::NoteEvent;
use anote_domain::{NoteId, UserId};
use anote_infra::event_store::{shredding, EventStore, Position, RecordedEvent};
use anote_infra::read_store::{
    Applied, NoteView, ProjectionBatch, ReadStore, ShardProgress, ShareChange,
};
use anote_infra::{metrics, StoreError};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::projection::{project, share_change, Step};

/// Why projecting stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// Reading the log or writing the read models failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log lacks events that a stream's versions say must exist.
    #[error("stream {0} has a gap the log cannot fill")]
    Unfillable(String),
}

/// The note-view projector.
#[derive(Clone)]
pub struct Projector {
    name: String,
    events: Arc<dyn EventStore>,
    store: Arc<dyn ReadStore>,
    batch_size: usize,
    notices: Option<broadcast::Sender<Applied>>,
    /// Whether batches are fenced by the read models' generation.
    live: bool,
}

/// Applies one event to the working views and collects its share-link
/// change; returns the version the view is at when events are missing.
fn apply_event(
    views: &mut HashMap<NoteId, NoteView>,
    shares: &mut Vec<ShareChange>,
    id: NoteId,
    event: &NoteEvent,
    recorded: &RecordedEvent,
) -> Option<u64> {
    let at = recorded.recorded_at;
    match project(views.get(&id), id, event, recorded.stream_version, at) {
        Step::Skip => None,
        Step::Gap { have } => Some(have),
        Step::Apply(mut view) => {
            view.changed = recorded.position;
            shares.extend(share_change(&view, event, at));
            views.insert(id, *view);
            None
        }
    }
}

/// The note id of a `note-<uuid>` stream.
fn note_of(event: &RecordedEvent) -> Option<NoteId> {
    let id = event.stream_id.as_str().strip_prefix("note-")?;
    Uuid::parse_str(id).ok().map(NoteId::from_uuid)
}

/// The user whose account an event deletes, if it does.
fn deleted_user(event: &RecordedEvent) -> Option<UserId> {
    if event.event_type != "UserDeleted" {
        return None;
    }
    let id = event.stream_id.as_str().strip_prefix("user-")?;
    Uuid::parse_str(id).ok().map(UserId::from_uuid)
}

impl Projector {
    /// A projector named `name` (its checkpoint's key), reading missing events
    /// from `events` and writing to `store`, `batch_size` events at a time.
    pub fn new(
        name: &str,
        events: Arc<dyn EventStore>,
        store: Arc<dyn ReadStore>,
        batch_size: usize,
    ) -> Self {
        Self {
            name: name.to_owned(),
            events,
            store,
            batch_size: batch_size.max(1),
            notices: None,
            live: true,
        }
    }

    /// For read models that are not live yet (a rebuild): batches are not
    /// fenced by a generation, so they can run while a switch holds the
    /// live models' lock.
    pub fn building(mut self) -> Self {
        self.live = false;
        self
    }

    /// Also announces each applied batch on `notices`, for readers in the
    /// same process (PostgreSQL read stores announce through NOTIFY anyway).
    pub fn with_notices(mut self, notices: broadcast::Sender<Applied>) -> Self {
        self.notices = Some(notices);
        self
    }

    /// Applies a batch of events from any feed, in order, and moves the
    /// checkpoint to `checkpoint`, in one transaction. Duplicates and older
    /// events change nothing; a gap is filled from the log first.
    pub async fn apply(
        &self,
        batch: &[RecordedEvent],
        checkpoint: Position,
    ) -> Result<(), ProjectorError> {
        self.apply_batch(batch, checkpoint, None).await
    }

    /// Applies a batch read from a Kinesis shard, with the shard's progress;
    /// fails with a lost lease if another projector took the shard.
    pub async fn apply_shard(
        &self,
        batch: &[RecordedEvent],
        progress: ShardProgress,
    ) -> Result<(), ProjectorError> {
        let newest = batch
            .iter()
            .map(|e| e.position)
            .max()
            .unwrap_or(Position::START);
        self.apply_batch(batch, newest, Some(progress)).await
    }

    async fn apply_batch(
        &self,
        batch: &[RecordedEvent],
        checkpoint: Position,
        shard: Option<ShardProgress>,
    ) -> Result<(), ProjectorError> {
        let seen = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        // Read before the views: if the models are switched after this, the
        // batch is refused rather than landing on views it was not built from.
        let generation = match self.live {
            true => Some(self.store.generation().await?),
            false => None,
        };
        let ids: Vec<NoteId> = batch
            .iter()
            .filter_map(note_of)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut views: HashMap<NoteId, NoteView> = self
            .store
            .views(&ids)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        // Content is read through the notes' keys (a purged note has none).
        let keys = self.events.note_keys(&ids).await?;
        let mut changed = HashSet::new();
        let mut shares = Vec::new();
        let mut erased_owners = Vec::new();
        for recorded in batch {
            let Some(id) = note_of(recorded) else {
                if let Some(owner) = deleted_user(recorded) {
                    erased_owners.push(owner);
                }
                continue;
            };
            let (event, _) = shredding::decode_note(recorded, keys.get(&id))?;
            let before = views.get(&id).map(|v| v.version);
            if let Some(have) = apply_event(&mut views, &mut shares, id, &event, recorded) {
                self.fill_gap(&mut views, &mut shares, id, recorded, have)
                    .await?;
            }
            if views.get(&id).map(|v| v.version) != before {
                changed.insert(id);
            }
        }
        let upserts = changed
            .into_iter()
            .filter_map(|id| views.remove(&id))
            .collect();
        let batch = ProjectionBatch {
            upserts,
            shares,
            erased_owners,
            checkpoint,
            generation,
            shard,
        };
        let notice = Applied::of(&batch);
        self.store.apply(&self.name, batch).await?;
        let labels = [("projector", self.name.as_str())];
        metrics::count(
            "anote_projector_events_total",
            "Events the projector has seen.",
            &labels,
            seen,
        );
        #[allow(clippy::cast_precision_loss)]
        let seq = checkpoint.seq() as f64;
        metrics::gauge(
            "anote_projector_checkpoint",
            "Global sequence of the last event applied.",
            &labels,
            seq,
        );
        if let Some(notices) = &self.notices {
            // No receiver is fine: nobody caches.
            let _ = notices.send(notice);
        }
        Ok(())
    }

    /// Applies the events of `until`'s stream after version `have`, up to and
    /// including `until`, read from the log.
    async fn fill_gap(
        &self,
        views: &mut HashMap<NoteId, NoteView>,
        shares: &mut Vec<ShareChange>,
        id: NoteId,
        until: &RecordedEvent,
        have: u64,
    ) -> Result<(), ProjectorError> {
        let unfillable = || ProjectorError::Unfillable(until.stream_id.to_string());
        let key = self.events.note_keys(&[id]).await?.remove(&id);
        for recorded in self.events.read_stream(&until.stream_id, have).await? {
            if recorded.stream_version > until.stream_version {
                break;
            }
            let (event, _) = shredding::decode_note(&recorded, key.as_ref())?;
            if apply_event(views, shares, id, &event, &recorded).is_some() {
                return Err(unfillable());
            }
        }
        match views.get(&id) {
            Some(view) if view.version >= until.stream_version => Ok(()),
            _ => Err(unfillable()),
        }
    }

    /// Projects the next batch of the log after `after`; returns the new
    /// checkpoint, or `None` when the log has nothing new.
    pub async fn step(&self, after: Position) -> Result<Option<Position>, ProjectorError> {
        let batch = self.events.read_all(after, self.batch_size).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(None);
        };
        self.apply(&batch, last).await?;
        Ok(Some(last))
    }

    /// Projects the log from the stored checkpoint until a read comes back
    /// short of a batch: then every event committed before that read is
    /// applied. Returns the position reached; `progress` is told after each
    /// batch.
    pub async fn catch_up(
        &self,
        mut progress: impl FnMut(Position),
    ) -> Result<Position, ProjectorError> {
        let mut after = self.store.checkpoint(&self.name).await?;
        loop {
            let batch = self.events.read_all(after, self.batch_size).await?;
            if let Some(last) = batch.last().map(|e| e.position) {
                self.apply(&batch, last).await?;
                after = last;
                progress(after);
            }
            if batch.len() < self.batch_size {
                return Ok(after);
            }
        }
    }

    /// Tails the log until `stop` turns true, sleeping `idle` when caught up.
    /// A failed batch is retried after a pause; nothing is skipped. After a
    /// switch to new read models it goes on from their checkpoint.
    pub async fn run_log_tail(&self, idle: Duration, mut stop: watch::Receiver<bool>) {
        let mut after: Option<Position> = None;
        while !*stop.borrow() {
            let progressed = match after {
                None => self
                    .store
                    .checkpoint(&self.name)
                    .await
                    .map_err(ProjectorError::from)
                    .map(|start| {
                        after = Some(start);
                        true
                    }),
                Some(position) => self.step(position).await.map(|next| {
                    after = next.or(after);
                    next.is_some()
                }),
            };
            let pause = match progressed {
                Ok(true) => continue,
                Ok(false) => idle,
                Err(ProjectorError::Store(StoreError::Switched)) => {
                    tracing::info!(projector = %self.name, "read models switched; going on from their checkpoint");
                    after = None;
                    continue;
                }
                Err(err) => {
                    tracing::error!(projector = %self.name, error = %err, "projection failed; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
