//! End-to-end test of real deletion on both setups: a note's content is in
//! the log only sealed with its key; after a purge the key is gone and the
//! content appears nowhere in the databases (a full dump is searched, and on
//! the embedded setup every raw file of the data folder, write-ahead logs
//! included), while the history still shows every change, its content
//! erased.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anote_testkit::process::{body, Backend};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

/// Every value of every table of an SQLite file, as text.
async fn sqlite_dump(path: &std::path::Path) -> String {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("opens");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .expect("tables");
    let mut dump = String::new();
    for table in tables {
        for row in sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(&pool)
            .await
            .expect("rows")
        {
            for i in 0..row.columns().len() {
                if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    dump.push_str(&String::from_utf8_lossy(&bytes));
                } else if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    dump.push_str(&text);
                }
                dump.push('\t');
            }
        }
    }
    pool.close().await;
    dump
}

/// The data keys of the notes of an embedded server, read from its
/// event-log database.
async fn note_keys(dir: &Path) -> Vec<Vec<u8>> {
    let url = format!("sqlite://{}?mode=ro", dir.join("anote.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("opens");
    let keys = sqlx::query_scalar("SELECT key FROM note_keys")
        .fetch_all(&pool)
        .await
        .expect("keys");
    pool.close().await;
    keys
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("lists").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Which files under `dir` hold which of `needles`, byte for byte.
fn raw_hits(dir: &Path, needles: &[Vec<u8>]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in files_under(dir) {
        // A file may go away while the folder is read (a rotated log).
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for (i, needle) in needles.iter().enumerate() {
            let count = bytes.windows(needle.len()).filter(|w| w == needle).count();
            if count > 0 {
                hits.push(format!("{}: needle {i} {count} times", file.display()));
            }
        }
    }
    hits
}

/// On the embedded setup, waits until no raw file of the data folder
/// (databases, write-ahead logs, anything else) holds any of `needles`.
async fn assert_gone_from_files(b: &Backend, needles: &[Vec<u8>]) {
    let Some(dir) = b.writer.data_dir() else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = raw_hits(dir, needles);
        if hits.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "erased bytes remain in the data folder: {hits:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A full dump of the backend's databases.
async fn dump(b: &Backend) -> String {
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => {
            let output = std::process::Command::new("pg_dump")
                .args([
                    "--data-only",
                    "--schema",
                    schema,
                    "--schema",
                    &format!("{schema}_read"),
                ])
                .arg(anote_testkit::process::database_url())
                .output()
                .expect("pg_dump runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        (None, Some(dir)) => {
            let mut all = sqlite_dump(&dir.join("anote.sqlite3")).await;
            all.push_str(&sqlite_dump(&dir.join("read-models.sqlite3")).await);
            all
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

async fn a_purged_note_is_gone_everywhere(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let tag = Uuid::new_v4().simple().to_string();
    let secrets = [
        format!("Zephyrine{tag}"),
        format!("Quokka{tag}"),
        format!("marmalade{}", &tag[..8]),
        format!("Xylograph{tag}"),
        format!("Ocelot{tag}"),
    ];
    let create = json!({ "title": secrets[0], "body": format!("# {}", secrets[1]),
                         "tags": [secrets[2]], "subject": secrets[4] });
    let r = b
        .writer
        .as_user(&ada, Method::POST, "/v1/notes")
        .header("idempotency-key", "create-1")
        .json(&create)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let id = body(r).await["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/notes/{id}");
    let doc = json!({ "file_name": format!("{}.pdf", secrets[3]), "content_type": "application/pdf", "size": 10 });
    let r = b
        .writer
        .as_user(&ada, Method::POST, &format!("{path}/documents"))
        .json(&doc)
        .send()
        .await
        .expect("upload request");
    assert_eq!(r.status(), 201);
    let edited = b
        .command(
            &ada,
            Method::PATCH,
            &path,
            Some(2),
            Some(json!({ "body": format!("{} again", secrets[1]) })),
        )
        .await;
    let (status, _) = b
        .read(&ada, &id, edited["position"].as_str().expect("position"))
        .await;
    assert_eq!(status, 200);

    // The read models show the note; the log holds only sealed content.
    let before = dump(&b).await;
    assert!(
        before.contains(&secrets[0]),
        "the read models hold the live note"
    );
    if let Some(schema) = &b.schema {
        let output = std::process::Command::new("pg_dump")
            .args(["--data-only", "--schema", schema])
            .arg(anote_testkit::process::database_url())
            .output()
            .expect("pg_dump runs");
        let log = String::from_utf8_lossy(&output.stdout);
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "{secret} is sealed in the log"
            );
        }
    }

    let mut needles: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
    if let Some(dir) = b.writer.data_dir() {
        let keys = note_keys(dir).await;
        assert_eq!(keys.len(), 1, "one note, one key");
        assert!(!raw_hits(dir, &keys).is_empty(), "the key is in the files");
        needles.extend(keys);
    }

    let trashed = b
        .command(
            &ada,
            Method::POST,
            &format!("{path}/trash"),
            edited["version"].as_u64(),
            None,
        )
        .await;
    let purged = b
        .command(
            &ada,
            Method::DELETE,
            &path,
            trashed["version"].as_u64(),
            None,
        )
        .await;
    let position = purged["position"].as_str().expect("position");
    let r = b
        .reader()
        .as_user(&ada, Method::GET, "/v1/notes?trashed=true")
        .header("anote-min-position", position)
        .send()
        .await
        .expect("list");
    assert_eq!(body(r).await["items"], json!([]), "the purge is projected");

    let after = dump(&b).await;
    for secret in &secrets {
        assert!(
            !after.contains(secret.as_str()),
            "{secret} is gone from every table"
        );
    }
    assert_gone_from_files(&b, &needles).await;
    // The idempotent reply's fingerprint cannot confirm a guessed title.
    let fingerprints = stored_fingerprints(&b).await;
    assert_eq!(fingerprints.len(), 1);
    assert_ne!(
        fingerprints[0],
        unkeyed_fingerprint(&create),
        "the fingerprint is keyed"
    );

    // The history keeps its shape and says the content was erased.
    let r = b
        .reader()
        .as_user(&ada, Method::GET, &format!("{path}/history"))
        .send()
        .await
        .expect("history");
    assert_eq!(r.status(), 200);
    let history = body(r).await;
    let items = history["items"].as_array().expect("items");
    let types: Vec<&str> = items.iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "NoteCreated",
            "DocumentUploadRequested",
            "NoteEdited",
            "NoteTrashed",
            "NotePurged"
        ]
    );
    assert_eq!(items[0]["erased"], true);
    assert_eq!(items[0]["changes"]["title"], "");
    assert_eq!(items[1]["changes"]["spec"]["file_name"], "erased");
    assert!(!history.to_string().contains(&secrets[1]));
    let r = b
        .reader()
        .as_user(&ada, Method::GET, &format!("{path}?version=1"))
        .send()
        .await
        .expect("time travel");
    let then: Value = body(r).await;
    assert_eq!(
        (then["title"].as_str(), then["body"].as_str()),
        (Some(""), Some(""))
    );
}

async fn deleting_an_account_erases_its_notes_and_its_names(split: bool) {
    let b = Backend::of(split).await;
    let tag = Uuid::new_v4().simple().to_string();
    // The helper registers the username as the display name too.
    let name = format!("n{}", &tag[..24]);
    let ada = b.writer.user(&name).await;
    let eve = b.writer.user("eve").await;
    let secrets = [format!("Narwhal{tag}"), format!("Pangolin{tag}")];
    for secret in &secrets {
        b.writer
            .note(
                &ada,
                json!({ "title": secret, "body": format!("about {secret}") }),
            )
            .await;
    }
    let mut needles: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
    if let Some(dir) = b.writer.data_dir() {
        needles.extend(note_keys(dir).await);
        assert_eq!(needles.len(), 4, "two notes, two keys");
    }
    // The names are in the usernames table while the account lives, and
    // only sealed in the log.
    let mut with_name = needles.clone();
    with_name.push(name.as_bytes().to_vec());
    let log = log_dump(&b).await;
    assert!(!log.contains(&name), "the names are sealed in the log");
    let r = b
        .writer
        .as_user(&ada, Method::DELETE, "/v1/account")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let position = r.headers()["anote-position"]
        .to_str()
        .expect("position")
        .to_owned();
    // The deleted account's token is refused; another user waits for the
    // deletion to be projected.
    let r = b
        .reader()
        .as_user(&eve, Method::GET, "/v1/notes")
        .header("anote-min-position", &position)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    let after = dump(&b).await;
    for secret in secrets.iter().chain([&name]) {
        assert!(
            !after.contains(secret.as_str()),
            "{secret} is gone from every table"
        );
    }
    assert_gone_from_files(&b, &with_name).await;
    // The username was released with the account: anyone may take it.
    b.writer.user(&name).await;

    // A clean stop leaves nothing behind either.
    let mut b = b;
    if b.writer.data_dir().is_some() {
        assert!(b.writer.terminate(), "clean shutdown");
        assert_gone_from_files(&b, &needles).await;
    }
}

/// The event-log tables only (what is sealed there).
async fn log_dump(b: &Backend) -> String {
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => {
            let output = std::process::Command::new("pg_dump")
                .args(["--data-only", "--schema", schema, "--table"])
                .arg(format!("{schema}.events"))
                .arg(anote_testkit::process::database_url())
                .output()
                .expect("pg_dump runs");
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        (None, Some(dir)) => {
            let path = dir.join("anote.sqlite3");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("opens");
            let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM events")
                .fetch_all(&pool)
                .await
                .expect("reads");
            pool.close().await;
            payloads.join("\n")
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

/// The request fingerprints of the stored idempotent replies.
async fn stored_fingerprints(b: &Backend) -> Vec<Vec<u8>> {
    let sql = "SELECT request_hash FROM idempotency_keys";
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => {
            let pool = sqlx::PgPool::connect(&anote_testkit::process::database_url())
                .await
                .expect("connects");
            let rows = sqlx::query_scalar(&format!(
                "SELECT request_hash FROM \"{schema}\".idempotency_keys"
            ))
            .fetch_all(&pool)
            .await
            .expect("reads");
            pool.close().await;
            rows
        }
        (None, Some(dir)) => {
            let path = dir.join("anote.sqlite3");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("opens");
            let rows = sqlx::query_scalar(sql)
                .fetch_all(&pool)
                .await
                .expect("reads");
            pool.close().await;
            rows
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

/// What an idempotent note creation's fingerprint was before it was keyed:
/// the SHA-256 of the status, the nil id, the action and the request as the
/// server read it. Anyone with the database could confirm a guess with it.
fn unkeyed_fingerprint(request: &Value) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update("201");
    hash.update(Uuid::nil());
    hash.update("create");
    // In the order of the request type's fields.
    let read = format!(
        r#"{{"title":{},"body":{},"subject":{},"tags":{},"due_at":null}}"#,
        request["title"], request["body"], request["subject"], request["tags"]
    );
    hash.update(read);
    hash.finalize().to_vec()
}

anote_testkit::both_setups!(
    split;
    a_purged_note_is_gone_everywhere,
    deleting_an_account_erases_its_notes_and_its_names,
);
