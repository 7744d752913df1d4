//! The query API's cache of note views and list pages (moka).
//!
//! Entries stop being served when a projector announces a change for their
//! owner (PostgreSQL NOTIFY, or in-process in the embedded default), and
//! live at most `ttl` in any case: that is the bound on staleness if a
//! notice is lost. A notice costs the same however many entries the cache
//! holds: it counts up its owners' generations (one counter of
//! [`STRIPES`], chosen by the owner), and an entry is served only while its
//! owner's counter still reads what it read when the entry's read began.
//! Each entry remembers the projector checkpoint it was read at, so a read
//! that asks for `Anote-Min-Position` is served from the cache only when
//! the entry is at least that new.

use std::hash::{BuildHasher, RandomState};
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

/// Generation counters, each shared by the owners whose hash picks it:
/// enough that a change of one student rarely makes another's entries
/// read again.
pub const STRIPES: usize = 8_192;

/// A stored entry and the generation of its owner's counter when the read
/// that found it began.
#[derive(Clone)]
struct Stored {
    generation: u64,
    cached: Arc<Cached<Entry>>,
}

/// The cache, shared by the handlers.
#[derive(Clone)]
pub struct ReadCache {
    entries: Cache<Key, Stored>,
    /// Counts each stripe's invalidations, so a read that raced with one
    /// does not store what it read, and an older entry is not served.
    generations: Arc<[AtomicU64]>,
    hasher: RandomState,
}

impl ReadCache {
    /// A cache of entries weighing up to `max_bytes` in all (about the
    /// memory they take), each living at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, stored: &Stored| stored.cached.value.weight())
                .time_to_live(ttl)
                .build(),
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }

    fn counter(&self, owner: UserId) -> &AtomicU64 {
        // The remainder is below `STRIPES`, so it fits.
        let stripe = self.hasher.hash_one(owner) % STRIPES as u64;
        &self.generations[usize::try_from(stripe).unwrap_or_default()]
    }

    /// The entry for `key`, if no change of its owner was announced since
    /// its read began and it is at least as new as `wanted`.
    pub fn get(&self, key: &Key, wanted: Option<Position>) -> Option<Arc<Cached<Entry>>> {
        self.entries
            .get(key)
            .filter(|stored| stored.generation == self.generation(key.owner()))
            .map(|stored| stored.cached)
            .filter(|c| wanted.is_none_or(|w| c.as_of >= w))
    }

    /// The generation to pass to `insert` for a read of `owner`'s that
    /// starts now.
    pub fn generation(&self, owner: UserId) -> u64 {
        self.counter(owner).load(Ordering::SeqCst)
    }

    /// Stores what a read found, unless a change of its owner was announced
    /// since the read started (it might have read the older state). One
    /// announced while it is stored makes it unseen all the same.
    pub fn insert(&self, key: Key, value: Cached<Entry>, started_at: u64) {
        if self.generation(key.owner()) == started_at {
            self.entries.insert(
                key,
                Stored {
                    generation: started_at,
                    cached: Arc::new(value),
                },
            );
        }
    }

    /// Stops serving what a notice says may have changed: its owners'
    /// entries, or all of them. Left unseen, they go as the cache evicts.
    pub fn invalidate(&self, notice: &Applied) {
        match &notice.owners {
            None => {
                for counter in self.generations.iter() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                self.entries.invalidate_all();
            }
            Some(owners) => {
                for owner in owners {
                    self.counter(*owner).fetch_add(1, Ordering::SeqCst);
                }
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

    /// A new owner's page, stored in `cache` as a read beginning now would.
    fn stored_page(cache: &ReadCache) -> Key {
        let owner = UserId::new();
        let (key, value) = page(owner);
        cache.insert(key.clone(), value, cache.generation(owner));
        key
    }

    #[test]
    fn a_notice_drops_only_its_owners_entries() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let ada = UserId::new();
        // Another stripe's owner (one in 8,192 shares ada's).
        let eve = std::iter::repeat_with(UserId::new)
            .find(|eve| !std::ptr::eq(cache.counter(*eve), cache.counter(ada)))
            .unwrap_or_else(UserId::new);
        for owner in [ada, eve] {
            let (key, value) = page(owner);
            cache.insert(key, value, cache.generation(owner));
        }
        let notice = Applied {
            checkpoint: Position::new(0, 8),
            owners: Some(vec![ada]),
        };
        cache.invalidate(&notice);
        assert!(cache.get(&page(ada).0, None).is_none());
        assert!(cache.get(&page(eve).0, None).is_some());
        // A read of ada's that begins now is stored and served again.
        let (key, value) = page(ada);
        cache.insert(key.clone(), value, cache.generation(ada));
        assert!(cache.get(&key, None).is_some());
    }

    #[test]
    fn entries_older_than_the_wanted_position_are_not_served() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let key = stored_page(&cache);
        assert!(cache.get(&key, Some(Position::new(0, 7))).is_some());
        assert!(cache.get(&key, Some(Position::new(0, 8))).is_none());
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_stored() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let owner = UserId::new();
        for owners in [None, Some(vec![owner])] {
            let started = cache.generation(owner);
            cache.invalidate(&Applied {
                checkpoint: Position::START,
                owners,
            });
            let (key, value) = page(owner);
            cache.insert(key.clone(), value, started);
            assert!(cache.get(&key, None).is_none());
        }
    }

    #[test]
    fn an_entry_stored_before_a_change_is_not_served_after_it() {
        let cache = ReadCache::new(100_000, Duration::from_secs(60));
        let key = stored_page(&cache);
        assert!(cache.get(&key, None).is_some());
        cache.invalidate(&Applied {
            checkpoint: Position::new(0, 8),
            owners: Some(vec![UserId::new(), key.owner()]),
        });
        assert!(cache.get(&key, None).is_none());
    }
}
