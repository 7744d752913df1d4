//! The event log on PostgreSQL.
//!
//! An append without side writes is one `INSERT … SELECT` statement (one
//! round trip; its events as arrays, or as values when there is one),
//! guarded by the stream's current version and backed by the
//! `UNIQUE (stream_id, stream_version)` constraint. Readers of the whole log
//! follow `(tx_id, position)` below the oldest running transaction.

use std::collections::HashMap;

use anote_domain::{NoteId, StreamId, UserId};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use super::shredding::NoteKey;
use super::sql::{
    ACCOUNT_OPEN, CLAIM_USERNAME, CREATE_USER_KEY, DELETE_CREDENTIALS, DESTROY_NOTE_KEY,
    DESTROY_OWNER_KEYS, DESTROY_USER_KEY, FIND_REPLY, NEWEST, PING, RELEASE_USERNAME,
    SET_PASSWORD_HASH, STREAM_EVENTS, UNSEALED_THROUGH, USER_KEY,
};
use super::{
    audit, check_append, reply_with_outcome, Append, Appended, EventStore, Metadata, NewEvent,
    Position, RecordedEvent, SideWrite, StoredReply, StreamHead,
};
use crate::accounts;
use crate::db::{from_i64, to_i64, PgDatabase};
use crate::documents;
use crate::error::{append_error, StoreError};

/// The event log in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgEventStore {
    db: PgDatabase,
}

impl PgEventStore {
    /// An event store over this database.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    /// Appends inside a transaction the caller controls, so that other writes
    /// can commit or fail together with the events.
    pub async fn append_in(
        conn: &mut PgConnection,
        append: &Append,
    ) -> Result<Appended, StoreError> {
        check_append(append)?;
        let appended = insert_events(&mut *conn, append).await?;
        for write in &append.side_writes {
            apply_side_write(&mut *conn, write, appended, append).await?;
        }
        Ok(appended)
    }
}

/// Inserts the events of an append, guarded by the stream's current version,
/// sealing each: the first chains to the stream's last hash, each next one
/// to the one before (the writer sends the content digests).
const INSERT_EVENTS: &str = "
WITH RECURSIVE input AS (
    SELECT * FROM UNNEST($3::uuid[], $4::text[], $5::int[], $6::text[], $9::bytea[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, digest, ord)
), seals (ord, prev_hash, hash) AS (
    SELECT 1::bigint, p.hash, sha256(p.hash || i.digest)
    FROM (SELECT COALESCE(
              (SELECT hash FROM events WHERE stream_id = $1 AND stream_version = $2),
              decode(repeat('00', 32), 'hex')) AS hash) p
    JOIN input i ON i.ord = 1
    UNION ALL
    SELECT s.ord + 1, s.hash, sha256(s.hash || i.digest)
    FROM seals s JOIN input i ON i.ord = s.ord + 1
)
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload,
                    metadata, recorded_at, prev_hash, hash)
SELECT e.event_id, $1, $2 + e.ord, e.event_type, e.schema_version, e.payload::jsonb, $7::jsonb,
       $8, s.prev_hash, s.hash
FROM input e JOIN seals s ON s.ord = e.ord
WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1) = $2
  AND ($10::uuid IS NULL OR EXISTS (SELECT 1 FROM credentials WHERE user_id = $10))
RETURNING position, tx_id::text AS tx, stream_version";

/// [`INSERT_EVENTS`] for an append of one event (most are), with the
/// event's fields as values instead of arrays: no arrays to unnest and no
/// recursion, and one look at the stream's last event for both its version
/// and its hash.
const INSERT_EVENT: &str = "
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, payload,
                    metadata, recorded_at, prev_hash, hash)
SELECT $3, $1, $2 + 1, $4, $5, $6::jsonb, $7::jsonb, $8, head.hash, sha256(head.hash || $9)
FROM (SELECT COALESCE(last.version, 0) AS version,
             COALESCE(last.hash, decode(repeat('00', 32), 'hex')) AS hash
      FROM (SELECT 1) AS one
      LEFT JOIN (SELECT stream_version AS version, hash FROM events WHERE stream_id = $1
                 ORDER BY stream_version DESC LIMIT 1) AS last ON true) AS head
WHERE head.version = $2
  AND ($10::uuid IS NULL OR EXISTS (SELECT 1 FROM credentials WHERE user_id = $10))
RETURNING position, tx_id::text AS tx, stream_version";

