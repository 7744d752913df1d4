//! What one student's reads cost beside everyone else's notes: search,
//! list and open for a student with 200 notes, in read models that also
//! hold 1,000 notes of other students, and in read models that hold
//! `ANOTE_BENCH_OTHERS` (default 1,000,000), on SQLite and on PostgreSQL.
//! A read must cost what the student's own notes cost, so the last column,
//! the many-others time over the few-others time, should stay near 1.
//!
//! The notes are written with the load test's vocabulary (20,000 words by
//! Zipf's law: "the" in nearly every note, most words in a few), 200 per
//! student, the student's own notes spread evenly through the others', and
//! stored through the projector's own path (`ProjectionStore::apply`).
//!
//! `cargo bench -p anote-read-store --bench others` (PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`; `ANOTE_BENCH_OTHERS`, `ANOTE_BENCH_READS`
//! reads of each kind, default 500; `ANOTE_BENCH_BACKENDS`, default
//! `sqlite,postgres`).
#![allow(clippy::print_stdout, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use anote_domain::{NoteId, UserId};
use anote_loadtest::vocabulary::Vocabulary;
use anote_read_store::{
    NoteFilter, NoteReads, NoteView, PgReadStore, ProjectionBatch, ProjectionStore, SqliteReadStore,
};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::event_store::Position;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use uuid::Uuid;

/// Notes per student, the measured one included.
const NOTES_PER_STUDENT: usize = 200;
/// Views per projector batch while filling.
const BATCH: usize = 1_000;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A note of `owner`, the `n`th written.
fn view(vocabulary: &Vocabulary, rng: &mut StdRng, owner: UserId, n: usize) -> NoteView {
    let at = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n as u64);
    let subjects = [
        "Maths",
        "Biology",
        "History",
        "Literature",
        "Physics",
        "Law",
    ];
    let title = vocabulary.text(rng, 4);
    let body = vocabulary.text(rng, 60);
    NoteView {
        id: NoteId::new(),
        owner,
        snippet: body.chars().take(120).collect(),
        title,
        body,
        subject: Some(subjects[rng.gen_range(0..subjects.len())].to_owned()),
        tags: vec![vocabulary.search_term(rng).to_owned()],
        pinned: false,
        archived: false,
        trashed: false,
        purged: false,
        due_at: None,
        done: false,
        version: 1,
        created_at: at,
        updated_at: at,
        changed: Position::new(0, n as u64 + 1),
        documents: Vec::new(),
    }
}

/// Fills `store` with `others` notes of other students and the student's
/// 200 spread among them; returns the student's note ids.
async fn fill(store: &dyn ProjectionStore, student: UserId, others: usize) -> Vec<NoteId> {
    let vocabulary = Vocabulary::campus();
    let mut rng = StdRng::seed_from_u64(others as u64);
    let owners: Vec<UserId> = (0..others.div_ceil(NOTES_PER_STUDENT))
        .map(|_| UserId::new())
        .collect();
    let total = others + NOTES_PER_STUDENT;
    let every = total / NOTES_PER_STUDENT;
    let mut mine = Vec::with_capacity(NOTES_PER_STUDENT);
    let mut batch = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for n in 0..total {
        let owner = if n % every == 0 && mine.len() < NOTES_PER_STUDENT {
            student
        } else {
            owners[n % owners.len()]
        };
        let note = view(&vocabulary, &mut rng, owner, n);
        if owner == student {
            mine.push(note.id);
        }
        batch.push(note);
        if batch.len() == BATCH || n + 1 == total {
            let upserts = std::mem::take(&mut batch);
            let checkpoint = Position::new(0, n as u64 + 1);
            store
                .apply(
                    "note_views",
                    &ProjectionBatch {
                        upserts,
                        checkpoint,
                        ..ProjectionBatch::default()
                    },
                )
                .await
                .expect("stores the views");
        }
        if (n + 1) % 100_000 == 0 {
            eprintln!("  {} notes in {:.0?}", n + 1, started.elapsed());
        }
    }
    mine
}

/// The median and 99th percentile of `times`, in microseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

