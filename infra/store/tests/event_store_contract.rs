//! One contract for every event store: each test runs against PostgreSQL (a
//! fresh schema of the test database) and against SQLite (a fresh file).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_domain::{StreamId, UserId};
use anote_store::accounts::LoginSlot;
use anote_store::accounts::{AccountStore, NewSession, PgAccountStore, SqliteAccountStore};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::documents::{DocumentLedger, LedgerWrite, PgDocumentLedger, SqliteDocumentLedger};
use anote_store::event_store::anchor::{self, Verdict};
use anote_store::event_store::audit::{chain, content_of, hex, verify, Hash};
use anote_store::event_store::shredding::NoteKey;
use anote_store::event_store::{
    Append, Appended, EventStore, Metadata, NewEvent, PgEventStore, Position, SideWrite,
    SqliteEventStore, StoredReply,
};
use anote_store::revocations::Revocation;
use anote_store::StoreError;
use anote_testkit::db::{pg_event_log, settled, sqlite_event_log};
use anote_testkit::env::fresh_schema;
use rand::Rng;
use time::OffsetDateTime;
use uuid::Uuid;

enum Backend {
    Postgres(PgDatabase),
    Sqlite {
        db: SqliteDatabase,
        _dir: tempfile::TempDir,
    },
}

impl Backend {
    async fn postgres() -> Self {
        Self::Postgres(pg_event_log(&fresh_schema(), 40).await)
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sqlite_event_log(&dir.path().join("test.sqlite3")).await;
        Self::Sqlite { db, _dir: dir }
    }

    fn events(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Postgres(db) => Arc::new(PgEventStore::new(db.clone())),
            Self::Sqlite { db, .. } => Arc::new(SqliteEventStore::new(db.clone())),
        }
    }

    /// Runs SQL on the database directly, behind the store's back.
    async fn tamper(&self, sql: &str) {
        let rows = match self {
            Self::Postgres(db) => sqlx::query(sql)
                .execute(db.pool())
                .await
                .map(|r| r.rows_affected()),
            Self::Sqlite { db, .. } => sqlx::query(sql)
                .execute(&mut *db.writer().await.expect("the writer"))
                .await
                .map(|r| r.rows_affected()),
        };
        assert_eq!(rows.expect("tampers"), 1, "{sql}");
    }

    /// A SQL literal of `bytes`.
    fn bytes(&self, bytes: &Hash) -> String {
        match self {
            Self::Postgres(_) => format!("'\\x{}'::bytea", hex(bytes)),
            Self::Sqlite { .. } => format!("X'{}'", hex(bytes)),
        }
    }

    fn ledger(&self) -> Arc<dyn DocumentLedger> {
        match self {
            Self::Postgres(db) => Arc::new(PgDocumentLedger::new(db.clone())),
            Self::Sqlite { db, .. } => Arc::new(SqliteDocumentLedger::new(db.clone())),
        }
    }

    fn accounts(&self) -> Arc<dyn AccountStore> {
        match self {
            Self::Postgres(db) => Arc::new(PgAccountStore::new(db.clone())),
            Self::Sqlite { db, .. } => Arc::new(SqliteAccountStore::new(db.clone())),
        }
    }

    /// Appends in a transaction that stays open for `pause` before it commits.
    async fn slow_append(&self, append: &Append, pause: Duration) -> Result<Appended, StoreError> {
        match self {
            Self::Postgres(db) => {
                let mut tx = db.pool().begin().await?;
                let appended = PgEventStore::append_in(&mut tx, append).await?;
                tokio::time::sleep(pause).await;
                tx.commit().await?;
                Ok(appended)
            }
            Self::Sqlite { db, .. } => {
                let append = append.clone();
                db.write_in_place(move |conn| {
                    let tx = conn.transaction()?;
                    let appended = SqliteEventStore::append_in(&tx, &append)?;
                    std::thread::sleep(pause);
                    tx.commit()?;
                    Ok(appended)
                })
                .await
            }
        }
    }
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "TestHappened".to_owned(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
    }
}

fn append(stream: &StreamId, expected_version: u64, events: Vec<NewEvent>) -> Append {
    Append {
        stream: stream.clone(),
        expected_version,
        events,
        metadata: Metadata::for_request(Some(UserId::new()), Uuid::new_v4()),
        side_writes: Vec::new(),
    }
}

fn stream() -> StreamId {
    anote_domain::NoteId::new().stream()
}

