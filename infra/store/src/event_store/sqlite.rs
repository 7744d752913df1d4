//! The event log on SQLite, for the embedded default.
//!
//! Every write goes through the one writer connection, so transactions commit
//! in the order their rows were numbered and the row position alone is a
//! commit-safe order.

use std::collections::HashMap;

use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Connection as _;
use sqlx::{Row, SqliteConnection};
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
use crate::db::{from_i64, to_i64, SqliteDatabase, Time};
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

    /// Appends inside a transaction the caller controls, so that other writes
    /// can commit or fail together with the events.
    pub async fn append_in(
        conn: &mut SqliteConnection,
        append: &Append,
    ) -> Result<Appended, StoreError> {
        check_append(append)?;
        let fail = |e| append_error(e, &append.stream, append.expected_version);
        if let Some(user) = append.required_account() {
            // One writer at a time: the account cannot close before commit.
            let open: bool = sqlx::query_scalar(ACCOUNT_OPEN)
                .bind(user.uuid())
                .fetch_one(&mut *conn)
                .await?;
            if !open {
                return Err(StoreError::AccountClosed);
            }
        }
        // Checked, sealed and inserted event by event on the one writer
        // (PostgreSQL: one statement that chains the seals itself).
        let current: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1",
        )
        .bind(append.stream.as_str())
        .fetch_one(&mut *conn)
        .await?;
        if current != to_i64(append.expected_version)? {
            return Err(StoreError::Conflict {
                stream: append.stream.clone(),
                expected: append.expected_version,
            });
        }
        let metadata = serde_json::to_string(&append.metadata).map_err(StoreError::corrupt)?;
        let recorded_at = audit::recording_time(OffsetDateTime::now_utc());
        let previous: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT hash FROM events WHERE stream_id = $1 AND stream_version = $2",
        )
        .bind(append.stream.as_str())
        .bind(current)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
        let mut prev = previous
            .and_then(|h| audit::Hash::try_from(h).ok())
            .unwrap_or(audit::GENESIS);
        let mut version = append.expected_version;
        let mut position = 0;
        for (event, digest) in append.events.iter().zip(append.digests(recorded_at)?) {
            version += 1;
            let digest = audit::Hash::try_from(digest).unwrap_or(audit::GENESIS);
            let hash = audit::chain(&prev, &digest);
            position = sqlx::query_scalar(
                "INSERT INTO events (event_id, stream_id, stream_version, event_type,
                     schema_version, payload, metadata, recorded_at, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position",
            )
            .bind(event.event_id)
            .bind(append.stream.as_str())
            .bind(to_i64(version)?)
            .bind(&event.event_type)
            .bind(i64::from(event.schema_version))
            .bind(event.payload.to_string())
            .bind(&metadata)
            .bind(Time(recorded_at))
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            prev = hash;
        }
        let appended = Appended {
            version,
            position: Position::new(0, from_i64(position)?),
        };
        for write in &append.side_writes {
            apply_side_write(&mut *conn, write, recorded_at, appended, append).await?;
        }
        Ok(appended)
    }
}

