//! Document uploads: 100 documents of 1 MiB (`ANOTE_BENCH_DOCUMENTS`), 8
//! concurrent clients, each document requested, uploaded through its
//! presigned URL and completed. Measured against the command API on
//! PostgreSQL with the S3 emulator, where the bytes go straight to the store,
//! and against `anote serve` with its local store, where they go through
//! Anote: the API process's CPU time per document shows the difference.
//!
//! `cargo bench --bench documents` (PostgreSQL at `ANOTE_TEST_DATABASE_URL`,
//! the S3 emulator at `ANOTE_TEST_S3_ENDPOINT` with
//! `ANOTE_TEST_S3_ACCESS_KEY` and `ANOTE_TEST_S3_SECRET_KEY`).
#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{anote, bench_account, env, json, port, ready, serve_embedded, Process};
use serde_json::{json, Value};
use uuid::Uuid;

const CLIENTS: usize = 8;
const SIZE: usize = 1024 * 1024;

/// CPU time (user and system) a process has used so far.
fn cpu_time(process: &Process) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", process.0.id())).expect("stat");
    // Fields after the command name (which ends with ')'): utime is the
    // 12th, stime the 13th, in clock ticks.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Registers, logs in and creates one note per client; returns the token
/// and the notes.
async fn setup(http: &reqwest::Client, base: &str) -> (String, Vec<String>) {
    let token = bench_account(http, base).await;
    let mut notes = Vec::new();
    for n in 0..CLIENTS {
        let created = json(
            http.post(format!("{base}/v1/notes"))
                .bearer_auth(&token)
                .json(&json!({ "title": format!("Course {n}"), "body": "" }))
                .send()
                .await
                .expect("creates"),
        )
        .await;
        notes.push(created["id"].as_str().expect("id").to_owned());
    }
    (token, notes)
}

/// One document: request, upload, complete. Returns how long it took.
async fn one(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    note: &str,
    data: Vec<u8>,
) -> Duration {
    let started = Instant::now();
    let spec =
        json!({ "file_name": "notes.pdf", "content_type": "application/pdf", "size": data.len() });
    let reply: Value = json(
        http.post(format!("{base}/v1/notes/{note}/documents"))
            .bearer_auth(token)
            .json(&spec)
            .send()
            .await
            .expect("requests"),
    )
    .await;
    let mut put = http
        .put(reply["upload_url"].as_str().expect("a single upload"))
        .body(data);
    for (name, value) in reply["upload_headers"].as_object().into_iter().flatten() {
        if name != "content-length" {
            put = put.header(name, value.as_str().expect("header"));
        }
    }
    assert_eq!(put.send().await.expect("uploads").status(), 200);
    let doc = reply["id"].as_str().expect("id");
    let done = http
        .post(format!("{base}/v1/notes/{note}/documents/{doc}/complete"))
        .bearer_auth(token)
        .send()
        .await
        .expect("completes");
    assert_eq!(done.status(), 200);
    started.elapsed()
}

/// Uploads `documents` documents through `base` and prints a row.
async fn measure(label: &str, base: &str, api: &Process, documents: usize) {
    let http = reqwest::Client::new();
    let (token, notes) = setup(&http, base).await;
    let cpu_before = cpu_time(api);
    let started = Instant::now();
    let mut clients = Vec::new();
    for (c, note) in notes.into_iter().enumerate() {
        let (http, base, token) = (http.clone(), base.to_owned(), token.clone());
        let count = documents / CLIENTS + usize::from(c < documents % CLIENTS);
        clients.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for n in 0..count {
                let data = vec![(c * 31 + n) as u8; SIZE];
                times.push(one(&http, &base, &token, &note, data).await);
            }
            times
        }));
    }
    let mut times = Vec::new();
    for client in clients {
        times.extend(client.await.expect("client"));
    }
    let wall = started.elapsed();
    let cpu = cpu_time(api) - cpu_before;
    times.sort();
    let pct = |p: f64| {
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "| {label:<34} | {:>9} | {:>8.2} | {:>10.1} | {:>8.1} | {:>8.1} | {:>12.2} |",
        times.len(),
        wall.as_secs_f64(),
        times.len() as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        cpu.as_secs_f64() * 1e3 / times.len() as f64,
    );
}

#[tokio::main]
async fn main() {
    let documents: usize = env("ANOTE_BENCH_DOCUMENTS", "100")
        .parse()
        .expect("a number");
    println!("| setup                              | documents | time (s) | documents/s | p50 (ms) | p99 (ms) | API CPU ms/doc |");
    println!("|------------------------------------|----------:|---------:|------------:|---------:|---------:|---------------:|");

    // The command API with S3: the bytes go to the emulator.
    let endpoint = env("ANOTE_TEST_S3_ENDPOINT", "http://127.0.0.1:8014");
    let access = env("ANOTE_TEST_S3_ACCESS_KEY", "anote-test");
    let secret = env("ANOTE_TEST_S3_SECRET_KEY", "anote-test-secret");
    let schema = format!("bench_docs_{}", Uuid::new_v4().simple());
    let bucket = schema.replace('_', "-");
    let s3 = anote_blob::s3::emulator_client(&endpoint, &access, &secret);
    anote_blob::s3::create_bucket(&s3, &bucket)
        .await
        .expect("the S3 emulator answers");
    let base = format!("http://127.0.0.1:{}", port());
    let api = anote(
        &["command-api"],
        &[
            (
                "ANOTE_DATABASE_URL",
                env(
                    "ANOTE_TEST_DATABASE_URL",
                    "postgres://postgres@127.0.0.1:5432/test",
                ),
            ),
            ("ANOTE_DATABASE_SCHEMA", schema.clone()),
            (
                "ANOTE_TOKEN_SECRET",
                "bench-secret-bench-secret-bench-secret".to_owned(),
            ),
            ("ANOTE_S3_BUCKET", bucket),
            ("ANOTE_S3_ENDPOINT", endpoint),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", access),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "ANOTE_LISTEN",
                base.trim_start_matches("http://").to_owned(),
            ),
        ],
    );
    ready(&reqwest::Client::new(), &base).await;
    measure("command API + S3 emulator", &base, &api, documents).await;
    drop(api);

    // anote serve: the bytes go through Anote to its local store.
    let (serve, base, dir) = serve_embedded("docs").await;
    measure("anote serve + local store", &base, &serve, documents).await;
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
