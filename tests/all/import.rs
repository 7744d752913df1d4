//! `POST /v1/account/import` through the real binary: an export imported
//! into a new account gives the same notes (content, subject, tags, flags,
//! dates, documents' bytes) on both setups; importing it again creates
//! nothing; plain folders of Markdown become notes; and the files no import
//! may take (a zip bomb, a path out of the archive, a file that is not
//! UTF-8, a 100 MB document) are refused one by one, the rest imported.

use std::io::{Cursor, Write};

use anote_testkit::process::{body, Account, Backend};
use reqwest::Method;
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::documents::{attach, bytes, download, sha256_hex};

/// Sends `archive` to the import as `who`; returns the status and the reply.
async fn import(b: &Backend, who: &Account, archive: Vec<u8>) -> (u16, Value) {
    let r = b
        .writer
        .as_user(who, Method::POST, "/v1/account/import")
        .header("content-type", "application/zip")
        .body(archive)
        .send()
        .await
        .expect("import");
    (r.status().as_u16(), body(r).await)
}

/// The status of each file of a report, by path.
fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (text("path"), text("status"), text("code"))
        })
        .collect()
}

/// Every note of `who` (archived and trashed ones too) with its body and
/// documents, by title, as the changes feed shows them after `position`.
async fn notes_of(b: &Backend, who: &Account, position: &str) -> Vec<Value> {
    let r = b
        .reader()
        .as_user(who, Method::GET, "/v1/changes?limit=500")
        .header("anote-min-position", position)
        .send()
        .await
        .expect("changes");
    let page = body(r).await;
    assert_eq!(page["has_more"], false, "{page}");
    let mut notes: Vec<Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|change| change["note"].clone())
        .collect();
    notes.sort_by_key(|n| n["title"].as_str().unwrap_or_default().to_owned());
    notes
}

/// What must survive the round trip: everything but ids, versions and
/// positions.
fn comparable(note: &Value) -> Value {
    let documents: Vec<Value> = note["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| {
            json!([
                d["file_name"],
                d["content_type"],
                d["size"],
                d["sha256"],
                d["status"]
            ])
        })
        .collect();
    json!({
        "title": note["title"], "body": note["body"], "subject": note["subject"],
        "tags": note["tags"], "due_at": note["due_at"], "done": note["done"],
        "pinned": note["pinned"], "archived": note["archived"], "trashed": note["trashed"],
        "created_at": note["created_at"], "updated_at": note["updated_at"],
        "documents": documents,
    })
}

async fn an_export_imported_into_a_new_account_gives_the_same_notes(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let (week, _) = b
        .create_note(
            &ada,
            json!({
                "title": "Week 1: \"limits\"", "body": "# Limits\n\nε-δ.\n\n", "subject": "Maths",
                "tags": ["exam", "week-1"], "due_at": "2026-12-20T09:00:00Z",
            }),
        )
        .await;
    b.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{week}/complete"),
        Some(1),
        None,
    )
    .await;
    b.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{week}/pin"),
        Some(2),
        None,
    )
    .await;
    let slides = bytes(300_000, 7);
    attach(&b, &ada, &week, "slides (v2).pdf", &slides).await;
    let (old, _) = b
        .create_note(
            &ada,
            json!({ "title": "Old", "body": "---\ntitle: forged\n---" }),
        )
        .await;
    b.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{old}/archive"),
        Some(1),
        None,
    )
    .await;
    let trashed = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{old}/trash"),
            Some(2),
            None,
        )
        .await;
    let position = trashed["position"].as_str().expect("position");
    let before = notes_of(&b, &ada, position).await;
    assert_eq!(before.len(), 2);

    let r = b
        .reader()
        .as_user(&ada, Method::GET, "/v1/account/export")
        .header("anote-min-position", position)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    let archive = r.bytes().await.expect("the archive").to_vec();

    let bea = b.writer.user("bea").await;
    let (status, report) = import(&b, &bea, archive.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["imported"].as_u64(), report["refused"].as_u64()),
        (Some(2), Some(0)),
        "{report}"
    );
    assert!(
        statuses(&report)
            .iter()
            .all(|(_, status, _)| status == "imported"),
        "{report}"
    );
    let position = report["position"].as_str().expect("position");
    let after = notes_of(&b, &bea, position).await;
    let compare = |notes: &[Value]| notes.iter().map(comparable).collect::<Vec<_>>();
    assert_eq!(compare(&after), compare(&before), "the same notes");
    let imported_week = &after[1];
    let doc = imported_week["documents"][0]["id"]
        .as_str()
        .expect("document");
    let got = download(&b, Some(&bea), &format!("/v1/documents/{doc}"), position).await;
    assert_eq!(got.status(), 200);
    let got = got.bytes().await.expect("bytes");
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&slides),
        "the document's bytes"
    );

    // The same archive again creates nothing.
    let (status, again) = import(&b, &bea, archive.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["imported"].as_u64(), again["existing"].as_u64()),
        (Some(0), Some(2)),
        "{again}"
    );
    assert_eq!(notes_of(&b, &bea, position).await.len(), 2);
    // Nor does ada's own export, imported into her account.
    let (_, own) = import(&b, &ada, archive).await;
    assert_eq!(
        (own["imported"].as_u64(), own["existing"].as_u64()),
        (Some(0), Some(2)),
        "{own}"
    );

    // The history says where the note came from.
    let r = b
        .reader()
        .as_user(
            &bea,
            Method::GET,
            &format!("/v1/notes/{}/history", after[0]["id"].as_str().expect("id")),
        )
        .header("anote-min-position", position)
        .send()
        .await
        .expect("history");
    let history = body(r).await;
    assert_eq!(history["items"][0]["type"], "NoteImported", "{history}");
}

