//! The command: its arguments, and the run from enrolling the students to
//! writing the reports, with arrivals started on the profile's clock.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::profile::Profile;
use crate::{ceiling, export, streams};
// The names the services' metric registry exports, and this process's own
// CPU time read the same way.
use anote_metrics::{cpu_seconds, CPU_SECONDS, HASHING_CPU, RESIDENT_BYTES};

use crate::report::Report;
use crate::stats::{CpuUsed, Recorder};
use crate::student::{Campus, Target};

/// What to run against whom.
#[derive(Args, Debug)]
pub struct LoadTest {
    /// Base URL of the Anote under test.
    #[arg(long, required_unless_present = "ceiling")]
    target: Option<String>,
    /// Instead of Anote, load a bare axum handler in this process (a fixed
    /// 1 KiB JSON reply) with the same profile: the most this machine and
    /// this load tool can show of any service.
    #[arg(long, conflicts_with_all = ["target", "read_target"])]
    ceiling: bool,
    /// Base URL for reads, when they are served elsewhere than writes (the
    /// split services without a load balancer in front).
    #[arg(long)]
    read_target: Option<String>,
    /// Base URL of a service's metrics listener (`ANOTE_METRICS_LISTEN`),
    /// repeated for each service; their resident memory is reported.
    #[arg(long)]
    metrics: Vec<String>,
    /// `steady`, `exam-spike`, or a TOML profile file.
    #[arg(long, default_value = "exam-spike")]
    profile: String,
    /// Arrivals per second of the built-in profiles' baseline (the exam
    /// spike's plateau is ten times it).
    #[arg(long, default_value_t = 50.0)]
    baseline: f64,
    /// Virtual students (default: the profile's).
    #[arg(long)]
    students: Option<usize>,
    /// Share of reads, in percent (default: the profile's, 90).
    #[arg(long)]
    read_percent: Option<u8>,
    /// Folder for the JSON and HTML reports.
    #[arg(long, default_value = "loadtest-report")]
    out: PathBuf,
    /// Allow a target that is not on this machine's loopback.
    #[arg(long)]
    allow_remote: bool,
    /// The most requests open at once; later arrivals are counted as
    /// dropped by the client.
    #[arg(long, default_value_t = 20_000)]
    max_in_flight: usize,
    /// Instead of a profile: hold this many change streams open and report
    /// their memory, their idle CPU and the delay of a change to them.
    #[arg(long, conflicts_with = "ceiling")]
    streams: Option<usize>,
    /// Streams per account (at most the service's `ANOTE_STREAMS_PER_USER`).
    #[arg(long, default_value_t = 8, requires = "streams")]
    streams_per_account: usize,
    /// Notes created, one at a time, to time their way to the streams.
    #[arg(long, default_value_t = 500, requires = "streams")]
    stream_changes: usize,
    /// Seconds every stream idles while the services' CPU is measured.
    #[arg(long, default_value_t = 30, requires = "streams")]
    stream_idle_secs: u64,
    /// Instead of a profile: give one student this many notes and
    /// `--export-mib` of documents, export them, and report the time and
    /// the services' memory while the archive is written.
    #[arg(long, conflicts_with_all = ["ceiling", "streams"])]
    export: Option<usize>,
    /// MiB of documents of the exported student.
    #[arg(long, default_value_t = 1024, requires = "export")]
    export_mib: u64,
}

/// Refuses a target outside loopback unless `allow_remote`.
fn check_target(url: &str, allow_remote: bool) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback || allow_remote,
        "{url} is not on this machine; pass --allow-remote to load it anyway"
    );
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whoever acts on an arrival when it is due.
pub(crate) trait Visit: Send + Sync + 'static {
    /// Makes the requests of one arrival, due at `due`.
    fn visit(self: Arc<Self>, due: Instant, rng: StdRng) -> impl Future<Output = ()> + Send;
}

