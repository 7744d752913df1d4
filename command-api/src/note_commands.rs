//! The command path for notes: load the note, decide, append (the crate's
//! one pipeline, with the note's checks, side writes and contention rules).
//!
//! Recent states are kept in memory (moka, keyed by note, tagged with their
//! version), so a command on a hot note costs one round trip to the log: the
//! append itself. The cache may be behind another instance's writes; the
//! append's optimistic lock finds that out, and the note is then reloaded.

use std::sync::Arc;
use std::time::Duration;

use anote_domain::note::{ImportedNote, Note, NoteAction, NoteCommand, NoteData, NoteEvent};
use anote_domain::{DomainError, NoteId, StreamId, UserId};
use anote_store::documents::LedgerWrite;
use anote_store::event_store::shredding::{self, NoteKey};
use anote_store::event_store::{
    EventStore, Metadata, Position, RecordedEvent, SideWrite, StoredReply,
};
use anote_store::StoreError;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::CommandError;
use crate::pipeline::{Loaded, Pipeline, Retries, Run, Stored, Writes};

/// How long a command without `If-Match` is decided again while other
/// writers keep getting in first, before it is answered with a retryable
/// `write_contention` (well within the default request timeout).
const CONTENTION_BUDGET: Duration = Duration::from_secs(5);

/// A note's stream: its content sealed with the note's key, which goes when
/// the note is purged.
impl Stored for Note {
    type Id = NoteId;

    fn stream(id: NoteId) -> StreamId {
        id.stream()
    }

    async fn read_key(events: &dyn EventStore, id: NoteId) -> Result<Option<NoteKey>, StoreError> {
        Ok(events.note_keys(&[id]).await?.remove(&id))
    }

    fn open(
        recorded: &RecordedEvent,
        key: Option<&NoteKey>,
    ) -> Result<(NoteEvent, bool), StoreError> {
        shredding::decode_note(recorded, key)
    }

    fn seal(payload: &mut Value, event_id: Uuid, key: &NoteKey) -> Result<(), StoreError> {
        shredding::seal(payload, event_id, key)
    }

    fn ends_key(event: &NoteEvent) -> bool {
        matches!(event, NoteEvent::NotePurged)
    }
}

impl Loaded<Note> {
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
    pipeline: Pipeline<Note>,
    ledger: LedgerPolicy,
}

impl NoteCommands {
    /// A command path over this log, caching up to `capacity` notes, keeping
    /// the document ledger by `ledger`.
    pub fn new(events: Arc<dyn EventStore>, capacity: u64, ledger: LedgerPolicy) -> Self {
        Self {
            pipeline: Pipeline::cached(events, capacity, Retries::Within(CONTENTION_BUDGET)),
            ledger,
        }
    }

    /// The caller's live note as the log has it now (not as cached).
    pub async fn current(&self, id: NoteId, actor: UserId) -> Result<NoteData, CommandError> {
        let loaded = self.pipeline.current(id).await?;
        loaded
            .owned_by(actor)
            .cloned()
            .ok_or(CommandError::NoteNotFound)
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
        let run = NoteRun {
            id,
            expected,
            creating: matches!(
                command.action,
                NoteAction::Create(_) | NoteAction::Import(_)
            ),
            command,
            metadata,
            remember,
            ledger: self.ledger,
        };
        let head = self.pipeline.run(id, &run).await?;
        Ok(Outcome {
            id,
            version: head.version,
            position: head.position,
        })
    }
}

/// One note command on its way through the pipeline.
struct NoteRun {
    id: NoteId,
    expected: Option<u64>,
    creating: bool,
    command: NoteCommand,
    metadata: Metadata,
    remember: Option<StoredReply>,
    ledger: LedgerPolicy,
}

impl Run<Note> for NoteRun {
    fn expected(&self) -> Option<u64> {
        self.expected
    }

    fn command(&self) -> NoteCommand {
        self.command.clone()
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn admit(&self, loaded: &Loaded<Note>) -> Result<(), CommandError> {
        if loaded.erased {
            // Sealed under a key that is gone: nothing may write to it
            // again, or it would get a key of its own.
            return Err(CommandError::NoteNotFound);
        }
        if let Some(expected) = self.expected {
            if loaded.owned_by(self.command.actor).is_none() {
                return Err(CommandError::NoteNotFound);
            }
            if expected != loaded.version {
                return Err(CommandError::VersionMismatch {
                    current: loaded.version,
                });
            }
        }
        Ok(())
    }

    fn refused(&self, error: DomainError) -> CommandError {
        error.into()
    }

    fn writes(&self, loaded: &Loaded<Note>, events: &[NoteEvent]) -> Writes {
        let mut side_writes: Vec<SideWrite> = self
            .remember
            .iter()
            .cloned()
            .map(SideWrite::RememberReply)
            .collect();
        if let Some(user_id) = self.metadata.actor {
            side_writes.push(SideWrite::RequireOpenAccount { user_id });
        }
        side_writes.extend(
            ledger_writes(&loaded.state, events, self.id, self.ledger)
                .into_iter()
                .map(SideWrite::Ledger),
        );
        // A new note gets its data key (as does a note written before
        // keys existed, at its next change); a purged one loses it.
        let mut key = loaded.key.clone();
        if key.is_none() {
            let new = NoteKey::generate();
            side_writes.push(SideWrite::CreateNoteKey {
                note: self.id,
                owner: self.command.actor,
                key: new.clone(),
            });
            key = Some(new);
        }
        if events.iter().any(Note::ends_key) {
            side_writes.push(SideWrite::DestroyNoteKey { note: self.id });
        }
        Writes { side_writes, key }
    }

    fn lost_race(&self, fresh: &Loaded<Note>) -> Option<CommandError> {
        if self.expected.is_some() {
            Some(CommandError::VersionMismatch {
                current: fresh.version,
            })
        } else if self.creating {
            Some(DomainError::AlreadyExists.into())
        } else {
            // A command that does not depend on the version is decided
            // again on the fresh state.
            None
        }
    }
}

/// The ledger changes that go with `events`, decided on `state`.
fn ledger_writes(
    state: &Note,
    events: &[NoteEvent],
    note: NoteId,
    policy: LedgerPolicy,
) -> Vec<LedgerWrite> {
    if let [NoteEvent::NoteImported {
        owner,
        note: imported,
    }] = events
    {
        return imported_ledger_writes(*owner, imported, note, policy);
    }
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

/// An imported note's documents are reserved (within the quota) and
/// attached at once: their bytes are already stored and checked.
fn imported_ledger_writes(
    owner: UserId,
    imported: &ImportedNote,
    note: NoteId,
    policy: LedgerPolicy,
) -> Vec<LedgerWrite> {
    imported
        .documents
        .iter()
        .flat_map(|document| {
            [
                LedgerWrite::Reserve {
                    document: document.document_id,
                    note,
                    owner,
                    size: document.spec.size,
                    quota: policy.quota,
                    multipart_upload: None,
                    abandon_after: OffsetDateTime::now_utc() + policy.abandon_after,
                },
                LedgerWrite::Attach {
                    document: document.document_id,
                },
            ]
        })
        .collect()
}
