//! `anote loadtest --streams N`: N devices holding the live changes stream
//! (`/v1/changes/stream`) open, as a campus does between lectures. It
//! measures what they cost the services (resident memory per stream, CPU
//! while every stream idles) and how long a change takes from its command's
//! reply to its owner's other devices' streams.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::driver::{lock, scrape, Scraped};
use crate::sse::SseParser;
use crate::stats::{histogram, micros, Percentiles};
use crate::student::{bearer, ok_json, sign_up, text, Target};

/// What the benchmark does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Streams held open.
    pub streams: usize,
    /// Streams per account (the service's `ANOTE_STREAMS_PER_USER` at most).
    pub per_account: usize,
    /// Notes created, one at a time, to time their way to the streams.
    pub changes: usize,
    /// How long every stream is left idle while the CPU is measured.
    pub idle: Duration,
}

/// Streams opened at once while they are being set up.
const OPENING: usize = 256;

/// Accounts registered at once (each costs a password hash).
const SIGNING_UP: usize = 8;

/// Where each change was seen: note id → when each stream got it.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// What the benchmark measured.
#[derive(Debug, Serialize)]
struct Figures {
    streams_open: usize,
    streams_refused: usize,
    accounts: usize,
    services: Vec<ServiceCost>,
    changes: usize,
    deliveries_expected: usize,
    deliveries: u64,
    delay: Percentiles,
}

/// One service's cost of the open streams.
#[derive(Debug, Serialize)]
struct ServiceCost {
    metrics: String,
    resident_before_mib: f64,
    resident_open_mib: f64,
    kib_per_stream: f64,
    idle_cpu_ms_per_second: f64,
}

/// Opens the streams, measures, and writes `streams.json` into `out`.
pub(crate) async fn run(
    target: &Target,
    metrics: &[String],
    plan: Plan,
    out: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(plan.streams > 0 && plan.per_account > 0, "nothing to open");
    // Streams live as long as the run: no overall timeout.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let accounts = plan.streams.div_ceil(plan.per_account);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    tracing::info!(accounts, "registering the accounts");
    let tokens: Vec<String> = futures_util::stream::iter(0..accounts)
        .map(|i| {
            let (http, target) = (&http, target);
            let username = format!("stream-{run_id}-{i}");
            async move { sign_up(http, target, &username).await }
        })
        .buffered(SIGNING_UP)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let before = scrape_all(&http, metrics).await?;

    tracing::info!(streams = plan.streams, "opening the streams");
    let arrivals: Arrivals = Arc::default();
    let opened = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let opening = Arc::new(Semaphore::new(OPENING));
    let mut holders = Vec::with_capacity(plan.streams);
    for i in 0..plan.streams {
        let request = bearer(
            http.get(format!("{}/v1/changes/stream?since=now", target.read)),
            &tokens[i / plan.per_account],
        );
        let permit = opening.clone().acquire_owned().await?;
        let (opened, refused, arrivals) = (opened.clone(), refused.clone(), arrivals.clone());
        holders.push(tokio::spawn(async move {
            let Ok(mut response) = request.send().await else {
                refused.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if !response.status().is_success() {
                refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut permit = Some(permit);
            let mut parser = SseParser::default();
            while let Ok(Some(chunk)) = response.chunk().await {
                for event in parser.push(&chunk) {
                    match event.event.as_str() {
                        "ready" if permit.is_some() => {
                            // Counted before its place is given back.
                            opened.fetch_add(1, Ordering::Relaxed);
                            permit = None;
                        }
                        "change" => {
                            let seen = Instant::now();
                            let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
                            if let Some(id) = data["id"].as_str() {
                                lock(&arrivals).entry(id.to_owned()).or_default().push(seen);
                            }
                        }
                        _ => {}
                    }
                }
            }
            // Ended before it was ready: as good as refused.
            if permit.is_some() {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let all = u32::try_from(OPENING).unwrap_or(u32::MAX);
    drop(opening.acquire_many(all).await?);
    let open = opened.load(Ordering::Relaxed);
    tracing::info!(
        open,
        refused = refused.load(Ordering::Relaxed),
        "streams open"
    );
    // What the opening allocated settles before it is counted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let holding = scrape_all(&http, metrics).await?;
    tracing::info!(seconds = plan.idle.as_secs(), "idling");
    tokio::time::sleep(plan.idle).await;
    let idled = scrape_all(&http, metrics).await?;

    tracing::info!(changes = plan.changes, "timing changes to the streams");
    let mut replied = HashMap::new();
    for i in 0..plan.changes {
        let token = &tokens[i % accounts];
        let note = json!({ "title": format!("change {i}"), "body": "from another device" });
        let create = bearer(http.post(format!("{}/v1/notes", target.write)), token);
        let reply = ok_json(create.json(&note).send().await?, "creating a note").await?;
        replied.insert(text(&reply, "id")?, Instant::now());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut delay = histogram();
    for (id, seen) in lock(&arrivals).iter() {
        if let Some(reply) = replied.get(id) {
            for at in seen {
                // A stream may see the change before its reply is read.
                delay.saturating_record(micros(at.saturating_duration_since(*reply)));
            }
        }
    }
    holders.iter().for_each(tokio::task::JoinHandle::abort);

    let per_account = |i: usize| plan.per_account.min(plan.streams - i * plan.per_account);
    let figures = Figures {
        streams_open: open,
        streams_refused: refused.load(Ordering::Relaxed),
        accounts,
        services: metrics
            .iter()
            .zip(before.iter().zip(holding.iter().zip(&idled)))
            .map(|(base, (before, (holding, idled)))| ServiceCost {
                metrics: base.clone(),
                resident_before_mib: mib(before.resident),
                resident_open_mib: mib(holding.resident),
                kib_per_stream: (holding.resident as f64 - before.resident as f64)
                    / 1024.0
                    / open.max(1) as f64,
                idle_cpu_ms_per_second: (idled.cpu - holding.cpu) * 1_000.0
                    / plan.idle.as_secs_f64(),
            })
            .collect(),
        changes: plan.changes,
        deliveries_expected: (0..plan.changes).map(|i| per_account(i % accounts)).sum(),
        deliveries: delay.len(),
        delay: Percentiles::of(&delay),
    };
    print(&figures)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("streams.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&figures)?)?;
    writeln!(std::io::stdout(), "report: {}", path.display())?;
    Ok(())
}

/// Every service's figures, which must all answer.
async fn scrape_all(http: &reqwest::Client, metrics: &[String]) -> anyhow::Result<Vec<Scraped>> {
    let mut all = Vec::new();
    for base in metrics {
        all.push(
            scrape(http, base)
                .await
                .with_context(|| format!("reading {base}/metrics"))?,
        );
    }
    Ok(all)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The figures as a table.
fn print(figures: &Figures) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "streams open {} (refused {}), {} accounts",
        figures.streams_open, figures.streams_refused, figures.accounts
    )?;
    writeln!(
        out,
        "| service metrics | resident before MiB | with the streams MiB | KiB per stream | idle CPU ms/s |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for s in &figures.services {
        writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} |",
            s.metrics,
            s.resident_before_mib,
            s.resident_open_mib,
            s.kib_per_stream,
            s.idle_cpu_ms_per_second
        )?;
    }
    let d = &figures.delay;
    writeln!(
        out,
        "changes {}: {} of {} deliveries; reply to stream p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        figures.changes,
        figures.deliveries,
        figures.deliveries_expected,
        d.p50_ms,
        d.p95_ms,
        d.p99_ms,
        d.max_ms
    )?;
    Ok(())
}