async fn insert_events(conn: &mut PgConnection, append: &Append) -> Result<Appended, StoreError> {
    let schema_version = |e: &NewEvent| i32::try_from(e.schema_version).unwrap_or(i32::MAX);
    let metadata = serde_json::to_string(&append.metadata).map_err(StoreError::corrupt)?;
    let recorded_at = audit::recording_time(OffsetDateTime::now_utc());
    let mut digests = append.digests(recorded_at)?;
    let query = match append.events.as_slice() {
        [event] => sqlx::query(INSERT_EVENT)
            .bind(append.stream.as_str())
            .bind(to_i64(append.expected_version)?)
            .bind(event.event_id)
            .bind(event.event_type.as_str())
            .bind(schema_version(event))
            .bind(event.payload.to_string())
            .bind(metadata)
            .bind(recorded_at)
            .bind(digests.pop()),
        events => sqlx::query(INSERT_EVENTS)
            .bind(append.stream.as_str())
            .bind(to_i64(append.expected_version)?)
            .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(schema_version).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.payload.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(metadata)
            .bind(recorded_at)
            .bind(digests),
    };
    let rows = query
        .bind(append.required_account().map(|user| user.uuid()))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| append_error(e, &append.stream, append.expected_version))?;
    let mut last = None;
    for row in &rows {
        let version = from_i64(row.try_get("stream_version")?)?;
        let at = position(row)?;
        if last.is_none_or(|(v, _)| v < version) {
            last = Some((version, at));
        }
    }
    match last {
        Some((version, position)) if rows.len() == append.events.len() => {
            Ok(Appended { version, position })
        }
        _ => Err(refusal(conn, append).await?),
    }
}

/// Why an append wrote nothing: its account is closed, or its stream moved.
async fn refusal(conn: &mut PgConnection, append: &Append) -> Result<StoreError, StoreError> {
    if let Some(user) = append.required_account() {
        let open: bool = sqlx::query_scalar(ACCOUNT_OPEN)
            .bind(user.uuid())
            .fetch_one(conn)
            .await?;
        if !open {
            return Ok(StoreError::AccountClosed);
        }
    }
    Ok(StoreError::Conflict {
        stream: append.stream.clone(),
        expected: append.expected_version,
    })
}

async fn apply_side_write(
    conn: &mut PgConnection,
    write: &SideWrite,
    appended: Appended,
    append: &Append,
) -> Result<(), StoreError> {
    let fail = |e| append_error(e, &append.stream, append.expected_version);
    match write {
        SideWrite::Ledger(write) => documents::apply_pg(conn, write).await?,
        SideWrite::CreateNoteKey { note, owner, key } => {
            // Only for an open account, kept open until this commits: an
            // account deletion waits, then destroys this key too (a row lock
            // SQLite needs not: it has one writer).
            let created = sqlx::query(
                "INSERT INTO note_keys (note_id, owner_id, key) SELECT $1, $2, $3
                 WHERE EXISTS (SELECT 1 FROM credentials WHERE user_id = $2 FOR KEY SHARE)",
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
            // One statement with the session ids (SQLite revokes them one
            // by one); the database's clock.
            sqlx::query(
                "WITH revoked AS (
                     UPDATE sessions SET revoked_at = now()
                     WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2
                     RETURNING id)
                 INSERT INTO token_revocations (user_id, session_id, expires_at)
                 SELECT $1, id, $3 FROM revoked",
            )
            .bind(user_id.uuid())
            .bind(except)
            .bind(tokens_until)
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
            accounts::notify_revoked(conn, *user_id)
                .await
                .map_err(fail)?;
        }
        SideWrite::RevokeAccountTokens { user_id, until } => {
            accounts::pg_revoke_tokens(conn, *user_id, None, *until)
                .await
                .map_err(fail)?;
        }
        // Checked by the statement that inserts the events.
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
            // The body is jsonb, the status a smallint and `created_at` the
            // database's clock (SQLite: text, integer, the append's time).
            sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
                 VALUES ($1, $2, $3, $4, $5::jsonb)",
            )
            .bind(reply.user_id.uuid())
            .bind(&reply.key)
            .bind(&reply.request_hash)
            .bind(i16::try_from(reply.status).unwrap_or(i16::MAX))
            .bind(reply_with_outcome(reply, appended).to_string())
            .execute(conn)
            .await
            .map_err(fail)?;
        }
    }
    Ok(())
}

/// The columns of an event, with the writing transaction's xid8 as text.
const SELECT_EVENT: &str =
    "SELECT position, tx_id::text AS tx, event_id, stream_id, stream_version,
    event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash FROM events";