/// Runs the load test to the end of its profile and writes the reports.
pub async fn run(args: LoadTest) -> anyhow::Result<()> {
    if let Some(streams) = args.streams {
        return run_streams(&args, streams).await;
    }
    if let Some(notes) = args.export {
        let (target, metrics) = targets(&args)?;
        let plan = export::Plan {
            notes,
            mib: args.export_mib,
        };
        return export::run(&target, &metrics, plan).await;
    }
    let mut profile = Profile::load(&args.profile, args.baseline)?;
    profile.students = args.students.unwrap_or(profile.students).max(1);
    profile.read_percent = args.read_percent.unwrap_or(profile.read_percent).min(100);
    profile.check()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4_096)
        .timeout(Duration::from_secs(30))
        .build()?;
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let started;
    let target = match &args.target {
        Some(target) => {
            let write = check_target(target, args.allow_remote)?;
            let read = match &args.read_target {
                Some(r) => check_target(r, args.allow_remote)?,
                None => write.clone(),
            };
            let target = Target { write, read };
            let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
            tracing::info!(students = profile.students, "enrolling the students");
            let mut campus = Campus::enrol(
                http.clone(),
                target.clone(),
                &profile,
                &run_id,
                recorder.clone(),
            )
            .await?;
            started = announce(&profile, &recorder);
            campus.start_clock(started);
            let metrics = args
                .metrics
                .iter()
                .map(|m| check_target(m, args.allow_remote))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let sampling = tokio::spawn(sample_services(http, metrics, recorder.clone(), started));
            drive(
                &profile,
                Arc::new(campus),
                &recorder,
                started,
                args.max_in_flight,
            )
            .await;
            sampling.abort();
            target
        }
        None => {
            let base = ceiling::serve().await?;
            started = announce(&profile, &recorder);
            let ceiling = ceiling::Ceiling {
                http,
                url: format!("{base}/ceiling"),
                recorder: recorder.clone(),
                started,
            };
            drive(
                &profile,
                Arc::new(ceiling),
                &recorder,
                started,
                args.max_in_flight,
            )
            .await;
            Target {
                write: base.clone(),
                read: base,
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let report = Report::new(&profile, &target, seconds, &lock(&recorder));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", report.table())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let stem = args.out.join(format!(
        "loadtest-{}",
        profile.name.replace(['/', '.'], "-")
    ));
    let json_path = stem.with_extension("json");
    let html_path = stem.with_extension("html");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(&html_path, report.html()?)?;
    writeln!(
        stdout,
        "reports: {} and {}",
        json_path.display(),
        html_path.display()
    )?;
    Ok(())
}

/// `--target` and `--read-target`, and the metrics listeners, checked.
fn targets(args: &LoadTest) -> anyhow::Result<(Target, Vec<String>)> {
    let target = args.target.as_deref().context("this needs --target")?;
    let write = check_target(target, args.allow_remote)?;
    let read = match &args.read_target {
        Some(r) => check_target(r, args.allow_remote)?,
        None => write.clone(),
    };
    let metrics = args
        .metrics
        .iter()
        .map(|m| check_target(m, args.allow_remote))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((Target { write, read }, metrics))
}

/// The streams benchmark against `--target` (and `--read-target`).
async fn run_streams(args: &LoadTest, streams: usize) -> anyhow::Result<()> {
    let (target, metrics) = targets(args)?;
    let plan = streams::Plan {
        streams,
        per_account: args.streams_per_account,
        changes: args.stream_changes,
        idle: Duration::from_secs(args.stream_idle_secs),
    };
    streams::run(&target, &metrics, plan, &args.out).await
}

/// Every second until aborted: the services' resident memory, CPU time and
/// the part of it spent on password hashing, from the `/metrics` of their
/// metrics listeners (the sum over them), and the load tester's own CPU
/// time; nothing when no listener is given.
async fn sample_services(
    http: reqwest::Client,
    bases: Vec<String>,
    recorder: Arc<Mutex<Recorder>>,
    started: Instant,
) {
    if bases.is_empty() {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let mut total = Some((0, 0.0));
        let mut hashing = 0.0;
        for base in &bases {
            let scraped = scrape(&http, base).await;
            // Only a service that checks passwords has hashed any.
            hashing += scraped.as_ref().map_or(0.0, |s| s.hashing);
            // A service that did not answer makes the sum meaningless.
            total = total
                .zip(scraped)
                .map(|((t, c), s)| (t + s.resident, c + s.cpu));
        }
        let at = started.elapsed();
        if let Some((resident, cpu)) = total {
            let mut recorder = lock(&recorder);
            recorder.resident(at, resident);
            if let Some(tester) = cpu_seconds() {
                recorder.cpu(
                    at,
                    CpuUsed {
                        services: cpu,
                        hashing,
                        tester,
                    },
                );
            }
        }
    }
}

