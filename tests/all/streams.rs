//! `GET /v1/changes/stream`: a device's changes as they happen. Its rules
//! in process on [`TestApp`]; and through the real binary, on both setups,
//! a change made on one device reaching another's stream, and a stream
//! that a restart ends resumed from its last id without a gap.

use std::time::{Duration, Instant};

use anote_loadtest::sse::SseEvent;
use anote_query_api::StreamSettings;
use anote_testkit::process::Backend;
use anote_testkit::{Account, Events, Settings, TestApp};
use axum::http::Method;
use serde_json::{json, Value};

/// Long enough for any event on a loaded test machine.
const WAIT: Duration = Duration::from_secs(10);

/// A stream of `account`'s changes from `since`, resumed after `last_id`.
async fn open(app: &TestApp, account: &Account, since: &str, last_id: Option<&str>) -> Events {
    let mut call = app.as_user(
        account,
        Method::GET,
        &format!("/v1/changes/stream?since={since}"),
    );
    if let Some(id) = last_id {
        call = call.header("last-event-id", id);
    }
    call.open().await.stream()
}

/// The next event, which must be a `change`: its id and its data.
async fn change(events: &mut Events) -> (String, Value) {
    let event = events.next_event(WAIT).await.expect("a change");
    assert_eq!(event.event, "change", "{event:?}");
    let data = serde_json::from_str(&event.data).expect("JSON data");
    (event.id.expect("an id"), data)
}

/// The `ready` event that follows the backlog: the cursor it is at.
async fn ready(events: &mut Events) -> String {
    let event = events.next_event(WAIT).await.expect("ready");
    assert_eq!(event.event, "ready", "{event:?}");
    event.id.expect("a cursor")
}

#[tokio::test]
async fn a_stream_sends_the_backlog_then_each_change_of_its_owner_only() {
    let app = TestApp::new().await;
    let ada = app.user("ada").await;
    let eve = app.user("eve").await;
    let (first, position) = app
        .create_note(&ada, json!({ "title": "before", "body": "b" }))
        .await;
    // Projected before the stream opens: it is the backlog.
    app.read(&ada, &format!("/v1/notes/{first}"), &position)
        .await;

    let mut stream = open(&app, &ada, "0-0", None).await;
    let (after_first, data) = change(&mut stream).await;
    assert_eq!(data["id"], first.as_str());
    assert_eq!(data["note"]["body"], "b", "with its body");
    assert_eq!(ready(&mut stream).await, after_first);

    app.note(&eve, json!({ "title": "eve's", "body": "b" }))
        .await;
    let second = app
        .note(&ada, json!({ "title": "live", "body": "b" }))
        .await;
    let (after_second, data) = change(&mut stream).await;
    assert_eq!(
        data["id"],
        second.as_str(),
        "eve's note is not on ada's stream"
    );
    assert_eq!(data["note"]["title"], "live");

    app.command(
        &ada,
        Method::POST,
        &format!("/v1/notes/{second}/trash"),
        Some(1),
        None,
    )
    .await;
    let (after_trash, data) = change(&mut stream).await;
    assert_ne!(after_trash, after_second);
    assert_eq!(
        (data["id"].as_str(), data["deleted"].as_bool()),
        (Some(second.as_str()), Some(false))
    );
    assert_eq!(data["note"]["trashed"], true);

    // Resumed after the first change (`Last-Event-ID` wins over `since`):
    // the second note comes again, once, as it is now; the first does not.
    let mut resumed = open(&app, &ada, "0-0", Some(&after_first)).await;
    let (id, data) = change(&mut resumed).await;
    assert_eq!(
        (id.as_str(), data["id"].as_str()),
        (after_trash.as_str(), Some(second.as_str()))
    );
    assert_eq!(ready(&mut resumed).await, after_trash);

    // An id that is none of the stream's is passed over for `since`.
    let mut unknown = open(&app, &ada, "0-0", Some("not-a-cursor")).await;
    assert_eq!(change(&mut unknown).await.1["id"], first.as_str());
}

