//! End-to-end tests of `anote replay` on both setups: a rebuild switches
//! the live read models while commands and queries keep running, losing
//! nothing and failing nothing; with `--until`, the read models as of a past
//! position (or time) are built in a new schema or file, and the live ones
//! stay as they are.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anote_domain::NoteId;
use anote_read_store::{PgReadStore, ReadStore, SqliteReadStore};
use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_testkit::env::fresh_schema;
use anote_testkit::process::Backend;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

/// `anote replay` on the backend's log and read models.
fn replay_command(b: &Backend) -> Command {
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => anote_testkit::process::postgres_command("replay", schema),
        (None, Some(dir)) => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_anote"));
            cmd.arg("replay").env("ANOTE_DATA_DIR", dir);
            cmd
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

/// `anote replay --until <until> --into <into>`; returns whether it worked.
fn replay(b: &Backend, until: &str, into: &str) -> bool {
    replay_command(b)
        .args(["--until", until, "--into", into])
        .status()
        .expect("anote replay runs")
        .success()
}

/// The read models a replay built.
async fn replayed(b: &Backend, into: &str) -> std::sync::Arc<dyn ReadStore> {
    match b.writer.data_dir() {
        Some(dir) => {
            let db = SqliteDatabase::open(&dir.join(format!("{into}.sqlite3")))
                .await
                .expect("opens");
            std::sync::Arc::new(SqliteReadStore::new(db))
        }
        None => {
            let db = PgDatabase::connect(&anote_testkit::process::database_url(), Some(into), 2)
                .await
                .expect("connects");
            std::sync::Arc::new(PgReadStore::new(db))
        }
    }
}

async fn read_models_as_of_a_past_point(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let id = b
        .writer
        .note(&ada, json!({ "title": "Draft", "body": "v1" }))
        .await;
    let path = format!("/v1/notes/{id}");
    let first = b
        .command(
            &ada,
            Method::PATCH,
            &path,
            Some(1),
            Some(json!({ "body": "v2" })),
        )
        .await;
    let then = first["position"].as_str().expect("position").to_owned();
    let last = b
        .command(
            &ada,
            Method::PATCH,
            &path,
            Some(2),
            Some(json!({ "body": "v3" })),
        )
        .await;

    let into = fresh_schema();
    assert!(replay(&b, &then, &into));
    let note = NoteId::from_uuid(Uuid::parse_str(&id).expect("uuid"));
    let views = replayed(&b, &into)
        .await
        .views(&[note])
        .await
        .expect("reads");
    assert_eq!(
        (views[0].version, views[0].body.as_str()),
        (2, "v2"),
        "the note as of the position"
    );
    assert!(!replay(&b, &then, &into), "an existing target is refused");
    let live = b
        .schema
        .as_ref()
        .map_or("read-models".to_owned(), |s| format!("{s}_read"));
    assert!(
        !replay(&b, &then, &live),
        "the live read models are refused"
    );

    let before = fresh_schema();
    assert!(replay(&b, "2000-01-01T00:00:00Z", &before));
    let none = replayed(&b, &before)
        .await
        .views(&[note])
        .await
        .expect("reads");
    assert!(none.is_empty(), "nothing was written by then");

    // The live read models did not move back.
    let position = last["position"].as_str().expect("position");
    let (status, live) = b.read(&ada, &id, position).await;
    assert_eq!((status, live["version"].as_u64()), (200, Some(3)));
}

/// What the traffic during a rebuild saw.
#[derive(Default)]
struct Traffic {
    /// Requests answered.
    requests: usize,
    /// Requests that failed, with what they got.
    failures: Vec<String>,
}

impl Traffic {
    fn record(&mut self, what: &str, status: u16) {
        self.requests += 1;
        if !(200..300).contains(&status) {
            self.failures.push(format!("{what}: {status}"));
        }
    }
}

/// Edits `notes` one after another (each edit then read back with its
/// position) until `stop`; returns each note's last body.
async fn edit_until(
    b: Arc<Backend>,
    ada: Arc<anote_testkit::process::Account>,
    notes: Vec<String>,
    stop: Arc<AtomicBool>,
    traffic: Arc<Mutex<Traffic>>,
) -> Vec<(String, u64, String)> {
    let mut last: Vec<(String, u64, String)> = notes
        .into_iter()
        .map(|id| (id, 1, "v1".to_owned()))
        .collect();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        for (id, version, body) in &mut last {
            let text = format!("round {round} of {id}");
            let r = b
                .writer
                .as_user(&ada, Method::PATCH, &format!("/v1/notes/{id}"))
                .header("if-match", format!("\"{version}\""))
                .json(&json!({ "body": text }))
                .send()
                .await
                .expect("edit");
            let status = r.status().as_u16();
            traffic.lock().expect("lock").record("edit", status);
            if status != 200 {
                continue;
            }
            let reply = anote_testkit::process::body(r).await;
            *version = reply["version"].as_u64().expect("version");
            *body = text;
            let position = reply["position"].as_str().expect("position");
            let (status, seen) = b.read(&ada, id, position).await;
            traffic
                .lock()
                .expect("lock")
                .record("read own edit", status);
            assert_eq!(seen["body"], json!(body), "an acknowledged edit is visible");
        }
    }
    last
}

/// Lists, searches and opens notes until `stop`.
async fn read_until(
    b: Arc<Backend>,
    ada: Arc<anote_testkit::process::Account>,
    note: String,
    stop: Arc<AtomicBool>,
    traffic: Arc<Mutex<Traffic>>,
) {
    let paths = [
        "/v1/notes?limit=20".to_owned(),
        "/v1/search?q=round".to_owned(),
        format!("/v1/notes/{note}"),
        "/v1/subjects".to_owned(),
    ];
    while !stop.load(Ordering::Relaxed) {
        for path in &paths {
            let r = b
                .reader()
                .as_user(&ada, Method::GET, path)
                .send()
                .await
                .expect("read");
            traffic
                .lock()
                .expect("lock")
                .record(path, r.status().as_u16());
        }
    }
}

