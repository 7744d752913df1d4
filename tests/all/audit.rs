//! End-to-end tests of `anote audit` on the log `anote serve` wrote and on
//! the split services' PostgreSQL log: `verify` finds every chain intact,
//! `export` writes lines a third party can check with the documented
//! algorithm alone, and `anchor` writes anchors (to a file, a folder, S3)
//! that `verify --against` compares the log with. (Tampering is in
//! `infra/store/tests/event_store_contract.rs`.)

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use anote_testkit::process::{Backend, ProjectorProcess};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `anote audit <args>` against the backend's log; returns stdout.
fn audit(b: &Backend, args: &[&str]) -> (bool, String) {
    let output = audit_output(b, args);
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("UTF-8"),
    )
}

/// `anote audit <args>` against the backend's log.
fn audit_output(b: &Backend, args: &[&str]) -> Output {
    b.tool("audit")
        .args(args)
        .output()
        .expect("anote audit runs")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The README's algorithm, from an export line alone.
fn expected_hash(line: &Value, prev: &str) -> String {
    let content = json!([
        line["event_id"],
        line["stream_id"],
        line["stream_version"],
        line["event_type"],
        line["schema_version"],
        line["payload"],
        line["metadata"],
        line["recorded_at_micros"],
    ]);
    let digest = Sha256::digest(content.to_string().as_bytes());
    let prev: Vec<u8> = (0..prev.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&prev[i..i + 2], 16).expect("hex"))
        .collect();
    hex(&Sha256::new()
        .chain_update(prev)
        .chain_update(digest)
        .finalize())
}

async fn verify_and_export_check_out(split: bool) {
    let b = Backend::of(split).await;
    let fields = json!({ "title": "Übung „Grenzwerte“ 📐", "body": "v1\tÆ\n\"quoted\" \\ back", "tags": ["Exam"] });
    let id = edited_note(&b, "ada", fields, 3).await;

    // Verification reads in commit order: on PostgreSQL, other tests' open
    // transactions may hold the newest events back for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let report = loop {
        let (ok, report) = audit(&b, &["verify"]);
        assert!(ok, "{report}");
        let report: Value = serde_json::from_str(&report).expect("a JSON report");
        if report["events"].as_u64() >= Some(5) || std::time::Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(report["breaks"], json!([]));
    assert!(report["events"].as_u64() >= Some(5), "{report}");

    let stream = format!("note-{id}");
    let (ok, export) = audit(&b, &["export", "--stream", &stream]);
    assert!(ok);
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4);
    let mut heads: HashMap<String, String> = HashMap::new();
    for line in &lines {
        let prev = heads
            .get(line["stream_id"].as_str().expect("stream"))
            .cloned()
            .unwrap_or_else(|| "00".repeat(32));
        assert_eq!(line["prev_hash"].as_str(), Some(prev.as_str()));
        let hash = expected_hash(line, &prev);
        assert_eq!(line["hash"].as_str(), Some(hash.as_str()), "{line}");
        heads.insert(line["stream_id"].as_str().expect("stream").to_owned(), hash);
    }
    let (_, none) = audit(
        &b,
        &[
            "export",
            "--stream",
            &stream,
            "--until",
            "2000-01-01T00:00:00Z",
        ],
    );
    assert!(none.is_empty());
}

anote_testkit::both_setups!(split; verify_and_export_check_out);

/// A new user's note of `fields` with `edits` edits of its body; returns
/// its id.
async fn edited_note(b: &Backend, user: &str, fields: Value, edits: u64) -> String {
    let ada = b.writer.user(user).await;
    let id = b.writer.note(&ada, fields).await;
    for version in 1..=edits {
        let edit = json!({ "body": format!("v{}", version + 1) });
        b.command(
            &ada,
            Method::PATCH,
            &format!("/v1/notes/{id}"),
            Some(version),
            Some(edit),
        )
        .await;
    }
    id
}

/// The fields of the note the anchor tests write.
fn anchored() -> Value {
    json!({ "title": "Anchored", "body": "v1" })
}

/// The anchor `anote audit anchor` printed.
fn printed(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the anchor as JSON")
}

/// `verify --against`: the report's anchor part, and whether the command
/// passed.
fn verified_against(b: &Backend, against: &str) -> (bool, Value) {
    let output = audit_output(b, &["verify", "--against", against]);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("a JSON report: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(report["breaks"], json!([]), "{report}");
    (output.status.success(), report["anchor"].clone())
}

#[tokio::test]
async fn an_anchor_file_is_written_once_and_the_log_verifies_against_it() {
    let b = Backend::embedded().await;
    edited_note(&b, "ada", anchored(), 2).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("anchor.json");
    let file = file.to_str().expect("UTF-8 path");
    let anchor = printed(&audit_output(&b, &["anchor", "--to", file]));
    assert!(anchor["events"].as_u64() >= Some(4), "{anchor}");
    assert_eq!(
        anchor["digest"].as_str().map(str::len),
        Some(64),
        "{anchor}"
    );
    let stored: Value =
        serde_json::from_slice(&std::fs::read(file).expect("the anchor file")).expect("JSON");
    assert_eq!(stored, anchor);

    let again = audit_output(&b, &["anchor", "--to", file]);
    assert!(!again.status.success());
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(refusal.contains("never overwritten"), "{refusal}");
    let still: Value =
        serde_json::from_slice(&std::fs::read(file).expect("the anchor file")).expect("JSON");
    assert_eq!(still, anchor, "the first anchor is kept");

    // The log grows: it still holds what the anchor saw.
    edited_note(&b, "grace", anchored(), 2).await;
    let (ok, check) = verified_against(&b, file);
    assert!(ok, "{check}");
    assert_eq!(check["verdict"], "matches", "{check}");
    assert_eq!(check["anchored"], check["current"], "{check}");

    // A folder gets a new file per anchor.
    let folder = dir.path().to_str().expect("UTF-8 path");
    let second = printed(&audit_output(&b, &["anchor", "--to", folder]));
    let name = format!("anchor-{}-", second["position"].as_str().expect("position"));
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().any(|f| f.starts_with(&name)), "{files:?}");
}

