//! End-to-end tests of the read side through the real binary: `anote serve`
//! on its own, and the split services (command API, projector, query API) on
//! PostgreSQL as three processes.

use anote_testkit::env::{fresh_schema, fresh_stream, kinesis_client};
use anote_testkit::process::{body, Backend, ProjectorProcess, Server, Setup};
use reqwest::Method;
use serde_json::json;

async fn every_write_is_readable_at_once_with_its_position(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let (id, position) = b
        .create_note(
            &ada,
            json!({ "title": "Draft", "body": "v1", "tags": ["Exam"] }),
        )
        .await;
    let (status, note) = b.read(&ada, &id, &position).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            note["title"].clone(),
            note["tags"].clone(),
            note["version"].clone()
        ),
        (json!("Draft"), json!(["exam"]), json!(1))
    );
    for v in 1..=20u64 {
        let reply = b
            .command(
                &ada,
                Method::PATCH,
                &format!("/v1/notes/{id}"),
                Some(v),
                Some(json!({ "body": format!("revision {v}") })),
            )
            .await;
        let (status, note) = b
            .read(&ada, &id, reply["position"].as_str().expect("position"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(note["version"], v + 1, "read your own write");
        assert_eq!(note["body"], format!("revision {v}"));
    }
}

async fn reads_answer_clearly(split: bool) {
    let mut b = Backend::of(split).await;
    let r = b.reader();
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let mut last = String::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let reply = b.command(&ada, Method::POST, "/v1/notes", None, Some(json!({ "title": format!("n{i}"), "body": "b", "subject": if i % 2 == 0 { "Maths" } else { "Art" } }))).await;
        last = reply["position"].as_str().expect("position").to_owned();
        ids.push(reply["id"].as_str().expect("id").to_owned());
    }
    let trashed = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{}/trash", ids[0]),
            Some(1),
            None,
        )
        .await;
    last = trashed["position"].as_str().map_or(last, str::to_owned);

    // Pages of 5 walk every live note once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/notes?limit=5".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = body(
            r.as_user(&ada, Method::GET, &path)
                .header("anote-min-position", &last)
                .send()
                .await
                .expect("list"),
        )
        .await;
        seen.extend(
            reply["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|n| n["id"].as_str().expect("id").to_owned()),
        );
        match reply["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 11);
    assert!(!seen.contains(&ids[0]), "the trashed note is not listed");
    let trash = body(
        r.as_user(&ada, Method::GET, "/v1/notes?trashed=true")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(trash["items"][0]["id"], ids[0].as_str());
    let maths = body(
        r.as_user(&ada, Method::GET, "/v1/notes?subject=Maths")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(maths["items"].as_array().map(Vec::len), Some(5));

    // ETag and If-None-Match.
    let one = r
        .as_user(&ada, Method::GET, &format!("/v1/notes/{}", ids[1]))
        .send()
        .await
        .expect("get");
    assert_eq!(one.headers()["etag"], "\"1\"");
    let again = r
        .as_user(&ada, Method::GET, &format!("/v1/notes/{}", ids[1]))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), 304);

    // Someone else's note, a bad position, a position from the future, a bad query.
    let theirs = r
        .as_user(&eve, Method::GET, &format!("/v1/notes/{}", ids[1]))
        .send()
        .await
        .expect("get");
    assert_eq!(
        (theirs.status().as_u16(), body(theirs).await["code"].clone()),
        (404, json!("note_not_found"))
    );
    let bad = r
        .as_user(&ada, Method::GET, "/v1/notes")
        .header("anote-min-position", "soon")
        .send()
        .await
        .expect("get");
    assert_eq!(
        (bad.status().as_u16(), body(bad).await["code"].clone()),
        (400, json!("invalid_min_position"))
    );
    let never = r
        .as_user(&ada, Method::GET, "/v1/notes")
        .header("anote-min-position", "999999999-999999999")
        .send()
        .await
        .expect("get");
    assert_eq!(
        (never.status().as_u16(), body(never).await["code"].clone()),
        (400, json!("unreachable_min_position"))
    );
    let query = r
        .as_user(&ada, Method::GET, "/v1/notes?limit=500")
        .send()
        .await
        .expect("get");
    assert_eq!(
        (query.status().as_u16(), body(query).await["code"].clone()),
        (400, json!("invalid_query"))
    );
    let anonymous = r.http.get(r.url("/v1/notes")).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);

    // A position of the log that the read models do not reach in time.
    if let Some(projector) = b.projector.take() {
        projector.kill();
        let (_, position) = b
            .create_note(&ada, json!({ "title": "late", "body": "b" }))
            .await;
        let behind = b
            .reader()
            .as_user(&ada, Method::GET, "/v1/notes")
            .header("anote-min-position", position)
            .send()
            .await
            .expect("get");
        assert_eq!(behind.status(), 503);
        assert_eq!(behind.headers()["retry-after"], "1");
        assert!(behind.headers().contains_key("anote-projection-position"));
        assert_eq!(body(behind).await["code"], "projection_behind");
    }
}

