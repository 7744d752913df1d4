//! What protects accounts: through the real binary, across instances (login
//! limits shared by every command API, and access tokens refused by every
//! instance soon after their session ends or their account is deleted); in
//! process on [`TestApp`], the address limit behind a proxy and the refresh
//! token's cookie.

use std::time::{Duration, Instant};

use anote_testkit::process::{body, Account, Backend, Server, Setup};
use anote_testkit::{Reply, Settings, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The logins allowed per username in a window (the default).
const PER_USER: usize = 5;

/// The processes of one setup with a second command API: the split services
/// with another `anote command-api` on the same PostgreSQL schema, or
/// `anote serve` alone.
struct Instances {
    backend: Backend,
    second: Option<Server>,
}

impl Instances {
    async fn start(split: bool) -> Self {
        let backend = Backend::of(split).await;
        let second = match &backend.schema {
            Some(schema) => Some(Server::start(Setup::Postgres(schema.clone()), None, &[]).await),
            None => None,
        };
        Self { backend, second }
    }

    /// Every process that takes commands.
    fn writers(&self) -> Vec<&Server> {
        std::iter::once(&self.backend.writer)
            .chain(self.second.as_ref())
            .collect()
    }

    /// Every process that checks tokens: the command APIs and the query API.
    fn checkers(&self) -> Vec<(&'static str, &Server)> {
        let mut all = vec![("command API", &self.backend.writer)];
        if let Some(second) = &self.second {
            all.push(("second command API", second));
        }
        if let Some(reader) = &self.backend.reader {
            all.push(("query API", reader));
        }
        all
    }
}

async fn concurrent_logins_are_limited_across_instances(split: bool) {
    let instances = Instances::start(split).await;
    let writers = instances.writers();
    writers[0].user("ada").await;
    let right = 119;
    let attempts: Vec<_> = (0..150)
        .map(|n| {
            let server = writers[n % writers.len()];
            let password = if n == right {
                "correct horse battery"
            } else {
                "wrong password!"
            };
            let request = server
                .http
                .post(server.url("/v1/sessions"))
                .json(&json!({ "username": "ada", "password": password }));
            tokio::spawn(async move { request.send().await.expect("login").status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("joins"));
    }
    let count = |status: StatusCode| statuses.iter().filter(|s| **s == status).count();
    let (checked, refused, admitted) = (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
        count(StatusCode::OK),
    );
    eprintln!("150 concurrent logins: {checked} checked and wrong, {admitted} admitted, {refused} refused");
    assert_eq!(checked + refused + admitted, 150, "{statuses:?}");
    assert!(
        checked + admitted <= PER_USER,
        "at most {PER_USER} passwords are checked, not {}",
        checked + admitted
    );
    assert!(admitted <= 1);
    if statuses[right] != StatusCode::OK {
        assert_eq!(statuses[right], StatusCode::TOO_MANY_REQUESTS);
    }
    // The window is full of failures: even the right password waits now.
    for server in &writers {
        assert_eq!(
            server.login("ada", "correct horse battery").await.0,
            429,
            "on every instance"
        );
    }
}

async fn password_checks_of_a_password_change_are_limited(split: bool) {
    let instances = Instances::start(split).await;
    let writers = instances.writers();
    let ada = writers[0].user("ada").await;
    let change = |server: &Server, current: &str| {
        server
            .as_user(&ada, Method::PUT, "/v1/account/password")
            .json(&json!({ "current_password": current, "new_password": "a new password!" }))
            .send()
    };
    for n in 0..PER_USER {
        let r = change(writers[n % writers.len()], "a wrong guess")
            .await
            .expect("change");
        assert_eq!(r.status(), 403);
    }
    for server in &writers {
        let r = change(server, "correct horse battery")
            .await
            .expect("change");
        assert_eq!(
            (r.status().as_u16(), body(r).await["code"].clone()),
            (429, json!("too_many_login_attempts")),
            "a stolen token buys no more guesses"
        );
    }
}

/// A failed login as `user` through a proxy that says `X-Forwarded-For:
/// forwarded`.
async fn fail(server: &TestApp, user: &str, forwarded: &str) -> Reply {
    server
        .post("/v1/sessions")
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "username": user, "password": "wrong password!" }))
        .send()
        .await
}

