//! Applies the log to the read models in batches: one transaction per batch,
//! holding the view changes and the projector's checkpoint.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anote_domain::note::NoteEvent;
use anote_domain::{NoteId, UserId};
use anote_metrics as metrics;
use anote_read_store::{
    Applied, NoteView, ParkedStream, ProjectionBatch, ProjectionStore, ShardProgress, ShareChange,
};
use anote_store::event_store::shredding::{self, NoteKey};
use anote_store::event_store::{EventStore, Position, RecordedEvent};
use anote_store::StoreError;
use tokio::sync::{broadcast, watch};
use tracing::Instrument;
use uuid::Uuid;

use crate::projection::{project, share_change, Step};

/// The gauge of how far behind the log the projection is, in seconds.
pub const PROJECTION_LAG: &str = "anote_projection_lag_seconds";

/// Why projecting stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// Reading the log or writing the read models failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log lacks events that a stream's versions say must exist.
    #[error("stream {0} has a gap the log cannot fill")]
    Unfillable(String),
    /// An operator asked to retry a stream that is not parked.
    #[error("stream {0} is not parked")]
    NotParked(String),
}

impl ProjectorError {
    /// Whether the error is about one stream's events, so that trying again
    /// fails the same way: that stream is parked and the others go on.
    pub fn is_about_stream(&self) -> bool {
        match self {
            Self::Unfillable(_) => true,
            Self::NotParked(_) => false,
            Self::Store(err) => err.is_about_data(),
        }
    }
}

/// The note-view projector.
#[derive(Clone)]
pub struct Projector {
    name: String,
    events: Arc<dyn EventStore>,
    store: Arc<dyn ProjectionStore>,
    batch_size: usize,
    notices: Option<broadcast::Sender<Applied>>,
    /// Whether batches are fenced by the read models' generation.
    live: bool,
}

/// What a batch changes, gathered before it is written.
#[derive(Default)]
struct Work {
    /// The views the batch changed.
    views: HashMap<NoteId, NoteView>,
    /// Share-link changes in order, with their notes.
    shares: Vec<(NoteId, ShareChange)>,
    /// Users whose accounts were deleted.
    erased_owners: Vec<UserId>,
    /// Streams to park, with the event that failed.
    parking: HashMap<NoteId, ParkedStream>,
}

impl Work {
    /// The share-link changes of one note.
    fn shares_of(&self, id: NoteId) -> Vec<ShareChange> {
        self.shares
            .iter()
            .filter(|(note, _)| *note == id)
            .map(|(_, change)| change.clone())
            .collect()
    }

    /// The read-model changes, to apply in one transaction; the views move
    /// into the batch.
    fn take_batch(
        &mut self,
        checkpoint: Position,
        generation: Option<u64>,
        shard: Option<ShardProgress>,
    ) -> ProjectionBatch {
        ProjectionBatch {
            upserts: std::mem::take(&mut self.views).into_values().collect(),
            shares: self
                .shares
                .iter()
                .map(|(_, change)| change.clone())
                .collect(),
            erased_owners: self.erased_owners.clone(),
            parked: self.parking.values().cloned().collect(),
            unparked: Vec::new(),
            checkpoint,
            generation,
            shard,
        }
    }
}

/// Applies one event to the working views and collects its share-link
/// change; returns the version the view is at when events are missing.
fn apply_event(
    views: &mut HashMap<NoteId, NoteView>,
    shares: &mut Vec<(NoteId, ShareChange)>,
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
            shares.extend(share_change(&view, event, at).map(|change| (id, change)));
            views.insert(id, *view);
            None
        }
    }
}

