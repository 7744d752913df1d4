//! The command path for notes: load the note, decide, append.
//!
//! Recent states are kept in memory (moka, keyed by note, tagged with their
//! version), so a command on a hot note costs one round trip to the log: the
//! append itself. The cache may be behind another instance's writes; the
//! append's optimistic lock finds that out, and the note is then reloaded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::note::{self, Note, NoteAction, NoteCommand, NoteData, NoteEvent};
use anote_domain::{DomainError, NoteId, UserId};
use anote_store::documents::LedgerWrite;
use anote_store::event_store::shredding::{self, NoteKey};
use anote_store::event_store::{
    codec, Append, EventStore, Metadata, NewEvent, Position, SideWrite, StoredReply,
};
use anote_store::StoreError;
use moka::sync::Cache;
use rand::Rng;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::CommandError;

/// How long a command without `If-Match` is decided again while other
/// writers keep getting in first, before it is answered with a retryable
/// `write_contention` (well within the default request timeout).
const CONTENTION_BUDGET: Duration = Duration::from_secs(5);

/// The longest pause between two attempts of a contended command.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// A note's state at a version.
#[derive(Clone, Debug)]
struct Loaded {
    state: Note,
    version: u64,
    position: Position,
    /// The note's data key, while it has one.
    key: Option<NoteKey>,
    /// Whether content sealed under a key that is gone was found: the note
    /// was erased (its owner's account deleted) and is gone for good.
    erased: bool,
}

impl Loaded {
    /// The note, if it is live and the actor's.
    fn owned_by(&self, actor: UserId) -> Option<&NoteData> {
        self.state
            .live()
            .filter(|note| !self.erased && note.owner() == actor)
    }
}

/// What a note command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The note.
    pub id: NoteId,
    /// Its version afterwards.
    pub version: u64,
    /// The position of its last event.
    pub position: Position,
}

/// How document events change the document ledger.
#[derive(Clone, Copy, Debug)]
pub struct LedgerPolicy {
    /// The bytes one user may hold.
    pub quota: u64,
    /// How long after its request an upload never completed is abandoned.
    pub abandon_after: Duration,
}

/// Runs note commands against the log.
#[derive(Clone)]
pub struct NoteCommands {
    events: Arc<dyn EventStore>,
    cache: Cache<NoteId, Arc<Loaded>>,
    ledger: LedgerPolicy,
}

impl NoteCommands {
    /// A command path over this log, caching up to `capacity` notes, keeping
    /// the document ledger by `ledger`.
    pub fn new(events: Arc<dyn EventStore>, capacity: u64, ledger: LedgerPolicy) -> Self {
        Self {
            events,
            cache: Cache::new(capacity),
            ledger,
        }
    }

    /// The caller's live note as the log has it now (not as cached).
    pub async fn current(&self, id: NoteId, actor: UserId) -> Result<NoteData, CommandError> {
        let loaded = self.catch_up(id, self.cache.get(&id)).await?;
        loaded
            .owned_by(actor)
            .cloned()
            .ok_or(CommandError::NoteNotFound)
    }

    /// Brings a (possibly cached) state up to date with the log.
    async fn catch_up(
        &self,
        id: NoteId,
        from: Option<Arc<Loaded>>,
    ) -> Result<Arc<Loaded>, CommandError> {
        let mut loaded = from.map_or_else(
            || Loaded {
                state: Note::Absent,
                version: 0,
                position: Position::START,
                key: None,
                erased: false,
            },
            |l| l.as_ref().clone(),
        );
        let recorded_events = self
            .events
            .read_stream(&id.stream(), loaded.version)
            .await?;
        if loaded.key.is_none() && !recorded_events.is_empty() {
            loaded.key = self.events.note_keys(&[id]).await?.remove(&id);
        }
        for recorded in recorded_events {
            let (event, erased) = shredding::decode_note(&recorded, loaded.key.as_ref())?;
            loaded.erased |= erased;
            loaded.state = note::evolve(loaded.state, &event);
            loaded.version = recorded.stream_version;
            loaded.position = recorded.position;
        }
        let loaded = Arc::new(loaded);
        self.cache.insert(id, loaded.clone());
        Ok(loaded)
    }

    async fn load(&self, id: NoteId, expected: Option<u64>) -> Result<Arc<Loaded>, CommandError> {
        match self.cache.get(&id) {
            Some(cached) if expected.is_none_or(|v| v <= cached.version) => Ok(cached),
            cached => self.catch_up(id, cached).await,
        }
    }

