//! Throttles failed logins per username and per client address.
//!
//! Counts live in this process (a fixed window per key); with several
//! instances each keeps its own, so the effective limit is per instance.

use std::time::{Duration, Instant};

use moka::sync::Cache;

/// Failed-login counters.
#[derive(Clone, Debug)]
pub struct LoginLimiter {
    failures: Cache<String, (u32, Instant)>,
    per_user: u32,
    per_address: u32,
    window: Duration,
}

impl LoginLimiter {
    /// Allows `per_user` and `per_address` failures within `window`.
    pub fn new(per_user: u32, per_address: u32, window: Duration) -> Self {
        Self {
            failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window)
                .build(),
            per_user,
            per_address,
            window,
        }
    }

    fn keys(username: &str, address: &str) -> [(String, bool); 2] {
        [
            (format!("u:{username}"), true),
            (format!("a:{address}"), false),
        ]
    }

    /// How long the caller must wait, if either counter is full.
    pub fn blocked_for(&self, username: &str, address: &str) -> Option<Duration> {
        Self::keys(username, address)
            .into_iter()
            .filter_map(|(key, is_user)| {
                let (count, since) = self.failures.get(&key)?;
                let limit = if is_user {
                    self.per_user
                } else {
                    self.per_address
                };
                (count >= limit).then(|| self.window.saturating_sub(since.elapsed()))
            })
            .max()
    }

    /// Counts one failed login.
    pub fn record_failure(&self, username: &str, address: &str) {
        for (key, _) in Self::keys(username, address) {
            let now = Instant::now();
            let entry = self
                .failures
                .get(&key)
                .filter(|(_, since)| since.elapsed() < self.window);
            let next = entry.map_or((1, now), |(count, since)| (count.saturating_add(1), since));
            self.failures.insert(key, next);
        }
    }

    /// Forgets the username's failures after a successful login.
    pub fn record_success(&self, username: &str) {
        self.failures.invalidate(&format!("u:{username}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_a_username_after_its_limit_and_frees_it_on_success() {
        let limiter = LoginLimiter::new(3, 100, Duration::from_secs(60));
        for _ in 0..2 {
            limiter.record_failure("ada", "10.0.0.1");
        }
        assert_eq!(limiter.blocked_for("ada", "10.0.0.1"), None);
        limiter.record_failure("ada", "10.0.0.2");
        let wait = limiter.blocked_for("ada", "10.0.0.3").expect("blocked");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert_eq!(limiter.blocked_for("grace", "10.0.0.3"), None);
        limiter.record_success("ada");
        assert_eq!(limiter.blocked_for("ada", "10.0.0.3"), None);
    }

    #[test]
    fn blocks_an_address_across_usernames() {
        let limiter = LoginLimiter::new(100, 2, Duration::from_secs(60));
        limiter.record_failure("a1", "10.0.0.9");
        limiter.record_failure("a2", "10.0.0.9");
        assert!(limiter.blocked_for("a3", "10.0.0.9").is_some());
        assert_eq!(limiter.blocked_for("a3", "10.0.0.8"), None);
    }
}
