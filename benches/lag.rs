//! End-to-end lag: from a command's acknowledgement to the change being
//! visible in the query API (polled without `Anote-Min-Position`), through
//! the log feed (`anote serve`) and through Kinesis (command API, relay,
//! projector and query API as separate processes on PostgreSQL and the
//! emulator).
//!
//! `cargo bench --bench lag` (PostgreSQL at `ANOTE_TEST_DATABASE_URL`, the
//! Kinesis emulator at `ANOTE_TEST_KINESIS_ENDPOINT`; `ANOTE_BENCH_COMMANDS`
//! commands per setup, default 300).
#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use anote_kinesis::relay::kinesis::{create_stream, emulator_client};
use common::{anote, bench_account, env, json, port, ready, serve_embedded};
use serde_json::json;
use uuid::Uuid;

/// Runs `commands` edits through `writer` and measures when `reader` shows them.
async fn measure(writer: &str, reader: &str, commands: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let token = bench_account(&http, writer).await;
    let created = json(
        http.post(format!("{writer}/v1/notes"))
            .bearer_auth(&token)
            .json(&json!({ "title": "t", "body": "b" }))
            .send()
            .await
            .expect("creates"),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let mut lags = Vec::with_capacity(commands);
    for version in 1..=commands as u64 {
        let reply = http
            .patch(format!("{writer}/v1/notes/{id}"))
            .bearer_auth(&token)
            .header("if-match", format!("\"{version}\""))
            .json(&json!({ "body": format!("edit {version}") }))
            .send()
            .await
            .expect("edits");
        assert!(reply.status().is_success());
        let acknowledged = Instant::now();
        loop {
            let note = http
                .get(format!("{reader}/v1/notes/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("reads");
            if note.status().is_success() && json(note).await["version"] == version + 1 {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        lags.push(acknowledged.elapsed());
    }
    lags
}

fn row(label: &str, mut lags: Vec<Duration>) {
    lags.sort();
    let pct =
        |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "| {label:<32} | {:>8} | {:>8.1} | {:>8.1} | {:>8.1} |",
        lags.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

#[tokio::main]
async fn main() {
    let commands: usize = env("ANOTE_BENCH_COMMANDS", "300")
        .parse()
        .expect("a number");
    println!("| feed                             | commands | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|----------------------------------|---------:|---------:|---------:|---------:|");

    // The log feed: anote serve.
    let (serve, base, dir) = serve_embedded("lag").await;
    row(
        "log feed (anote serve)",
        measure(&base, &base, commands).await,
    );
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);

    // Kinesis: four processes.
    let endpoint = env("ANOTE_TEST_KINESIS_ENDPOINT", "http://127.0.0.1:4568");
    let client = emulator_client(&endpoint);
    let stream = format!("anote-lag-{}", Uuid::new_v4().simple());
    create_stream(&client, &stream, 4)
        .await
        .expect("the Kinesis emulator answers");
    let schema = format!("bench_lag_{}", Uuid::new_v4().simple());
    let common = vec![
        (
            "ANOTE_DATABASE_URL",
            env(
                "ANOTE_TEST_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
        ),
        ("ANOTE_DATABASE_SCHEMA", schema.clone()),
        ("ANOTE_READ_DATABASE_SCHEMA", format!("{schema}_read")),
        ("ANOTE_DATABASE_MAX_CONNECTIONS", "8".to_owned()),
        (
            "ANOTE_TOKEN_SECRET",
            "bench-secret-bench-secret-bench-secret".to_owned(),
        ),
        (
            "ANOTE_BLOB_DIR",
            std::env::temp_dir()
                .join(format!("anote-{schema}"))
                .display()
                .to_string(),
        ),
        ("ANOTE_KINESIS_STREAM", stream.clone()),
        ("ANOTE_KINESIS_ENDPOINT", endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
    ];
    let with = |extra: Vec<(&'static str, String)>| {
        common.iter().cloned().chain(extra).collect::<Vec<_>>()
    };
    let writer = format!("http://127.0.0.1:{}", port());
    let reader = format!("http://127.0.0.1:{}", port());
    let _command = anote(
        &["command-api"],
        &with(vec![(
            "ANOTE_LISTEN",
            writer.trim_start_matches("http://").to_owned(),
        )]),
    );
    ready(&reqwest::Client::new(), &writer).await;
    let _query = anote(
        &["query-api"],
        &with(vec![(
            "ANOTE_LISTEN",
            reader.trim_start_matches("http://").to_owned(),
        )]),
    );
    ready(&reqwest::Client::new(), &reader).await;
    let _relay = anote(&["relay"], &with(vec![]));
    let _projector = anote(&["projector"], &with(vec![]));
    row(
        "Kinesis (relay, projector)",
        measure(&writer, &reader, commands).await,
    );
}