/// The anchors in `bucket` of the S3 emulator under `prefix`, by key.
async fn anchors_in(bucket: &str, prefix: &str) -> Vec<(String, Value)> {
    let s3 = anote_testkit::env::s3_client();
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("lists");
    let mut anchors = Vec::new();
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        let got = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("gets");
        let bytes = got.body.collect().await.expect("reads").into_bytes();
        let anchor = serde_json::from_slice(&bytes).expect("an anchor");
        anchors.push((key.to_owned(), anchor));
    }
    anchors
}

// The split services' processes reach the S3 emulator with the test
// command's credentials (`postgres_command`), `anote audit` included.
#[tokio::test]
async fn anchors_go_to_s3_and_verify_from_there() {
    let b = Backend::split().await;
    edited_note(&b, "ada", anchored(), 2).await;
    let bucket = anote_testkit::env::fresh_bucket().await;
    // On PostgreSQL, other tests' open transactions may hold the newest
    // events back for a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let to = format!("s3://{bucket}/anchors/test/");
    let anchor = loop {
        let anchor = printed(&audit_output(&b, &["anchor", "--to", &to]));
        if anchor["events"].as_u64() >= Some(4) || Instant::now() > deadline {
            break anchor;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(anchor["events"].as_u64() >= Some(4), "{anchor}");
    let name = format!(
        "anchors/test/anchor-{}-",
        anchor["position"].as_str().expect("position")
    );
    let stored = anchors_in(&bucket, "anchors/test/").await;
    let (key, _) = stored
        .iter()
        .find(|(key, stored)| key.starts_with(&name) && *stored == anchor)
        .unwrap_or_else(|| panic!("{name}… in {stored:?}"));
    let (ok, check) = verified_against(&b, &format!("s3://{bucket}/{key}"));
    assert!(ok, "{check}");
    assert_eq!(check["verdict"], "matches", "{check}");

    let missing = audit_output(
        &b,
        &["verify", "--against", &format!("s3://{bucket}/none.json")],
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no anchor at"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[tokio::test]
async fn the_relay_anchors_to_s3_on_its_schedule() {
    let b = Backend::split().await;
    let schema = b.schema.clone().expect("split");
    edited_note(&b, "ada", anchored(), 2).await;
    let kinesis = anote_testkit::env::kinesis_client();
    let stream = anote_testkit::env::fresh_stream(&kinesis, 1).await;
    let bucket = anote_testkit::env::fresh_bucket().await;
    let to = format!("s3://{bucket}/anchors");
    let _relay = ProjectorProcess::with_kinesis_and(
        "relay",
        &schema,
        &stream,
        &[
            ("ANOTE_AUDIT_ANCHOR_TO", &to),
            ("ANOTE_AUDIT_ANCHOR_INTERVAL", "100ms"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let key = loop {
        let stored = anchors_in(&bucket, "anchors/").await;
        if let Some((key, _)) = stored
            .iter()
            .find(|(_, anchor)| anchor["events"].as_u64() >= Some(4))
        {
            break key.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no anchor of the note in {to}: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (ok, check) = verified_against(&b, &format!("s3://{bucket}/{key}"));
    assert!(ok, "{check}");
    assert_eq!(check["verdict"], "matches", "{check}");
}

#[tokio::test]
async fn anote_serve_anchors_on_its_schedule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let to = dir.path().to_str().expect("UTF-8 path");
    let b = Backend::of_with(
        false,
        &[
            ("ANOTE_AUDIT_ANCHOR_TO", to),
            ("ANOTE_AUDIT_ANCHOR_INTERVAL", "100ms"),
        ],
    )
    .await;
    edited_note(&b, "ada", anchored(), 2).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let newest = loop {
        // Anchors only: not a temporary file being written.
        let mut anchors: Vec<Value> = std::fs::read_dir(dir.path())
            .expect("lists")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("anchor-"))
            })
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("reads")).expect("an anchor"))
            .collect();
        anchors.sort_by_key(|a| a["events"].as_u64());
        match anchors.pop() {
            Some(anchor) if anchor["events"].as_u64() >= Some(4) => break anchor,
            _ => {
                assert!(Instant::now() < deadline, "no anchor of the note in {to}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let file = dir
        .path()
        .join(format!(
            "anchor-{}-",
            newest["position"].as_str().expect("position")
        ))
        .to_string_lossy()
        .into_owned();
    let path = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").path().to_string_lossy().into_owned())
        .find(|p| p.starts_with(&file))
        .expect("the newest anchor's file");
    let (ok, check) = verified_against(&b, &path);
    assert!(ok, "{check}");
    assert_eq!(check["verdict"], "matches", "{check}");
}
