//! One command at a time per aggregate within this process: commands on the
//! same aggregate wait for each other here instead of racing each other to
//! the log, where the loser's append would be refused, the stream read again
//! and the command answered 412 or decided again. The optimistic lock of the
//! append still settles races with other processes.
//!
//! Aggregates share a fixed number of locks by hash (a stripe), so memory
//! does not grow with the aggregates seen; two aggregates on one stripe
//! merely take turns.

use std::hash::{BuildHasher, Hash, RandomState};

use tokio::sync::{Mutex, MutexGuard};

/// Locks for commands, one per stripe of aggregates.
#[derive(Debug)]
pub struct StreamLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl StreamLocks {
    /// `stripes` locks (at least one).
    pub fn new(stripes: usize) -> Self {
        Self {
            stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Waits until no other command of this process holds `id`'s stripe,
    /// and holds it until the guard is dropped.
    pub async fn lock(&self, id: &impl Hash) -> MutexGuard<'_, ()> {
        let hash = self.hasher.hash_one(id);
        // The remainder is below the stripes' count, a usize.
        let stripe = usize::try_from(hash % self.stripes.len() as u64).unwrap_or(0);
        self.stripes[stripe].lock().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_command_on_one_aggregate_waits_for_the_first() {
        let locks = StreamLocks::new(64);
        let held = locks.lock(&7_u64).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock(&7_u64)).await;
        assert!(waiting.is_err(), "the same aggregate waits");
        drop(held);
        let free = tokio::time::timeout(Duration::from_secs(5), locks.lock(&7_u64)).await;
        assert!(free.is_ok(), "and goes on once the first is done");
    }

    #[tokio::test]
    async fn commands_on_different_stripes_do_not_wait() {
        let locks = StreamLocks::new(1024);
        let _held = locks.lock(&1_u64).await;
        // Of 100 other aggregates at most a few share the held one's stripe.
        let mut free = 0;
        for id in 2..102_u64 {
            if tokio::time::timeout(Duration::from_millis(5), locks.lock(&id))
                .await
                .is_ok()
            {
                free += 1;
            }
        }
        assert!(free >= 95, "{free} of 100 went ahead");
    }
}
