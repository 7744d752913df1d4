//! The ceiling: a bare axum handler answering a fixed 1 KiB JSON body, in
//! the load tester's own process, loaded with the same profile. What it
//! holds is the most this machine and this load tool can show of any
//! service.

use std::sync::{Arc, Mutex};

use axum::http::header;
use axum::routing::get;
use axum::Router;
use tokio::time::Instant;

use crate::driver::{lock, Visit};
use crate::stats::Recorder;

/// The name of the ceiling's one kind of request in the report.
pub const KIND: &str = "bare axum, 1 KiB JSON";

/// The fixed reply.
fn body() -> String {
    let filler = "x".repeat(1_000);
    format!("{{\"note\":\"{filler}\"}}")
}

/// Serves the bare handler on a free loopback port; returns its base URL.
pub async fn serve() -> anyhow::Result<String> {
    let reply = body();
    let app = Router::new().route(
        "/ceiling",
        get(move || {
            let reply = reply.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], reply) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the ceiling server stopped");
        }
    });
    Ok(base)
}

/// Loads the bare handler.
pub struct Ceiling {
    /// The client.
    pub http: reqwest::Client,
    /// The handler's URL.
    pub url: String,
    /// Where the figures go.
    pub recorder: Arc<Mutex<Recorder>>,
    /// When the run started.
    pub started: Instant,
}

impl Visit for Ceiling {
    async fn visit(self: Arc<Self>, due: Instant, _: rand::rngs::StdRng) {
        let status = match self.http.get(&self.url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        let now = Instant::now();
        lock(&self.recorder).request(KIND, now - self.started, status, None, now - due);
    }
}