#[tokio::test]
async fn the_address_limit_counts_what_the_trusted_proxy_saw() {
    let limited = |proxies: usize| {
        let mut settings = Settings::default();
        settings.auth.login_failures_per_address = 3;
        settings.auth.trusted_proxy_hops = proxies;
        TestApp::with(settings)
    };
    // Behind one proxy: whatever the client puts in front of the address
    // the proxy saw, that address is counted.
    let proxied = limited(1).await;
    for n in 0..3 {
        let forged = format!("198.51.100.{n}, 203.0.113.7");
        assert_eq!(fail(&proxied, &format!("u{n}"), &forged).await.status, 401);
    }
    assert_eq!(fail(&proxied, "u9", "203.0.113.7").await.status, 429);
    assert_eq!(
        fail(&proxied, "u9", "203.0.113.8").await.status,
        401,
        "another client"
    );
    // Without a trusted proxy the header is ignored: the peer is counted.
    let direct = limited(0).await;
    for n in 0..3 {
        let forwarded = format!("203.0.113.{n}");
        assert_eq!(
            fail(&direct, &format!("u{n}"), &forwarded).await.status,
            401
        );
    }
    assert_eq!(fail(&direct, "u9", "203.0.113.99").await.status, 429);
}

/// How long until `path` answers 401 `token_revoked` to `account` on every
/// process that checks tokens; fails after a deadline.
async fn refused_everywhere(
    instances: &Instances,
    account: &Account,
    method: Method,
    path: &str,
    payload: Option<Value>,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(2_500);
    let split = instances.backend.reader.is_some();
    for (name, server) in instances.checkers() {
        if split && (name == "query API") != (method == Method::GET) {
            // The query API takes reads only; the command APIs the rest.
            continue;
        }
        loop {
            let mut request = server.as_user(account, method.clone(), path);
            if let Some(payload) = &payload {
                request = request.json(payload);
            }
            let r = request.send().await.expect("request");
            let status = r.status();
            let reply = body(r).await;
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(reply["code"], "token_revoked", "{name}: {reply}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} still answers {status} to {method} {path} after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    started.elapsed()
}

/// A login as `ada`.
async fn session(server: &Server) -> Account {
    let (status, tokens) = server.login("ada", "correct horse battery").await;
    assert_eq!(status, 200);
    let token = |name: &str| tokens[name].as_str().expect("token").to_owned();
    Account {
        access: token("access_token"),
        refresh: token("refresh_token"),
    }
}

async fn revoked_tokens_are_refused_by_every_instance(split: bool) {
    let instances = Instances::start(split).await;
    let writers = instances.writers();
    let first = writers[0];
    let last = writers[writers.len() - 1];
    let ada = first.user("ada").await;
    let (other, third) = (session(first).await, session(last).await);
    let note = json!({ "title": "t", "body": "b" });
    let (id, _) = instances.backend.create_note(&ada, note.clone()).await;
    let reads = [
        "/v1/notes".to_owned(),
        format!("/v1/notes/{id}"),
        "/v1/account/usage".to_owned(),
    ];

    // Logging out on one instance: the session's token is refused by all.
    let r = last
        .http
        .delete(last.url("/v1/sessions"))
        .bearer_auth(&third.access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let waited = refused_everywhere(&instances, &third, Method::GET, &reads[0], None).await;
    eprintln!("after a logout, refused everywhere within {waited:?}");
    refused_everywhere(
        &instances,
        &third,
        Method::POST,
        "/v1/notes",
        Some(note.clone()),
    )
    .await;

    // Changing the password: every other session's token is refused.
    let change = json!({ "current_password": "correct horse battery", "new_password": "correct horse battery 2" });
    let r = first
        .as_user(&ada, Method::PUT, "/v1/account/password")
        .json(&change)
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), 204);
    let waited = refused_everywhere(&instances, &other, Method::GET, &reads[1], None).await;
    eprintln!("after a password change, refused everywhere within {waited:?}");
    refused_everywhere(
        &instances,
        &other,
        Method::POST,
        &format!("/v1/notes/{id}/shares"),
        Some(json!({})),
    )
    .await;
    let r = instances
        .backend
        .reader()
        .as_user(&ada, Method::GET, &reads[0])
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200, "the session that changed it lives on");

    // Deleting the account: its token is refused by all, for every route.
    let r = first
        .as_user(&ada, Method::DELETE, "/v1/account")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let waited = refused_everywhere(&instances, &ada, Method::POST, "/v1/notes", Some(note)).await;
    eprintln!("after deleting the account, refused everywhere within {waited:?}");
    for path in &reads {
        refused_everywhere(&instances, &ada, Method::GET, path, None).await;
    }
    let upload = json!({ "file_name": "a.pdf", "content_type": "application/pdf", "size": 10 });
    refused_everywhere(
        &instances,
        &ada,
        Method::POST,
        &format!("/v1/notes/{id}/documents"),
        Some(upload),
    )
    .await;
    refused_everywhere(
        &instances,
        &ada,
        Method::POST,
        &format!("/v1/notes/{id}/shares"),
        Some(json!({})),
    )
    .await;
    // A restarted instance loads what was revoked.
    let restarted = instances.backend.writer.restart().await;
    let r = restarted
        .as_user(&ada, Method::POST, "/v1/notes")
        .json(&json!({ "title": "t", "body": "b" }))
        .send()
        .await
        .expect("create");
    assert_eq!(
        (r.status().as_u16(), body(r).await["code"].clone()),
        (401, json!("token_revoked"))
    );
}

/// A revocation whose notice never came (written behind the services'
/// back) is picked up by the periodic reload.
#[tokio::test]
async fn a_missed_notice_is_healed_by_the_reload() {
    let backend = Backend::split_with(&[("ANOTE_REVOCATION_POLL_MS", "300")]).await;
    let instances = Instances {
        second: None,
        backend,
    };
    let server = &instances.backend.writer;
    let r = server
        .http
        .post(server.url("/v1/accounts"))
        .json(&json!({ "username": "ada", "password": "correct horse battery", "display_name": "Ada" }))
        .send()
        .await
        .expect("register");
    let id: uuid::Uuid = body(r).await["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    let ada = session(server).await;
    let schema = instances.backend.schema.clone().expect("split");
    let pool = sqlx::PgPool::connect(&anote_testkit::process::database_url())
        .await
        .expect("connects");
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".token_revocations (user_id, session_id, expires_at)
         VALUES ($1, NULL, now() + interval '1 hour')"
    ))
    .bind(id)
    .execute(&pool)
    .await
    .expect("revokes silently");
    pool.close().await;
    let waited = refused_everywhere(&instances, &ada, Method::GET, "/v1/notes", None).await;
    refused_everywhere(&instances, &ada, Method::POST, "/v1/notes", Some(json!({}))).await;
    eprintln!("a revocation without a notice, refused everywhere within {waited:?}");
}

