//! The command API's rules in process on [`TestApp`] (status codes, problem
//! documents, ETag and If-Match, idempotency keys, ownership, sessions, CORS),
//! and through the real binary, against the embedded default (SQLite) and
//! the split service (PostgreSQL), what needs a process: a restart after
//! SIGTERM, a SIGKILL mid-write, the metrics listener.

use anote_testkit::process::{body, Server};
use anote_testkit::{Settings, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn walkthrough_register_login_create_edit_and_conflict() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let r = s
        .as_user(&ada, Method::POST, "/v1/notes")
        .json(&json!({ "title": "Limits", "body": "# Lecture 1", "subject": "Maths", "tags": ["Exam"] }))
        .send()
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("etag"), "\"1\"");
    let position = r.header("anote-position").to_owned();
    let location = r.header("location").to_owned();
    let created = r.json();
    let id = created["id"].as_str().expect("id");
    assert_eq!(location, format!("/v1/notes/{id}"));
    assert_eq!(created["version"], 1);
    assert_eq!(created["position"], position.as_str());

    let path = format!("/v1/notes/{id}");
    let edit = |version: Option<&str>, text: &str| {
        let mut req = s
            .as_user(&ada, Method::PATCH, &path)
            .json(&json!({ "body": text }));
        if let Some(v) = version {
            req = req.header("if-match", v);
        }
        req.send()
    };
    let r = edit(Some("\"1\""), "# Lecture 1, revised").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), "\"2\"");
    let edited = r.json();
    assert_eq!(edited["version"], 2);
    assert_ne!(edited["position"], created["position"]);

    let r = edit(Some("\"1\""), "a stale edit").await;
    assert_eq!(r.status, 412);
    assert_eq!(r.header("content-type"), "application/problem+json");
    let problem = r.json();
    assert_eq!(
        (problem["code"].clone(), problem["current_version"].clone()),
        (json!("version_mismatch"), json!(2))
    );

    let r = edit(None, "no precondition").await;
    assert_eq!(r.status, 428);
    assert_eq!(r.json()["code"], "precondition_required");
    let r = edit(Some("seven"), "bad precondition").await;
    assert_eq!(r.status, 400);
    // Nothing that failed was written.
    let r = edit(Some("2"), "# Lecture 1, revised").await;
    assert_eq!(
        r.json()["version"],
        2,
        "an edit that changes nothing is a no-op"
    );
}

/// A request (method, path suffix, body) and its expected status and code.
type Step = (
    Method,
    &'static str,
    Option<Value>,
    u16,
    Option<&'static str>,
);

#[tokio::test]
async fn every_note_command_follows_the_rules() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let id = s
        .note(&ada, json!({ "title": "Essay", "body": "Draft" }))
        .await;
    let steps: Vec<Step> = vec![
        (
            Method::POST,
            "/complete",
            None,
            409,
            Some("not_an_assignment"),
        ),
        (
            Method::PUT,
            "/due",
            Some(json!({ "due_at": "2026-12-01T09:00:00+01:00" })),
            200,
            None,
        ),
        (Method::POST, "/complete", None, 200, None),
        (Method::POST, "/reopen", None, 200, None),
        (Method::DELETE, "/due", None, 200, None),
        (
            Method::PUT,
            "/tags",
            Some(json!({ "tags": ["Exam", "exam", " lab "] })),
            200,
            None,
        ),
        (
            Method::PUT,
            "/tags",
            Some(json!({ "tags": ["x".repeat(41)] })),
            422,
            Some("validation_failed"),
        ),
        (
            Method::PUT,
            "/subject",
            Some(json!({ "subject": "History" })),
            200,
            None,
        ),
        (
            Method::PUT,
            "/subject",
            Some(json!({ "subject": null })),
            200,
            None,
        ),
        (Method::POST, "/pin", None, 200, None),
        (Method::POST, "/unpin", None, 200, None),
        (Method::POST, "/archive", None, 200, None),
        (Method::POST, "/unarchive", None, 200, None),
        (Method::DELETE, "", None, 409, Some("note_not_in_trash")),
        (Method::POST, "/trash", None, 200, None),
        (Method::POST, "/pin", None, 409, Some("note_trashed")),
        (Method::POST, "/restore", None, 200, None),
        (Method::POST, "/trash", None, 200, None),
        (Method::DELETE, "", None, 200, None),
        (Method::POST, "/restore", None, 404, Some("note_not_found")),
    ];
    let mut version = 1;
    for (method, suffix, payload, status, code) in steps {
        let mut req = s
            .as_user(&ada, method.clone(), &format!("/v1/notes/{id}{suffix}"))
            .header("if-match", &format!("\"{version}\""));
        if let Some(p) = payload {
            req = req.json(&p);
        }
        let r = req.send().await;
        let (got, reply) = (r.status, r.json());
        assert_eq!(got, status, "{method} {suffix}: {reply}");
        match code {
            Some(code) => assert_eq!(reply["code"], code),
            None => {
                assert_eq!(reply["version"], version + 1, "{method} {suffix}");
                version += 1;
            }
        }
    }
    assert_eq!(version, 16);
}

