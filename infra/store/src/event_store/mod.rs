//! The event log port: append to a stream with an expected version, read a
//! stream, and follow the whole log in commit-safe order.

pub mod anchor;
pub mod audit;
pub mod codec;
mod postgres;
pub mod shredding;
mod sql;
mod sqlite;
pub mod until;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::documents::LedgerWrite;
use crate::error::StoreError;

/// Where an event sits in the commit order of the whole log.
///
/// On PostgreSQL it is the writing transaction's id and the event's row
/// position; on SQLite (one writer at a time) the transaction part is zero.
/// Its text form (`"<tx>-<seq>"`) is opaque to clients: they only hand it back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    tx: u64,
    seq: u64,
}

impl Position {
    /// Before the first event.
    pub const START: Self = Self { tx: 0, seq: 0 };

    /// Builds a position from its parts.
    pub fn new(tx: u64, seq: u64) -> Self {
        Self { tx, seq }
    }

    /// The transaction part.
    pub fn tx(self) -> u64 {
        self.tx
    }

    /// The row part: the global sequence number of the event.
    pub fn seq(self) -> u64 {
        self.seq
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.tx, self.seq)
    }
}

/// A position string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a log position: expected <tx>-<seq>")]
pub struct BadPosition;

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Position {
    type Err = BadPosition;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tx, seq) = s.split_once('-').ok_or(BadPosition)?;
        Ok(Self {
            tx: tx.parse().map_err(|_| BadPosition)?,
            seq: seq.parse().map_err(|_| BadPosition)?,
        })
    }
}

/// Who and what caused an append; stored with every event it adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The user acting, if known.
    pub actor: Option<UserId>,
    /// Groups every event caused by one user action.
    pub correlation_id: Uuid,
    /// The message (request or event) that caused this one.
    pub causation_id: Option<Uuid>,
    /// The HTTP request that carried the command.
    pub request_id: Option<String>,
}

impl Metadata {
    /// Metadata for a request with this id, acting as `actor`.
    pub fn for_request(actor: Option<UserId>, request_id: Uuid) -> Self {
        Self {
            actor,
            correlation_id: request_id,
            causation_id: Some(request_id),
            request_id: Some(request_id.to_string()),
        }
    }
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Its unique id.
    pub event_id: Uuid,
    /// Its type, such as `NoteCreated`.
    pub event_type: String,
    /// The version of its payload's shape.
    pub schema_version: u32,
    /// Its data, without the type tag.
    pub payload: serde_json::Value,
}

/// An event as stored in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Where it sits in the commit order.
    pub position: Position,
    /// Its unique id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream_id: StreamId,
    /// Its version within the stream, from 1, without gaps.
    pub stream_version: u64,
    /// Its type.
    pub event_type: String,
    /// The version of its payload's shape as written.
    pub schema_version: u32,
    /// Its data.
    pub payload: serde_json::Value,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: OffsetDateTime,
    /// Its tamper-evidence seal (absent for events written before sealing,
    /// and in Kinesis records).
    pub seal: Option<audit::Seal>,
}

/// A write to another table, made in the same transaction as the events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideWrite {
    /// Claim a username for a user; fails with `UsernameTaken` if claimed.
    ClaimUsername {
        /// The folded username.
        username: String,
        /// Its owner.
        user_id: UserId,
    },
    /// Free the username of a user.
    ReleaseUsername {
        /// The user.
        user_id: UserId,
    },
    /// Store (or replace) a user's password hash.
    SetPasswordHash {
        /// The user.
        user_id: UserId,
        /// The PHC string of the hash.
        hash: String,
    },
    /// Forget a user's password hash.
    DeleteCredentials {
        /// The user.
        user_id: UserId,
    },
    /// Revoke the user's sessions, except one, and refuse their access
    /// tokens until `tokens_until`.
    RevokeSessions {
        /// The user.
        user_id: UserId,
        /// A session to keep, such as the one making the request.
        except: Option<Uuid>,
        /// When the last access token of a revoked session expires.
        tokens_until: OffsetDateTime,
    },
    /// Refuse every access token of the user until `until` (the account is
    /// deleted).
    RevokeAccountTokens {
        /// The user.
        user_id: UserId,
        /// When the last access token of the account expires.
        until: OffsetDateTime,
    },
    /// Fail the append with [`StoreError::AccountClosed`] unless the user's
    /// account is open (it has credentials): no event of a command by a
    /// deleted account is written after its deletion committed.
    RequireOpenAccount {
        /// The acting user.
        user_id: UserId,
    },
    /// Stores a new account's data key, which seals its personal fields.
    CreateUserKey {
        /// The user.
        user_id: UserId,
        /// Its key.
        key: shredding::NoteKey,
    },
    /// Destroys an account's data key: its personal fields are unreadable
    /// from now on.
    DestroyUserKey {
        /// The user.
        user_id: UserId,
    },
    /// Remember the reply to a command sent with an idempotency key. The
    /// store sets `version` and `position` in the body (a JSON object) to
    /// those of the append.
    RememberReply(StoredReply),
    /// Changes the document ledger (and may fail the append when a
    /// reservation exceeds the owner's quota).
    Ledger(LedgerWrite),
    /// Stores a new note's data key; fails the append with
    /// [`StoreError::AccountClosed`] unless the owner's account is open,
    /// and keeps it open until the append commits, so no key is ever
    /// created that the account's deletion does not destroy.
    CreateNoteKey {
        /// The note.
        note: NoteId,
        /// Its owner.
        owner: UserId,
        /// Its key.
        key: shredding::NoteKey,
    },
    /// Destroys a note's data key: its content is unreadable from now on.
    DestroyNoteKey {
        /// The note.
        note: NoteId,
    },
    /// Destroys the data keys of all of a user's notes (account deletion).
    DestroyOwnerKeys {
        /// The user.
        owner: UserId,
    },
}