async fn read_models_survive_restarts_and_catch_up(split: bool) {
    let mut b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let (id, mut position) = b
        .create_note(&ada, json!({ "title": "t", "body": "b" }))
        .await;
    let mut version = 1;
    // Kill the projector (or the whole embedded process) in the middle of a
    // stream of commands, then start it again.
    for round in 0..3 {
        for _ in 0..15 {
            let reply = b
                .command(
                    &ada,
                    Method::PATCH,
                    &format!("/v1/notes/{id}"),
                    Some(version),
                    Some(json!({ "body": format!("v{}", version + 1) })),
                )
                .await;
            version += 1;
            position = reply["position"].as_str().expect("position").to_owned();
        }
        if let (Some(projector), Some(schema)) = (b.projector.take(), b.schema.as_deref()) {
            projector.kill();
            b.projector = Some(ProjectorProcess::start(schema));
        } else {
            b.writer = b.writer.kill_and_restart().await;
        }
        let (status, note) = b.read(&ada, &id, &position).await;
        assert_eq!(status, 200, "round {round}");
        assert_eq!(note["version"], version);
        assert_eq!(note["body"], format!("v{version}"));
    }
}

async fn search_subjects_tags_and_upcoming_over_http(split: bool) {
    let b = Backend::of(split).await;
    let r = b.reader();
    let ada = b.writer.user("ada").await;
    b.command(&ada, Method::POST, "/v1/notes", None, Some(json!({ "title": "Essay on Rome", "body": "roads", "subject": "History", "tags": ["essay"], "due_at": "2030-01-02T10:00:00Z" }))).await;
    let last = b.command(&ada, Method::POST, "/v1/notes", None, Some(json!({ "title": "Limits", "body": "the limit of roads", "subject": "Maths", "tags": ["exam", "essay"], "due_at": "2030-01-01T10:00:00Z" }))).await;
    let position = last["position"].as_str().expect("position");
    let get = |path: &'static str| {
        r.as_user(&ada, Method::GET, path)
            .header("anote-min-position", position)
            .send()
    };
    let found = body(get("/v1/search?q=roads").await.expect("search")).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(2));
    assert!(found["items"][0]["highlight"]
        .as_str()
        .is_some_and(|h| h.contains("<mark>")));
    let subjects = body(get("/v1/subjects").await.expect("subjects")).await;
    assert_eq!(
        subjects["items"],
        json!([{ "name": "History", "notes": 1 }, { "name": "Maths", "notes": 1 }])
    );
    let tags = body(get("/v1/tags").await.expect("tags")).await;
    assert_eq!(
        tags["items"],
        json!([{ "name": "essay", "notes": 2 }, { "name": "exam", "notes": 1 }])
    );
    let upcoming = body(get("/v1/assignments/upcoming").await.expect("upcoming")).await;
    assert_eq!(upcoming["items"][0]["title"], "Limits", "soonest first");
    let empty = get("/v1/search?q=").await.expect("search");
    assert_eq!(
        (empty.status().as_u16(), body(empty).await["code"].clone()),
        (400, json!("invalid_query"))
    );
}