async fn appends_and_reads_back_a_stream(backend: Backend) {
    let store = backend.events();
    let s = stream();
    let first = append(&s, 0, vec![event(1), event(2)]);
    let metadata = first.metadata.clone();
    let a = store.append(first).await.expect("first append");
    assert_eq!(a.version, 2);
    let b = store
        .append(append(&s, 2, vec![event(3)]))
        .await
        .expect("second append");
    assert_eq!(b.version, 3);
    assert!(b.position > a.position);

    let all = store.read_stream(&s, 0).await.expect("reads");
    assert_eq!(
        all.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(all[0].payload, serde_json::json!({ "n": 1 }));
    assert_eq!(all[0].metadata, metadata);
    assert_eq!(all[0].event_type, "TestHappened");
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert!(OffsetDateTime::now_utc() - all[0].recorded_at < time::Duration::minutes(5));
    assert_eq!(all[2].position, b.position);

    let tail = store.read_stream(&s, 2).await.expect("reads");
    assert_eq!(tail.len(), 1);
    let head = store.stream_head(&s).await.expect("head").expect("exists");
    assert_eq!((head.version, head.position), (3, b.position));
    assert_eq!(store.stream_head(&stream()).await.expect("head"), None);
}

async fn a_stale_or_future_version_is_a_conflict_and_writes_nothing(backend: Backend) {
    let store = backend.events();
    let s = stream();
    store
        .append(append(&s, 0, vec![event(1)]))
        .await
        .expect("append");
    for expected in [0, 2, 7] {
        let err = store.append(append(&s, expected, vec![event(9)])).await;
        assert!(
            matches!(err, Err(StoreError::Conflict { .. })),
            "expected {expected}: {err:?}"
        );
    }
    assert_eq!(store.read_stream(&s, 0).await.expect("reads").len(), 1);
    assert!(matches!(
        store.append(append(&s, 1, vec![])).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn of_32_racing_appends_exactly_one_wins(backend: Backend) {
    let store = backend.events();
    let s = stream();
    store
        .append(append(&s, 0, vec![event(0)]))
        .await
        .expect("append");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let a = append(&s, 1, vec![event(i), event(i + 100)]);
            tokio::spawn(async move { store.append(a).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(a) => {
                wins += 1;
                assert_eq!(a.version, 3);
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("a loser must get Conflict, got {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    let versions: Vec<u64> = store
        .read_stream(&s, 0)
        .await
        .expect("reads")
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

async fn a_tailer_sees_every_committed_event_once_in_order(backend: Backend) {
    const WRITERS: usize = 16;
    const EVENTS_PER_WRITER: usize = 2_000;
    let backend = Arc::new(backend);
    let store = backend.events();
    let start = store.read_all(Position::START, 1).await.expect("reads");
    assert!(start.is_empty(), "a fresh log is empty");

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let s = stream();
                let mut version = 0u64;
                let mut ids = Vec::with_capacity(EVENTS_PER_WRITER);
                while (version as usize) < EVENTS_PER_WRITER {
                    let (batch, pause) = {
                        let mut rng = rand::thread_rng();
                        let left = EVENTS_PER_WRITER - version as usize;
                        let pause = if rng.gen_bool(0.25) {
                            rng.gen_range(0..3)
                        } else {
                            0
                        };
                        (rng.gen_range(1..=8).min(left), Duration::from_millis(pause))
                    };
                    let events: Vec<_> = (0..batch).map(event).collect();
                    ids.extend(events.iter().map(|e| e.event_id));
                    let appended = backend
                        .slow_append(&append(&s, version, events), pause)
                        .await
                        .expect("own stream never conflicts");
                    version = appended.version;
                }
                ids
            })
        })
        .collect();

    let tailer = tokio::spawn({
        let store = store.clone();
        async move {
            let mut seen = Vec::new();
            let mut after = Position::START;
            let deadline = Instant::now() + Duration::from_secs(240);
            while seen.len() < WRITERS * EVENTS_PER_WRITER {
                assert!(
                    Instant::now() < deadline,
                    "tailer saw only {} events",
                    seen.len()
                );
                let batch = store.read_all(after, 500).await.expect("reads");
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for e in batch {
                    assert!(
                        e.position > after,
                        "went backwards: {} after {}",
                        e.position,
                        after
                    );
                    after = e.position;
                    seen.push(e.event_id);
                }
            }
            // Nothing more arrives once every writer is done.
            assert!(store.read_all(after, 10).await.expect("reads").is_empty());
            seen
        }
    });

    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.expect("writer ran"));
    }
    let seen = tailer.await.expect("tailer ran");
    let distinct: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "an event was delivered twice");
    assert_eq!(
        distinct, written,
        "the tailer saw exactly the committed events"
    );
}

async fn of_16_registrations_of_one_username_exactly_one_wins(backend: Backend) {
    let store = backend.events();
    let accounts = backend.accounts();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let user = UserId::new();
            let mut a = append(&user.stream(), 0, vec![event(0)]);
            a.side_writes = vec![
                SideWrite::ClaimUsername {
                    username: "ada".to_owned(),
                    user_id: user,
                },
                SideWrite::SetPasswordHash {
                    user_id: user,
                    hash: format!("hash-{user}"),
                },
            ];
            tokio::spawn(async move { (user, store.append(a).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (user, result) = task.await.expect("task ran");
        match result {
            Ok(_) => winners.push(user),
            Err(StoreError::UsernameTaken) => {
                // The loser's events rolled back with its claim.
                assert!(store
                    .read_stream(&user.stream(), 0)
                    .await
                    .expect("reads")
                    .is_empty());
                assert_eq!(
                    accounts.credentials_by_user(user).await.expect("reads"),
                    None
                );
            }
            Err(other) => panic!("a loser must get UsernameTaken, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let creds = accounts
        .credentials_by_username("ada")
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(creds.user_id, winners[0]);
    assert_eq!(creds.password_hash, format!("hash-{}", winners[0]));
}

async fn side_writes_fail_with_a_conflicting_append(backend: Backend) {
    let store = backend.events();
    let accounts = backend.accounts();
    let user = UserId::new();
    store
        .append(append(&user.stream(), 0, vec![event(0)]))
        .await
        .expect("append");
    let mut stale = append(&user.stream(), 0, vec![event(1)]);
    stale.side_writes = vec![SideWrite::ClaimUsername {
        username: "grace".to_owned(),
        user_id: user,
    }];
    assert!(matches!(
        store.append(stale).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        accounts
            .credentials_by_username("grace")
            .await
            .expect("reads"),
        None
    );
    let mut fresh = append(&user.stream(), 1, vec![event(1)]);
    fresh.side_writes = vec![
        SideWrite::ClaimUsername {
            username: "grace".to_owned(),
            user_id: user,
        },
        SideWrite::SetPasswordHash {
            user_id: user,
            hash: "h".to_owned(),
        },
    ];
    store.append(fresh).await.expect("append");
    assert!(accounts
        .credentials_by_username("grace")
        .await
        .expect("reads")
        .is_some());
}

async fn an_idempotency_key_is_remembered_once(backend: Backend) {
    let store = backend.events();
    let user = UserId::new();
    let reply = StoredReply {
        user_id: user,
        key: "k-1".to_owned(),
        request_hash: vec![1, 2, 3],
        status: 201,
        body: serde_json::json!({ "id": "x", "version": 1 }),
    };
    assert_eq!(store.find_reply(user, "k-1").await.expect("reads"), None);
    let mut a = append(&stream(), 0, vec![event(0)]);
    a.side_writes = vec![SideWrite::RememberReply(reply.clone())];
    let appended = store.append(a).await.expect("append");
    let stored = store
        .find_reply(user, "k-1")
        .await
        .expect("reads")
        .expect("remembered");
    assert_eq!(stored.status, 201);
    assert_eq!(stored.request_hash, vec![1, 2, 3]);
    assert_eq!(
        stored.body,
        serde_json::json!({ "id": "x", "version": 1, "position": appended.position.to_string() })
    );
    assert_eq!(
        store.find_reply(UserId::new(), "k-1").await.expect("reads"),
        None
    );

    let again_stream = stream();
    let mut again = append(&again_stream, 0, vec![event(0)]);
    again.side_writes = vec![SideWrite::RememberReply(reply)];
    assert!(matches!(
        store.append(again).await,
        Err(StoreError::IdempotencyKeyTaken)
    ));
    assert!(store
        .read_stream(&again_stream, 0)
        .await
        .expect("reads")
        .is_empty());
}

async fn refresh_tokens_rotate_once_and_revoke(backend: Backend) {
    let store = backend.events();
    let accounts = backend.accounts();
    let user = UserId::new();
    let now = OffsetDateTime::now_utc();
    let later = now + time::Duration::days(1);
    let session = |hash: &[u8]| NewSession {
        id: Uuid::new_v4(),
        user_id: user,
        refresh_hash: hash.to_vec(),
        created_at: now,
        expires_at: later,
    };
    let (one, two) = (session(b"one"), session(b"two"));
    accounts.create_session(&one).await.expect("stores");
    accounts.create_session(&two).await.expect("stores");

    let owner = accounts
        .rotate_refresh(b"one", b"one-b", now, later)
        .await
        .expect("rotates");
    assert_eq!(
        owner.map(|o| (o.session_id, o.user_id)),
        Some((one.id, user))
    );
    assert_eq!(
        accounts
            .rotate_refresh(b"one", b"one-c", now, later)
            .await
            .expect("runs"),
        None
    );
    assert_eq!(
        accounts
            .rotate_refresh(b"two", b"two-b", later, later)
            .await
            .expect("runs"),
        None,
        "expired"
    );

    // Revoking every session but one, as a password change does.
    let mut a = append(&user.stream(), 0, vec![event(0)]);
    a.side_writes = vec![SideWrite::RevokeSessions {
        user_id: user,
        except: Some(one.id),
        tokens_until: later,
    }];
    store.append(a).await.expect("append");
    let revoked = |found: Vec<Revocation>| -> Vec<Option<Uuid>> {
        let mut sessions: Vec<_> = found.iter().map(|r| r.session).collect();
        sessions.sort();
        sessions
    };
    assert_eq!(
        revoked(
            accounts
                .token_revocations(Some(user), now)
                .await
                .expect("reads")
        ),
        [Some(two.id)],
        "the revoked session's access tokens are refused"
    );
    assert_eq!(
        accounts
            .rotate_refresh(b"two", b"two-b", now, later)
            .await
            .expect("runs"),
        None
    );
    assert!(accounts
        .rotate_refresh(b"one-b", b"one-d", now, later)
        .await
        .expect("runs")
        .is_some());

    accounts
        .revoke_session(user, one.id, now, later)
        .await
        .expect("revokes");
    let mut both = vec![Some(one.id), Some(two.id)];
    both.sort();
    assert_eq!(
        revoked(accounts.token_revocations(None, now).await.expect("reads")),
        both
    );
    assert!(
        accounts
            .token_revocations(Some(user), later)
            .await
            .expect("reads")
            .is_empty(),
        "forgotten once the tokens expired"
    );
    assert!(accounts
        .token_revocations(Some(UserId::new()), now)
        .await
        .expect("reads")
        .is_empty());
    assert_eq!(
        accounts
            .rotate_refresh(b"one-d", b"one-e", now, later)
            .await
            .expect("runs"),
        None
    );
}

async fn of_16_concurrent_reservations_only_those_within_the_quota_succeed(backend: Backend) {
    let store = backend.events();
    let ledger = backend.ledger();
    let owner = UserId::new();
    let reserve =
        |note: anote_domain::NoteId, document: Uuid, at: OffsetDateTime| LedgerWrite::Reserve {
            document,
            note,
            owner,
            size: 10,
            quota: 50,
            multipart_upload: None,
            abandon_after: at,
        };
    let past = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let note = anote_domain::NoteId::new();
            let document = Uuid::new_v4();
            let mut a = append(&note.stream(), 0, vec![event(0)]);
            a.side_writes = vec![SideWrite::Ledger(reserve(note, document, past))];
            tokio::spawn(async move { (note, document, store.append(a).await) })
        })
        .collect();
    let mut reserved = Vec::new();
    for task in tasks {
        let (note, document, result) = task.await.expect("task ran");
        match result {
            Ok(_) => reserved.push((note, document)),
            Err(StoreError::QuotaExceeded) => assert!(
                store
                    .read_stream(&note.stream(), 0)
                    .await
                    .expect("reads")
                    .is_empty(),
                "a refused reservation leaves no event"
            ),
            Err(other) => panic!("expected QuotaExceeded, got {other:?}"),
        }
    }
    assert_eq!(
        reserved.len(),
        5,
        "50 bytes of quota hold five 10-byte documents"
    );
    assert_eq!(ledger.usage(owner).await.expect("usage"), 50);

    // All five are past their abandon time; attaching one keeps it out.
    let (note, attached) = reserved[0];
    let mut a = append(&note.stream(), 1, vec![event(1)]);
    a.side_writes = vec![SideWrite::Ledger(LedgerWrite::Attach {
        document: attached,
    })];
    store.append(a).await.expect("attaches");
    let abandoned = ledger
        .abandoned(OffsetDateTime::now_utc(), 100)
        .await
        .expect("reads");
    assert_eq!(abandoned.len(), 4);
    assert!(abandoned
        .iter()
        .all(|e| e.document != attached && e.owner == owner));

    // Releasing frees the bytes; the released entry waits for the sweeper.
    let (note, released) = reserved[1];
    let mut a = append(&note.stream(), 1, vec![event(1)]);
    a.side_writes = vec![SideWrite::Ledger(LedgerWrite::Release {
        owner,
        documents: vec![released, released],
    })];
    store.append(a).await.expect("releases");
    assert_eq!(ledger.usage(owner).await.expect("usage"), 40, "freed once");
    let later = OffsetDateTime::now_utc();
    assert!(
        ledger
            .released(past - Duration::from_secs(1), 100)
            .await
            .expect("reads")
            .is_empty(),
        "not before its upload URL expired"
    );
    let waiting = ledger.released(later, 100).await.expect("reads");
    assert_eq!(
        waiting.iter().map(|e| e.document).collect::<Vec<_>>(),
        vec![released]
    );
    ledger.forget(released).await.expect("forgets");
    assert!(ledger.released(later, 100).await.expect("reads").is_empty());
    // Room for one more now.
    let note = anote_domain::NoteId::new();
    let mut a = append(&note.stream(), 0, vec![event(0)]);
    a.side_writes = vec![SideWrite::Ledger(reserve(note, Uuid::new_v4(), past))];
    store.append(a).await.expect("fits again");
}

async fn the_verifier_finds_altered_and_removed_events(backend: Backend) {
    let store = backend.events();
    let (a, b, c) = (stream(), stream(), stream());
    store
        .append(append(&c, 0, vec![event(1), event(2)]))
        .await
        .expect("appends");
    store
        .append(append(&a, 0, vec![event(1), event(2), event(3)]))
        .await
        .expect("appends");
    store
        .append(append(&a, 3, vec![event(4)]))
        .await
        .expect("appends");
    store
        .append(append(&b, 0, vec![event(1)]))
        .await
        .expect("appends");
    store
        .append(append(&b, 1, vec![event(2)]))
        .await
        .expect("appends");
    settled(&*store).await;
    let report = verify(&*store, None, 2).await.expect("verifies");
    assert_eq!(
        (report.events, report.streams, report.breaks.len()),
        (8, 3, 0),
        "{report:?}"
    );
    let sealed = store.read_stream(&a, 0).await.expect("reads");
    assert!(sealed
        .windows(2)
        .all(|w| w[1].seal.map(|s| s.prev_hash) == w[0].seal.map(|s| s.hash)));

    // Alter a payload directly in the database.
    backend
        .tamper(&format!(
            "UPDATE events SET payload = '{{\"n\": 99}}' WHERE stream_id = '{a}' AND stream_version = 2"
        ))
        .await;
    // Alter one and drop its seal, as if it were written before sealing.
    backend
        .tamper(&format!(
            "UPDATE events SET payload = '{{\"n\": 7}}', hash = NULL, prev_hash = NULL
             WHERE stream_id = '{c}' AND stream_version = 2"
        ))
        .await;
    // Remove an event.
    backend
        .tamper(&format!(
            "DELETE FROM events WHERE stream_id = '{b}' AND stream_version = 1"
        ))
        .await;
    let report = verify(&*store, None, 2).await.expect("verifies");
    let found: Vec<(String, u64)> = report
        .breaks
        .iter()
        .map(|b| (b.stream_id.clone(), b.stream_version))
        .collect();
    assert!(found.contains(&(a.to_string(), 2)), "{report:?}");
    assert!(found.contains(&(b.to_string(), 2)), "{report:?}");
    assert!(found.contains(&(c.to_string(), 2)), "{report:?}");
    assert_eq!(
        found.len(),
        3,
        "only the first break of each stream: {report:?}"
    );
    let only_b = verify(&*store, Some(b.as_str()), 100)
        .await
        .expect("verifies");
    assert_eq!(only_b.breaks.len(), 1);
    assert_eq!(
        only_b.breaks[0].reason,
        "a version is missing or out of order before this event"
    );
}

async fn the_verifier_notices_stripped_seals_and_goes_past_a_broken_payload(backend: Backend) {
    let store = backend.events();
    let (stripped, garbled, after) = (stream(), stream(), stream());
    for s in [&stripped, &garbled, &after] {
        store
            .append(append(s, 0, vec![event(1), event(2)]))
            .await
            .expect("appends");
    }
    assert_eq!(store.unsealed_through().await.expect("reads"), 0);
    // Every seal of a stream sealed from its first event removed: it must
    // not pass as written before sealing.
    for version in [1, 2] {
        backend
            .tamper(&format!(
                "UPDATE events SET hash = NULL, prev_hash = NULL
                 WHERE stream_id = '{stripped}' AND stream_version = {version}"
            ))
            .await;
    }
    // A payload that is not a JSON object (on SQLite, not JSON at all).
    let garbage = match backend {
        Backend::Postgres(_) => "'\"text\"'",
        Backend::Sqlite { .. } => "'not json {'",
    };
    backend
        .tamper(&format!(
            "UPDATE events SET payload = {garbage} WHERE stream_id = '{garbled}' AND stream_version = 1"
        ))
        .await;
    settled(&*store).await;
    let report = verify(&*store, None, 100)
        .await
        .expect("verifies to the end");
    let found: Vec<(String, u64, &str)> = report
        .breaks
        .iter()
        .map(|b| (b.stream_id.clone(), b.stream_version, b.reason))
        .collect();
    assert_eq!(
        found,
        vec![
            (stripped.to_string(), 1, "its seal was removed"),
            (garbled.to_string(), 1, "its payload is not a JSON object"),
        ],
        "{report:?}"
    );
    assert_eq!(
        report.events, 3,
        "the garbled event and the later stream were checked"
    );
    let only = verify(&*store, Some(stripped.as_str()), 100)
        .await
        .expect("verifies");
    assert_eq!(only.breaks.len(), 1, "{only:?}");
}

/// Anchors see what the chains cannot: the log growing is fine; a stream
/// rewritten with consistent hashes, a whole stream removed, and the log's
/// last events removed each break the anchor made before.
async fn anchors_notice_rewritten_deleted_and_truncated_logs(backend: Backend) {
    let store = backend.events();
    let (a, b, c, d) = (stream(), stream(), stream(), stream());
    for (s, expected, events) in [
        (&a, 0, vec![event(1), event(2), event(3)]),
        (&c, 0, vec![event(1)]),
        (&b, 0, vec![event(1), event(2)]),
        (&a, 3, vec![event(4)]),
    ] {
        store
            .append(append(s, expected, events))
            .await
            .expect("appends");
    }
    let last = settled(&*store).await;
    let now = OffsetDateTime::now_utc();
    let first = anchor::anchor(&*store, 2, now).await.expect("anchors");
    assert_eq!(
        (first.position, first.events, first.streams, first.unsealed),
        (last, 7, 3, 0)
    );

    // (d) The log grows: still the same log at the anchor's position.
    store
        .append(append(&d, 0, vec![event(1)]))
        .await
        .expect("appends");
    store
        .append(append(&b, 2, vec![event(3)]))
        .await
        .expect("appends");
    settled(&*store).await;
    let grown = anchor::check(&*store, &first, 2).await.expect("checks");
    assert_eq!(grown.verdict, Verdict::Matches, "{grown:?}");
    assert_eq!(grown.current, grown.anchored);

    // (c) Stream a rewritten from version 2 on, each hash recomputed so
    // that the chain still verifies.
    let mut prev = store.read_stream(&a, 0).await.expect("reads")[0]
        .seal
        .expect("sealed")
        .hash;
    for mut event in store.read_stream(&a, 1).await.expect("reads") {
        event.payload = serde_json::json!({ "n": 100 + event.stream_version });
        let (digest, _) = content_of(&event).expect("hashes");
        let hash = chain(&prev, &digest);
        backend
            .tamper(&format!(
                "UPDATE events SET payload = '{}', prev_hash = {}, hash = {}
                 WHERE stream_id = '{a}' AND stream_version = {}",
                event.payload,
                backend.bytes(&prev),
                backend.bytes(&hash),
                event.stream_version
            ))
            .await;
        prev = hash;
    }
    let report = verify(&*store, None, 2).await.expect("verifies");
    assert!(report.breaks.is_empty(), "the chains verify: {report:?}");
    let rewritten = anchor::check(&*store, &first, 2).await.expect("checks");
    assert_eq!(rewritten.verdict, Verdict::Rewritten, "{rewritten:?}");
    assert_eq!(
        (rewritten.current.events, rewritten.current.streams),
        (7, 3)
    );
    assert_ne!(rewritten.current.digest, rewritten.anchored.digest);

    // (b) A whole stream removed.
    let second = anchor::anchor(&*store, 2, now).await.expect("anchors");
    assert_eq!((second.events, second.streams), (9, 4));
    backend
        .tamper(&format!("DELETE FROM events WHERE stream_id = '{c}'"))
        .await;
    let deleted = anchor::check(&*store, &second, 2).await.expect("checks");
    assert_eq!(deleted.verdict, Verdict::DeletedStream, "{deleted:?}");
    assert_eq!((deleted.current.events, deleted.current.streams), (8, 3));

    // (a) The log's last event removed: it no longer reaches the anchor.
    let third = anchor::anchor(&*store, 2, now).await.expect("anchors");
    backend
        .tamper(&format!(
            "DELETE FROM events WHERE stream_id = '{b}' AND stream_version = 3"
        ))
        .await;
    let truncated = anchor::check(&*store, &third, 2).await.expect("checks");
    assert_eq!(truncated.verdict, Verdict::DeletedTail, "{truncated:?}");
    assert!(!truncated.reaches);
    assert_eq!(
        (truncated.anchored.events, truncated.current.events),
        (8, 7)
    );
    assert!(verify(&*store, None, 2)
        .await
        .expect("verifies")
        .breaks
        .is_empty());
}

async fn of_150_concurrent_login_attempts_at_most_the_limit_are_reserved(backend: Backend) {
    let accounts = backend.accounts();
    let window = Duration::from_secs(900);
    let now = OffsetDateTime::now_utc();
    let key = Uuid::new_v4().as_bytes().to_vec();
    let attempts = (0..150).map(|_| {
        let (accounts, key) = (accounts.clone(), key.clone());
        tokio::spawn(async move { accounts.reserve_login_attempt(&key, 5, window, now).await })
    });
    let mut reserved = Vec::new();
    for attempt in attempts {
        match attempt.await.expect("joins").expect("reserves") {
            LoginSlot::Reserved(start) => reserved.push(start),
            LoginSlot::Refused(wait) => {
                assert!(
                    wait > Duration::from_secs(890) && wait <= window,
                    "{wait:?}"
                );
            }
        }
    }
    assert_eq!(reserved.len(), 5, "exactly the limit is reserved");
    assert!(matches!(
        accounts.reserve_login_attempt(&key, 5, window, now).await,
        Ok(LoginSlot::Refused(_))
    ));
    // A released reservation frees one place; another key is counted apart.
    accounts
        .release_login_attempt(&key, reserved[0])
        .await
        .expect("releases");
    assert!(matches!(
        accounts.reserve_login_attempt(&key, 5, window, now).await,
        Ok(LoginSlot::Reserved(_))
    ));
    assert!(matches!(
        accounts.reserve_login_attempt(&key, 5, window, now).await,
        Ok(LoginSlot::Refused(_))
    ));
    assert!(matches!(
        accounts
            .reserve_login_attempt(b"other", 5, window, now)
            .await,
        Ok(LoginSlot::Reserved(_))
    ));
    // A new window starts from nothing, and a release from the old one
    // does not touch it.
    let later = now + window;
    let Ok(LoginSlot::Reserved(start)) =
        accounts.reserve_login_attempt(&key, 1, window, later).await
    else {
        panic!("a new window");
    };
    assert!(start > now);
    accounts
        .release_login_attempt(&key, reserved[1])
        .await
        .expect("releases");
    assert!(matches!(
        accounts.reserve_login_attempt(&key, 1, window, later).await,
        Ok(LoginSlot::Refused(_))
    ));
    accounts
        .forget_login_attempts(later + window)
        .await
        .expect("forgets");
    assert!(matches!(
        accounts.reserve_login_attempt(&key, 1, window, later).await,
        Ok(LoginSlot::Reserved(_))
    ));
}

async fn a_closed_account_appends_nothing(backend: Backend) {
    let store = backend.events();
    let user = UserId::new();
    let guarded = |stream: &StreamId, version: u64| {
        let mut a = append(stream, version, vec![event(0)]);
        a.side_writes = vec![SideWrite::RequireOpenAccount { user_id: user }];
        a
    };
    let note = stream();
    assert!(
        matches!(
            store.append(guarded(&note, 0)).await,
            Err(StoreError::AccountClosed)
        ),
        "never opened"
    );
    let key = NoteKey::generate();
    let mut register = append(&user.stream(), 0, vec![event(0)]);
    register.side_writes = vec![
        SideWrite::SetPasswordHash {
            user_id: user,
            hash: "hash".to_owned(),
        },
        SideWrite::CreateUserKey {
            user_id: user,
            key: key.clone(),
        },
    ];
    store.append(register).await.expect("registers");
    assert_eq!(store.user_key(user).await.expect("reads"), Some(key));
    store.append(guarded(&note, 0)).await.expect("open");
    assert!(
        matches!(
            store.append(guarded(&note, 0)).await,
            Err(StoreError::Conflict { .. })
        ),
        "a stale version is still a conflict"
    );
    let mut delete = append(&user.stream(), 1, vec![event(1)]);
    delete.side_writes = vec![
        SideWrite::DeleteCredentials { user_id: user },
        SideWrite::DestroyUserKey { user_id: user },
        SideWrite::RevokeAccountTokens {
            user_id: user,
            until: OffsetDateTime::now_utc() + time::Duration::minutes(16),
        },
    ];
    store.append(delete).await.expect("deletes");
    assert_eq!(store.user_key(user).await.expect("reads"), None);
    let mut with_key = guarded(&stream(), 0);
    with_key.side_writes.push(SideWrite::CreateNoteKey {
        note: anote_domain::NoteId::new(),
        owner: user,
        key: NoteKey::generate(),
    });
    let mut key_only = append(&stream(), 0, vec![event(0)]);
    key_only.side_writes = vec![SideWrite::CreateNoteKey {
        note: anote_domain::NoteId::new(),
        owner: user,
        key: NoteKey::generate(),
    }];
    for closed in [guarded(&note, 1), with_key, key_only] {
        let stream = closed.stream.clone();
        let before = store.read_stream(&stream, 0).await.expect("reads").len();
        assert!(matches!(
            store.append(closed).await,
            Err(StoreError::AccountClosed)
        ));
        assert_eq!(
            store.read_stream(&stream, 0).await.expect("reads").len(),
            before
        );
    }
    let revoked = backend
        .accounts()
        .token_revocations(Some(user), OffsetDateTime::now_utc())
        .await
        .expect("reads");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].session, None, "every token of the account");
}

async fn a_key_created_while_its_owner_is_deleted_goes_with_the_account(backend: Backend) {
    let store = backend.events();
    let user = UserId::new();
    let mut register = append(&user.stream(), 0, vec![event(0)]);
    register.side_writes = vec![SideWrite::SetPasswordHash {
        user_id: user,
        hash: "hash".to_owned(),
    }];
    store.append(register).await.expect("registers");
    let note = anote_domain::NoteId::new();
    let mut create = append(&note.stream(), 0, vec![event(0)]);
    create.side_writes = vec![SideWrite::CreateNoteKey {
        note,
        owner: user,
        key: NoteKey::generate(),
    }];
    let mut delete = append(&user.stream(), 1, vec![event(1)]);
    delete.side_writes = vec![
        SideWrite::DeleteCredentials { user_id: user },
        SideWrite::DestroyOwnerKeys { owner: user },
    ];
    // The creation's transaction is still open when the deletion starts.
    let (created, deleted) = tokio::join!(
        backend.slow_append(&create, Duration::from_millis(600)),
        async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            store.append(delete).await
        }
    );
    deleted.expect("deletes");
    assert!(
        matches!(created, Ok(_) | Err(StoreError::AccountClosed)),
        "{created:?}"
    );
    assert!(
        store.note_keys(&[note]).await.expect("reads").is_empty(),
        "no key outlives its account"
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::sqlite().await).await;
                }
            )*
        }
    };
}