/// A `Set-Cookie` header: its value and its attributes (lower-cased names).
struct SetCookie {
    value: String,
    attributes: Vec<String>,
}

/// The `anote_refresh` cookie a reply sets, if any.
fn refresh_cookie(r: &Reply) -> Option<SetCookie> {
    let all: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(all.len() <= 1, "one cookie at most: {all:?}");
    let mut parts = all.first()?.split(';').map(str::trim);
    let value = parts.next()?.strip_prefix("anote_refresh=")?.to_owned();
    let attributes = parts.map(str::to_ascii_lowercase).collect();
    Some(SetCookie { value, attributes })
}

/// Checks the attributes of a cookie that hands a token over (`max_age`
/// seconds) or clears it (0).
fn assert_attributes(cookie: &SetCookie, max_age: u64, secure: bool) {
    let mut wanted = vec![
        format!("max-age={max_age}"),
        "path=/v1/sessions/refresh".to_owned(),
        "httponly".to_owned(),
        "samesite=strict".to_owned(),
    ];
    if secure {
        wanted.push("secure".to_owned());
    }
    assert_eq!(cookie.attributes, wanted);
}

#[tokio::test]
async fn the_refresh_token_can_live_in_a_cookie() {
    // Behind one trusted proxy, which says whether the client used HTTPS.
    let mut settings = Settings::default();
    settings.auth.trusted_proxy_hops = 1;
    let s = TestApp::with(settings).await;
    s.user("ada").await;
    const THIRTY_DAYS: u64 = 2_592_000;
    let login = |proto: Option<&'static str>| {
        let mut request = s.post("/v1/sessions").json(&json!({
            "username": "ada", "password": "correct horse battery", "refresh_cookie": true
        }));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let refresh_with = |cookie: Option<String>| {
        let mut request = s.post("/v1/sessions/refresh").json(&json!({}));
        if let Some(cookie) = cookie {
            request = request.header("cookie", &format!("theme=dark; anote_refresh={cookie}"));
        }
        request.send()
    };

    // The login sets the cookie and keeps the token out of the body.
    let r = login(None).await;
    assert_eq!(r.status, 200);
    let first = refresh_cookie(&r).expect("a cookie");
    assert_attributes(&first, THIRTY_DAYS, false);
    let tokens = r.json();
    assert!(tokens["access_token"].is_string());
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    for (proto, secure) in [("https", true), ("http", false), ("https, http", false)] {
        let r = login(Some(proto)).await;
        let cookie = refresh_cookie(&r).expect("a cookie");
        assert_attributes(&cookie, THIRTY_DAYS, secure);
    }

    // A refresh through the cookie sets the next one; the old one is done.
    let r = refresh_with(Some(first.value.clone())).await;
    assert_eq!(r.status, 200);
    let second = refresh_cookie(&r).expect("the next cookie");
    assert_attributes(&second, THIRTY_DAYS, false);
    assert_ne!(second.value, first.value);
    let tokens = r.json();
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = Account {
        access: tokens["access_token"].as_str().expect("token").to_owned(),
        refresh: String::new(),
    };
    let r = refresh_with(Some(first.value)).await;
    assert_eq!(r.status, 401, "the rotated cookie is refused");
    assert!(refresh_cookie(&r).is_none());
    assert_eq!(r.json()["code"], "invalid_refresh_token");
    let r = refresh_with(None).await;
    assert_eq!(r.status, 401, "no cookie, no token");
    assert_eq!(r.json()["code"], "invalid_refresh_token");

    // A token in the body works as before, and sets no cookie.
    let r = s.login("ada", "correct horse battery").await;
    let body_token = r.1["refresh_token"].as_str().expect("a token in the body");
    let r = s
        .post("/v1/sessions/refresh")
        .json(&json!({ "refresh_token": body_token }))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(refresh_cookie(&r).is_none());
    assert!(r.json()["refresh_token"].is_string());

    // Logging out clears the cookie, and its token is revoked.
    let r = s
        .as_user(&access, Method::DELETE, "/v1/sessions")
        .send()
        .await;
    assert_eq!(r.status, 204);
    let cleared = refresh_cookie(&r).expect("a clearing cookie");
    assert_eq!(cleared.value, "");
    assert_attributes(&cleared, 0, false);
    let r = refresh_with(Some(second.value)).await;
    assert_eq!(r.status, 401, "logged out");

    // Deleting the account clears it too.
    let r = login(Some("https")).await;
    let last = refresh_cookie(&r).expect("a cookie");
    let access = Account {
        access: r.json()["access_token"].as_str().expect("token").to_owned(),
        refresh: String::new(),
    };
    let r = s
        .as_user(&access, Method::DELETE, "/v1/account")
        .header("x-forwarded-proto", "https")
        .send()
        .await;
    assert_eq!(r.status, 204);
    let cleared = refresh_cookie(&r).expect("a clearing cookie");
    assert_eq!(cleared.value, "");
    assert_attributes(&cleared, 0, true);
    let r = refresh_with(Some(last.value)).await;
    assert_eq!(r.status, 401, "the account is gone");
}

anote_testkit::both_setups!(
    split;
    concurrent_logins_are_limited_across_instances,
    revoked_tokens_are_refused_by_every_instance,
    password_checks_of_a_password_change_are_limited,
);