    /// Runs `command` on note `id`. With `expected`, the note must be at that
    /// version; without, a command other than a creation is decided again
    /// (after a short random pause) as long as another writer gets in first,
    /// for up to [`CONTENTION_BUDGET`], and then answered with the retryable
    /// `write_contention`, never with `version_mismatch`. With `remember`,
    /// the reply is stored with the events under its idempotency key.
    /// A command sent by a user (the metadata names an actor) commits only
    /// while that user's account is open, so a deleted account writes
    /// nothing and creates no key.
    pub async fn execute(
        &self,
        id: NoteId,
        expected: Option<u64>,
        command: NoteCommand,
        metadata: Metadata,
        remember: Option<StoredReply>,
    ) -> Result<Outcome, CommandError> {
        let creating = matches!(command.action, NoteAction::Create(_));
        let mut loaded = self.load(id, expected).await?;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(1);
        loop {
            let owned = loaded.owned_by(command.actor).is_some();
            if loaded.erased {
                // Sealed under a key that is gone: nothing may write to it
                // again, or it would get a key of its own.
                return Err(CommandError::NoteNotFound);
            }
            if let Some(expected) = expected {
                if !owned {
                    return Err(CommandError::NoteNotFound);
                }
                if expected != loaded.version {
                    return Err(CommandError::VersionMismatch {
                        current: loaded.version,
                    });
                }
            }
            let events = note::decide(&loaded.state, command.clone())?;
            if events.is_empty() {
                return Ok(Outcome {
                    id,
                    version: loaded.version,
                    position: loaded.position,
                });
            }
            let mut side_writes: Vec<SideWrite> = remember
                .iter()
                .cloned()
                .map(SideWrite::RememberReply)
                .collect();
            if let Some(user_id) = metadata.actor {
                side_writes.push(SideWrite::RequireOpenAccount { user_id });
            }
            side_writes.extend(
                ledger_writes(&loaded.state, &events, id, self.ledger)
                    .into_iter()
                    .map(SideWrite::Ledger),
            );
            // A new note gets its data key (as does a note written before
            // keys existed, at its next change); a purged one loses it.
            let mut key = loaded.key.clone();
            if key.is_none() {
                let new = NoteKey::generate();
                side_writes.push(SideWrite::CreateNoteKey {
                    note: id,
                    owner: command.actor,
                    key: new.clone(),
                });
                key = Some(new);
            }
            let purged = events.iter().any(|e| matches!(e, NoteEvent::NotePurged));
            if purged {
                side_writes.push(SideWrite::DestroyNoteKey { note: id });
            }
            let append = Append {
                stream: id.stream(),
                expected_version: loaded.version,
                events: events
                    .iter()
                    .map(|event| sealed(event, key.as_ref()))
                    .collect::<Result<_, _>>()?,
                metadata: metadata.clone(),
                side_writes,
            };
            match self.events.append(append).await {
                Ok(appended) => {
                    let state = events.iter().fold(loaded.state.clone(), note::evolve);
                    let (version, position) = (appended.version, appended.position);
                    self.cache.insert(
                        id,
                        Arc::new(Loaded {
                            state,
                            version,
                            position,
                            key: key.filter(|_| !purged),
                            erased: false,
                        }),
                    );
                    return Ok(Outcome {
                        id,
                        version,
                        position,
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    // Another writer got there first: our view was stale.
                    let fresh = self.catch_up(id, Some(loaded)).await?;
                    match expected {
                        Some(_) => {
                            return Err(CommandError::VersionMismatch {
                                current: fresh.version,
                            })
                        }
                        None if creating => return Err(DomainError::AlreadyExists.into()),
                        // A command that does not depend on the version is
                        // decided again on the fresh state.
                        None if started.elapsed() < CONTENTION_BUDGET => {
                            backoff = pause(backoff).await;
                            loaded = fresh;
                        }
                        None => return Err(CommandError::WriteContention),
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
}

/// Sleeps a random part (half to all) of `backoff`, so that writers who
/// collided do not collide again in step; returns the next, doubled backoff.
async fn pause(backoff: Duration) -> Duration {
    let nanos = u64::try_from(backoff.as_nanos()).unwrap_or(u64::MAX);
    let jittered = rand::thread_rng().gen_range(nanos / 2..=nanos);
    tokio::time::sleep(Duration::from_nanos(jittered)).await;
    (backoff * 2).min(MAX_BACKOFF)
}

/// An event ready to append, its content sealed with the note's key (notes
/// created before keys existed stay as they were written).
fn sealed(event: &NoteEvent, key: Option<&NoteKey>) -> Result<NewEvent, StoreError> {
    let mut new = codec::encode(event)?;
    if let Some(key) = key {
        shredding::seal(&mut new.payload, new.event_id, key)?;
    }
    Ok(new)
}

/// The ledger changes that go with `events`, decided on `state`.
fn ledger_writes(
    state: &Note,
    events: &[NoteEvent],
    note: NoteId,
    policy: LedgerPolicy,
) -> Vec<LedgerWrite> {
    let Some(data) = state.live() else {
        return Vec::new();
    };
    let owner = data.owner();
    let release = |documents: Vec<Uuid>| LedgerWrite::Release { owner, documents };
    events
        .iter()
        .filter_map(|event| match event {
            NoteEvent::DocumentUploadRequested { document_id, spec } => {
                Some(LedgerWrite::Reserve {
                    document: *document_id,
                    note,
                    owner,
                    size: spec.size,
                    quota: policy.quota,
                    multipart_upload: spec.multipart_upload.clone(),
                    abandon_after: OffsetDateTime::now_utc() + policy.abandon_after,
                })
            }
            NoteEvent::DocumentAttached { document_id, .. } => Some(LedgerWrite::Attach {
                document: *document_id,
            }),
            NoteEvent::DocumentUploadFailed { document_id, .. }
            | NoteEvent::DocumentRemoved { document_id } => Some(release(vec![*document_id])),
            NoteEvent::NotePurged if !data.documents().is_empty() => {
                Some(release(data.documents().keys().copied().collect()))
            }
            _ => None,
        })
        .collect()
}
