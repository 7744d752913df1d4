//! What the end-to-end benchmarks share: starting `anote` processes and
//! waiting for them.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// An environment variable, or a default.
pub fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A free port of 127.0.0.1.
pub fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a port")
}

/// A child process killed on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `anote` with these arguments and variables.
pub fn anote(args: &[&str], vars: &[(&str, String)]) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anote"));
    cmd.args(args)
        .env("ANOTE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Process(cmd.spawn().expect("anote starts"))
}

/// Waits until `base` answers `/readyz`.
pub async fn ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON body of a reply.
pub async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON")
}

/// Registers the account `bench` on `base` and logs in; returns the access
/// token.
pub async fn bench_account(http: &reqwest::Client, base: &str) -> String {
    let account = json!({ "username": "bench", "password": "correct horse battery", "display_name": "Bench" });
    http.post(format!("{base}/v1/accounts"))
        .json(&account)
        .send()
        .await
        .expect("registers");
    let login = json(
        http.post(format!("{base}/v1/sessions"))
            .json(&json!({ "username": "bench", "password": "correct horse battery" }))
            .send()
            .await
            .expect("logs in"),
    )
    .await;
    login["access_token"].as_str().expect("token").to_owned()
}

/// `anote serve` on a fresh data folder, once it is ready; returns the
/// process, its base URL and the folder (to remove afterwards).
pub async fn serve_embedded(tag: &str) -> (Process, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("anote-{tag}-{}", uuid::Uuid::new_v4().simple()));
    let base = format!("http://127.0.0.1:{}", port());
    let serve = anote(
        &["serve"],
        &[
            ("ANOTE_DATA_DIR", dir.display().to_string()),
            (
                "ANOTE_LISTEN",
                base.trim_start_matches("http://").to_owned(),
            ),
        ],
    );
    ready(&reqwest::Client::new(), &base).await;
    (serve, base, dir)
}
