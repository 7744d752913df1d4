//! End-to-end tests of `anote replay --until` on both setups: the read
//! models as of a past position (or time) are built in a new schema or
//! file, and the live ones stay as they are.

mod support;

use std::process::Command;

use anote_domain::NoteId;
use anote_infra::db::{PgDatabase, SqliteDatabase};
use anote_infra::read_store::{PgReadStore, ReadStore, SqliteReadStore};
use reqwest::Method;
use serde_json::json;
use support::Backend;
use uuid::Uuid;

/// `anote replay --until <until> --into <into>`; returns whether it worked.
fn replay(b: &Backend, until: &str, into: &str) -> bool {
    let mut cmd = match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => support::postgres_command("replay", schema),
        (None, Some(dir)) => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_anote"));
            cmd.arg("replay").env("ANOTE_DATA_DIR", dir);
            cmd
        }
        (None, None) => unreachable!("a backend is embedded or split"),
    };
    cmd.args(["--until", until, "--into", into])
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
            let db = PgDatabase::connect(&support::database_url(), Some(into), 2)
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

    let into = format!("asof_{}", Uuid::new_v4().simple());
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

    let before = format!("asof_{}", Uuid::new_v4().simple());
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

both_setups!(split; read_models_as_of_a_past_point);
