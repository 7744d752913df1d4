//! `anote`: the one binary. `anote serve` runs everything in one process on
//! embedded storage; the other subcommands run the production services and
//! the operators' tools. `main` only dispatches.
//!
//! # Layout
//! - [`config`]: the flags and `ANOTE_*` variables, turned into the plain
//!   settings the libraries take; [`telemetry`]: logging set-up.
//! - [`run`]: one `run_<service>` per service (`serve`, `command-api`,
//!   `query-api`, `projector`, `relay`, `sweep`, `migrate`).
//! - [`http_server`]: serving a router until a signal, draining requests.
//! - [`replay`], [`rebuild`], [`parked`], [`audit`],
//!   [`log_target`], [`progress`]: the operators' tools on the log;
//!   [`anchors`]: where audit anchors are written and read, and the
//!   schedule the relay and `anote serve` make them on.
//! - [`openapi`], [`pages`], [`healthcheck`]: the API document, the web app,
//!   the container's health check.

mod anchors;
mod audit;
mod config;
mod export;
mod healthcheck;
mod http_server;
mod log_target;
mod openapi;
mod pages;
mod parked;
mod progress;
mod rebuild;
mod replay;
mod run;
mod telemetry;

use clap::{Parser, Subcommand};

use crate::config::LogConfig;

/// mimalloc returns freed memory to the system and keeps no per-thread arena
/// of the size of the largest allocation it ever saw (argon2's 19 MiB blocks
/// left glibc holding hundreds of MiB after a burst of logins), and it
/// allocates faster under many threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Anote: an event-sourced notes backend for students.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    log: LogConfig,
    #[command(subcommand)]
    command: Service,
}

#[derive(Subcommand, Debug)]
enum Service {
    /// Run everything in one process on embedded storage (SQLite in the data
    /// folder): the default for a laptop.
    Serve(run::serve::Args),
    /// Run the command API against PostgreSQL.
    CommandApi(run::command_api::Args),
    /// Run the query API against the PostgreSQL read models.
    QueryApi(run::query_api::Args),
    /// Run the projector: read the relay's Kinesis stream (with shard leases
    /// shared by the instances) into the read models, or tail the PostgreSQL
    /// event log when no stream is configured.
    Projector(run::projector::Args),
    /// Run the relay: publish the PostgreSQL event log to Kinesis. One relay
    /// leads; others wait as hot standbys. It also sweeps orphaned document
    /// objects every ANOTE_SWEEP_INTERVAL_SECS, and writes an audit anchor
    /// every ANOTE_AUDIT_ANCHOR_INTERVAL when ANOTE_AUDIT_ANCHOR_TO is set.
    Relay(run::relay::Args),
    /// Rebuild the read models from the log and switch to them without
    /// downtime; or, with `--until`, build them as of a past point into a
    /// new schema (or file) for an audit.
    Replay(replay::Replay),
    /// Rehearse exam week: load a running Anote with virtual students and
    /// report throughput, latency and projection lag.
    Loadtest(anote_loadtest::LoadTest),
    /// Check the event log's hash chains (and compare it with an anchor),
    /// anchor it outside the database, or export it with its hashes.
    Audit {
        #[command(subcommand)]
        action: audit::Action,
    },
    /// Write an account's notes and documents as a zip (what
    /// `GET /v1/account/export` sends), for an operator.
    Export(export::Export),
    /// List the streams the projector parked (one of their events keeps
    /// failing), or project them again.
    Parked(parked::Parked),
    /// Delete orphaned document objects once (abandoned uploads, removed
    /// documents, purged notes) and exit.
    Sweep(run::sweep::Args),
    /// Exit 0 when the service on this machine answers `GET /healthz` with
    /// 2xx within 3 s, else 1 (the container image's health check).
    Healthcheck(healthcheck::Healthcheck),
    /// Print the API document that `anote serve` serves at `/openapi.json`
    /// (pretty JSON, keys in alphabetical order) and exit.
    Openapi,
    /// Apply the PostgreSQL migrations (event log and read models) and exit.
    Migrate(run::migrate::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    match cli.command {
        Service::Serve(args) => run::run_serve(args).await,
        Service::CommandApi(args) => run::run_command_api(args).await,
        Service::QueryApi(args) => run::run_query_api(args).await,
        Service::Projector(args) => run::run_projector(args).await,
        Service::Relay(args) => run::run_relay(args).await,
        Service::Sweep(args) => run::run_sweep(args).await,
        Service::Migrate(args) => run::run_migrate(args).await,
        Service::Replay(args) => replay::run(args).await,
        Service::Loadtest(args) => anote_loadtest::run(args).await,
        Service::Parked(args) => exit_with(parked::run(args).await?),
        Service::Export(args) => export::run(args).await,
        Service::Audit { action } => exit_with(audit::run(action).await?),
        Service::Healthcheck(args) => healthcheck::run(args).await,
        Service::Openapi => openapi::print(),
    }
}

/// Ends the process with 1 when a check or retry did not pass.
fn exit_with(passed: bool) -> anyhow::Result<()> {
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}