#[tokio::test]
async fn someone_elses_note_is_not_found() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let eve = s.user("eve").await;
    let id = s
        .note(&ada, json!({ "title": "Private", "body": "mine" }))
        .await;
    let theirs = s
        .as_user(&eve, Method::POST, &format!("/v1/notes/{id}/pin"))
        .header("if-match", "\"1\"")
        .send()
        .await;
    let missing = s
        .as_user(
            &eve,
            Method::POST,
            &format!("/v1/notes/{}/pin", uuid::Uuid::new_v4()),
        )
        .header("if-match", "\"1\"")
        .send()
        .await;
    assert_eq!((theirs.status, missing.status), (404, 404));
    assert_eq!(theirs.json()["detail"], missing.json()["detail"]);
    let stale = s
        .as_user(&eve, Method::PATCH, &format!("/v1/notes/{id}"))
        .header("if-match", "\"9\"")
        .json(&json!({ "title": "mine now" }))
        .send()
        .await;
    assert_eq!(
        stale.status, 404,
        "a stranger learns nothing, not even the version"
    );
    let anonymous = s
        .post("/v1/notes")
        .json(&json!({ "title": "t", "body": "b" }))
        .send()
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], "unauthorized");
}

#[tokio::test]
async fn bad_input_is_a_clear_client_error() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let post = |body: String, content_type: &'static str| {
        s.as_user(&ada, Method::POST, "/v1/notes")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            post("{\"title\":".into(), "application/json").await,
            400,
            "malformed_json",
        ),
        (
            post(
                "{\"title\":\"t\",\"body\":\"b\",\"colour\":1}".into(),
                "application/json",
            )
            .await,
            422,
            "invalid_body",
        ),
        (
            post("{\"title\":\"t\"}".into(), "application/json").await,
            422,
            "invalid_body",
        ),
        (
            post("{\"title\":\"t\",\"body\":\"b\"}".into(), "text/plain").await,
            415,
            "unsupported_media_type",
        ),
        (
            post(
                json!({ "title": "t".repeat(201), "body": "b" }).to_string(),
                "application/json",
            )
            .await,
            422,
            "validation_failed",
        ),
        (
            post(
                json!({ "title": "t", "body": "b", "due_at": "tomorrow" }).to_string(),
                "application/json",
            )
            .await,
            422,
            "invalid_body",
        ),
    ];
    for (r, status, code) in cases {
        assert_eq!(r.status, status);
        assert_eq!(r.header("content-type"), "application/problem+json");
        assert_eq!(r.json()["code"], code);
    }
    let r = s
        .as_user(&ada, Method::POST, "/v1/notes/not-a-uuid/pin")
        .header("if-match", "\"1\"")
        .send()
        .await;
    assert_eq!(r.status, 404);
    let r = s.get("/v1/nowhere").send().await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("route_not_found"))
    );
    let r = s.call(Method::PUT, "/v1/notes").send().await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (405, json!("method_not_allowed"))
    );
    let r = s
        .post("/v1/accounts")
        .json(
            &json!({ "username": "a b", "password": "correct horse battery", "display_name": "x" }),
        )
        .send()
        .await;
    let problem = r.json();
    assert_eq!(
        (problem["status"].clone(), problem["field"].clone()),
        (json!(422), json!("username"))
    );
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let mut settings = Settings::default();
    settings.http.body_limit = 4096;
    let s = TestApp::with(settings).await;
    let ada = s.user("ada").await;
    let r = s
        .as_user(&ada, Method::POST, "/v1/notes")
        .json(&json!({ "title": "t", "body": "b".repeat(8192) }))
        .send()
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "payload_too_large");
}

