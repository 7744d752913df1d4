//! The event log on SQLite, for the embedded default.
//!
//! Every write goes through the one writer connection, so transactions commit
//! in the order their rows were numbered and the row position alone is a
//! commit-safe order.

use std::collections::HashMap;
use std::sync::LazyLock;

use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior};
use time::OffsetDateTime;

use super::shredding::NoteKey;
use super::sql::{
    ACCOUNT_OPEN, CLAIM_USERNAME, CREATE_USER_KEY, DELETE_CREDENTIALS, DESTROY_NOTE_KEY,
    DESTROY_OWNER_KEYS, DESTROY_USER_KEY, FIND_REPLY, NEWEST, PING, RELEASE_USERNAME,
    SET_PASSWORD_HASH, STREAM_EVENTS, UNSEALED_THROUGH, USER_KEY,
};
use super::{
    audit, check_append, reply_with_outcome, Append, Appended, EventStore, Metadata, Position,
    RecordedEvent, SideWrite, StoredReply, StreamHead,
};
use crate::accounts;
use crate::db::{direct, from_i64, from_micros, micros, to_i64, SqliteDatabase};
use crate::documents;
use crate::error::{append_error, StoreError};

/// The event log in the embedded SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteEventStore {
    db: SqliteDatabase,
}

impl SqliteEventStore {
    /// An event store over this database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }

    /// Appends inside a transaction the caller controls (begun on the
    /// writer's in-place connection, see [`SqliteDatabase::write_in_place`]),
    /// so that other writes can commit or fail together with the events.
    pub fn append_in(conn: &Connection, append: &Append) -> Result<Appended, StoreError> {
        check_append(append)?;
        let fail = |e: StoreError| match e {
            StoreError::Database(e) => append_error(e, &append.stream, append.expected_version),
            other => other,
        };
        if let Some(user) = append.required_account() {
            // One writer at a time: the account cannot close before commit.
            let open: bool = direct::one(conn, ACCOUNT_OPEN, &[&user.uuid()])?;
            if !open {
                return Err(StoreError::AccountClosed);
            }
        }
        // Checked, sealed and inserted event by event on the one writer
        // (PostgreSQL: one statement that chains the seals itself).
        let (current, previous): (i64, Option<Vec<u8>>) = direct::first_row(
            conn,
            "SELECT stream_version, hash FROM events WHERE stream_id = $1
             ORDER BY stream_version DESC LIMIT 1",
            &[&append.stream.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .unwrap_or((0, None));
        if current != to_i64(append.expected_version)? {
            return Err(StoreError::Conflict {
                stream: append.stream.clone(),
                expected: append.expected_version,
            });
        }
        let metadata = serde_json::to_string(&append.metadata).map_err(StoreError::corrupt)?;
        let recorded_at = audit::recording_time(OffsetDateTime::now_utc());
        let mut prev = previous
            .and_then(|h| audit::Hash::try_from(h).ok())
            .unwrap_or(audit::GENESIS);
        let mut version = append.expected_version;
        let mut position = 0;
        for (event, digest) in append.events.iter().zip(append.digests(recorded_at)?) {
            version += 1;
            let digest = audit::Hash::try_from(digest).unwrap_or(audit::GENESIS);
            let hash = audit::chain(&prev, &digest);
            position = direct::one(
                conn,
                "INSERT INTO events (event_id, stream_id, stream_version, event_type,
                     schema_version, payload, metadata, recorded_at, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position",
                &[
                    &event.event_id,
                    &append.stream.as_str(),
                    &to_i64(version)?,
                    &event.event_type,
                    &i64::from(event.schema_version),
                    &event.payload.to_string(),
                    &metadata,
                    &micros(recorded_at),
                    &prev.as_slice(),
                    &hash.as_slice(),
                ],
            )
            .map_err(fail)?;
            prev = hash;
        }
        let appended = Appended {
            version,
            position: Position::new(0, from_i64(position)?),
        };
        for write in &append.side_writes {
            apply_side_write(conn, write, recorded_at, appended).map_err(fail)?;
        }
        Ok(appended)
    }
}

/// Runs one side write of `append`, in its transaction.
fn apply_side_write(
    conn: &Connection,
    write: &SideWrite,
    now: OffsetDateTime,
    appended: Appended,
) -> Result<(), StoreError> {
    match write {
        SideWrite::Ledger(write) => documents::apply_sqlite(conn, write)?,
        SideWrite::CreateNoteKey { note, owner, key } => {
            // No row lock (PostgreSQL's `FOR KEY SHARE`): one writer.
            let created = direct::execute(
                conn,
                "INSERT INTO note_keys (note_id, owner_id, key) SELECT $1, $2, $3
                 WHERE EXISTS (SELECT 1 FROM credentials WHERE user_id = $2)",
                &[&note.uuid(), &owner.uuid(), &key.expose()],
            )?;
            if created == 0 {
                return Err(StoreError::AccountClosed);
            }
        }
        SideWrite::DestroyOwnerKeys { owner } => {
            direct::execute(conn, DESTROY_OWNER_KEYS, &[&owner.uuid()])?;
        }
        SideWrite::DestroyNoteKey { note } => {
            direct::execute(conn, DESTROY_NOTE_KEY, &[&note.uuid()])?;
        }
        SideWrite::ClaimUsername { username, user_id } => {
            direct::execute(conn, CLAIM_USERNAME, &[username, &user_id.uuid()])?;
        }
        SideWrite::ReleaseUsername { user_id } => {
            direct::execute(conn, RELEASE_USERNAME, &[&user_id.uuid()])?;
        }
        SideWrite::SetPasswordHash { user_id, hash } => {
            direct::execute(conn, SET_PASSWORD_HASH, &[&user_id.uuid(), hash])?;
        }
        SideWrite::DeleteCredentials { user_id } => {
            direct::execute(conn, DELETE_CREDENTIALS, &[&user_id.uuid()])?;
        }
        SideWrite::RevokeSessions {
            user_id,
            except,
            tokens_until,
        } => {
            // Session by session (PostgreSQL: one statement); `IS NOT` is
            // SQLite's `IS DISTINCT FROM`.
            let revoked: Vec<uuid::Uuid> = direct::column(
                conn,
                "UPDATE sessions SET revoked_at = $1
                 WHERE user_id = $2 AND revoked_at IS NULL AND id IS NOT $3 RETURNING id",
                &[&micros(now), &user_id.uuid(), except],
            )?;
            for session in revoked {
                accounts::sqlite_revoke_tokens(conn, *user_id, Some(session), *tokens_until, now)?;
            }
        }
        SideWrite::RevokeAccountTokens { user_id, until } => {
            accounts::sqlite_revoke_tokens(conn, *user_id, None, *until, now)?;
        }
        // Checked before the events are inserted.
        SideWrite::RequireOpenAccount { .. } => {}
        SideWrite::CreateUserKey { user_id, key } => {
            direct::execute(conn, CREATE_USER_KEY, &[&user_id.uuid(), &key.expose()])?;
        }
        SideWrite::DestroyUserKey { user_id } => {
            direct::execute(conn, DESTROY_USER_KEY, &[&user_id.uuid()])?;
        }
        SideWrite::RememberReply(reply) => {
            // The body is text and `created_at` the append's time (see the
            // PostgreSQL store).
            direct::execute(
                conn,
                "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &reply.user_id.uuid(),
                    &reply.key,
                    &reply.request_hash,
                    &i64::from(reply.status),
                    &reply_with_outcome(reply, appended).to_string(),
                    &micros(now),
                ],
            )?;
        }
    }
    Ok(())
}

/// Whether a side write destroys something (a key, a password hash, a
/// released username) that must not stay readable in the database's files.
fn erases(write: &SideWrite) -> bool {
    matches!(
        write,
        SideWrite::DestroyNoteKey { .. }
            | SideWrite::DestroyOwnerKeys { .. }
            | SideWrite::DeleteCredentials { .. }
            | SideWrite::DestroyUserKey { .. }
            | SideWrite::ReleaseUsername { .. }
    )
}

/// The columns of an event (its position is the row's alone).
const SELECT_EVENT: &str = "SELECT position, event_id, stream_id, stream_version, event_type,
    schema_version, payload, metadata, recorded_at, prev_hash, hash FROM events";

/// An event from a row of [`SELECT_EVENT`]'s columns, in their order.
fn decode_row(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let payload: String = row.get(6)?;
    let metadata: String = row.get(7)?;
    Ok(RecordedEvent {
        position: Position::new(0, from_i64(row.get(0)?)?),
        event_id: row.get(1)?,
        stream_id: StreamId::from_stored(row.get(2)?),
        stream_version: from_i64(row.get(3)?)?,
        event_type: row.get(4)?,
        schema_version: u32::try_from(row.get::<_, i64>(5)?).map_err(StoreError::corrupt)?,
        // Text that is not JSON (the file was damaged) is kept as a string,
        // so that whoever reads it names this event: the codec refuses it
        // and `audit verify` reports it, then both go on.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        metadata: serde_json::from_str::<Metadata>(&metadata).map_err(StoreError::corrupt)?,
        recorded_at: from_micros(row.get(8)?)?,
        seal: audit::seal_of(row.get(9)?, row.get(10)?)?,
    })
}

/// A stream's events after a version: `$1` stream, `$2` version.
static READ_STREAM: LazyLock<String> = LazyLock::new(|| format!("{SELECT_EVENT} {STREAM_EVENTS}"));

/// The log after a position: `$1` position, `$2` limit. The row order is
/// the commit order (PostgreSQL: by xid8, below the oldest running
/// transaction).
static READ_ALL: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT_EVENT} WHERE position > $1 ORDER BY position LIMIT $2"));

