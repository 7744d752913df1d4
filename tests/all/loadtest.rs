//! `anote loadtest` end to end: a short profile against a running `anote
//! serve` fills every figure of its report without an error; a target off
//! this machine (without `--allow-remote`) and an unknown profile are
//! refused.

use std::process::Command;

use anote_testkit::process::Server;
use serde_json::Value;

/// `anote loadtest` with these arguments; returns whether it succeeded.
fn loadtest(args: &[&str]) -> bool {
    Command::new(env!("CARGO_BIN_EXE_anote"))
        .arg("loadtest")
        .args(args)
        .env("ANOTE_LOG", "warn")
        .status()
        .expect("anote loadtest runs")
        .success()
}

#[tokio::test]
async fn a_short_run_reports_every_figure() {
    let metrics = format!("127.0.0.1:{}", anote_testkit::process::free_port());
    let server = Server::of_with(false, &[("ANOTE_METRICS_LISTEN", &metrics)]).await;
    let metrics = format!("http://{metrics}");
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = dir.path().join("short.toml");
    std::fs::write(
        &profile,
        "name = \"short\"\nstudents = 4\nread_percent = 60\n\
         [[stage]]\nname = \"warm\"\nseconds = 2\nrate = 20\n\
         [[stage]]\nname = \"up\"\nseconds = 2\nrate = 20\nto = 60\n",
    )
    .expect("writes the profile");
    let out = dir.path().join("report");
    let base = server.base.clone();
    let args = [
        "--target",
        base.as_str(),
        "--profile",
        profile.to_str().expect("a UTF-8 path"),
        "--out",
        out.to_str().expect("a UTF-8 path"),
        "--metrics",
        metrics.as_str(),
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let ran = tokio::task::spawn_blocking(move || {
        loadtest(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("joins");
    assert!(ran, "the load test ran to its end");

    let json = std::fs::read(out.join("loadtest-short.json")).expect("a JSON report");
    let report: Value = serde_json::from_slice(&json).expect("JSON");
    let all = report["requests"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "all"))
        .expect("a total row");
    // 2 s at 20/s and a ramp averaging 40/s: 120 arrivals, each a request or more.
    let requests = all["requests"].as_u64().expect("a count");
    assert!((120..=400).contains(&requests), "{requests} requests");
    assert_eq!(all["errors"], 0, "{all}");
    assert!(
        report["projection_lag"]["count"].as_u64() > Some(0),
        "writes were read back"
    );
    assert!(
        report["server_resident_max_mib"].as_f64() > Some(1.0),
        "memory was sampled"
    );
    assert!(
        report["timeline"].as_array().map(Vec::len) >= Some(4),
        "a row per second"
    );
    let html = std::fs::read_to_string(out.join("loadtest-short.html")).expect("an HTML report");
    assert!(html.contains("<svg"), "charts are drawn in the page");
    assert!(
        !html.contains("src=\"http"),
        "the page loads nothing from the network"
    );
}

#[test]
fn a_remote_target_and_an_unknown_profile_are_refused() {
    let out = tempfile::tempdir().expect("temp dir");
    let out = out.path().to_str().expect("a UTF-8 path");
    assert!(!loadtest(&[
        "--target",
        "http://192.0.2.1:8080",
        "--out",
        out
    ]));
    assert!(!loadtest(&[
        "--target",
        "http://127.0.0.1:1",
        "--profile",
        "no-such-profile",
        "--out",
        out
    ]));
}