async fn share_links_open_and_close(split: bool) {
    let b = Backend::of(split).await;
    let r = b.reader();
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let note = b
        .command(
            &ada,
            Method::POST,
            "/v1/notes",
            None,
            Some(json!({ "title": "Lab report", "body": "# Results", "tags": ["lab"] })),
        )
        .await;
    let id = note["id"].as_str().expect("id").to_owned();
    let share = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/shares"),
            None,
            Some(json!({})),
        )
        .await;
    let token = share["token"].as_str().expect("token").to_owned();
    assert!(
        token.len() >= 43,
        "at least 128 bits of secret next to the id"
    );
    assert_eq!(share["url"], format!("/s/{token}"), "the web app's page");
    let public = |token: String, position: String| {
        r.http
            .get(r.url(&format!("/v1/shared/{token}")))
            .header("anote-min-position", position)
            .send()
    };
    let position = share["position"].as_str().expect("position").to_owned();
    let seen = public(token.clone(), position.clone()).await.expect("get");
    assert_eq!(seen.status(), 200);
    let seen = body(seen).await;
    assert_eq!(
        (seen["title"].clone(), seen["body"].clone()),
        (json!("Lab report"), json!("# Results"))
    );
    assert!(
        seen.get("id").is_none() && seen.get("owner").is_none(),
        "the public view shows content only"
    );

    let listed = body(
        r.as_user(&ada, Method::GET, &format!("/v1/notes/{id}/shares"))
            .header("anote-min-position", &position)
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(listed["items"][0]["token"], token.as_str());
    let theirs = r
        .as_user(&eve, Method::GET, &format!("/v1/notes/{id}/shares"))
        .send()
        .await
        .expect("list");
    assert_eq!(theirs.status(), 404);
    let past = b
        .writer
        .as_user(&ada, Method::POST, &format!("/v1/notes/{id}/shares"))
        .json(&json!({ "expires_at": "2001-01-01T00:00:00Z" }))
        .send()
        .await
        .expect("share");
    assert_eq!(
        (past.status().as_u16(), body(past).await["code"].clone()),
        (422, json!("expiry_in_past"))
    );
    let share_id = share["id"].as_str().expect("id");
    let not_theirs = b
        .writer
        .as_user(
            &eve,
            Method::DELETE,
            &format!("/v1/notes/{id}/shares/{share_id}"),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(not_theirs.status(), 404);

    // Revoked, never existed, forged: one and the same 404.
    let revoked = b
        .command(
            &ada,
            Method::DELETE,
            &format!("/v1/notes/{id}/shares/{share_id}"),
            None,
            None,
        )
        .await;
    let position = revoked["position"].as_str().expect("position").to_owned();
    let gone = public(token.clone(), position.clone()).await.expect("get");
    assert_eq!(gone.status(), 404);
    let gone = body(gone).await;
    let mut forged = token.clone();
    forged.replace_range(30..31, if &token[30..31] == "A" { "B" } else { "A" });
    for other in [forged, "nonsense".to_owned()] {
        let r = public(other, position.clone()).await.expect("get");
        assert_eq!(r.status(), 404);
        assert_eq!(body(r).await, gone, "the same body for every dead link");
    }
    let again = b
        .writer
        .as_user(
            &ada,
            Method::DELETE,
            &format!("/v1/notes/{id}/shares/{share_id}"),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(
        (again.status().as_u16(), body(again).await["code"].clone()),
        (404, json!("share_not_found"))
    );

    // A trashed note's links stop working until it is restored.
    let share = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/shares"),
            None,
            Some(json!({ "expires_at": "2100-01-01T00:00:00Z" })),
        )
        .await;
    let token = share["token"].as_str().expect("token").to_owned();
    let trashed = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/trash"),
            Some(share["version"].as_u64().expect("version")),
            None,
        )
        .await;
    let r1 = public(
        token.clone(),
        trashed["position"].as_str().expect("position").to_owned(),
    )
    .await
    .expect("get");
    assert_eq!(r1.status(), 404);
    let restored = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/restore"),
            Some(trashed["version"].as_u64().expect("version")),
            None,
        )
        .await;
    let r2 = public(
        token,
        restored["position"].as_str().expect("position").to_owned(),
    )
    .await
    .expect("get");
    assert_eq!(r2.status(), 200);
}