async fn apply_side_write(
    conn: &mut SqliteConnection,
    write: &SideWrite,
    now: OffsetDateTime,
    appended: Appended,
    append: &Append,
) -> Result<(), StoreError> {
    let fail = |e| append_error(e, &append.stream, append.expected_version);
    match write {
        SideWrite::Ledger(write) => documents::apply_sqlite(conn, write).await?,
        SideWrite::CreateNoteKey { note, owner, key } => {
            // No row lock (PostgreSQL's `FOR KEY SHARE`): one writer.
            let created = sqlx::query(
                "INSERT INTO note_keys (note_id, owner_id, key) SELECT $1, $2, $3
                 WHERE EXISTS (SELECT 1 FROM credentials WHERE user_id = $2)",
            )
            .bind(note.uuid())
            .bind(owner.uuid())
            .bind(key.expose())
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
            if created.rows_affected() == 0 {
                return Err(StoreError::AccountClosed);
            }
        }
        SideWrite::DestroyOwnerKeys { owner } => {
            sqlx::query(DESTROY_OWNER_KEYS)
                .bind(owner.uuid())
                .execute(&mut *conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::DestroyNoteKey { note } => {
            sqlx::query(DESTROY_NOTE_KEY)
                .bind(note.uuid())
                .execute(&mut *conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::ClaimUsername { username, user_id } => {
            sqlx::query(CLAIM_USERNAME)
                .bind(username)
                .bind(user_id.uuid())
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::ReleaseUsername { user_id } => {
            sqlx::query(RELEASE_USERNAME)
                .bind(user_id.uuid())
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::SetPasswordHash { user_id, hash } => {
            sqlx::query(SET_PASSWORD_HASH)
                .bind(user_id.uuid())
                .bind(hash)
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::DeleteCredentials { user_id } => {
            sqlx::query(DELETE_CREDENTIALS)
                .bind(user_id.uuid())
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::RevokeSessions {
            user_id,
            except,
            tokens_until,
        } => {
            // Session by session (PostgreSQL: one statement); `IS NOT` is
            // SQLite's `IS DISTINCT FROM`.
            let revoked: Vec<uuid::Uuid> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1
                 WHERE user_id = $2 AND revoked_at IS NULL AND id IS NOT $3 RETURNING id",
            )
            .bind(Time(now))
            .bind(user_id.uuid())
            .bind(except)
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?;
            for session in revoked {
                accounts::sqlite_revoke_tokens(conn, *user_id, Some(session), *tokens_until, now)
                    .await
                    .map_err(fail)?;
            }
        }
        SideWrite::RevokeAccountTokens { user_id, until } => {
            accounts::sqlite_revoke_tokens(conn, *user_id, None, *until, now)
                .await
                .map_err(fail)?;
        }
        // Checked before the events are inserted.
        SideWrite::RequireOpenAccount { .. } => {}
        SideWrite::CreateUserKey { user_id, key } => {
            sqlx::query(CREATE_USER_KEY)
                .bind(user_id.uuid())
                .bind(key.expose())
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::DestroyUserKey { user_id } => {
            sqlx::query(DESTROY_USER_KEY)
                .bind(user_id.uuid())
                .execute(conn)
                .await
                .map_err(fail)?;
        }
        SideWrite::RememberReply(reply) => {
            // The body is text and `created_at` the append's time (see the
            // PostgreSQL store).
            sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(reply.user_id.uuid())
            .bind(&reply.key)
            .bind(&reply.request_hash)
            .bind(i64::from(reply.status))
            .bind(reply_with_outcome(reply, appended).to_string())
            .bind(Time(now))
            .execute(conn)
            .await.map_err(fail)?;
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

fn decode_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: Position::new(0, from_i64(row.try_get("position")?)?),
        event_id: row.try_get("event_id")?,
        stream_id: StreamId::from_stored(row.try_get("stream_id")?),
        stream_version: from_i64(row.try_get("stream_version")?)?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(row.try_get::<i64, _>("schema_version")?)
            .map_err(StoreError::corrupt)?,
        // Text that is not JSON (the file was damaged) is kept as a string,
        // so that whoever reads it names this event: the codec refuses it
        // and `audit verify` reports it, then both go on.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        metadata: serde_json::from_str::<Metadata>(&metadata).map_err(StoreError::corrupt)?,
        recorded_at: row.try_get::<Time, _>("recorded_at")?.0,
        seal: audit::seal_of(row.try_get("prev_hash")?, row.try_get("hash")?)?,
    })
}

#[async_trait]
impl EventStore for SqliteEventStore {
    #[tracing::instrument(name = "append", level = "debug", skip_all, fields(
        stream = %append.stream,
        expected = append.expected_version,
        events = append.events.len(),
    ))]
    async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        let mut writer = self.db.writer().await?;
        let mut tx = writer.begin().await?;
        let appended = Self::append_in(&mut tx, &append).await?;
        tx.commit().await?;
        // Emptying the write-ahead log needs the writer.
        drop(writer);
        if append.side_writes.iter().any(erases) {
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
        let sql = format!("{SELECT_EVENT} {STREAM_EVENTS}");
        let rows = sqlx::query(&sql)
            .bind(stream.as_str())
            .bind(to_i64(after_version)?)
            .fetch_all(&mut *self.db.reader().await?)
            .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        // The row alone (PostgreSQL: with the transaction's xid8).
        let row = sqlx::query(
            "SELECT stream_version, position FROM events
             WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
        )
        .bind(stream.as_str())
        .fetch_optional(&mut *self.db.reader().await?)
        .await?;
        row.map(|row| {
            Ok(StreamHead {
                version: from_i64(row.try_get("stream_version")?)?,
                position: Position::new(0, from_i64(row.try_get("position")?)?),
            })
        })
        .transpose()
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // The row order is the commit order (PostgreSQL: by xid8, below the
        // oldest running transaction).
        let sql = format!("{SELECT_EVENT} WHERE position > $1 ORDER BY position LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(to_i64(after.seq())?)
            .bind(to_i64(limit as u64)?)
            .fetch_all(&mut *self.db.reader().await?)
            .await?;
        rows.iter().map(decode_row).collect()
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
        let row = sqlx::query(FIND_REPLY)
            .bind(user.uuid())
            .bind(key)
            .fetch_optional(&mut *self.db.reader().await?)
            .await?;
        row.map(|row| {
            let body: String = row.try_get("body")?;
            Ok(StoredReply {
                user_id: user,
                key: key.to_owned(),
                request_hash: row.try_get("request_hash")?,
                status: u16::try_from(row.try_get::<i64, _>("status")?)
                    .map_err(StoreError::corrupt)?,
                body: serde_json::from_str(&body).map_err(StoreError::corrupt)?,
            })
        })
        .transpose()
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
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE position = $1)")
                .bind(seq)
                .fetch_one(&mut *self.db.reader().await?)
                .await?;
        Ok(found)
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
