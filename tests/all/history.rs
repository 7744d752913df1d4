//! End-to-end tests of a note's past through the real binary, on `anote
//! serve` and on the split services: its history with line diffs, the note
//! at a version or a time, and restoring an old version.

use anote_testkit::process::{body, Account, Backend};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(b: &Backend, who: &Account, path: &str) -> (u16, Value) {
    let r = b
        .reader()
        .as_user(who, Method::GET, path)
        .send()
        .await
        .expect("read");
    (r.status().as_u16(), body(r).await)
}

async fn history_time_travel_and_restore(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let first = "line 1\nline 2\n";
    let id = b
        .writer
        .note(&ada, json!({ "title": "Limits", "body": first }))
        .await;
    let path = format!("/v1/notes/{id}");
    let edit = json!({ "body": "line 1\nline two\nline 3\n" });
    b.command(&ada, Method::PATCH, &path, Some(1), Some(edit))
        .await;
    let tags = json!({ "tags": ["exam"] });
    b.command(
        &ada,
        Method::PUT,
        &format!("{path}/tags"),
        Some(2),
        Some(tags),
    )
    .await;

    // Every change, with who, when and what; the body edit as a diff.
    let (status, history) = get(&b, &ada, &format!("{path}/history")).await;
    assert_eq!(status, 200, "{history}");
    let items = history["items"].as_array().expect("items");
    let types: Vec<&str> = items.iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(types, ["NoteCreated", "NoteEdited", "NoteTagsSet"]);
    assert!(items
        .iter()
        .all(|c| c["actor"] == items[0]["actor"] && c["actor"].is_string()));
    let diff = items[1]["body_diff"].as_str().expect("a body diff");
    assert!(
        diff.contains("-line 2\n") && diff.contains("+line two\n") && diff.contains("+line 3\n"),
        "{diff}"
    );
    assert!(diff.contains(" line 1\n"), "with context: {diff}");
    assert!(items[2].get("body_diff").is_none());
    assert_eq!(items[2]["changes"]["tags"], json!(["exam"]));
    assert!(history.get("next").is_none());
    let (_, page) = get(&b, &ada, &format!("{path}/history?limit=2")).await;
    assert_eq!(
        (
            page["items"].as_array().map(Vec::len),
            page["next"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let (_, rest) = get(&b, &ada, &format!("{path}/history?after=2")).await;
    assert_eq!(rest["items"][0]["version"], 3);

    // The note as it was, by version and by time.
    let (status, v1) = get(&b, &ada, &format!("{path}?version=1")).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(
        (v1["version"].as_u64(), v1["body"].as_str()),
        (Some(1), Some(first))
    );
    assert_eq!(v1["tags"], json!([]));
    let at = items[1]["at"].as_str().expect("time");
    let (_, then) = get(&b, &ada, &format!("{path}?at={}", at.replace('+', "%2B"))).await;
    assert_eq!(then["version"], 2, "{then}");
    let (status, problem) = get(&b, &ada, &format!("{path}?version=9")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("version_not_found"))
    );
    let (status, _) = get(
        &b,
        &ada,
        &format!("{path}?version=1&at={}", at.replace('+', "%2B")),
    )
    .await;
    assert_eq!(status, 400);

    // Someone else sees nothing of it.
    for p in [format!("{path}/history"), format!("{path}?version=1")] {
        let (status, problem) = get(&b, &eve, &p).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("note_not_found")),
            "{p}"
        );
    }
    let r = b
        .writer
        .as_user(&eve, Method::POST, &format!("{path}/versions/1/restore"))
        .header("if-match", "\"3\"")
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), 404);

    // Restoring version 1 is a new change; the history keeps everything.
    let restored = b
        .command(
            &ada,
            Method::POST,
            &format!("{path}/versions/1/restore"),
            Some(3),
            None,
        )
        .await;
    assert_eq!(restored["version"], 4);
    let position = restored["position"].as_str().expect("position");
    let (_, now) = b.read(&ada, &id, position).await;
    assert_eq!(
        (now["body"].as_str(), now["title"].as_str()),
        (Some(first), Some("Limits"))
    );
    assert_eq!(now["tags"], json!([]));
    let (_, history) = get(&b, &ada, &format!("{path}/history")).await;
    let last = &history["items"][3];
    assert_eq!(last["type"], "NoteContentRestored");
    assert_eq!(last["changes"]["from_version"], 1);
    assert!(last["body_diff"]
        .as_str()
        .is_some_and(|d| d.contains("+line 2\n")));
    let r = b
        .writer
        .as_user(&ada, Method::POST, &format!("{path}/versions/7/restore"))
        .header("if-match", "\"4\"")
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), 404);
    assert_eq!(body(r).await["code"], "version_not_found");
}

anote_testkit::both_setups!(split; history_time_travel_and_restore);