async fn a_second_device_syncs_with_the_changes_feed(split: bool) {
    let b = Backend::of(split).await;
    let r = b.reader();
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let mut ids = Vec::new();
    let mut position = String::new();
    for i in 0..5 {
        let reply = b
            .command(
                &ada,
                Method::POST,
                "/v1/notes",
                None,
                Some(json!({ "title": format!("n{i}"), "body": "b" })),
            )
            .await;
        ids.push(reply["id"].as_str().expect("id").to_owned());
        position = reply["position"].as_str().expect("position").to_owned();
    }
    b.command(
        &eve,
        Method::POST,
        "/v1/notes",
        None,
        Some(json!({ "title": "not ada's", "body": "b" })),
    )
    .await;
    let changes = |since: Option<String>, limit: u32, position: &str| {
        let mut path = format!("/v1/changes?limit={limit}");
        if let Some(s) = since {
            path.push_str(&format!("&since={s}"));
        }
        r.as_user(&ada, Method::GET, &path)
            .header("anote-min-position", position)
            .send()
    };
    // A device that has just read its notes starts at the feed's end.
    let now = body(
        changes(Some("now".to_owned()), 10, &position)
            .await
            .expect("changes"),
    )
    .await;
    assert_eq!(
        (
            now["items"].as_array().map(Vec::len),
            now["has_more"].clone()
        ),
        (Some(0), json!(false))
    );
    let latest = now["next_cursor"].as_str().expect("cursor").to_owned();
    // A new device pages through everything.
    let first = body(changes(None, 3, &position).await.expect("changes")).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(first["has_more"], true);
    let second = body(
        changes(
            first["next_cursor"].as_str().map(str::to_owned),
            3,
            &position,
        )
        .await
        .expect("changes"),
    )
    .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["has_more"], false);
    let cursor = second["next_cursor"].as_str().expect("cursor").to_owned();
    let nothing = body(
        changes(Some(cursor.clone()), 10, &position)
            .await
            .expect("changes"),
    )
    .await;
    assert_eq!(
        (
            nothing["items"].as_array().map(Vec::len),
            nothing["next_cursor"].clone()
        ),
        (Some(0), json!(cursor))
    );

    // Then an edit and a purge elsewhere arrive as one change each.
    let edited = b
        .command(
            &ada,
            Method::PATCH,
            &format!("/v1/notes/{}", ids[1]),
            Some(1),
            Some(json!({ "title": "renamed" })),
        )
        .await;
    b.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{}/trash", ids[2]),
        Some(1),
        None,
    )
    .await;
    let purged = b
        .command(
            &ada,
            Method::DELETE,
            &format!("/v1/notes/{}", ids[2]),
            Some(2),
            None,
        )
        .await;
    let purged_at = purged["position"].as_str().expect("position");
    let since_now = body(changes(Some(latest), 10, purged_at).await.expect("changes")).await;
    let delta = body(changes(Some(cursor), 10, purged_at).await.expect("changes")).await;
    assert_eq!(since_now["items"], delta["items"]);
    let items = delta["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{delta}");
    // In the order the read models stored them: on the split setup the two
    // notes' shards may have committed either first.
    let item = |id: &str| {
        items
            .iter()
            .find(|item| item["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {delta}"))
    };
    assert_eq!(item(&ids[1])["note"]["title"], "renamed");
    assert_eq!(item(&ids[1])["note"]["version"], edited["version"]);
    assert_eq!(item(&ids[2])["deleted"], true);
    assert!(item(&ids[2]).get("note").is_none());
    let bad = r
        .as_user(&ada, Method::GET, "/v1/changes?since=yesterday")
        .send()
        .await
        .expect("changes");
    assert_eq!(
        (bad.status().as_u16(), body(bad).await["code"].clone()),
        (400, json!("invalid_query"))
    );
}

