//! Password hashing with argon2id at OWASP's recommended cost (19 MiB, two
//! passes, one lane), run on blocking threads and a few at a time so that a
//! burst of logins neither stalls the async workers nor exhausts memory.

use std::sync::Arc;

use anote_domain::values::Password;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::CommandError;

/// Hashes and verifies passwords.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified when the username is unknown, so that both failures take as long.
    decoy: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, CommandError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CommandError::Internal(format!("hashing failed: {e}")))
}

impl PasswordHasher {
    /// A hasher running at most `parallel` hashes at once.
    pub fn new(parallel: usize) -> Result<Self, CommandError> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            decoy: Arc::new(hash_now("decoy password that matches nothing")?),
        })
    }

    /// Runs `work` on a blocking thread when a permit is free, and records
    /// the CPU time it took in [`anote_metrics::HASHING_CPU`].
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(|| {
            let before = anote_metrics::thread_cpu_time();
            let done = work();
            if let Some((before, after)) = before.zip(anote_metrics::thread_cpu_time()) {
                anote_metrics::observe(
                    anote_metrics::HASHING_CPU,
                    "CPU time of each password hash or check.",
                    &[],
                    after.saturating_sub(before),
                );
            }
            done
        })
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))
    }

    /// The PHC string of a new hash of `password`.
    pub async fn hash(&self, password: Password) -> Result<String, CommandError> {
        self.blocking(move || hash_now(password.expose())).await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it
    /// checks a decoy and answers false, taking as long as a real check.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, CommandError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.as_ref().clone());
        let password = password.to_owned();
        let matches = self
            .blocking(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let hasher = PasswordHasher::new(2).expect("decoy hashes");
        let hash = hasher
            .hash(Password::parse("correct horse").expect("valid"))
            .await
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher
            .verify("correct horse", Some(hash.clone()))
            .await
            .expect("verifies"));
        assert!(!hasher
            .verify("wrong horse!", Some(hash))
            .await
            .expect("verifies"));
        assert!(!hasher
            .verify("decoy password that matches nothing", None)
            .await
            .expect("verifies"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_cpu_time_of_each_hash_is_counted() {
        let hasher = PasswordHasher::new(1).expect("decoy hashes");
        let hashes = |text: &str| {
            let count = format!("{}_count ", anote_metrics::HASHING_CPU);
            let sum = format!("{}_sum ", anote_metrics::HASHING_CPU);
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (value(&count), value(&sum))
        };
        let (count, sum) = hashes(&anote_metrics::render());
        hasher.verify("a password", None).await.expect("verifies");
        let (count_after, sum_after) = hashes(&anote_metrics::render());
        // At least this one (other tests in this process may hash too).
        assert!(count_after >= count + 1.0, "{count} → {count_after}");
        // argon2id at 19 MiB and two passes takes milliseconds of CPU.
        assert!(sum_after - sum > 0.001, "{sum} → {sum_after}");
    }
}
