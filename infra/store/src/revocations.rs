//! Access tokens refused before they expire: those of a logged-out or
//! otherwise revoked session, and every token of a deleted account.
//!
//! The revocations live in the event-log database (written in the
//! transactions that revoke); each instance keeps those still in force in
//! memory and checks every token there, without a database round trip. An
//! instance learns of new ones from its own commits at once, from the other
//! instances through PostgreSQL notices (the notice names the account, whose
//! revocations are then loaded), and from a periodic reload of the whole set
//! that heals a notice missed while the listening connection was down.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anote_domain::UserId;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use crate::accounts::AccountStore;
use crate::db::PgDatabase;
use crate::error::StoreError;

/// The PostgreSQL channel on which a revocation names its account.
pub const REVOCATION_CHANNEL: &str = "anote_revocations";

/// One revocation as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The account.
    pub user: UserId,
    /// The session whose tokens are refused; `None` for every token of the
    /// account (it was deleted).
    pub session: Option<Uuid>,
    /// When the last token it covers expires; it can be forgotten then.
    pub expires_at: OffsetDateTime,
}

/// The revocations in force, by account and by session.
#[derive(Debug, Default)]
struct Revoked {
    accounts: HashMap<UserId, OffsetDateTime>,
    sessions: HashMap<Uuid, OffsetDateTime>,
}

impl Revoked {
    fn add(&mut self, revocation: Revocation) {
        let until = match revocation.session {
            Some(session) => self
                .sessions
                .entry(session)
                .or_insert(revocation.expires_at),
            None => self
                .accounts
                .entry(revocation.user)
                .or_insert(revocation.expires_at),
        };
        *until = (*until).max(revocation.expires_at);
    }

    /// Whether a token of this account and session is refused at `now`.
    fn covers(&self, user: UserId, session: Uuid, now: OffsetDateTime) -> bool {
        self.accounts.get(&user).is_some_and(|until| *until > now)
            || self
                .sessions
                .get(&session)
                .is_some_and(|until| *until > now)
    }

    fn forget_expired(&mut self, now: OffsetDateTime) {
        self.accounts.retain(|_, until| *until > now);
        self.sessions.retain(|_, until| *until > now);
    }
}

/// The revocations this instance knows, shared by its handlers.
#[derive(Clone)]
pub struct Revocations {
    revoked: Arc<RwLock<Revoked>>,
    accounts: Arc<dyn AccountStore>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// The revocations in force in this store, loaded.
    pub async fn load(accounts: Arc<dyn AccountStore>) -> Result<Self, StoreError> {
        let revocations = Self {
            revoked: Arc::default(),
            accounts,
        };
        revocations.reload().await?;
        Ok(revocations)
    }

    /// Whether a token of this account and session is refused.
    pub fn is_revoked(&self, user: UserId, session: Uuid) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .covers(user, session, OffsetDateTime::now_utc())
    }

    fn add_all(&self, found: Vec<Revocation>, forget_expired: bool) {
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        if forget_expired {
            revoked.forget_expired(OffsetDateTime::now_utc());
        }
        for revocation in found {
            revoked.add(revocation);
        }
    }

    /// Loads an account's revocations (after one was committed).
    pub async fn reload_account(&self, user: UserId) -> Result<(), StoreError> {
        let found = self
            .accounts
            .token_revocations(Some(user), OffsetDateTime::now_utc())
            .await?;
        self.add_all(found, false);
        Ok(())
    }

    /// Loads every revocation in force and forgets the expired ones.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let found = self
            .accounts
            .token_revocations(None, OffsetDateTime::now_utc())
            .await?;
        self.add_all(found, true);
        Ok(())
    }

    /// Follows the revocations other instances commit to this PostgreSQL
    /// database: their notices at once, and a reload every `poll` (and
    /// after every reconnection) in case a notice was missed. Runs until
    /// `stop` turns true.
    pub async fn follow_postgres(
        self,
        db: PgDatabase,
        poll: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let polling = tokio::spawn(self.clone().poll(poll, stop.clone()));
        let listening = tokio::spawn(self.listen(db));
        let mut stop = stop;
        let _ = stop.wait_for(|stopped| *stopped).await;
        listening.abort();
        let _ = polling.await;
    }

    async fn poll(self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(err) = self.reload().await {
                tracing::warn!(error = %err, "cannot reload token revocations");
            }
        }
    }

    async fn listen(self, db: PgDatabase) {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(db.pool()).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for token revocations; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(REVOCATION_CHANNEL).await {
                tracing::warn!(error = %err, "cannot listen for token revocations; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                let loaded = match listener.try_recv().await {
                    Ok(Some(notice)) => match notice.payload().parse::<Uuid>() {
                        Ok(user) => self.reload_account(UserId::from_uuid(user)).await,
                        Err(_) => self.reload().await,
                    },
                    // The connection dropped and is reopened: notices may
                    // have been missed meanwhile.
                    Ok(None) => self.reload().await,
                    Err(err) => {
                        tracing::warn!(error = %err, "token revocation notices interrupted");
                        break;
                    }
                };
                if let Err(err) = loaded {
                    tracing::warn!(error = %err, "cannot load token revocations");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_or_a_session_is_refused_until_its_revocation_expires() {
        let now = OffsetDateTime::now_utc();
        let (ada, grace) = (UserId::new(), UserId::new());
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let mut revoked = Revoked::default();
        revoked.add(Revocation {
            user: ada,
            session: Some(s1),
            expires_at: now + time::Duration::minutes(15),
        });
        revoked.add(Revocation {
            user: grace,
            session: None,
            expires_at: now - time::Duration::seconds(1),
        });
        assert!(revoked.covers(ada, s1, now), "the revoked session");
        assert!(
            !revoked.covers(ada, s2, now),
            "another session of the account"
        );
        assert!(!revoked.covers(grace, s2, now), "an expired revocation");
        revoked.add(Revocation {
            user: grace,
            session: None,
            expires_at: now + time::Duration::minutes(1),
        });
        assert!(revoked.covers(grace, Uuid::new_v4(), now), "every session");
        assert!(!revoked.covers(grace, s2, now + time::Duration::minutes(2)));
        revoked.forget_expired(now + time::Duration::minutes(2));
        assert!(revoked.accounts.is_empty() && revoked.sessions.len() == 1);
    }
}