async fn rebuilding_loses_nothing_and_fails_no_request(split: bool) {
    let b = Arc::new(Backend::of(split).await);
    let ada = Arc::new(b.writer.user("ada").await);
    let mut notes = Vec::new();
    for n in 0..24 {
        let fields = json!({ "title": format!("Note {n}"), "body": "v1", "subject": "Maths" });
        notes.push(b.writer.note(&ada, fields).await);
    }
    // A view gone wrong in the live read models: the rebuild repairs it.
    let (quiet, position) = b
        .create_note(&ada, json!({ "title": "Quiet", "body": "untouched" }))
        .await;
    assert_eq!(b.read(&ada, &quiet, &position).await.0, 200);
    corrupt_title(&b, &quiet).await;

    // Editors stop as soon as the switch is done, so an edit lost in it
    // is not mended by a later edit of the same note; readers go on.
    let (stop_edits, stop_reads) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let traffic = Arc::new(Mutex::new(Traffic::default()));
    let editors: Vec<_> = notes
        .chunks(6)
        .map(|mine| {
            tokio::spawn(edit_until(
                b.clone(),
                ada.clone(),
                mine.to_vec(),
                stop_edits.clone(),
                traffic.clone(),
            ))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(read_until(
                b.clone(),
                ada.clone(),
                notes[0].clone(),
                stop_reads.clone(),
                traffic.clone(),
            ))
        })
        .collect();
    let requests = || traffic.lock().expect("lock").requests;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = requests();
    let mut rebuild = replay_command(&b);
    let rebuilt = tokio::task::spawn_blocking(move || rebuild.status().expect("runs").success())
        .await
        .expect("joins");
    assert!(rebuilt, "anote replay rebuilt the read models");
    switched(&b).await;
    let during = requests() - before;
    stop_edits.store(true, Ordering::Relaxed);
    let mut last = Vec::new();
    for editor in editors {
        last.extend(editor.await.expect("editor"));
    }
    let after_switch = requests();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_reads.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }

    let (total, failures) = {
        let traffic = traffic.lock().expect("lock");
        (traffic.requests, traffic.failures.clone())
    };
    assert!(failures.is_empty(), "failed: {failures:?}");
    assert!(
        before > 50 && during > 0 && total > after_switch,
        "traffic ran before ({before}), during ({during}) and after ({}) the rebuild",
        total - after_switch
    );
    // Every acknowledged edit is in the new read models, once.
    let newest = b
        .command(
            &ada,
            Method::PATCH,
            &format!("/v1/notes/{quiet}"),
            Some(1),
            Some(json!({ "body": "still quiet" })),
        )
        .await;
    let position = newest["position"].as_str().expect("position");
    for (id, version, body) in &last {
        let (status, view) = b.read(&ada, id, position).await;
        assert_eq!(status, 200);
        assert_eq!(
            (view["version"].as_u64(), &view["body"]),
            (Some(*version), &json!(body))
        );
    }
    let (_, view) = b.read(&ada, &quiet, position).await;
    assert_eq!(view["title"], "Quiet", "the rebuild repaired the view");
}

/// Writes a wrong title into the live read models behind the services' back.
async fn corrupt_title(b: &Backend, id: &str) {
    let id = Uuid::parse_str(id).expect("uuid");
    let sql = "UPDATE note_views SET title = 'Garbled' WHERE id = $1";
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => {
            let db = PgDatabase::connect(
                &anote_testkit::process::database_url(),
                Some(&format!("{schema}_read")),
                1,
            )
            .await
            .expect("connects");
            let done = sqlx::query(sql)
                .bind(id)
                .execute(db.pool())
                .await
                .expect("updates");
            assert_eq!(done.rows_affected(), 1);
        }
        (None, Some(dir)) => {
            let db = SqliteDatabase::open(&dir.join("read-models.sqlite3"))
                .await
                .expect("opens");
            let done = sqlx::query(&sql.replace("$1", "?"))
                .bind(id)
                .execute(&mut *db.writer().await.expect("the writer"))
                .await
                .expect("updates");
            assert_eq!(done.rows_affected(), 1);
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

/// Waits until the services run on the new build and the old one is gone.
async fn switched(b: &Backend) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = match (&b.schema, b.writer.data_dir()) {
            (Some(schema), _) => {
                let db = PgDatabase::connect(&anote_testkit::process::database_url(), None, 1)
                    .await
                    .expect("connects");
                let read = format!("{schema}_read");
                let schemas: Vec<String> = sqlx::query_scalar(
                    "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1 || '%' ORDER BY 1",
                )
                .bind(&read)
                .fetch_all(db.pool())
                .await
                .expect("lists schemas");
                let generation: i64 =
                    sqlx::query_scalar(&format!("SELECT n FROM \"{read}\".read_generation"))
                        .fetch_one(db.pool())
                        .await
                        .expect("reads the generation");
                schemas == [read] && generation == 1
            }
            (None, Some(dir)) => {
                let current =
                    std::fs::read_to_string(dir.join("read-models.current")).unwrap_or_default();
                current.starts_with("read-models-") && !dir.join("read-models.sqlite3").exists()
            }
            (None, None) => unreachable!("a backend is embedded or split"),
        };
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the switch did not happen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

anote_testkit::both_setups!(split; rebuilding_loses_nothing_and_fails_no_request, read_models_as_of_a_past_point);
