//! The time a store checks its URLs' expiry against: the system's, or one
//! that can be moved forward (so that an expiry can be reached without
//! waiting for it).

use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

/// Tells the time.
pub trait Clock: Debug + Send + Sync {
    /// The time now.
    fn now(&self) -> OffsetDateTime;
}

/// The system's time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system's time, moved forward by hand by [`ManualClock::advance`].
#[derive(Debug, Default)]
pub struct ManualClock {
    ahead: Mutex<Duration>,
}

impl ManualClock {
    /// A clock that tells the system's time until it is moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.ahead.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
