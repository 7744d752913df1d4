//! `GET /v1/account/export` and `anote export` through the real binary, on
//! both setups (documents in the local folder, or in the S3 emulator): every
//! note of the caller and no one else's, as Markdown with front matter in a
//! folder per subject, the documents' bytes beside them, and a manifest.

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use anote_testkit::process::Backend;
use reqwest::Method;
use serde_json::{json, Value};

use crate::documents::{attach, bytes, sha256_hex};

/// The archive's files by name.
struct Archive(zip::ZipArchive<Cursor<Vec<u8>>>);

impl Archive {
    fn new(bytes: Vec<u8>) -> Self {
        Self(zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip"))
    }

    fn file(&mut self, name: &str) -> Vec<u8> {
        let mut file = self
            .0
            .by_name(name)
            .unwrap_or_else(|_| panic!("{name} in the archive"));
        let mut out = Vec::new();
        file.read_to_end(&mut out).expect("readable");
        out
    }

    fn text(&mut self, name: &str) -> String {
        String::from_utf8(self.file(name)).expect("UTF-8")
    }

    fn names(&self) -> BTreeSet<String> {
        self.0
            .file_names()
            .map(|name| name.expect("a UTF-8 name").into_owned())
            .collect()
    }
}

async fn an_account_exports_every_note_and_document(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let week = json!({
        "title": "Week 1", "body": "# Limits\n\nε-δ.", "subject": "Maths",
        "tags": ["exam", "week-1"], "due_at": "2026-12-20T09:00:00Z",
    });
    let (week1, _) = b.create_note(&ada, week).await;
    let odd_title = "Colon: \"quoted\" / slash --- end";
    let (odd, _) = b
        .create_note(
            &ada,
            json!({ "title": odd_title, "body": "---\ntitle: forged\n---" }),
        )
        .await;
    let (binned, _) = b
        .create_note(&ada, json!({ "title": "Old", "body": "x" }))
        .await;
    b.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{binned}/trash"),
        Some(1),
        None,
    )
    .await;
    b.create_note(&eve, json!({ "title": "Eve's", "body": "secret" }))
        .await;
    // The notes are written in the order of their last change: the twin,
    // stored before "Week 1" changes last, takes the name first.
    let (twin, stored) = b
        .create_note(
            &ada,
            json!({ "title": "week 1", "body": "", "subject": "maths" }),
        )
        .await;
    assert_eq!(b.read(&ada, &twin, &stored).await.0, 200);
    let slides = bytes(300_000, 7);
    let (doc, position) = attach(&b, &ada, &week1, "slides.pdf", &slides).await;

    let r = b
        .reader()
        .as_user(&ada, Method::GET, "/v1/account/export")
        .header("anote-min-position", &position)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let disposition = r.headers()["content-disposition"].to_str().expect("ASCII");
    assert!(
        disposition.starts_with("attachment; filename=\"anote-export-"),
        "{disposition}"
    );
    let mut zip = Archive::new(r.bytes().await.expect("the archive").to_vec());

    let manifest: Value = serde_json::from_slice(&zip.file("manifest.json")).expect("JSON");
    assert_eq!(manifest["format"], "anote-export");
    let ids: BTreeSet<&str> = manifest["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    let expected: BTreeSet<&str> = [&week1, &twin, &odd, &binned]
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(ids, expected, "ada's notes, and only hers");
    assert_eq!(
        zip.names(),
        [
            "Maths/Week 1 (2).md",
            "Maths/Week 1 (2) files/slides.pdf",
            "maths/week 1.md",
            "No subject/Colon- -quoted- - slash --- end.md",
            "No subject/Old.md",
            "manifest.json",
        ]
        .map(str::to_owned)
        .into_iter()
        .collect()
    );

    let week_file = zip.text("Maths/Week 1 (2).md");
    let (front, body) = week_file
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n\n"))
        .expect("front matter, then the body");
    assert_eq!(body, "# Limits\n\nε-δ.", "the body as it is");
    let lines: Vec<&str> = front.lines().collect();
    assert_eq!(
        &lines[..6],
        [
            "title: \"Week 1\"",
            "subject: \"Maths\"",
            "tags: [\"exam\", \"week-1\"]",
            "due: \"2026-12-20T09:00:00Z\"",
            "done: false",
            "pinned: false",
        ]
    );
    assert!(lines.contains(&"trashed: false"));
    assert!(lines.iter().any(|l| l.starts_with("created: \"20")));
    assert!(lines.contains(&format!("id: \"{week1}\"").as_str()));

    // A title cannot end the front matter, and a body that looks like
    // front matter stays the body.
    let odd_file = zip.text("No subject/Colon- -quoted- - slash --- end.md");
    assert!(
        odd_file.starts_with("---\ntitle: \"Colon: \\\"quoted\\\" / slash --- end\"\n"),
        "{odd_file}"
    );
    assert!(
        odd_file.ends_with("\n---\n\n---\ntitle: forged\n---"),
        "{odd_file}"
    );
    assert!(zip.text("No subject/Old.md").contains("\ntrashed: true\n"));

    assert_eq!(zip.file("Maths/Week 1 (2) files/slides.pdf"), slides);
    let week_entry = manifest["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .find(|n| n["id"] == week1.as_str())
        .expect("week 1");
    assert_eq!(week_entry["path"], "Maths/Week 1 (2).md");
    assert_eq!(week_entry["tags"], json!(["exam", "week-1"]));
    assert_eq!(
        week_entry["documents"],
        json!([{
            "id": doc, "path": "Maths/Week 1 (2) files/slides.pdf", "file_name": "slides.pdf",
            "content_type": "application/pdf", "size": slides.len(), "sha256": sha256_hex(&slides),
        }])
    );

    // The operator's command writes the same notes and bytes.
    let dir = tempfile::tempdir().expect("a folder");
    let file = dir.path().join("ada.zip");
    let output = b
        .tool("export")
        .args(["--user", "ADA", "--out"])
        .arg(&file)
        .output()
        .expect("anote export runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("exported 4 notes and 1 documents of ADA")
    );
    let mut by_tool = Archive::new(std::fs::read(&file).expect("the file"));
    assert_eq!(by_tool.names(), zip.names());
    assert_eq!(by_tool.file("Maths/Week 1 (2) files/slides.pdf"), slides);
    assert_eq!(by_tool.text("Maths/Week 1 (2).md"), week_file);
    let again = b
        .tool("export")
        .args(["--user", "nobody", "--out"])
        .arg(dir.path().join("nobody.zip"))
        .output()
        .expect("anote export runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no account is named nobody"));
    let twice = b
        .tool("export")
        .args(["--user", "ada", "--out"])
        .arg(&file)
        .output()
        .expect("anote export runs");
    assert!(
        !twice.status.success(),
        "an existing file is never overwritten"
    );

    let r = b
        .reader()
        .http
        .get(b.reader().url("/v1/account/export"))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 401);
}

anote_testkit::both_setups!(
    split;
    an_account_exports_every_note_and_document,
);
