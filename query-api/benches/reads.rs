//! Query API benchmark with wrk: a cached note, an uncached note and a list
//! page at 64 connections, beside a minimal axum handler that returns a fixed
//! 1 KiB JSON body (the ceiling), all in the same run.
//!
//! `scripts/bench-reads.sh` (installs wrk when missing, then runs
//! `cargo bench -p anote-query-api --bench reads`; PostgreSQL at
//! `ANOTE_TEST_DATABASE_URL`, `ANOTE_BENCH_SECS` seconds per target, default 5).
#![allow(clippy::print_stdout, missing_docs)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anote_blob::local::LocalBlobs;
use anote_blob::Blobs;
use anote_blob::DocumentPolicy;
use anote_domain::{NoteId, UserId};
use anote_http::HttpSettings;
use anote_query_api::{QueryParts, QuerySettings, QueryState};
use anote_read_store::{NoteView, PgReadStore, ProjectionBatch, ReadStore};
use anote_store::accounts::PgAccountStore;
use anote_store::db::PgDatabase;
use anote_store::event_store::Position;
use anote_store::revocations::Revocations;
use anote_tokens::Secret;
use anote_tokens::{AccessClaims, TokenSigner};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;
use uuid::Uuid;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    address
}

/// Requests/s, p50 and p99 (ms) that wrk measured for `url`.
fn wrk(url: &str, token: &str, secs: u64) -> (f64, f64, f64) {
    let output = Command::new("wrk")
        .args([
            "-t2",
            "-c64",
            &format!("-d{secs}s"),
            "--latency",
            "-H",
            &format!("authorization: Bearer {token}"),
            url,
        ])
        .output()
        .expect("wrk runs (scripts/bench-reads.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_default();
        let value = line.split_whitespace().nth(1).unwrap_or("0");
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse().unwrap_or(0.0);
        match unit {
            "us" => number / 1000.0,
            "s" => number * 1000.0,
            _ => number,
        }
    };
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw errors for {url}:\n{text}"
    );
    (field("Requests/sec:"), field("50%"), field("99%"))
}

fn view(owner: UserId, n: usize) -> NoteView {
    let now = OffsetDateTime::now_utc();
    NoteView {
        id: NoteId::new(),
        owner,
        title: format!("Lecture {n}"),
        body: "# Limits\\n\\nA sequence converges when… ".repeat(20),
        snippet: "Limits A sequence converges when…".to_owned(),
        subject: Some("Maths".to_owned()),
        tags: vec!["exam".to_owned()],
        pinned: false,
        archived: false,
        trashed: false,
        purged: false,
        due_at: None,
        done: false,
        version: 1,
        created_at: now,
        updated_at: now,
        changed: Position::new(0, n as u64 + 1),
        documents: Vec::new(),
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::var("ANOTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let secs: u64 = std::env::var("ANOTE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let schema = format!("bench_reads_{}", Uuid::new_v4().simple());
    let db = PgDatabase::connect(&url, Some(&schema), 16)
        .await
        .expect("PostgreSQL");
    db.migrate(anote_read_store::migrations::postgres())
        .await
        .expect("migrates");
    db.migrate(anote_store::migrations::postgres())
        .await
        .expect("migrates");
    let reads: Arc<dyn ReadStore> = Arc::new(PgReadStore::new(db.clone()));
    let owner = UserId::new();
    let views: Vec<NoteView> = (0..1_000).map(|n| view(owner, n)).collect();
    let id = views[0].id;
    let batch = ProjectionBatch {
        upserts: views,
        checkpoint: Position::new(0, 1_000),
        ..ProjectionBatch::default()
    };
    reads.apply("note_views", &batch).await.expect("seeds");

    let signer = TokenSigner::new(Secret::new(b"bench-key-bench-key-bench-key-32".to_vec()));
    let claims = AccessClaims {
        sub: owner,
        sid: Uuid::new_v4(),
        exp: OffsetDateTime::now_utc().unix_timestamp() + 3_600,
    };
    let token = signer.sign(&claims);
    let http = HttpSettings {
        cors_origins: Vec::new(),
        request_timeout: Duration::from_secs(10),
        body_limit: 1 << 20,
        max_in_flight: 4_096,
        body_timeout: Duration::from_secs(10),
    };
    let blob_dir = std::env::temp_dir().join(format!("anote-bench-{}", Uuid::new_v4()));
    let blobs = Blobs::local_store(
        LocalBlobs::open(&blob_dir, "http://127.0.0.1", signer.clone()).expect("blob folder"),
    );
    let events: Arc<dyn anote_store::event_store::EventStore> =
        Arc::new(anote_store::event_store::PgEventStore::new(db.clone()));
    let (notices, _) = tokio::sync::broadcast::channel(16);
    let revocations = Revocations::load(Arc::new(PgAccountStore::new(db.clone())))
        .await
        .expect("revocations");
    let state = |cache_max_bytes| {
        let parts = QueryParts {
            reads: reads.clone(),
            events: events.clone(),
            signer: signer.clone(),
            revocations: revocations.clone(),
            blobs: blobs.clone(),
            documents: DocumentPolicy {
                max_bytes: 50 << 20,
                quota_bytes: 1 << 30,
                types: vec!["application/pdf".to_owned()],
                upload_url_ttl: Duration::from_secs(900),
                download_url_ttl: Duration::from_secs(300),
                upload_grace: Duration::from_secs(600),
            },
            settings: QuerySettings {
                min_position_timeout: Duration::from_secs(2),
                cache_max_bytes,
                cache_ttl: Duration::from_secs(60),
                streams: anote_query_api::StreamSettings::DEFAULT,
            },
        };
        QueryState::start(parts, &notices)
    };
    let cached = serve(anote_query_api::router(state(256 << 20), &http, None)).await;
    let uncached = serve(anote_query_api::router(state(0), &http, None)).await;
    let body = serde_json::json!({ "data": "x".repeat(1_000) });
    let ceiling = serve(Router::new().route(
        "/ceiling",
        get(move || {
            let body = body.clone();
            async move { Json(body) }
        }),
    ))
    .await;

    let targets = [
        ("bare axum, 1 KiB JSON", format!("http://{ceiling}/ceiling")),
        (
            "GET /v1/notes/{id}, cached",
            format!("http://{cached}/v1/notes/{id}"),
        ),
        (
            "GET /v1/notes/{id}, uncached",
            format!("http://{uncached}/v1/notes/{id}"),
        ),
        (
            "GET /v1/notes?limit=20, cached",
            format!("http://{cached}/v1/notes?limit=20"),
        ),
        (
            "GET /v1/notes?limit=20, uncached",
            format!("http://{uncached}/v1/notes?limit=20"),
        ),
    ];
    println!(
        "| target                           | requests/s | p50 (ms) | p99 (ms) | of ceiling |"
    );
    println!(
        "|----------------------------------|-----------:|---------:|---------:|-----------:|"
    );
    let mut ceiling_rate = 0.0;
    for (label, url) in targets {
        let (token, url) = (token.clone(), url.clone());
        let (rate, p50, p99) = tokio::task::spawn_blocking(move || wrk(&url, &token, secs))
            .await
            .expect("wrk ran");
        if ceiling_rate == 0.0 {
            ceiling_rate = rate;
        }
        println!(
            "| {label:<32} | {rate:>10.0} | {p50:>8.2} | {p99:>8.2} | {:>9.0}% |",
            100.0 * rate / ceiling_rate
        );
    }
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(db.pool())
        .await
        .expect("drops");
}