/// What a service's `/metrics` says of its process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scraped {
    /// Resident memory, in bytes.
    pub resident: u64,
    /// CPU time used, in seconds.
    pub cpu: f64,
    /// Of it, password hashing (0 for a service that checks no passwords).
    pub hashing: f64,
}

/// Reads the metrics listener at `base`; `None` when it does not answer or
/// lacks the process's figures.
pub(crate) async fn scrape(http: &reqwest::Client, base: &str) -> Option<Scraped> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    Some(Scraped {
        resident: gauge(RESIDENT_BYTES)? as u64,
        cpu: gauge(CPU_SECONDS)?,
        hashing: gauge(&format!("{HASHING_CPU}_sum")).unwrap_or(0.0),
    })
}

/// Logs the start of the run and starts the progress line; returns the
/// run's start.
fn announce(profile: &Profile, recorder: &Arc<Mutex<Recorder>>) -> Instant {
    tracing::info!(profile = %profile.name, seconds = profile.duration().as_secs(), "load test running");
    let started = Instant::now();
    let progress = tokio::spawn(show_progress(profile.clone(), recorder.clone(), started));
    let end = profile.duration();
    tokio::spawn(async move {
        tokio::time::sleep_until(started + end).await;
        progress.abort();
    });
    started
}

/// How long the requests still open at the end of the profile may take.
const GRACE: Duration = Duration::from_secs(30);

/// Starts every arrival of the profile on time, each in its own task, and
/// waits for the last to finish, at most [`GRACE`] after the profile's end
/// (what is still open then is not counted).
async fn drive<V: Visit>(
    profile: &Profile,
    visitor: Arc<V>,
    recorder: &Arc<Mutex<Recorder>>,
    started: Instant,
    max_in_flight: usize,
) {
    let open = Arc::new(Semaphore::new(max_in_flight));
    let mut rng = StdRng::from_entropy();
    let mut noted = u64::MAX;
    for offset in profile.arrivals() {
        let due = started + offset;
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        if offset.as_secs() != noted {
            noted = offset.as_secs();
            let rate = profile.rate_at(offset).unwrap_or(0.0);
            lock(recorder).target(offset, rate);
        }
        let Ok(permit) = open.clone().try_acquire_owned() else {
            lock(recorder).client_dropped += 1;
            continue;
        };
        let visit = visitor.clone().visit(due, StdRng::seed_from_u64(rng.gen()));
        tokio::spawn(async move {
            visit.await;
            drop(permit);
        });
    }
    let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    let end = started + profile.duration() + GRACE;
    if tokio::time::timeout_at(end, open.acquire_many(all))
        .await
        .is_err()
    {
        let open = max_in_flight - open.available_permits();
        tracing::warn!(
            open,
            "requests still open after the grace period are left out"
        );
    }
}

/// Locks `mutex`; a panic elsewhere while it was held leaves nothing
/// half-written here (counters and histograms), so the value is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A line a second on a terminal: time, stage, target and achieved rates,
/// the last second's p99, errors.
async fn show_progress(profile: Profile, recorder: Arc<Mutex<Recorder>>, started: Instant) {
    let stderr = std::io::stderr();
    if !stderr.is_terminal() {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        ticker.tick().await;
        let at = started.elapsed();
        let second = usize::try_from(at.as_secs()).unwrap_or(0).saturating_sub(1);
        let ((requests, errors), p99) = {
            let r = lock(&recorder);
            (
                r.totals(),
                r.second_latency(second).map_or(0.0, |p| p.p99_ms),
            )
        };
        let stage = profile.stage_at(at).map_or("end", |s| s.name.as_str());
        let rate = profile.rate_at(at).unwrap_or(0.0);
        let _ = write!(
            stderr.lock(),
            "\r{:>4}s/{}s {stage:<9} target {rate:>6.0}/s done {:>6}/s p99 {p99:>7.1} ms errors {errors}   ",
            at.as_secs(),
            profile.duration().as_secs(),
            requests - last,
        );
        last = requests;
    }
}
