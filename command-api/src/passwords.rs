//! Password hashing with argon2id at OWASP's recommended cost (19 MiB, two
//! passes, one lane), run on blocking threads and a few at a time so that a
//! burst of logins neither stalls the async workers nor exhausts memory.

use std::sync::{Arc, Mutex, PoisonError};

use anote_domain::values::Password;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::CommandError;

/// Hashes and verifies passwords.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    memory: Arc<Memory>,
    /// Verified when the username is unknown, so that both failures take as long.
    decoy: Arc<String>,
}

/// The working memory of argon2 (19 MiB a hash), kept between hashes: one
/// buffer for each hash running at once, so at most one per permit.
/// Allocated anew each time, its pages were zeroed and faulted in for
/// every login, a third of a login's CPU. Every block is written before it
/// is read, so a reused buffer gives the same hash as a fresh one.
#[derive(Debug, Default)]
struct Memory(Mutex<Vec<Vec<Block>>>);

impl Memory {
    /// Fills `out` with the argon2 hash of `password` and `salt` under the
    /// algorithm, version and `params` of `argon2`, in a kept buffer.
    fn hash_into(
        &self,
        argon2: &Argon2<'_>,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let mut blocks = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        blocks.resize(params.block_count(), Block::default());
        let hashed = argon2.hash_password_into_with_memory(password, salt, out, &mut blocks);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(blocks);
        hashed
    }

    /// The PHC string of a new hash of `password` with a random salt.
    fn hash(&self, password: &[u8]) -> Result<String, CommandError> {
        let failed =
            |e: &dyn std::fmt::Display| CommandError::Internal(format!("hashing failed: {e}"));
        let params = owasp();
        let salt = SaltString::generate(&mut OsRng);
        let mut raw_salt = [0u8; 64];
        let raw_salt = salt.decode_b64(&mut raw_salt).map_err(|e| failed(&e))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let hash = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            self.hash_into(&argon2, &params, password, raw_salt, out)
                .map_err(Into::into)
        })
        .map_err(|e| failed(&e))?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(hash),
        }
        .to_string())
    }

    /// Whether `password` hashes to `phc` under the algorithm, version,
    /// cost and salt written in it (compared in constant time); a string
    /// that is no argon2 hash matches nothing.
    fn verify(&self, password: &[u8], phc: &str) -> bool {
        let check = || -> Option<bool> {
            let parsed = PasswordHash::new(phc).ok()?;
            let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
            let version = match parsed.version {
                Some(v) => Version::try_from(v).ok()?,
                None => Version::default(),
            };
            let params = Params::try_from(&parsed).ok()?;
            let expected = parsed.hash?;
            let mut raw_salt = [0u8; 64];
            let raw_salt = parsed.salt?.decode_b64(&mut raw_salt).ok()?;
            let argon2 = Argon2::new(algorithm, version, params.clone());
            let computed = Output::init_with(expected.len(), |out| {
                self.hash_into(&argon2, &params, password, raw_salt, out)
                    .map_err(Into::into)
            })
            .ok()?;
            Some(computed == expected)
        };
        check().unwrap_or(false)
    }
}

/// OWASP's recommended cost for argon2id.
fn owasp() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

impl PasswordHasher {
    /// A hasher running at most `parallel` hashes at once.
    pub fn new(parallel: usize) -> Result<Self, CommandError> {
        let memory = Arc::new(Memory::default());
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            decoy: Arc::new(memory.hash(b"decoy password that matches nothing")?),
            memory,
        })
    }

    /// Runs `work` on a blocking thread when a permit is free, and records
    /// the CPU time it took in [`anote_metrics::HASHING_CPU`].
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Memory) -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let before = anote_metrics::thread_cpu_time();
            let done = work(&memory);
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
        self.blocking(move |memory| memory.hash(password.expose().as_bytes()))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it
    /// checks a decoy and answers false, taking as long as a real check.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, CommandError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.as_ref().clone());
        let password = password.to_owned();
        let matches = self
            .blocking(move |memory| memory.verify(password.as_bytes(), &hash))
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

    #[test]
    fn kept_memory_hashes_as_the_argon2_crate_does() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let memory = Memory::default();
        let stock = Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp());
        // Ours, checked by the crate; then the crate's, checked by ours
        // with the buffer the first hash left full.
        let ours = memory.hash(b"correct horse").expect("hashes");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(stock.verify_password(b"correct horse", &parsed).is_ok());
        assert!(stock.verify_password(b"wrong horse", &parsed).is_err());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = stock
            .hash_password(b"battery staple", &salt)
            .expect("hashes")
            .to_string();
        assert!(memory.verify(b"battery staple", &theirs));
        assert!(!memory.verify(b"battery stapler", &theirs));
        // A cost other than ours is read from the string (and resizes the buffer).
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).expect("valid"),
        );
        let small = light
            .hash_password(b"battery staple", &salt)
            .expect("hashes")
            .to_string();
        assert!(memory.verify(b"battery staple", &small));
        assert!(memory.verify(b"correct horse", &ours));
        assert!(!memory.verify(b"correct horse", "not a hash"));
        assert_eq!(
            memory.0.lock().map(|kept| kept.len()).unwrap_or_default(),
            1,
            "one buffer, reused"
        );
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
