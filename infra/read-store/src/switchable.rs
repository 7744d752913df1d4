//! Read models that one process can switch to a new build without a failed
//! request: the embedded default's counterpart of the PostgreSQL schema swap.
//!
//! Reads go to the current build. A projector batch holds the apply lock
//! shared and commits only if its generation is still current; a switch holds
//! it exclusively, so the new build can be brought up to the log's head with
//! no live batch landing in the old one in the meantime.

use std::sync::{Arc, RwLock};

use anote_domain::{NoteId, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::{OwnedRwLockWriteGuard, RwLock as ApplyLock};
use uuid::Uuid;

use super::{
    ChangesPage, Count, DocumentEntry, ListCursor, NoteFilter, NoteReads, NoteView, ParkedStream,
    ProjectionBatch, ProjectionStore, ReadModels, ReadStore, SearchHit, ShareLink, Usage,
};
use anote_store::error::StoreError;
use anote_store::event_store::Position;

/// A build of the read models and its generation.
struct Build {
    generation: u64,
    store: Arc<dyn ReadStore>,
}

/// Read models that can be switched to a new build while they serve.
pub struct SwitchableReads {
    current: RwLock<Build>,
    applying: Arc<ApplyLock<()>>,
}

/// Held while a switch is prepared: no live projector batch commits meanwhile.
pub struct SwitchGuard<'a> {
    reads: &'a SwitchableReads,
    _exclusive: OwnedRwLockWriteGuard<()>,
}

impl SwitchableReads {
    /// Starts with `store` as generation 0.
    pub fn new(store: Arc<dyn ReadStore>) -> Self {
        Self {
            current: RwLock::new(Build {
                generation: 0,
                store,
            }),
            applying: Arc::new(ApplyLock::new(())),
        }
    }

    /// The current build.
    pub fn current(&self) -> Arc<dyn ReadStore> {
        self.read().store.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Build> {
        // A panic while holding the lock cannot leave a `Build` half-written.
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the live batches in flight and holds off new ones until the
    /// guard switches or is dropped.
    pub async fn lock(&self) -> SwitchGuard<'_> {
        SwitchGuard {
            reads: self,
            _exclusive: self.applying.clone().write_owned().await,
        }
    }
}

impl SwitchGuard<'_> {
    /// Makes `next` the current build (a new generation) and returns the one
    /// it replaces; requests already running finish on the old one.
    pub fn switch(self, next: Arc<dyn ReadStore>) -> Arc<dyn ReadStore> {
        let mut current = self
            .reads
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let generation = current.generation + 1;
        let old = std::mem::replace(
            &mut *current,
            Build {
                generation,
                store: next,
            },
        );
        old.store
    }
}

#[async_trait]
impl ReadModels for SwitchableReads {
    async fn checkpoint(&self, projector: &str) -> Result<Position, StoreError> {
        self.current().checkpoint(projector).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.current().ping().await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.current().close().await
    }
}

#[async_trait]
impl ProjectionStore for SwitchableReads {
    async fn views(&self, ids: &[NoteId]) -> Result<Vec<NoteView>, StoreError> {
        self.current().views(ids).await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        Ok(self.read().generation)
    }

    async fn apply(&self, projector: &str, batch: &ProjectionBatch) -> Result<(), StoreError> {
        let _shared = self.applying.read().await;
        let store = {
            let current = self.read();
            if batch.generation.is_some_and(|g| g != current.generation) {
                return Err(StoreError::Switched);
            }
            current.store.clone()
        };
        store.apply(projector, batch).await
    }

    async fn parked(&self, streams: Option<&[String]>) -> Result<Vec<ParkedStream>, StoreError> {
        self.current().parked(streams).await
    }
}

#[async_trait]
impl NoteReads for SwitchableReads {
    async fn note(&self, owner: UserId, id: NoteId) -> Result<Option<NoteView>, StoreError> {
        self.current().note(owner, id).await
    }

    async fn list(
        &self,
        owner: UserId,
        filter: &NoteFilter,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<NoteView>, StoreError> {
        self.current().list(owner, filter, after, limit).await
    }

    async fn search(
        &self,
        owner: UserId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.current().search(owner, query, limit).await
    }

    async fn subjects(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        self.current().subjects(owner).await
    }

    async fn tags(&self, owner: UserId) -> Result<Vec<Count>, StoreError> {
        self.current().tags(owner).await
    }

    async fn upcoming(&self, owner: UserId, limit: u32) -> Result<Vec<NoteView>, StoreError> {
        self.current().upcoming(owner, limit).await
    }

    async fn changes(
        &self,
        owner: UserId,
        since: Position,
        limit: u32,
    ) -> Result<ChangesPage, StoreError> {
        self.current().changes(owner, since, limit).await
    }

    async fn changes_now(&self) -> Result<Position, StoreError> {
        self.current().changes_now().await
    }

    async fn share_links(&self, owner: UserId, note: NoteId) -> Result<Vec<ShareLink>, StoreError> {
        self.current().share_links(owner, note).await
    }

    async fn shared_note(
        &self,
        share_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<NoteView>, StoreError> {
        self.current().shared_note(share_id, now).await
    }

    async fn document(&self, owner: UserId, id: Uuid) -> Result<Option<DocumentEntry>, StoreError> {
        self.current().document(owner, id).await
    }

    async fn documents(
        &self,
        owner: UserId,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DocumentEntry>, StoreError> {
        self.current().documents(owner, after, limit).await
    }

    async fn usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        self.current().usage(owner).await
    }
}