async fn cached_reads_follow_change_notices(split: bool) {
    // A cache entry may live ten minutes, so only a change notice can make
    // the edit visible to a read that does not wait for its position.
    let b = Backend::of_with(split, &[("ANOTE_CACHE_TTL_MS", "600000")]).await;
    let r = b.reader();
    let ada = b.writer.user("ada").await;
    let (id, position) = b
        .create_note(&ada, json!({ "title": "v1", "body": "b" }))
        .await;
    let (_, first) = b.read(&ada, &id, &position).await;
    assert_eq!(first["title"], "v1");
    let list = |r: &Server| r.as_user(&ada, Method::GET, "/v1/notes?limit=10").send();
    assert_eq!(
        body(list(r).await.expect("list")).await["items"][0]["title"],
        "v1"
    );

    b.command(
        &ada,
        Method::PATCH,
        &format!("/v1/notes/{id}"),
        Some(1),
        Some(json!({ "title": "v2" })),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let note = body(
            r.as_user(&ada, Method::GET, &format!("/v1/notes/{id}"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        let page = body(list(r).await.expect("list")).await;
        if note["title"] == "v2" && page["items"][0]["title"] == "v2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never dropped the old answers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn openapi_describes_the_reads(split: bool) {
    let b = Backend::of(split).await;
    let doc = body(
        b.reader()
            .http
            .get(b.reader().url("/openapi.json"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert!(doc["paths"]["/v1/notes/{id}"]["get"].is_object());
    for path in [
        "/v1/notes",
        "/v1/search",
        "/v1/subjects",
        "/v1/tags",
        "/v1/assignments/upcoming",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
}

#[tokio::test]
async fn through_kinesis_with_the_relay_and_projector_killed_mid_stream() {
    let schema = fresh_schema();
    let stream = fresh_stream(&kinesis_client(), 4).await;
    let writer = Server::start(Setup::Postgres(schema.clone()), None, &[]).await;
    let reader = Server::start(Setup::QueryApi(schema.clone()), None, &[]).await;
    let mut relay = ProjectorProcess::with_kinesis("relay", &schema, &stream);
    let mut projector = ProjectorProcess::with_kinesis("projector", &schema, &stream);
    let b = Backend {
        writer,
        reader: Some(reader),
        projector: None,
        schema: Some(schema.clone()),
    };
    let ada = b.writer.user("ada").await;
    let mut notes = Vec::new();
    for i in 0..8 {
        let reply = b
            .command(
                &ada,
                Method::POST,
                "/v1/notes",
                None,
                Some(json!({ "title": format!("n{i}"), "body": "v1" })),
            )
            .await;
        notes.push((reply["id"].as_str().expect("id").to_owned(), 1u64));
    }
    let mut position = String::new();
    for round in 0..4 {
        for (id, version) in &mut notes {
            let reply = b
                .command(
                    &ada,
                    Method::PATCH,
                    &format!("/v1/notes/{id}"),
                    Some(*version),
                    Some(json!({ "body": format!("v{}", *version + 1) })),
                )
                .await;
            *version += 1;
            position = reply["position"].as_str().expect("position").to_owned();
        }
        // Kill both background processes in the middle of the stream, then start them again.
        relay.kill();
        projector.kill();
        relay = ProjectorProcess::with_kinesis("relay", &schema, &stream);
        projector = ProjectorProcess::with_kinesis("projector", &schema, &stream);
        let (status, _) = b.read(&ada, &notes[0].0, &position).await;
        assert!(status == 200 || status == 503, "round {round}: {status}");
    }
    // Everything arrives, read your writes included.
    for (id, version) in &notes {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, note) = b.read(&ada, id, &position).await;
            if status == 200 {
                assert_eq!(note["version"], *version);
                assert_eq!(note["body"], format!("v{version}"));
                break;
            }
            assert_eq!(status, 503, "{note}");
            assert!(
                std::time::Instant::now() < deadline,
                "the read models never caught up"
            );
        }
    }
    drop((relay, projector));
}

async fn text_is_held_to_the_same_rules_on_both_setups(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let refused = [
        (json!({ "title": "nul\u{0}title", "body": "b" }), "title"),
        (json!({ "title": "two\nlines", "body": "b" }), "title"),
        (json!({ "title": "t", "body": "bell\u{7}" }), "body"),
        (
            json!({ "title": "t", "body": "b", "subject": "s\u{0}" }),
            "subject",
        ),
        (
            json!({ "title": "t", "body": "b", "tags": ["gpj\u{202e}exe"] }),
            "tag",
        ),
    ];
    for (fields, field) in refused {
        let r = b
            .writer
            .as_user(&ada, Method::POST, "/v1/notes")
            .json(&fields)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 422, "{fields}");
        let problem = body(r).await;
        assert_eq!(
            (problem["code"].clone(), problem["field"].clone()),
            (json!("validation_failed"), json!(field))
        );
    }
    let r = b
        .writer
        .http
        .post(b.writer.url("/v1/accounts"))
        .json(
            &json!({ "username": "bob", "password": "correct horse battery",
                       "display_name": "Bob\u{0}" }),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(
        (r.status().as_u16(), body(r).await["field"].clone()),
        (422, json!("display_name"))
    );

    // What is accepted reads back unchanged, through the projector.
    let title = "שלום \u{200f}(1) — ß 🎓 'quoted' \\ %_";
    let text = "line one\n\tindented\u{2028}and more";
    let (id, position) = b
        .create_note(
            &ada,
            json!({ "title": title, "body": text, "subject": "Maths", "tags": ["Ünï"] }),
        )
        .await;
    let (status, note) = b.read(&ada, &id, &position).await;
    assert_eq!(status, 200, "{note}");
    assert_eq!(
        (
            note["title"].clone(),
            note["body"].clone(),
            note["tags"].clone()
        ),
        (json!(title), json!(text), json!(["ünï"]))
    );
    let r = b
        .writer
        .as_user(&ada, Method::PATCH, &format!("/v1/notes/{id}"))
        .header("if-match", "\"1\"")
        .json(&json!({ "title": "x\u{0}" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 422);
    // Filters and searches are held to the same rules: a clear 422, not a
    // database error.
    for path in [
        "/v1/notes?subject=a%00b",
        "/v1/notes?tag=%E2%80%AE",
        "/v1/search?q=a%00b",
    ] {
        let r = b
            .reader()
            .as_user(&ada, Method::GET, path)
            .send()
            .await
            .expect("read");
        assert_eq!(r.status(), 422, "{path}");
        assert_eq!(body(r).await["code"], "validation_failed", "{path}");
    }
}

anote_testkit::both_setups!(
    split;
    every_write_is_readable_at_once_with_its_position,
    reads_answer_clearly,
    read_models_survive_restarts_and_catch_up,
    search_subjects_tags_and_upcoming_over_http,
    share_links_open_and_close,
    a_second_device_syncs_with_the_changes_feed,
    cached_reads_follow_change_notices,
    openapi_describes_the_reads,
    text_is_held_to_the_same_rules_on_both_setups,
);