#[tokio::test]
async fn now_starts_at_the_feeds_end_and_an_idle_stream_sends_heartbeats() {
    let mut settings = Settings::default();
    settings.query.streams.heartbeat = Duration::from_millis(100);
    let app = TestApp::with(settings).await;
    let ada = app.user("ada").await;
    let (_, position) = app
        .create_note(&ada, json!({ "title": "old", "body": "b" }))
        .await;
    app.read(&ada, "/v1/notes?limit=1", &position).await;

    let mut stream = open(&app, &ada, "now", None).await;
    ready(&mut stream).await;
    let started = Instant::now();
    let heartbeat = stream.next(WAIT).await.expect("a heartbeat");
    assert!(heartbeat.comment, "{heartbeat:?}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    let new = app.note(&ada, json!({ "title": "new", "body": "b" })).await;
    assert_eq!(change(&mut stream).await.1["id"], new.as_str());
}

#[tokio::test]
async fn cursors_accounts_and_limits_are_checked_with_clear_errors() {
    let mut settings = Settings::default();
    settings.query.streams = StreamSettings {
        per_user: 2,
        total: 3,
        ..StreamSettings::DEFAULT
    };
    let app = TestApp::with(settings).await;
    let ada = app.user("ada").await;
    let eve = app.user("eve").await;
    let bob = app.user("bob").await;

    for (query, last_id) in [
        ("since=yesterday", None),
        ("since=1-2-3", None),
        ("since=99999999999999999999-0", None),
        ("since=now&limit=5", None),
        // A bad cursor is refused even beside a good Last-Event-ID.
        ("since=yesterday", Some("0-1")),
    ] {
        let mut call = app.as_user(&ada, Method::GET, &format!("/v1/changes/stream?{query}"));
        if let Some(id) = last_id {
            call = call.header("last-event-id", id);
        }
        let r = call.open().await.refused();
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_query".to_owned()),
            "{query} {last_id:?}"
        );
    }
    let r = app.get("/v1/changes/stream").open().await.refused();
    assert_eq!(r.status, 401);
    let r = app
        .get("/v1/changes/stream")
        .bearer("forged.token")
        .open()
        .await
        .refused();
    assert_eq!(r.status, 401);

    let _one = open(&app, &ada, "now", None).await;
    let _two = open(&app, &ada, "now", None).await;
    let r = app
        .as_user(&ada, Method::GET, "/v1/changes/stream")
        .open()
        .await
        .refused();
    assert_eq!((r.status, r.code()), (429, "too_many_streams".to_owned()));
    assert_eq!(r.header("retry-after"), "5");
    let _three = open(&app, &eve, "now", None).await;
    let r = app
        .as_user(&bob, Method::GET, "/v1/changes/stream")
        .open()
        .await
        .refused();
    assert_eq!((r.status, r.code()), (503, "streams_full".to_owned()));
    drop(_two);
    // A closed stream gives its place back at once.
    open(&app, &ada, "now", None).await;
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked_or_expires() {
    let mut settings = Settings::default();
    settings.query.streams.heartbeat = Duration::from_millis(100);
    settings.auth.access_ttl = Duration::from_secs(2);
    let app = TestApp::with(settings).await;
    let ada = app.user("ada").await;

    let started = Instant::now();
    let mut expiring = open(&app, &ada, "now", None).await;
    ready(&mut expiring).await;
    assert_eq!(expiring.next_event(WAIT).await, None, "ended at expiry");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let (_, tokens) = app.login("ada", anote_testkit::PASSWORD).await;
    let second = Account {
        access: tokens["access_token"].as_str().expect("token").to_owned(),
        refresh: String::new(),
    };
    let mut revoked = open(&app, &second, "now", None).await;
    ready(&mut revoked).await;
    let r = app
        .as_user(&second, Method::DELETE, "/v1/sessions")
        .send()
        .await;
    assert_eq!(r.status, 204);
    let ended: Option<SseEvent> = revoked.next_event(WAIT).await;
    assert_eq!(ended, None, "ended after the logout");
}

/// Through the real binary: a change made on one device reaches another's
/// stream; a stream that a restart of the process serving it ends is
/// resumed from its last id, and what changed meanwhile (split: while the
/// query API was down) comes first, once.
async fn another_devices_change_arrives_and_a_restart_loses_nothing(split: bool) {
    let mut b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let connect = |b: &Backend, last_id: Option<String>| {
        let mut request =
            b.reader()
                .as_user(&ada, reqwest::Method::GET, "/v1/changes/stream?since=now");
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        async move {
            let response = request.send().await.expect("the stream opens");
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            Events::of_response(response)
        }
    };
    let mut stream = connect(&b, None).await;
    ready(&mut stream).await;

    let sent = Instant::now();
    b.create_note(&eve, json!({ "title": "eve's", "body": "b" }))
        .await;
    let (id, _) = b
        .create_note(&ada, json!({ "title": "laptop", "body": "b" }))
        .await;
    let (last_id, data) = change(&mut stream).await;
    assert_eq!(data["id"], id.as_str());
    eprintln!(
        "a change reached the other device's stream in {:?}",
        sent.elapsed()
    );

    // The process serving the stream shuts down cleanly with it open.
    let missed = if let Some(reader) = b.reader.take() {
        let mut reader = reader;
        assert!(reader.terminate(), "clean shutdown with a stream open");
        assert_eq!(stream.next_event(WAIT).await, None, "the stream ended");
        let (missed, _) = b
            .create_note(&ada, json!({ "title": "while down", "body": "b" }))
            .await;
        b.reader = Some(reader.start_again().await);
        missed
    } else {
        b.writer = b.writer.restart().await;
        assert_eq!(stream.next_event(WAIT).await, None, "the stream ended");
        b.create_note(&ada, json!({ "title": "after", "body": "b" }))
            .await
            .0
    };
    // The change may be applied before the stream opens or after.
    let mut resumed = connect(&b, Some(last_id)).await;
    let event = loop {
        let event = resumed.next_event(WAIT).await.expect("an event");
        if event.event != "ready" {
            break event;
        }
    };
    assert_eq!(event.event, "change", "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("JSON data");
    assert_eq!(data["id"], missed.as_str(), "nothing missed, nothing twice");
}

anote_testkit::both_setups!(
    split;
    another_devices_change_arrives_and_a_restart_loses_nothing,
);
