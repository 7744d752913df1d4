//! The sweeper: deletes document objects nobody can reach any more.
//!
//! Two kinds of orphans, both found in the document ledger:
//! - uploads requested but never completed, once their URLs expired and the
//!   grace period passed: the upload is failed as abandoned (a note event on
//!   the owner's behalf, which frees the bytes) and its object deleted;
//! - documents removed, rejected, or on purged notes: their objects (and
//!   any unfinished multipart upload) are deleted and the ledger forgets them.
//!
//! Attached documents are never touched. It runs in `anote relay` (the
//! leader) and in `anote serve` every `ANOTE_SWEEP_INTERVAL_SECS`, and once
//! with `anote sweep`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::CommandError;
use anote_blob::clock::{Clock, SystemClock};
use anote_blob::{BlobKey, BlobStore};
use anote_domain::document::UploadFailure;
use anote_domain::note::{NoteAction, NoteCommand};
use anote_domain::DomainError;
use anote_store::documents::{DocumentLedger, LedgerEntry};
use anote_store::event_store::Metadata;
use tokio::sync::watch;
use uuid::Uuid;

use crate::note_commands::NoteCommands;

/// Ledger entries handled per sweep and kind.
const BATCH: u32 = 500;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Uploads failed as abandoned.
    pub abandoned: u64,
    /// Objects deleted (and ledger entries forgotten).
    pub deleted: u64,
}

/// Deletes orphaned document objects.
#[derive(Clone)]
pub struct Sweeper {
    notes: NoteCommands,
    ledger: Arc<dyn DocumentLedger>,
    store: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
}

impl Sweeper {
    /// A sweeper that fails uploads through `notes`, reads `ledger` and
    /// deletes from `store`.
    pub fn new(
        notes: NoteCommands,
        ledger: Arc<dyn DocumentLedger>,
        store: Arc<dyn BlobStore>,
    ) -> Self {
        Self {
            notes,
            ledger,
            store,
            clock: Arc::new(SystemClock),
        }
    }

    /// This sweeper, telling what expired by `clock` instead of the
    /// system's time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sweeps once. An entry that fails is logged and left for the next
    /// sweep; the others go on.
    pub async fn sweep(&self) -> Result<Swept, CommandError> {
        let mut swept = Swept::default();
        let now = self.clock.now();
        for entry in self.ledger.abandoned(now, BATCH).await? {
            match self.abandon(&entry).await {
                Ok(()) => swept.abandoned += 1,
                Err(e) => {
                    tracing::warn!(error = %e, document = %entry.document, "could not abandon an upload")
                }
            }
        }
        for entry in self.ledger.released(now, BATCH).await? {
            match self.delete(&entry).await {
                Ok(()) => swept.deleted += 1,
                Err(e) => {
                    tracing::warn!(error = %e, document = %entry.document, "could not delete an object")
                }
            }
        }
        Ok(swept)
    }

    /// Deletes a released document's object (and multipart upload) and
    /// forgets it.
    async fn delete(&self, entry: &LedgerEntry) -> Result<(), CommandError> {
        let key = BlobKey::document(entry.note, entry.document);
        if let Some(upload) = &entry.multipart_upload {
            // Some stores refuse to abort an upload that a failed
            // completion already dropped; the bucket's lifecycle rule is
            // the second net for parts left behind.
            if let Err(e) = self.store.abort_multipart(&key, upload).await {
                tracing::warn!(error = %e, "could not abort a multipart upload");
            }
        }
        self.store.delete(&key).await?;
        self.ledger.forget(entry.document).await?;
        Ok(())
    }

    /// Fails an abandoned upload on its owner's behalf; the ledger entry is
    /// released in the same transaction.
    async fn abandon(&self, entry: &LedgerEntry) -> Result<(), CommandError> {
        let command = NoteCommand {
            actor: entry.owner,
            action: NoteAction::FailUpload {
                document_id: entry.document,
                reason: UploadFailure::Abandoned,
            },
        };
        let metadata = Metadata::for_request(None, Uuid::new_v4());
        match self
            .notes
            .execute(entry.note, None, command, metadata, None)
            .await
        {
            // Another sweeper got there first.
            Ok(_) | Err(CommandError::Rule(DomainError::DocumentNotFound)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sweeps every `interval` until `stop` turns true; failures are logged
    /// and retried at the next interval.
    pub async fn run(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            match self.sweep().await {
                Ok(swept) if swept != Swept::default() => {
                    tracing::info!(
                        abandoned = swept.abandoned,
                        deleted = swept.deleted,
                        "swept document objects"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "the sweep failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}
