//! The query API's cache of note views and list pages (moka).
//!
//! Entries are dropped when a projector announces a change for their owner
//! (PostgreSQL NOTIFY, or in-process in the embedded default), and live at
//! most `ttl` in any case: that is the bound on staleness if a notice is
//! lost. Each entry remembers the projector checkpoint it was read at, so a
//! read that asks for `Anote-Min-Position` is served from the cache only
//! when the entry is at least that new.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anote_domain::{NoteId, UserId};
use anote_read_store::Applied;
use anote_store::event_store::Position;
use axum::body::Bytes;
use moka::sync::Cache;
use tokio::sync::broadcast;

/// A cached answer and the checkpoint it was read at.
#[derive(Clone, Debug)]
pub struct Cached<T> {
    /// The answer.
    pub value: T,
    /// The projector checkpoint read before the answer: it is at least this new.
    pub as_of: Position,
}

/// What is cached, by key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// One note of an owner.
    Note(UserId, NoteId),
    /// One list page of an owner, by its query string.
    Page(UserId, String),
}

impl Key {
    fn owner(&self) -> UserId {
        match self {
            Self::Note(owner, _) | Self::Page(owner, _) => *owner,
        }
    }
}

/// A note's reply, serialised once for every read that finds it cached.
#[derive(Clone, Debug)]
pub struct NoteJson {
    /// The note's version (its `ETag`).
    pub version: u64,
    /// The reply's JSON body.
    pub body: Bytes,
}

/// A cached value.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A note's reply, or the note's absence.
    Note(Option<NoteJson>),
    /// A list page, serialised.
    Page(Bytes),
}

impl Entry {
    /// About how many bytes the entry takes.
    fn weight(&self) -> u32 {
        let bytes = match self {
            Self::Note(None) => 0,
            Self::Note(Some(note)) => note.body.len(),
            Self::Page(page) => page.len(),
        };
        u32::try_from(bytes + 256).unwrap_or(u32::MAX)
    }
}

/// The cache, shared by the handlers.
#[derive(Clone)]
pub struct ReadCache {
    entries: Cache<Key, Arc<Cached<Entry>>>,
    /// Counts invalidations, so a read that raced with one does not store
    /// what it read.
    generation: Arc<AtomicU64>,
}

impl ReadCache {
    /// A cache of entries weighing up to `max_bytes` in all (about the
    /// memory they take), each living at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, cached: &Arc<Cached<Entry>>| cached.value.weight())
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The entry for `key`, if it is at least as new as `wanted`.
    pub fn get(&self, key: &Key, wanted: Option<Position>) -> Option<Arc<Cached<Entry>>> {
        self.entries
            .get(key)
            .filter(|c| wanted.is_none_or(|w| c.as_of >= w))
    }

    /// The generation to pass to `insert` for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Stores what a read found, unless an invalidation happened since the
    /// read started (it might have read the older state).
    pub fn insert(&self, key: Key, value: Cached<Entry>, started_at: u64) {
        if self.generation() == started_at {
            self.entries.insert(key, Arc::new(value));
        }
    }

    /// Drops what a notice says may have changed.
    pub fn invalidate(&self, notice: &Applied) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match &notice.owners {
            None => self.entries.invalidate_all(),
            Some(owners) => {
                let owners = owners.clone();
                // Cannot fail: the cache supports invalidation closures.
                let _ = self.entries.invalidate_entries_if(move |key, _| {
                    owners.binary_search(&key.owner()).is_ok()
                });
            }
        }
    }

    /// Keeps the cache in step with `notices` until their sender is gone.
    pub fn follow(&self, mut notices: broadcast::Receiver<Applied>) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) => cache.invalidate(&notice),
                    Err(broadcast::error::RecvError::Lagged(_)) => cache.invalidate(&Applied {
                        checkpoint: Position::START,
                        owners: None,
                    }),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(owner: UserId) -> (Key, Cached<Entry>) {
        (
            Key::Page(owner, "limit=5".into()),
            Cached {
                value: Entry::Page(Bytes::from_static(b"[]")),
                as_of: Position::new(0, 7),
            },
        )
    }

    #[test]
    fn a_notice_drops_only_its_owners_entries() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let (ada, eve) = (UserId::new(), UserId::new());
        for owner in [ada, eve] {
            let (key, value) = page(owner);
            cache.insert(key, value, cache.generation());
        }
        let notice = Applied {
            checkpoint: Position::new(0, 8),
            owners: Some(vec![ada]),
        };
        cache.invalidate(&notice);
        cache.entries.run_pending_tasks();
        assert!(cache.get(&page(ada).0, None).is_none());
        assert!(cache.get(&page(eve).0, None).is_some());
    }

    #[test]
    fn entries_older_than_the_wanted_position_are_not_served() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let (key, value) = page(UserId::new());
        cache.insert(key.clone(), value, cache.generation());
        assert!(cache.get(&key, Some(Position::new(0, 7))).is_some());
        assert!(cache.get(&key, Some(Position::new(0, 8))).is_none());
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_stored() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let owner = UserId::new();
        let started = cache.generation();
        cache.invalidate(&Applied {
            checkpoint: Position::START,
            owners: None,
        });
        let (key, value) = page(owner);
        cache.insert(key.clone(), value, started);
        assert!(cache.get(&key, None).is_none());
    }
}