/// The stream of `event` parked at it because of `err`.
fn parked_at(event: &RecordedEvent, err: &ProjectorError) -> ParkedStream {
    ParkedStream::new(&event.stream_id, event.position, event.stream_version, err)
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
        store: Arc<dyn ProjectionStore>,
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

    /// Applies a batch inside its `projector_batch` span: the projector's
    /// name, the number of events and the positions of the first and the
    /// last (none for an empty page of a caught-up shard).
    async fn apply_batch(
        &self,
        batch: &[RecordedEvent],
        checkpoint: Position,
        shard: Option<ShardProgress>,
    ) -> Result<(), ProjectorError> {
        let span = tracing::info_span!(
            "projector_batch",
            projector = %self.name,
            events = batch.len(),
            first = tracing::field::Empty,
            last = tracing::field::Empty,
        );
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            span.record("first", tracing::field::display(first.position));
            span.record("last", tracing::field::display(last.position));
        }
        self.project_batch(batch, checkpoint, shard)
            .instrument(span)
            .await
    }

    async fn project_batch(
        &self,
        batch: &[RecordedEvent],
        checkpoint: Position,
        shard: Option<ShardProgress>,
    ) -> Result<(), ProjectorError> {
        if !batch.is_empty() {
            self.show_lag(batch);
        }
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
        let streams: Vec<String> = ids.iter().map(|id| id.stream().to_string()).collect();
        let parked: HashSet<String> = self
            .store
            .parked(Some(&streams))
            .await?
            .into_iter()
            .map(|p| p.stream_id)
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
        let mut work = Work::default();
        let mut changed = HashSet::new();
        for recorded in batch {
            let Some(id) = note_of(recorded) else {
                if let Some(owner) = deleted_user(recorded) {
                    work.erased_owners.push(owner);
                }
                continue;
            };
            if parked.contains(recorded.stream_id.as_str()) || work.parking.contains_key(&id) {
                continue;
            }
            let before = views.get(&id).map(|v| v.version);
            let applied = self
                .apply_one(&mut views, &mut work.shares, id, recorded, keys.get(&id))
                .await;
            match applied {
                Ok(()) => {}
                Err(err) if err.is_about_stream() => {
                    work.parking.insert(id, parked_at(recorded, &err));
                }
                Err(err) => return Err(err),
            }
            if views.get(&id).map(|v| v.version) != before {
                changed.insert(id);
            }
        }
        work.views = changed
            .into_iter()
            .filter_map(|id| views.remove(&id).map(|v| (id, v)))
            .collect();
        let mut projection = work.take_batch(checkpoint, generation, shard);
        if let Err(err) = self.store.apply(&self.name, &projection).await {
            if !err.is_about_data() {
                return Err(err.into());
            }
            work.views = std::mem::take(&mut projection.upserts)
                .into_iter()
                .map(|v| (v.id, v))
                .collect();
            self.isolate(&mut work, generation, &err).await?;
            projection = work.take_batch(checkpoint, generation, projection.shard.take());
            self.store.apply(&self.name, &projection).await?;
        }
        self.report(&projection, seen).await;
        Ok(())
    }

    /// After a batch failed because of its data: applies each changed view
    /// alone (without moving the checkpoint) to find the streams at fault,
    /// and parks those, so that the rest of the batch can go on.
    async fn isolate(
        &self,
        work: &mut Work,
        generation: Option<u64>,
        batch_error: &StoreError,
    ) -> Result<(), ProjectorError> {
        tracing::warn!(projector = %self.name, error = %batch_error, "a batch failed on its data; finding the streams at fault");
        let ids: Vec<NoteId> = work.views.keys().copied().collect();
        for id in ids {
            let probe = ProjectionBatch {
                upserts: work.views.get(&id).cloned().into_iter().collect(),
                shares: work.shares_of(id),
                generation,
                ..ProjectionBatch::default()
            };
            match self.store.apply(&self.name, &probe).await {
                Ok(()) => {}
                Err(err) if err.is_about_data() => {
                    if let Some(view) = work.views.remove(&id) {
                        let park =
                            ParkedStream::new(&id.stream(), view.changed, view.version, &err);
                        work.parking.insert(id, park);
                    }
                    work.shares.retain(|(note, _)| *note != id);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Sets the projection lag: how long ago the newest event of `batch`
    /// was recorded; 0 for the empty batch of a caught-up log tail. (A
    /// Kinesis shard's empty page says nothing of the other shards, so
    /// there the gauge keeps the last batch's lag; a stalled reader shows in
    /// the stream's iterator age.)
    fn show_lag(&self, batch: &[RecordedEvent]) {
        let newest = batch.iter().map(|e| e.recorded_at).max();
        let lag = newest.map_or(0.0, |at| {
            (time::OffsetDateTime::now_utc() - at)
                .as_seconds_f64()
                .max(0.0)
        });
        metrics::gauge(
            PROJECTION_LAG,
            "Age of the newest event in the last batch applied (0 when caught up).",
            &[("projector", self.name.as_str())],
            lag,
        );
    }

    /// Counts an applied batch in the metrics, logs the streams it parked
    /// and tells readers in this process.
    async fn report(&self, batch: &ProjectionBatch, seen: u64) {
        let labels = [("projector", self.name.as_str())];
        metrics::count(
            "anote_projector_events_total",
            "Events the projector has seen.",
            &labels,
            seen,
        );
        #[allow(clippy::cast_precision_loss)]
        let seq = batch.checkpoint.seq() as f64;
        metrics::gauge(
            "anote_projector_checkpoint",
            "Global sequence of the last event applied.",
            &labels,
            seq,
        );
        if !batch.parked.is_empty() || !batch.unparked.is_empty() {
            for parked in &batch.parked {
                tracing::error!(projector = %self.name, stream = %parked.stream_id, version = parked.stream_version, error = %parked.error, "stream parked: its events are skipped until it is retried (anote parked retry)");
            }
            self.count_parked(&labels).await;
        }
        if let Some(notices) = &self.notices {
            // No receiver is fine: nobody caches.
            let _ = notices.send(Applied::of(batch));
        }
    }

    /// Sets the gauge of parked streams from the read models.
    async fn count_parked(&self, labels: &[(&str, &str)]) {
        match self.store.parked(None).await {
            #[allow(clippy::cast_precision_loss)]
            Ok(parked) => metrics::gauge(
                "anote_projector_parked_streams",
                "Streams set aside because one of their events keeps failing.",
                labels,
                parked.len() as f64,
            ),
            Err(err) => tracing::warn!(error = %err, "could not count the parked streams"),
        }
    }

    /// The parked streams, oldest first.
    pub async fn parked(&self) -> Result<Vec<ParkedStream>, ProjectorError> {
        Ok(self.store.parked(None).await?)
    }

    /// Projects a parked stream again from the log, from its view's version
    /// to the stream's end. When every event applies, the stream is unparked
    /// in the same transaction (and events that arrived meanwhile are
    /// applied after it); otherwise it stays parked with the new error, which
    /// is returned.
    pub async fn retry(&self, stream: &str) -> Result<(), ProjectorError> {
        let not_parked = || ProjectorError::NotParked(stream.to_owned());
        let id = stream
            .strip_prefix("note-")
            .and_then(|id| Uuid::parse_str(id).ok())
            .map(NoteId::from_uuid)
            .ok_or_else(not_parked)?;
        if self
            .store
            .parked(Some(&[stream.to_owned()]))
            .await?
            .is_empty()
        {
            return Err(not_parked());
        }
        self.reproject(id, true).await?;
        // Events the live projector skipped while the stream was parked.
        self.reproject(id, false).await
    }

    /// Applies the log's events of one note after its view's version in one
    /// batch that leaves the checkpoint where it is; with `unpark`, the
    /// stream is unparked in it. A failure about the stream parks it again
    /// and is returned.
    async fn reproject(&self, id: NoteId, unpark: bool) -> Result<(), ProjectorError> {
        let generation = match self.live {
            true => Some(self.store.generation().await?),
            false => None,
        };
        let mut views: HashMap<NoteId, NoteView> = self
            .store
            .views(&[id])
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let have = views.get(&id).map_or(0, |v| v.version);
        let key = self.events.note_keys(&[id]).await?.remove(&id);
        let mut work = Work::default();
        let mut failure = None;
        for recorded in self.events.read_stream(&id.stream(), have).await? {
            let applied = self
                .apply_one(&mut views, &mut work.shares, id, &recorded, key.as_ref())
                .await;
            if let Err(err) = applied {
                if !err.is_about_stream() {
                    return Err(err);
                }
                work.parking.insert(id, parked_at(&recorded, &err));
                failure = Some(err);
                break;
            }
        }
        if failure.is_none() && views.get(&id).map_or(0, |v| v.version) == have && !unpark {
            return Ok(());
        }
        work.views = views;
        let mut batch = work.take_batch(Position::START, generation, None);
        if unpark && failure.is_none() {
            batch.unparked.push(id.stream().to_string());
        }
        if let Err(err) = self.store.apply(&self.name, &batch).await {
            if !err.is_about_data() {
                return Err(err.into());
            }
            let view = batch.upserts.iter().find(|v| v.id == id);
            let (position, version) =
                view.map_or((Position::START, have), |v| (v.changed, v.version));
            let park = ParkedStream::new(&id.stream(), position, version, &err);
            let batch = ProjectionBatch {
                parked: vec![park],
                generation,
                ..ProjectionBatch::default()
            };
            self.store.apply(&self.name, &batch).await?;
            self.report(&batch, 0).await;
            return Err(err.into());
        }
        self.report(&batch, 0).await;
        failure.map_or(Ok(()), Err)
    }

    /// Applies one note event to the working views, filling a gap from the
    /// log first.
    async fn apply_one(
        &self,
        views: &mut HashMap<NoteId, NoteView>,
        shares: &mut Vec<(NoteId, ShareChange)>,
        id: NoteId,
        recorded: &RecordedEvent,
        key: Option<&NoteKey>,
    ) -> Result<(), ProjectorError> {
        let (event, _) = shredding::decode_note(recorded, key)?;
        if let Some(have) = apply_event(views, shares, id, &event, recorded) {
            self.fill_gap(views, shares, id, recorded, have).await?;
        }
        Ok(())
    }

    /// Applies the events of `until`'s stream after version `have`, up to and
    /// including `until`, read from the log.
    async fn fill_gap(
        &self,
        views: &mut HashMap<NoteId, NoteView>,
        shares: &mut Vec<(NoteId, ShareChange)>,
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
            self.show_lag(&batch);
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