/// The student's three reads, `reads` of each, each after a warm-up.
async fn measure(
    reads: &dyn NoteReads,
    student: UserId,
    mine: &[NoteId],
    count: usize,
) -> Vec<(&'static str, (f64, f64))> {
    let vocabulary = Vocabulary::campus();
    let mut results = Vec::new();
    for kind in ["search", "list", "open"] {
        let mut rng = StdRng::seed_from_u64(42);
        let mut times = Vec::with_capacity(count);
        for i in 0..count + count / 5 {
            let started = Instant::now();
            let found = match kind {
                "search" => reads
                    .search(student, vocabulary.search_term(&mut rng), 20)
                    .await
                    .expect("searches")
                    .len(),
                "list" => reads
                    .list(student, &NoteFilter::default(), None, 20)
                    .await
                    .expect("lists")
                    .len(),
                _ => reads
                    .note(student, mine[rng.gen_range(0..mine.len())])
                    .await
                    .expect("opens")
                    .into_iter()
                    .count(),
            };
            // The first fifth warms the caches up.
            if i >= count / 5 {
                times.push(started.elapsed());
            }
            std::hint::black_box(found);
        }
        results.push((kind, percentiles(times)));
    }
    results
}

async fn sqlite(folder: &Path, name: &str) -> SqliteReadStore {
    let db = SqliteDatabase::open_rebuildable(&folder.join(name))
        .await
        .expect("SQLite opens");
    db.migrate(anote_read_store::migrations::sqlite())
        .await
        .expect("migrates");
    SqliteReadStore::new(db)
}

async fn postgres(url: &str, schema: &str) -> PgReadStore {
    let db = PgDatabase::connect(url, Some(schema), 4)
        .await
        .expect("PostgreSQL answers");
    db.migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    PgReadStore::new(db)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("ANOTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let many = env_number("ANOTE_BENCH_OTHERS", 1_000_000);
    let count = env_number("ANOTE_BENCH_READS", 500);
    let folder = std::env::temp_dir().join(format!("anote-bench-others-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("a temporary folder");
    let mut rows = Vec::new();
    let backends = std::env::var("ANOTE_BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_owned())
        .to_lowercase();
    for backend in ["SQLite", "PostgreSQL"] {
        if !backends.contains(&backend.to_lowercase()) {
            continue;
        }
        let mut by_size = Vec::new();
        for others in [1_000, many] {
            eprintln!("{backend}: {others} notes of others");
            let student = UserId::new();
            let schema = format!("bench_others_{}", Uuid::new_v4().simple());
            let (projection, reads): (Box<dyn ProjectionStore>, Box<dyn NoteReads>) =
                if backend == "SQLite" {
                    let store = sqlite(&folder, &format!("{others}.db")).await;
                    (Box::new(store.clone()), Box::new(store))
                } else {
                    let store = postgres(&url, &schema).await;
                    (Box::new(store.clone()), Box::new(store))
                };
            let mine = fill(projection.as_ref(), student, others).await;
            if backend == "PostgreSQL" {
                // As autovacuum would after a bulk load: the planner's statistics.
                let db = PgDatabase::connect(&url, Some(&schema), 1)
                    .await
                    .expect("PostgreSQL");
                sqlx::query("ANALYZE note_views")
                    .execute(db.pool())
                    .await
                    .expect("analyzes");
            }
            by_size.push((others, measure(reads.as_ref(), student, &mine, count).await));
            if backend == "PostgreSQL" {
                let db = PgDatabase::connect(&url, None, 1)
                    .await
                    .expect("PostgreSQL");
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(db.pool())
                    .await
                    .expect("drops the schema");
            }
        }
        let (few, many_results) = (&by_size[0].1, &by_size[1].1);
        for ((kind, (few_p50, few_p99)), (_, (many_p50, many_p99))) in few.iter().zip(many_results)
        {
            rows.push(format!(
                "| {backend:<10} | {kind:<6} | {few_p50:>9.0} | {few_p99:>9.0} | {many_p50:>9.0} | {many_p99:>9.0} | {:>5.2} |",
                many_p50 / few_p50
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&folder);
    println!("\nA student's reads (200 notes of theirs; µs; {count} reads of each kind; search terms by frequency)\n");
    println!(
        "| backend    | read   | p50, 1,000 others | p99       | p50, {many} others | p99       | ratio |"
    );
    println!("|------------|--------|----------:|----------:|----------:|----------:|------:|");
    for row in rows {
        println!("{row}");
    }
}
