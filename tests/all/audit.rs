//! End-to-end tests of `anote audit` on the log `anote serve` wrote and on
//! the split services' PostgreSQL log: `verify` finds every chain intact,
//! and `export` writes lines a third party can check with the documented
//! algorithm alone. (Tampering is in `infra/store/tests/event_store_contract.rs`.)

use std::collections::HashMap;
use std::process::Command;

use anote_testkit::process::Backend;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `anote audit <args>` against the backend's log; returns stdout.
fn audit(b: &Backend, args: &[&str]) -> (bool, String) {
    let mut cmd = match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => anote_testkit::process::postgres_command("audit", schema),
        (None, Some(dir)) => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_anote"));
            cmd.arg("audit").env("ANOTE_DATA_DIR", dir);
            cmd
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    };
    let output = cmd.args(args).output().expect("anote audit runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("UTF-8"),
    )
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
    let ada = b.writer.user("ada").await;
    let id = b
        .writer
        .note(
            &ada,
            json!({ "title": "Übung „Grenzwerte“ 📐", "body": "v1\tÆ\n\"quoted\" \\ back", "tags": ["Exam"] }),
        )
        .await;
    for version in 1..=3 {
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