/// The first reply to a command sent with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReply {
    /// The user who sent it.
    pub user_id: UserId,
    /// The key they sent.
    pub key: String,
    /// A hash of the request, to refuse the same key for another request.
    pub request_hash: Vec<u8>,
    /// The HTTP status of the reply.
    pub status: u16,
    /// The JSON body of the reply.
    pub body: serde_json::Value,
}

/// One atomic append.
#[derive(Clone, Debug)]
pub struct Append {
    /// The stream to append to.
    pub stream: StreamId,
    /// The version the writer last saw; 0 for a new stream.
    pub expected_version: u64,
    /// The events, in order; at least one.
    pub events: Vec<NewEvent>,
    /// Stored with each event.
    pub metadata: Metadata,
    /// Writes that must commit or fail with the events.
    pub side_writes: Vec<SideWrite>,
}

/// The outcome of a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// The position of the last event appended.
    pub position: Position,
}

/// The last event of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHead {
    /// The stream's current version.
    pub version: u64,
    /// The position of its last event.
    pub position: Position,
}

/// The event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events atomically if the stream is still at `expected_version`;
    /// otherwise fails with [`StoreError::Conflict`] and writes nothing.
    async fn append(&self, append: Append) -> Result<Appended, StoreError>;

    /// The events of a stream with a version above `after_version`, in order.
    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's version and last position, if it has any event.
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError>;

    /// Up to `limit` committed events after `after`, in commit order. An event
    /// is returned only once every transaction that could commit before it has
    /// ended, so a reader that resumes from the last position it saw never
    /// misses an event nor sees one twice.
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The reply remembered for this user's idempotency key, if any.
    async fn find_reply(&self, user: UserId, key: &str) -> Result<Option<StoredReply>, StoreError>;

    /// The data keys of these notes that still exist (a purged note has none).
    async fn note_keys(
        &self,
        notes: &[NoteId],
    ) -> Result<HashMap<NoteId, shredding::NoteKey>, StoreError>;

    /// The data key of an account, while it exists (a deleted account, or
    /// one registered before keys existed, has none).
    async fn user_key(&self, user: UserId) -> Result<Option<shredding::NoteKey>, StoreError>;

    /// The global sequence number of the newest event (0 for an empty
    /// log), for progress reports.
    async fn newest(&self) -> Result<u64, StoreError>;

    /// The global sequence number of the last event written before seals
    /// existed: every later event must be sealed. With no record of it, 0
    /// (every event must be).
    async fn unsealed_through(&self) -> Result<u64, StoreError>;

    /// Whether an event sits at exactly this position, as a command reply
    /// gives it.
    async fn has_position(&self, position: Position) -> Result<bool, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Leaves the database's files clean at shutdown: an embedded database
    /// empties its write-ahead log into the database file.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Checks the parts of an append that do not depend on the backend.
impl Append {
    /// The content digest of each event, as appended at `recorded_at`.
    pub fn digests(&self, recorded_at: OffsetDateTime) -> Result<Vec<Vec<u8>>, StoreError> {
        let metadata = serde_json::to_value(&self.metadata).map_err(StoreError::corrupt)?;
        let mut version = self.expected_version;
        self.events
            .iter()
            .map(|event| {
                version += 1;
                let content = audit::Content {
                    event_id: event.event_id,
                    stream_id: self.stream.as_str(),
                    stream_version: version,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    payload: &event.payload,
                    metadata: &metadata,
                    recorded_at,
                };
                Ok(content.digest().to_vec())
            })
            .collect()
    }
}

fn check_append(append: &Append) -> Result<(), StoreError> {
    if append.events.is_empty() {
        return Err(StoreError::Invalid("an append needs at least one event"));
    }
    Ok(())
}

impl Append {
    /// The account that must be open for the append to commit, if any.
    fn required_account(&self) -> Option<UserId> {
        self.side_writes.iter().find_map(|write| match write {
            SideWrite::RequireOpenAccount { user_id } => Some(*user_id),
            _ => None,
        })
    }
}

/// The reply to remember, with the append's version and position filled in.
fn reply_with_outcome(reply: &StoredReply, appended: Appended) -> serde_json::Value {
    let mut body = reply.body.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("version".to_owned(), appended.version.into());
        fields.insert("position".to_owned(), appended.position.to_string().into());
    }
    body
}

pub use postgres::PgEventStore;
pub use sqlite::SqliteEventStore;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order_by_transaction_first() {
        let p = Position::new(7, 42);
        assert_eq!(p.to_string().parse::<Position>(), Ok(p));
        assert!(Position::new(7, 42) < Position::new(8, 1));
        assert!("7".parse::<Position>().is_err());
        assert!("a-1".parse::<Position>().is_err());
    }
}