#[tokio::test]
async fn accounts_and_sessions_work_end_to_end() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let r = s.post("/v1/accounts").json(&json!({ "username": "ADA", "password": "another password", "display_name": "Imposter" })).send().await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (409, json!("username_taken"))
    );

    let wrong = s.login("ada", "wrong password!").await;
    let unknown = s.login("nobody", "wrong password!").await;
    assert_eq!((wrong.0, unknown.0), (401, 401));
    assert_eq!(
        wrong.1, unknown.1,
        "an unknown user and a wrong password look the same"
    );

    // A refresh token works once.
    let refresh = |token: String| {
        s.post("/v1/sessions/refresh")
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let r = refresh(ada.refresh.clone()).await;
    assert_eq!(r.status, 200);
    let rotated = r.json();
    assert_eq!(refresh(ada.refresh.clone()).await.status, 401);
    let rotated_refresh = rotated["refresh_token"].as_str().expect("token").to_owned();

    // Changing the password revokes the other sessions, not this one.
    let other = s.login("ada", "correct horse battery").await.1;
    let r = s
        .as_user(&ada, Method::PUT, "/v1/account/password")
        .json(
            &json!({ "current_password": "nope nope nope", "new_password": "brand new password" }),
        )
        .send()
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (403, json!("wrong_password"))
    );
    let r = s.as_user(&ada, Method::PUT, "/v1/account/password").json(&json!({ "current_password": "correct horse battery", "new_password": "brand new password" })).send().await;
    assert_eq!(r.status, 204);
    let other_refresh = other["refresh_token"].as_str().expect("token").to_owned();
    assert_eq!(refresh(other_refresh).await.status, 401);
    let r = refresh(rotated_refresh).await;
    assert_eq!(
        r.status, 200,
        "the session that changed the password lives on"
    );
    let current_refresh = r.json()["refresh_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(s.login("ada", "correct horse battery").await.0, 401);
    assert_eq!(s.login("ada", "brand new password").await.0, 200);

    // Logging out revokes the session's refresh token.
    let fresh = s.login("ada", "brand new password").await.1;
    let fresh_access = fresh["access_token"].as_str().expect("token");
    let r = s
        .call(Method::DELETE, "/v1/sessions")
        .bearer(fresh_access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let fresh_refresh = fresh["refresh_token"].as_str().expect("token").to_owned();
    assert_eq!(refresh(fresh_refresh).await.status, 401);

    // Deleting the account forgets the password, revokes sessions and frees the name.
    let r = s.as_user(&ada, Method::DELETE, "/v1/account").send().await;
    assert_eq!(r.status, 204);
    assert_eq!(s.login("ada", "brand new password").await.0, 401);
    assert_eq!(refresh(current_refresh).await.status, 401);
    let r = s.as_user(&ada, Method::DELETE, "/v1/account").send().await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("token_revoked")),
        "the deleted account's token is refused"
    );
    s.user("ada").await;
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let s = TestApp::new().await;
    s.user("ada").await;
    for _ in 0..5 {
        assert_eq!(s.login("ada", "wrong password!").await.0, 401);
    }
    let r = s
        .post("/v1/sessions")
        .json(&json!({ "username": "ADA", "password": "correct horse battery" }))
        .send()
        .await;
    assert_eq!(r.status, 429, "even the right password waits");
    let retry: u64 = r.header("retry-after").parse().expect("seconds");
    assert!(retry > 0 && retry <= 900);
    assert_eq!(r.json()["code"], "too_many_login_attempts");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_reply() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let create = |title: &str, key: &str| {
        s.as_user(&ada, Method::POST, "/v1/notes")
            .header("idempotency-key", key)
            .json(&json!({ "title": title, "body": "b" }))
            .send()
    };
    let first = create("Once", "key-1").await;
    assert_eq!(first.status, 201);
    let first = first.json();
    let again = create("Once", "key-1").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.json(), first);
    let other = create("Twice?", "key-1").await;
    assert_eq!(
        (other.status, other.json()["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    let id = first["id"].as_str().expect("id");
    // The replayed create appended nothing: the note is still at version 1.
    let pin = |key: &str| {
        s.as_user(&ada, Method::POST, &format!("/v1/notes/{id}/pin"))
            .header("if-match", "\"1\"")
            .header("idempotency-key", key)
            .send()
    };
    let pinned = pin("key-2").await.json();
    assert_eq!(pinned["version"], 2);
    assert_eq!(pin("key-2").await.json(), pinned);
    // Keys belong to their user.
    let eve = s.user("eve").await;
    let r = s
        .as_user(&eve, Method::POST, "/v1/notes")
        .header("idempotency-key", "key-1")
        .json(&json!({ "title": "Once", "body": "b" }))
        .send()
        .await;
    assert_ne!(r.json()["id"], first["id"]);
}

async fn data_survives_a_restart_and_sigterm_is_graceful(postgres: bool) {
    let s = Server::of(postgres).await;
    let ada = s.user("ada").await;
    let id = s
        .note(&ada, json!({ "title": "Keep me", "body": "b" }))
        .await;
    let s = s.restart().await;
    if let Some(dir) = s.data_dir() {
        assert!(dir.join("anote.sqlite3").exists());
    }
    let r = s
        .as_user(&ada, Method::PATCH, &format!("/v1/notes/{id}"))
        .header("if-match", "\"1\"")
        .json(&json!({ "title": "Kept" }))
        .send()
        .await
        .expect("edit");
    assert_eq!(r.status(), 200, "the token key and the note survived");
    assert_eq!(body(r).await["version"], 2);
    assert_eq!(s.login("ada", "correct horse battery").await.0, 200);
}

async fn openapi_describes_every_route(postgres: bool) {
    let metrics_port = anote_testkit::process::free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let s = Server::of_with(postgres, &[("ANOTE_METRICS_LISTEN", &metrics_listen)]).await;
    let doc = body(
        s.http
            .get(s.url("/openapi.json"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/accounts",
        "/v1/sessions",
        "/v1/sessions/refresh",
        "/v1/account",
        "/v1/account/password",
        "/v1/notes",
        "/v1/notes/{id}",
        "/v1/notes/{id}/tags",
        "/v1/notes/{id}/subject",
        "/v1/notes/{id}/due",
        "/v1/notes/{id}/pin",
        "/v1/notes/{id}/unpin",
        "/v1/notes/{id}/archive",
        "/v1/notes/{id}/unarchive",
        "/v1/notes/{id}/complete",
        "/v1/notes/{id}/reopen",
        "/v1/notes/{id}/trash",
        "/v1/notes/{id}/restore",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let public = s.http.get(s.url("/metrics")).send().await.expect("metrics");
    assert_eq!(public.status(), 404, "no metrics on the API's port");
    let metrics = s
        .http
        .get(format!("http://{metrics_listen}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert!(metrics.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains(
            r#"anote_http_requests_total{method="GET",route="/openapi.json",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"anote_http_request_duration_seconds_count{route="/openapi.json"} 1"#));
}

#[tokio::test]
async fn of_16_concurrent_edits_of_one_version_exactly_one_wins() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let id = s
        .note(&ada, json!({ "title": "Shared", "body": "v1" }))
        .await;
    let edits: Vec<_> = (0..16)
        .map(|i| {
            s.as_user(&ada, Method::PATCH, &format!("/v1/notes/{id}"))
                .header("if-match", "\"1\"")
                .json(&json!({ "body": format!("edit {i}") }))
                .send()
        })
        .collect();
    let mut statuses = Vec::new();
    for r in futures_util::future::join_all(edits).await {
        let status = r.status;
        let reply = r.json();
        if status == 412 {
            assert_eq!(reply["current_version"], 2);
        }
        statuses.push(status);
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 412),
        "{statuses:?}"
    );
    let next = s
        .as_user(&ada, Method::POST, &format!("/v1/notes/{id}/pin"))
        .header("if-match", "\"2\"")
        .send()
        .await;
    assert_eq!(next.json()["version"], 3, "versions stayed contiguous");
}

/// A client that lost a reply sends the same request again, maybe while the
/// first is still in flight: every copy gets the first one's reply, none a
/// 412 for the version the first one wrote, and the note changes once.
#[tokio::test]
async fn copies_of_one_idempotent_edit_sent_at_once_all_get_its_reply() {
    let s = TestApp::new().await;
    let ada = s.user("ada").await;
    let id = s
        .note(&ada, json!({ "title": "Shared", "body": "v1" }))
        .await;
    let copies: Vec<_> = (0..16)
        .map(|_| {
            s.as_user(&ada, Method::PATCH, &format!("/v1/notes/{id}"))
                .header("if-match", "\"1\"")
                .header("idempotency-key", "lost-reply")
                .json(&json!({ "body": "v2" }))
                .send()
        })
        .collect();
    let replies: Vec<_> = futures_util::future::join_all(copies)
        .await
        .into_iter()
        .map(|r| (r.status, r.json()))
        .collect();
    let first = replies[0].clone();
    assert_eq!((first.0, first.1["version"].clone()), (200, json!(2)));
    assert!(replies.iter().all(|r| *r == first), "{replies:?}");
    let next = s
        .as_user(&ada, Method::POST, &format!("/v1/notes/{id}/pin"))
        .header("if-match", "\"2\"")
        .send()
        .await;
    assert_eq!(next.json()["version"], 3, "the edit was written once");
}

#[tokio::test]
async fn of_16_concurrent_registrations_of_one_username_one_wins() {
    let s = TestApp::new().await;
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            s.post("/v1/accounts")
                .json(&json!({ "username": "grace", "password": format!("password number {i}"), "display_name": "G" }))
                .send()
        })
        .collect();
    let mut created = Vec::new();
    for (i, r) in futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .enumerate()
    {
        match r.status {
            201 => created.push(i),
            409 => assert_eq!(r.json()["code"], "username_taken"),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created.len(), 1);
    let winner = format!("password number {}", created[0]);
    assert_eq!(
        s.login("grace", &winner).await.0,
        200,
        "the winner's password is the one stored"
    );
}

async fn acknowledged_commands_survive_a_kill(postgres: bool) {
    let s = Server::of(postgres).await;
    let ada = s.user("ada").await;
    let http = s.http.clone();
    let url = s.url("/v1/notes");
    let token = ada.access.clone();
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..100_000 {
            let sent = http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "title": format!("n{i}"), "body": "b" }))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => {
                    acknowledged.push(body(r).await["id"].as_str().expect("id").to_owned())
                }
                Ok(r) => panic!("unexpected status {}", r.status()),
                Err(_) => break, // the server died under us
            }
        }
        acknowledged
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let s = s.kill_and_restart().await;
    let acknowledged = writer.await.expect("writer ran");
    assert!(
        acknowledged.len() > 5,
        "the writer got going before the kill ({})",
        acknowledged.len()
    );
    for id in &acknowledged {
        let r = s
            .as_user(&ada, Method::POST, &format!("/v1/notes/{id}/pin"))
            .header("if-match", "\"1\"")
            .send()
            .await
            .expect("pin");
        assert_eq!(
            r.status(),
            200,
            "note {id} was acknowledged, so it must exist at version 1"
        );
    }
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let mut settings = Settings::default();
    settings.http.cors_origins = vec!["https://app.anote.test".to_owned()];
    let s = TestApp::with(settings).await;
    let preflight = |origin: &'static str| {
        s.call(Method::OPTIONS, "/v1/notes")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,if-match",
            )
            .send()
    };
    let allowed = preflight("https://app.anote.test").await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        "https://app.anote.test"
    );
    let denied = preflight("https://evil.test").await;
    assert!(denied.headers.get("access-control-allow-origin").is_none());
    let r = s
        .get("/healthz")
        .header("origin", "https://app.anote.test")
        .send()
        .await;
    let exposed = r.header("access-control-expose-headers").to_owned();
    assert!(
        exposed.contains("etag") && exposed.contains("anote-position"),
        "{exposed}"
    );
}

anote_testkit::both_setups!(
    postgres;
    data_survives_a_restart_and_sigterm_is_graceful,
    openapi_describes_every_route,
    acknowledged_commands_survive_a_kill,
);
