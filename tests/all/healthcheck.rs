//! `anote healthcheck` against a running server and against a closed port:
//! what a container's `HEALTHCHECK` sees.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anote_testkit::process::{free_port, Server};

/// Runs `anote healthcheck` with only `env` of the health-check settings;
/// returns its output and how long it took.
fn healthcheck(env: &[(&str, String)]) -> (Output, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anote"));
    cmd.arg("healthcheck")
        .env_remove("ANOTE_HEALTHCHECK_URL")
        .env_remove("ANOTE_METRICS_LISTEN")
        .env_remove("ANOTE_LISTEN")
        .env("ANOTE_LOG", "warn");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let started = Instant::now();
    let output = cmd.output().expect("anote healthcheck runs");
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The address part of a base URL (`127.0.0.1:port`).
fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_running_server_is_healthy() {
    let server = Server::embedded().await;
    let (output, _) = healthcheck(&[("ANOTE_LISTEN", address(&server))]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));

    let (output, _) = healthcheck(&[("ANOTE_HEALTHCHECK_URL", server.url("/healthz"))]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test]
async fn the_metrics_listener_comes_before_the_api_listener() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let _server = Server::of_with(false, &[("ANOTE_METRICS_LISTEN", &metrics)]).await;
    let closed = format!("127.0.0.1:{}", free_port());
    let (output, _) = healthcheck(&[
        ("ANOTE_METRICS_LISTEN", metrics.clone()),
        ("ANOTE_LISTEN", closed.clone()),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // The API port alone is closed: unhealthy.
    let (output, _) = healthcheck(&[("ANOTE_LISTEN", closed)]);
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn a_closed_port_is_unhealthy_with_one_line_why() {
    let port = free_port();
    let (output, took) = healthcheck(&[("ANOTE_LISTEN", format!("0.0.0.0:{port}"))]);
    assert_eq!(output.status.code(), Some(1));
    let why = stderr(&output);
    assert_eq!(why.lines().count(), 1, "{why}");
    assert!(
        why.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{why}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn a_reply_other_than_2xx_is_unhealthy() {
    let server = Server::embedded().await;
    let (output, _) = healthcheck(&[("ANOTE_HEALTHCHECK_URL", server.url("/v1/no-such-route"))]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("404"), "{}", stderr(&output));
}

#[tokio::test]
async fn a_silent_server_is_unhealthy_within_three_seconds() {
    // Accepts connections but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (output, took) = healthcheck(&[("ANOTE_LISTEN", address)]);
    drop(listener);
    assert_eq!(output.status.code(), Some(1));
    assert!(took >= Duration::from_millis(2900), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}
