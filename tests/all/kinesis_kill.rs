//! 10,000 commands through the command API while the relay and the projector
//! (real processes, reading Kinesis) are killed with SIGKILL and restarted;
//! afterwards every read model equals a rebuild from the log.

use std::sync::Arc;
use std::time::Duration;

use anote_domain::NoteId;
use anote_store::event_store::Position;
use anote_testkit::db::live_and_rebuilt_views;
use anote_testkit::env::{database_url, fresh_schema, fresh_stream, kinesis_client};
use anote_testkit::process::{body, ProjectorProcess, Server, Setup};
use reqwest::Method;
use serde_json::json;

const NOTES: usize = 100;
const EDITS: usize = 9_904;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_commands_survive_killed_relays_and_projectors() {
    let schema = fresh_schema();
    let stream = fresh_stream(&kinesis_client(), 4).await;
    let writer = Arc::new(Server::start(Setup::Postgres(schema.clone()), None, &[]).await);
    let mut relay = ProjectorProcess::with_kinesis("relay", &schema, &stream);
    let mut projector = ProjectorProcess::with_kinesis("projector", &schema, &stream);
    let ada = writer.user("ada").await;

    let mut notes = Vec::new();
    for i in 0..NOTES {
        notes.push(
            writer
                .note(&ada, json!({ "title": format!("note {i}"), "body": "v1" }))
                .await,
        );
    }
    // Writers edit their own notes; the main task kills and restarts the
    // background processes while they run.
    let per_writer = EDITS / WRITERS;
    let tasks: Vec<_> = notes
        .chunks(NOTES / WRITERS + 1)
        .map(|mine| {
            let (writer, ada, mine) = (writer.clone(), ada.clone(), mine.to_vec());
            tokio::spawn(async move {
                let mut versions = vec![1u64; mine.len()];
                let mut last = String::new();
                for n in 0..per_writer {
                    let k = n % mine.len();
                    let reply = writer
                        .as_user(&ada, Method::PATCH, &format!("/v1/notes/{}", mine[k]))
                        .header("if-match", format!("\"{}\"", versions[k]))
                        .json(&json!({ "body": format!("edit {n}") }))
                        .send()
                        .await
                        .expect("edit");
                    assert_eq!(reply.status(), 200);
                    let reply = body(reply).await;
                    versions[k] = reply["version"].as_u64().expect("version");
                    last = reply["position"].as_str().expect("position").to_owned();
                }
                last
            })
        })
        .collect();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        relay.kill();
        projector.kill();
        relay = ProjectorProcess::with_kinesis("relay", &schema, &stream);
        projector = ProjectorProcess::with_kinesis("projector", &schema, &stream);
    }
    let mut last = Position::START;
    for task in tasks {
        let position: Position = task.await.expect("writer ran").parse().expect("a position");
        last = last.max(position);
    }

    // The projector (through Kinesis) reaches the end of the log, and a
    // rebuild from the log into fresh tables gives the same read models.
    let ids: Vec<NoteId> = notes
        .iter()
        .map(|id| NoteId::from_uuid(id.parse().expect("uuid")))
        .collect();
    let (actual, expected) = live_and_rebuilt_views(
        &database_url(),
        &schema,
        &ids,
        last,
        Duration::from_secs(240),
    )
    .await;
    assert_eq!(actual.len(), NOTES);
    assert_eq!(
        actual, expected,
        "the live read models equal a rebuild from the log"
    );
    let edits: u64 = actual.iter().map(|v| v.version - 1).sum();
    assert_eq!(
        edits,
        (per_writer * WRITERS) as u64,
        "every edit applied once"
    );
    drop((relay, projector));
}