/// After a rollback the database holds a migration of a newer release: the
/// older binary starts on it all the same.
async fn a_database_ahead_of_the_binary_is_accepted(backend: Backend) {
    let checksum = match &backend {
        Backend::Postgres(_) => "'\\x00'::bytea",
        Backend::Sqlite { .. } => "X'00'",
    };
    backend
        .tamper(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990001, 'a newer release', TRUE, {checksum}, 0)"
        ))
        .await;
    let migrated = match &backend {
        Backend::Postgres(db) => db.migrate(anote_store::migrations::postgres()).await,
        Backend::Sqlite { db, .. } => db.migrate(anote_store::migrations::sqlite()).await,
    };
    migrated.expect("a newer release's migration is left alone");
}

contract!(
    a_database_ahead_of_the_binary_is_accepted,
    appends_and_reads_back_a_stream,
    a_stale_or_future_version_is_a_conflict_and_writes_nothing,
    of_32_racing_appends_exactly_one_wins,
    a_tailer_sees_every_committed_event_once_in_order,
    of_16_registrations_of_one_username_exactly_one_wins,
    side_writes_fail_with_a_conflicting_append,
    an_idempotency_key_is_remembered_once,
    refresh_tokens_rotate_once_and_revoke,
    of_16_concurrent_reservations_only_those_within_the_quota_succeed,
    the_verifier_finds_altered_and_removed_events,
    the_verifier_notices_stripped_seals_and_goes_past_a_broken_payload,
    anchors_notice_rewritten_deleted_and_truncated_logs,
    of_150_concurrent_login_attempts_at_most_the_limit_are_reserved,
    a_closed_account_appends_nothing,
    a_key_created_while_its_owner_is_deleted_goes_with_the_account,
);
