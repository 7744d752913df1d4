//! Append benchmark: note commands per second through the full command path
//! (load from the cache, decide, append) on PostgreSQL, beside raw
//! single-row INSERTs into a table of the same shape, measured in the same run.
//!
//! `cargo bench -p anote-command-api --bench append` (PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! `ANOTE_BENCH_SECS` sets the seconds per measurement, default 5).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anote_command_api::note_commands::{LedgerPolicy, NoteCommands};
use anote_command_api::CommandError;
use anote_domain::note::{NewNote, NoteAction, NoteCommand};
use anote_domain::values::{Body, Tags, Title};
use anote_domain::{NoteId, UserId};
use anote_store::db::PgDatabase;
use anote_store::event_store::{Metadata, PgEventStore};
use uuid::Uuid;

/// Throughput and latency of one measurement.
struct Run {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    retries: u64,
}

/// Runs `writers` loops of `op` for `secs` and summarises them.
async fn measure<F, Fut>(writers: usize, secs: u64, op: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut retries = 0;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    retries += op(w, i).await;
                    latencies.push(t.elapsed());
                    i += 1;
                }
                (latencies, retries)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut retries = 0;
    for t in tasks {
        let (l, r) = t.await.expect("writer ran");
        all.extend(l);
        retries += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Run {
        per_sec: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        retries,
    }
}

/// Raw single-row INSERTs of the events' shape, each writer on its own stream.
async fn raw_inserts(db: &PgDatabase, writers: usize, secs: u64) -> Run {
    let pool = db.pool().clone();
    let run = Uuid::new_v4();
    measure(writers, secs, move |w, i| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO raw_events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata)
                 VALUES ($1, $2, $3, 'NoteEdited', 1, $4::jsonb, $5::jsonb)",
            )
            .bind(Uuid::new_v4())
            .bind(format!("note-{run}-{w}"))
            .bind(i as i64 + 1)
            .bind(format!("{{\"body\":\"revision {i}\"}}"))
            .bind("{\"actor\":null,\"correlation_id\":\"00000000-0000-0000-0000-000000000000\",\"causation_id\":null,\"request_id\":null}")
            .execute(&pool)
            .await
            .expect("raw insert");
            0
        }
    })
    .await
}

fn edit(actor: UserId, i: u64) -> NoteCommand {
    NoteCommand {
        actor,
        action: NoteAction::Edit {
            title: None,
            body: Body::parse(&format!("revision {i}")).ok(),
        },
    }
}

/// Creates `count` notes owned by `actor`.
async fn create_notes(commands: &NoteCommands, actor: UserId, count: usize) -> Vec<NoteId> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = NoteId::new();
        let new = NewNote {
            title: Title::parse("Bench").expect("valid"),
            body: Body::parse("start").expect("valid"),
            subject: None,
            tags: Tags::default(),
            due_at: None,
        };
        let command = NoteCommand {
            actor,
            action: NoteAction::Create(new),
        };
        commands
            .execute(
                id,
                None,
                command,
                Metadata::for_request(Some(actor), Uuid::new_v4()),
                None,
            )
            .await
            .expect("create");
        ids.push(id);
    }
    ids
}

/// The full command path; writer `w` edits `notes[pick(w, i)]`, re-reading
/// the version and retrying after a 412 as a client would.
async fn full_path(
    commands: NoteCommands,
    actor: UserId,
    notes: Vec<NoteId>,
    writers: usize,
    secs: u64,
    hot: bool,
) -> Run {
    let notes = Arc::new(notes);
    let versions: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..notes.len())
            .map(|_| std::sync::atomic::AtomicU64::new(1))
            .collect(),
    );
    measure(writers, secs, move |w, i| {
        let (commands, notes, versions) = (commands.clone(), notes.clone(), versions.clone());
        async move {
            let slot = if hot {
                (w + i as usize) % notes.len()
            } else {
                w
            };
            let mut retries = 0;
            loop {
                let expected = versions[slot].load(Ordering::Relaxed);
                let meta = Metadata::for_request(Some(actor), Uuid::new_v4());
                match commands
                    .execute(notes[slot], Some(expected), edit(actor, i), meta, None)
                    .await
                {
                    Ok(outcome) => {
                        versions[slot].fetch_max(outcome.version, Ordering::Relaxed);
                        return retries;
                    }
                    Err(CommandError::VersionMismatch { current }) => {
                        versions[slot].fetch_max(current, Ordering::Relaxed);
                        retries += 1;
                    }
                    Err(other) => panic!("command failed: {other}"),
                }
            }
        }
    })
    .await
}

fn row(label: &str, writers: usize, full: &Run, raw: &Run) {
    println!(
        "| {label:<28} | {writers:>7} | {:>10.0} | {:>8.2} | {:>8.2} | {:>7} | {:>10.0} | {:>5.0}% |",
        full.per_sec,
        full.p50.as_secs_f64() * 1e3,
        full.p99.as_secs_f64() * 1e3,
        full.retries,
        raw.per_sec,
        100.0 * full.per_sec / raw.per_sec,
    );
}

#[tokio::main]
async fn main() {
    let url = std::env::var("ANOTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let secs: u64 = std::env::var("ANOTE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let schema = format!("bench_{}", Uuid::new_v4().simple());
    let db = PgDatabase::connect(&url, Some(&schema), 72)
        .await
        .expect("PostgreSQL is reachable");
    db.migrate(anote_store::migrations::postgres())
        .await
        .expect("migrations");
    sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .execute(db.pool())
        .await
        .expect("raw table");
    let policy = LedgerPolicy {
        quota: 1 << 30,
        abandon_after: Duration::from_secs(1_500),
    };
    let commands = NoteCommands::new(Arc::new(PgEventStore::new(db.clone())), 100_000, policy);
    let actor = UserId::new();
    // A user's commands commit only while the account is open.
    sqlx::query("INSERT INTO credentials (user_id, password_hash) VALUES ($1, 'none')")
        .bind(actor.uuid())
        .execute(db.pool())
        .await
        .expect("an open account");

    println!("| path                         | writers | commands/s | p50 (ms) | p99 (ms) | retries | raw INSERT/s | full/raw |");
    println!("|------------------------------|--------:|-----------:|---------:|---------:|--------:|-------------:|---------:|");
    for writers in [1, 16, 64] {
        let notes = create_notes(&commands, actor, writers).await;
        let raw = raw_inserts(&db, writers, secs).await;
        let full = full_path(commands.clone(), actor, notes, writers, secs, false).await;
        row("decide + append, own stream", writers, &full, &raw);
    }
    let hot = create_notes(&commands, actor, 16).await;
    let raw = raw_inserts(&db, 16, secs).await;
    let full = full_path(commands.clone(), actor, hot, 16, secs, true).await;
    row("decide + append, 16 hot", 16, &full, &raw);

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db.pool())
        .await
        .expect("count");
    println!("\n{events} events appended; schema {schema} dropped.");
    db.pool().close().await;
    let admin = PgDatabase::connect(&url, None, 1).await.expect("reconnect");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(admin.pool())
        .await
        .expect("drop schema");
}
