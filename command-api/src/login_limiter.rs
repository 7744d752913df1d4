//! Throttles logins per username and per client address, across instances
//! (and the password checks of password changes per account and address).
//!
//! Before a password is checked, the attempt is reserved against both limits
//! in the database the command API already uses (one atomic statement per
//! limit), so the count includes attempts still in flight and is shared by
//! every instance: within a window, at most the configured number of
//! attempts per username and per address is ever checked. A failed attempt
//! keeps its reservation; a successful one gives its reservations back (it
//! does not clear the failures counted before it, so an attacker racing the
//! account's owner gains no new guesses when the owner logs in). Counters
//! are stored under keyed digests, never the username or address itself.

use std::sync::Arc;
use std::time::Duration;

use crate::error::CommandError;
use anote_domain::UserId;
use anote_store::accounts::{AccountStore, LoginSlot};
use anote_tokens::TokenSigner;
use time::OffsetDateTime;

/// Login limits over the shared counters.
#[derive(Clone)]
pub struct LoginLimiter {
    accounts: Arc<dyn AccountStore>,
    signer: TokenSigner,
    per_user: u32,
    per_address: u32,
    window: Duration,
}

/// A login attempt counted against both limits, until it is settled.
#[derive(Debug)]
#[must_use = "settle the attempt with its outcome"]
pub struct Attempt {
    reservations: Vec<(Vec<u8>, OffsetDateTime)>,
}

impl LoginLimiter {
    /// Allows `per_user` and `per_address` attempts checked within `window`;
    /// counters are keyed with `signer`'s key.
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        signer: TokenSigner,
        per_user: u32,
        per_address: u32,
        window: Duration,
    ) -> Self {
        Self {
            accounts,
            signer,
            per_user,
            per_address,
            window,
        }
    }

    /// Reserves a login attempt for this (folded) username from this
    /// address, or refuses it with 429 and the time left in the full window.
    pub async fn begin_login(
        &self,
        username: &str,
        address: &str,
    ) -> Result<Attempt, CommandError> {
        self.begin(self.key("user", username), address).await
    }

    /// Reserves an attempt to prove the password of a logged-in account (to
    /// change it) from this address: a stolen access token does not buy
    /// unlimited guesses either.
    pub async fn begin_password_check(
        &self,
        user: UserId,
        address: &str,
    ) -> Result<Attempt, CommandError> {
        self.begin(self.key("account", &user.uuid().to_string()), address)
            .await
    }

    async fn begin(&self, subject: Vec<u8>, address: &str) -> Result<Attempt, CommandError> {
        let now = OffsetDateTime::now_utc();
        let limits = [
            (subject, self.per_user),
            (self.key("address", address), self.per_address),
        ];
        let mut attempt = Attempt {
            reservations: Vec::with_capacity(2),
        };
        for (key, limit) in limits {
            let slot = self
                .accounts
                .reserve_login_attempt(&key, limit, self.window, now)
                .await;
            match slot {
                Ok(LoginSlot::Reserved(window_start)) => {
                    attempt.reservations.push((key, window_start));
                }
                Ok(LoginSlot::Refused(retry_after)) => {
                    // Not checked, so not counted against the other limit.
                    self.release(attempt).await?;
                    return Err(CommandError::TooManyLoginAttempts { retry_after });
                }
                Err(err) => {
                    self.release(attempt).await?;
                    return Err(err.into());
                }
            }
        }
        if rand::random::<u8>() == 0 {
            // Now and then, forget the counters of windows long over.
            self.accounts
                .forget_login_attempts(now - self.window * 2)
                .await?;
        }
        Ok(attempt)
    }

    /// Settles an attempt: a failure (a wrong password) stays counted; a
    /// success, or an attempt that could not be checked, gives its
    /// reservations back.
    pub async fn settle(&self, attempt: Attempt, failed: bool) -> Result<(), CommandError> {
        if failed {
            return Ok(());
        }
        self.release(attempt).await
    }

    async fn release(&self, attempt: Attempt) -> Result<(), CommandError> {
        for (key, window_start) in attempt.reservations {
            self.accounts
                .release_login_attempt(&key, window_start)
                .await?;
        }
        Ok(())
    }

    fn key(&self, kind: &str, value: &str) -> Vec<u8> {
        self.signer
            .keyed_digest("login-attempts", &[kind.as_bytes(), value.as_bytes()])
    }
}
