//! The API as its document describes it, on both setups: where each
//! parameter goes, what an error reply is, what a body must be, what a read
//! waits for, what caches may keep, and where the metrics are.

use std::time::{Duration, Instant};

use anote_testkit::process::{body, Backend, Server};
use anote_testkit::{Settings, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Every operation of a document, as (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

/// The document `server` serves.
async fn document(server: &Server) -> Value {
    body(
        server
            .http
            .get(server.url("/openapi.json"))
            .send()
            .await
            .expect("openapi"),
    )
    .await
}

#[tokio::test]
async fn the_document_says_where_parameters_go_and_what_errors_are() {
    let b = TestApp::new().await;
    // The document `anote serve` serves, then each split service's own: the
    // query API's comes last.
    let docs: Vec<Value> = vec![
        b.get("/openapi.json").send().await.json(),
        serde_json::to_value(anote_command_api::openapi::document()).expect("JSON"),
        serde_json::to_value(anote_query_api::openapi::document()).expect("JSON"),
    ];
    let mut queries = 0;
    for doc in &docs {
        for (path, method, operation) in operations(doc) {
            let what = format!("{method} {path}");
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().expect("name");
                match parameter["in"].as_str().expect("in") {
                    "path" => assert!(path.contains(&format!("{{{name}}}")), "{what}: {name}"),
                    "query" => queries += 1,
                    _ => {}
                }
            }
            let responses = operation["responses"].as_object().expect("responses");
            if operation["security"].is_array() {
                assert!(responses.contains_key("401"), "{what} documents 401");
            }
            if operation["requestBody"].is_object() {
                for status in ["400", "408", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{what} documents {status}");
                }
            }
            for (status, response) in responses {
                let content = response["content"].as_object();
                for (media, content) in content.into_iter().flatten() {
                    if content["schema"]["$ref"] == "#/components/schemas/Problem" {
                        assert_eq!(media, "application/problem+json", "{what} {status}");
                    }
                }
            }
        }
    }
    assert!(queries >= 21, "the query parameters are in the query");
    let reads = docs.last().expect("a document");
    let schemas = reads["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("HistoryChange") && schemas.contains_key("Change"));
    assert!(
        schemas["Change"]["properties"]["deleted"].is_object(),
        "/v1/changes is documented with its own item"
    );
    let get_note = &reads["paths"]["/v1/notes/{id}"]["get"]["responses"]["200"];
    let schema = get_note["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .expect("a named schema");
    let shapes = &schemas[schema]["oneOf"];
    assert_eq!(
        shapes.as_array().map(Vec::len),
        Some(2),
        "the note now and as it was: {}",
        schemas[schema]
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let b = TestApp::new().await;
    let ada = b.user("ada").await;
    let (id, _) = b
        .create_note(&ada, json!({ "title": "T", "body": "B" }))
        .await;
    for (path, payload) in [
        (format!("/v1/notes/{id}/shares"), "[]"),
        (format!("/v1/notes/{id}/shares"), "[null]"),
        ("/v1/notes".to_owned(), r#"["T", "B"]"#),
        ("/v1/notes".to_owned(), "null"),
        ("/v1/notes".to_owned(), "\"note\""),
        (
            "/v1/sessions".to_owned(),
            r#"["ada", "correct horse battery"]"#,
        ),
    ] {
        let r = b
            .as_user(&ada, Method::POST, &path)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await;
        assert_eq!(r.status, 422, "{path} {payload}");
        assert_eq!(
            r.header("content-type"),
            "application/problem+json",
            "{path}"
        );
        assert_eq!(r.json()["code"], "invalid_body", "{path} {payload}");
    }
    // Nothing was opened: the next share link is the note's first.
    let opened = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/shares"),
            None,
            Some(json!({})),
        )
        .await;
    let r = b
        .as_user(&ada, Method::GET, &format!("/v1/notes/{id}/shares"))
        .header(
            "anote-min-position",
            opened["position"].as_str().expect("p"),
        )
        .send()
        .await;
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_position_the_log_never_had_is_refused_at_once() {
    // Long enough that waiting for it could not pass unnoticed.
    let mut settings = Settings::default();
    settings.query.min_position_timeout = Duration::from_secs(8);
    let b = TestApp::with(settings).await;
    let ada = b.user("ada").await;
    let (id, position) = b
        .create_note(&ada, json!({ "title": "T", "body": "B" }))
        .await;
    let (tx, seq) = position.split_once('-').expect("tx-seq");
    let tx: u64 = tx.parse().expect("tx");
    let seq: u64 = seq.parse().expect("seq");
    for unreachable in [
        format!("{tx}-{}", seq + 1_000_000),
        format!("{}-{seq}", tx + 1_000_000),
        "18446744073709551615-18446744073709551615".to_owned(),
    ] {
        for path in [
            "/v1/notes".to_owned(),
            format!("/v1/notes/{id}"),
            format!("/v1/notes/{id}?version=1"),
        ] {
            let started = Instant::now();
            let r = b
                .as_user(&ada, Method::GET, &path)
                .header("anote-min-position", &unreachable)
                .send()
                .await;
            let status = r.status;
            let problem = r.json();
            assert_eq!(
                (status, problem["code"].as_str()),
                (400, Some("unreachable_min_position")),
                "{path} {unreachable}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "answered at once, not after waiting"
            );
        }
    }
    let (status, note) = b.read(&ada, &format!("/v1/notes/{id}"), &position).await;
    assert_eq!((status, note["title"].as_str()), (200, Some("T")));
}

#[tokio::test]
async fn the_share_page_is_not_kept_by_caches() {
    let b = TestApp::new().await;
    let ada = b.user("ada").await;
    let (id, _) = b
        .create_note(&ada, json!({ "title": "Shared", "body": "B" }))
        .await;
    let share = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{id}/shares"),
            None,
            Some(json!({})),
        )
        .await;
    let token = share["token"].as_str().expect("token");
    let position = share["position"].as_str().expect("position");
    let reader = &b;
    let r = reader
        .get(&format!("/v1/shared/{token}"))
        .header("anote-min-position", position)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), "no-store");
    let r = reader.get("/v1/shared/not-a-token").send().await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("cache-control"), "no-store");
}

async fn metrics_are_served_only_on_their_own_listener(split: bool) {
    let port = anote_testkit::process::free_port();
    let listen = format!("127.0.0.1:{port}");
    let b = Backend::of_with(split, &[]).await;
    let with_metrics = Server::of_with(split, &[("ANOTE_METRICS_LISTEN", &listen)]).await;
    for server in [&b.writer, b.reader(), &with_metrics] {
        let r = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        assert_eq!(
            r.status(),
            404,
            "{}: no metrics on the API port",
            server.base
        );
    }
    let r = with_metrics
        .http
        .get(format!("http://{listen}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("text")
        .contains("anote_http_requests_total"));
}

/// The first line of CloudWatch's embedded metric format that `server`
/// printed which counts requests, waiting for it.
async fn metric_line_with_requests(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = server
            .output
            .lock()
            .expect("output")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["Requests"].as_u64().is_some_and(|n| n > 0));
        if let Some(line) = found {
            return line;
        }
        assert!(Instant::now() < deadline, "no metric line counted requests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn cloudwatch_metric_lines_report_what_the_alarms_watch(split: bool) {
    let env = [
        ("ANOTE_EMF_INTERVAL_SECS", "1"),
        ("ANOTE_ENVIRONMENT", "staging"),
    ];
    let b = Backend::of_with(split, &env).await;
    b.writer.user("ada").await;
    let line = metric_line_with_requests(&b.writer).await;
    let service = if split { "command-api" } else { "serve" };
    assert_eq!(
        (line["Environment"].as_str(), line["Service"].as_str()),
        (Some("staging"), Some(service))
    );
    assert_eq!(line["ServerErrors"], 0);
    assert!(line["RequestLatencyP99Ms"]
        .as_f64()
        .is_some_and(|ms| ms > 0.0));
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Anote");
    assert_eq!(directive["Dimensions"], json!([["Environment", "Service"]]));
    for metric in directive["Metrics"].as_array().expect("metrics") {
        let name = metric["Name"].as_str().expect("name");
        assert!(line[name].is_number(), "{name} has a value in {line}");
    }
    if !split {
        // The embedded projector runs in the same process.
        assert!(line["ProjectionLagSeconds"].is_number(), "{line}");
    }
}

/// `anote openapi` prints, as pretty JSON, the document `anote serve`
/// serves, the same bytes every time.
#[tokio::test]
async fn the_printed_document_is_the_served_one() {
    let print = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_anote"))
            .arg("openapi")
            .env("ANOTE_LOG", "warn")
            .output()
            .expect("anote openapi runs");
        assert!(out.status.success(), "anote openapi exits 0");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let printed = print();
    assert_eq!(printed, print(), "stable from run to run");
    assert!(printed.starts_with("{\n  \""), "pretty: {}", &printed[..20]);
    let printed: Value = serde_json::from_str(&printed).expect("JSON");
    let server = Server::embedded().await;
    assert_eq!(printed, document(&server).await);
    assert_eq!(printed["info"]["title"], "Anote");
}

anote_testkit::both_setups!(
    split;
    cloudwatch_metric_lines_report_what_the_alarms_watch,
    metrics_are_served_only_on_their_own_listener,
);