fn decode_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let metadata: serde_json::Value = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: position(row)?,
        event_id: row.try_get("event_id")?,
        stream_id: StreamId::from_stored(row.try_get("stream_id")?),
        stream_version: from_i64(row.try_get("stream_version")?)?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(row.try_get::<i32, _>("schema_version")?)
            .map_err(StoreError::corrupt)?,
        payload: row.try_get("payload")?,
        metadata: serde_json::from_value::<Metadata>(metadata).map_err(StoreError::corrupt)?,
        recorded_at: row.try_get("recorded_at")?,
        seal: audit::seal_of(row.try_get("prev_hash")?, row.try_get("hash")?)?,
    })
}

/// The position in a row's `tx` (xid8 as text) and `position` columns.
fn position(row: &PgRow) -> Result<Position, StoreError> {
    let tx: &str = row.try_get("tx")?;
    Ok(Position::new(
        tx.parse().map_err(StoreError::corrupt)?,
        from_i64(row.try_get("position")?)?,
    ))
}

#[async_trait]
impl EventStore for PgEventStore {
    #[tracing::instrument(name = "append", level = "debug", skip_all, fields(
        stream = %append.stream,
        expected = append.expected_version,
        events = append.events.len(),
    ))]
    async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        check_append(&append)?;
        let only_checks = append
            .side_writes
            .iter()
            .all(|write| matches!(write, SideWrite::RequireOpenAccount { .. }));
        if only_checks {
            let mut conn = self.db.pool().acquire().await?;
            return insert_events(&mut conn, &append).await;
        }
        let mut tx = self.db.pool().begin().await?;
        let appended = Self::append_in(&mut tx, &append).await?;
        tx.commit().await?;
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
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        // With the xid8 of the writing transaction (SQLite: the row alone).
        let row = sqlx::query(
            "SELECT stream_version, position, tx_id::text AS tx FROM events
             WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
        )
        .bind(stream.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(StreamHead {
                version: from_i64(row.try_get("stream_version")?)?,
                position: position(&row)?,
            })
        })
        .transpose()
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Ordered by the writing transaction's xid8, and only below the
        // oldest one still running (SQLite: the row order is commit order).
        let sql = format!(
            "{SELECT_EVENT}
             WHERE (tx_id, position) > ($1::text::xid8, $2)
               AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY tx_id, position LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.tx().to_string())
            .bind(to_i64(after.seq())?)
            .bind(to_i64(limit as u64)?)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn note_keys(&self, notes: &[NoteId]) -> Result<HashMap<NoteId, NoteKey>, StoreError> {
        // One array of ids (SQLite looks them up one by one).
        let ids: Vec<uuid::Uuid> = notes.iter().map(|n| n.uuid()).collect();
        sqlx::query("SELECT note_id, key FROM note_keys WHERE note_id = ANY($1)")
            .bind(&ids)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|row| {
                Ok((
                    NoteId::from_uuid(row.try_get("note_id")?),
                    NoteKey::from_stored(row.try_get("key")?)?,
                ))
            })
            .collect()
    }

    async fn user_key(&self, user: UserId) -> Result<Option<NoteKey>, StoreError> {
        let key: Option<Vec<u8>> = sqlx::query_scalar(USER_KEY)
            .bind(user.uuid())
            .fetch_optional(self.db.pool())
            .await?;
        key.map(NoteKey::from_stored).transpose()
    }

    async fn find_reply(&self, user: UserId, key: &str) -> Result<Option<StoredReply>, StoreError> {
        let row = sqlx::query(FIND_REPLY)
            .bind(user.uuid())
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| {
            Ok(StoredReply {
                user_id: user,
                key: key.to_owned(),
                request_hash: row.try_get("request_hash")?,
                status: u16::try_from(row.try_get::<i16, _>("status")?)
                    .map_err(StoreError::corrupt)?,
                body: row.try_get("body")?,
            })
        })
        .transpose()
    }

    async fn newest(&self) -> Result<u64, StoreError> {
        let newest: i64 = sqlx::query_scalar(NEWEST).fetch_one(self.db.pool()).await?;
        from_i64(newest)
    }

    async fn unsealed_through(&self) -> Result<u64, StoreError> {
        let through: Option<i64> = sqlx::query_scalar(UNSEALED_THROUGH)
            .fetch_one(self.db.pool())
            .await?;
        from_i64(through.unwrap_or(0))
    }

    async fn has_position(&self, position: Position) -> Result<bool, StoreError> {
        let Ok(seq) = i64::try_from(position.seq()) else {
            return Ok(false);
        };
        // The transaction part is an xid8 (SQLite has none).
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE position = $1 AND tx_id = $2::text::xid8)",
        )
        .bind(seq)
        .bind(position.tx().to_string())
        .fetch_one(self.db.pool())
        .await?;
        Ok(found)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING).execute(self.db.pool()).await?;
        Ok(())
    }
}