/// A zip of `(name, bytes, compressed)` entries.
fn zip_of(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, compressed) in files {
        let method = if *compressed {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(data.len() > u32::MAX as usize / 2);
        zip.start_file(*name, options).expect("entry");
        zip.write_all(data).expect("bytes");
    }
    zip.finish().expect("zip").into_inner()
}

#[tokio::test]
async fn bad_files_are_refused_one_by_one_and_the_rest_imported() {
    let b = Backend::embedded().await;
    let cy = b.writer.user("cyd").await;
    let zeros = vec![0u8; 16 * 1024 * 1024];
    let huge = bytes(100_000_000, 3);
    let archive = zip_of(&[
        (
            "Physics/Lectures/Week 1.md",
            b"---\ntags:\n  - '#exam'\n  - optics\n---\nLenses.\r\n",
            true,
        ),
        (
            "Physics/Lectures/Week 1 files/notes.txt",
            b"see the lab",
            true,
        ),
        (".obsidian/app.json", b"{}", true),
        ("../escape.md", b"out", true),
        ("bomb.md", &zeros, true),
        ("latin1.md", b"caf\xe9", true),
        ("Big.md", b"a big one", true),
        ("Big files/huge.pdf", &huge, false),
        ("stray.exe", b"MZ", true),
    ]);
    drop((zeros, huge));
    let (status, report) = import(&b, &cy, archive).await;
    assert_eq!(status, 200, "{report}");
    let mut got = statuses(&report);
    got.sort();
    let expected = [
        ("../escape.md", "refused", "unsafe_path"),
        (".obsidian/app.json", "skipped", "hidden"),
        ("Big files/huge.pdf", "refused", "too_large"),
        ("Big.md", "imported", ""),
        ("Physics/Lectures/Week 1 files/notes.txt", "imported", ""),
        ("Physics/Lectures/Week 1.md", "imported", ""),
        ("bomb.md", "refused", "zip_bomb"),
        ("latin1.md", "refused", "not_utf8"),
        ("stray.exe", "skipped", "not_a_note"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(got, expected, "{report}");
    assert!(report["files"]
        .as_array()
        .expect("files")
        .iter()
        .all(|f| f["status"] == "imported" || f["detail"].as_str().is_some_and(|d| !d.is_empty())));
    assert_eq!(
        (report["imported"].as_u64(), report["refused"].as_u64()),
        (Some(2), Some(2))
    );
    let position = report["position"].as_str().expect("position");
    let notes = notes_of(&b, &cy, position).await;
    let week = &notes[1];
    assert_eq!(week["title"], "Week 1");
    assert_eq!(week["subject"], "Physics/Lectures");
    assert_eq!(week["tags"], json!(["exam", "optics"]));
    assert_eq!(week["body"], "Lenses.\n");
    assert_eq!(week["documents"][0]["content_type"], "text/plain");

    // Whole archives that cannot be read.
    let (status, problem) = import(&b, &cy, b"not a zip".to_vec()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_archive")),
        "{problem}"
    );
    let r = b
        .writer
        .http
        .post(b.writer.url("/v1/account/import"))
        .body(zip_of(&[("a.md", b"a", true)]))
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn documents_past_the_quota_are_refused_before_they_are_stored() {
    let b = Backend::of_with(false, &[("ANOTE_DOCUMENT_QUOTA_BYTES", "5000")]).await;
    let dee = b.writer.user("dee").await;
    let archive = zip_of(&[
        ("Lab.md", b"Results", true),
        ("Lab files/a.txt", &bytes(3000, 1), true),
        ("Lab files/b.txt", &bytes(3000, 2), true),
    ]);
    let (status, report) = import(&b, &dee, archive).await;
    assert_eq!(status, 200, "{report}");
    let mut got = statuses(&report);
    got.sort();
    assert_eq!(
        got,
        [
            ("Lab files/a.txt", "imported", ""),
            ("Lab files/b.txt", "refused", "quota_exceeded"),
            ("Lab.md", "imported", ""),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let data = b.writer.data_dir().expect("a data folder");
    let objects = walk(&data.join("blobs").join("objects"));
    assert_eq!(objects, 1, "the refused document was never stored");
}

/// How many files (not counting their `.meta`) a folder holds, deep.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else {
                        usize::from(path.extension().is_none_or(|x| x != "meta"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

anote_testkit::both_setups!(
    split;
    an_export_imported_into_a_new_account_gives_the_same_notes,
);