#[async_trait]
impl EventStore for SqliteEventStore {
    #[tracing::instrument(name = "append", level = "debug", skip_all, fields(
        stream = %append.stream,
        expected = append.expected_version,
        events = append.events.len(),
    ))]
    async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        let erasing = append.side_writes.iter().any(erases);
        let appended = self
            .db
            .write_in_place(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let appended = Self::append_in(&tx, &append)?;
                tx.commit()?;
                Ok(appended)
            })
            .await?;
        if erasing {
            // The erased rows are zeroed in the file; old log frames that
            // held them go too.
            self.db.truncate_wal().await;
        }
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let after = to_i64(after_version)?;
        self.db
            .read_in_place(|conn| {
                direct::rows(conn, &READ_STREAM, &[&stream.as_str(), &after], decode_row)
            })
            .await
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        // The row alone (PostgreSQL: with the transaction's xid8).
        self.db
            .read_in_place(|conn| {
                direct::first_row(
                    conn,
                    "SELECT stream_version, position FROM events
                     WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
                    &[&stream.as_str()],
                    |row| {
                        Ok(StreamHead {
                            version: from_i64(row.get(0)?)?,
                            position: Position::new(0, from_i64(row.get(1)?)?),
                        })
                    },
                )
            })
            .await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (after, limit) = (to_i64(after.seq())?, to_i64(limit as u64)?);
        self.db
            .read_in_place(|conn| direct::rows(conn, &READ_ALL, &[&after, &limit], decode_row))
            .await
    }

    async fn note_keys(&self, notes: &[NoteId]) -> Result<HashMap<NoteId, NoteKey>, StoreError> {
        // One by one (PostgreSQL: one array of ids).
        let mut keys = HashMap::new();
        for note in notes {
            let key: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT key FROM note_keys WHERE note_id = $1")
                    .bind(note.uuid())
                    .fetch_optional(&mut *self.db.reader().await?)
                    .await?;
            if let Some(key) = key {
                keys.insert(*note, NoteKey::from_stored(key)?);
            }
        }
        Ok(keys)
    }

    async fn user_key(&self, user: UserId) -> Result<Option<NoteKey>, StoreError> {
        let key: Option<Vec<u8>> = sqlx::query_scalar(USER_KEY)
            .bind(user.uuid())
            .fetch_optional(&mut *self.db.reader().await?)
            .await?;
        key.map(NoteKey::from_stored).transpose()
    }

    async fn find_reply(&self, user: UserId, key: &str) -> Result<Option<StoredReply>, StoreError> {
        self.db
            .read_in_place(|conn| {
                direct::first_row(conn, FIND_REPLY, &[&user.uuid(), &key], |row| {
                    let body: String = row.get(2)?;
                    Ok(StoredReply {
                        user_id: user,
                        key: key.to_owned(),
                        request_hash: row.get(0)?,
                        status: u16::try_from(row.get::<_, i64>(1)?)
                            .map_err(StoreError::corrupt)?,
                        body: serde_json::from_str(&body).map_err(StoreError::corrupt)?,
                    })
                })
            })
            .await
    }

    async fn newest(&self) -> Result<u64, StoreError> {
        let newest: i64 = sqlx::query_scalar(NEWEST)
            .fetch_one(&mut *self.db.reader().await?)
            .await?;
        from_i64(newest)
    }

    async fn unsealed_through(&self) -> Result<u64, StoreError> {
        let through: Option<i64> = sqlx::query_scalar(UNSEALED_THROUGH)
            .fetch_one(&mut *self.db.reader().await?)
            .await?;
        from_i64(through.unwrap_or(0))
    }

    async fn has_position(&self, position: Position) -> Result<bool, StoreError> {
        let Ok(seq) = i64::try_from(position.seq()) else {
            return Ok(false);
        };
        // No transaction part on SQLite (PostgreSQL: an xid8).
        if position.tx() != 0 {
            return Ok(false);
        }
        self.db
            .read_in_place(|conn| {
                direct::one(
                    conn,
                    "SELECT EXISTS (SELECT 1 FROM events WHERE position = $1)",
                    &[&seq],
                )
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING)
            .execute(&mut *self.db.reader().await?)
            .await?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.db.truncate_wal().await;
        Ok(())
    }
}
