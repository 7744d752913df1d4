//! `anote`: the one binary. `anote serve` runs everything in one process on
//! embedded storage; the other subcommands run the production services.

mod audit;
mod healthcheck;
mod http_server;
mod log_target;
mod openapi;
mod pages;
mod parked;
mod progress;
mod read_builds;
mod rebuild;
mod replay;
mod serve;

use anote_command_api::note_commands::NoteCommands;
use anote_command_api::sweeper::Sweeper;
use anote_command_api::AppState;
use anote_infra::accounts::{AccountStore, PgAccountStore};
use anote_infra::blob::Blobs;
use anote_infra::config::{
    AuthConfig, DocumentConfig, EmbeddedConfig, HttpConfig, KinesisConfig, LogConfig,
    MetricsConfig, PostgresConfig, ProjectionConfig, ReadDatabaseConfig, Secret,
};
use anote_infra::db::{PgDatabase, Tables};
use anote_infra::event_store::PgEventStore;
use anote_infra::feed::kinesis::{KinesisShards, Leases};
use anote_infra::read_store::{listen_applied, ReadStore};
use anote_infra::relay::kinesis::{self as relay_kinesis, KinesisSink};
use anote_infra::relay::{Relay, KINESIS_RELAY};
use anote_infra::revocations::Revocations;
use anote_infra::storage::postgres_read_models;
use anote_infra::tokens::TokenSigner;
use anote_infra::{telemetry, Storage};
use anote_projector::kinesis_feed::{instance_name, FeedSettings, KinesisFeed};
use anote_projector::Projector;
use anote_query_api::cache::ReadCache;
use anote_query_api::consistency::Checkpoint;
use anote_query_api::QueryState;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

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
    Serve {
        #[command(flatten)]
        embedded: EmbeddedConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        projection: ProjectionConfig,
        #[command(flatten)]
        documents: DocumentConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run the command API against PostgreSQL.
    CommandApi {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        documents: DocumentConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run the query API against the PostgreSQL read models.
    QueryApi {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        reads: ReadDatabaseConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        projection: ProjectionConfig,
        #[command(flatten)]
        documents: DocumentConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run the projector: read the relay's Kinesis stream (with shard leases
    /// shared by the instances) into the read models, or tail the PostgreSQL
    /// event log when no stream is configured.
    Projector {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        reads: ReadDatabaseConfig,
        #[command(flatten)]
        kinesis: KinesisConfig,
        #[command(flatten)]
        projection: ProjectionConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run the relay: publish the PostgreSQL event log to Kinesis. One relay
    /// leads; others wait as hot standbys. It also sweeps orphaned document
    /// objects every ANOTE_SWEEP_INTERVAL_SECS.
    Relay {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        kinesis: KinesisConfig,
        #[command(flatten)]
        projection: ProjectionConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
        #[command(flatten)]
        documents: DocumentConfig,
    },
    /// Rebuild the read models from the log and switch to them without
    /// downtime; or, with `--until`, build them as of a past point into a
    /// new schema (or file) for an audit.
    Replay(replay::Replay),
    /// Rehearse exam week: load a running Anote with virtual students and
    /// report throughput, latency and projection lag.
    Loadtest(anote_loadtest::LoadTest),
    /// Check the event log's hash chains, or export it with its hashes.
    Audit {
        #[command(subcommand)]
        action: audit::Action,
    },
    /// List the streams the projector parked (one of their events keeps
    /// failing), or project them again.
    Parked(parked::Parked),
    /// Delete orphaned document objects once (abandoned uploads, removed
    /// documents, purged notes) and exit.
    Sweep {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        documents: DocumentConfig,
    },
    /// Exit 0 when the service on this machine answers `GET /healthz` with
    /// 2xx within 3 s, else 1 (the container image's health check).
    Healthcheck(healthcheck::Healthcheck),
    /// Print the API document that `anote serve` serves at `/openapi.json`
    /// (pretty JSON, keys in alphabetical order) and exit.
    Openapi,
    /// Apply the PostgreSQL migrations (event log and read models) and exit.
    Migrate {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        reads: ReadDatabaseConfig,
    },
}

async fn connect(postgres: &PostgresConfig) -> anyhow::Result<PgDatabase> {
    let url = postgres
        .url()
        .map_err(|e| anyhow::anyhow!("ANOTE_DATABASE_URL: {e}"))?;
    PgDatabase::connect(
        url.expose(),
        postgres.database_schema.as_deref(),
        postgres.database_max_connections,
    )
    .await
    .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")
}

async fn connect_reads(
    postgres: &PostgresConfig,
    reads: &ReadDatabaseConfig,
) -> anyhow::Result<PgDatabase> {
    let log = postgres
        .url()
        .map_err(|e| anyhow::anyhow!("ANOTE_DATABASE_URL: {e}"))?;
    let url = reads
        .url(&log)
        .map_err(|e| anyhow::anyhow!("ANOTE_READ_DATABASE_URL: {e}"))?;
    PgDatabase::connect(
        url.expose(),
        Some(&reads.read_database_schema),
        postgres.database_max_connections,
    )
    .await
    .context("connecting to the read-model database (ANOTE_READ_DATABASE_URL)")
}

/// Serves `/metrics` and `/healthz` in the background, if an address is
/// set, and prints CloudWatch metric lines for `service`, if an interval is.
async fn serve_metrics(config: &MetricsConfig, service: &'static str) -> anyhow::Result<()> {
    if !config.emf_interval.is_zero() {
        let reporter = anote_infra::emf::Reporter {
            namespace: config.emf_namespace.clone(),
            environment: config.environment.clone(),
            service,
        };
        tokio::spawn(anote_infra::emf::report(
            reporter,
            config.emf_interval,
            stop_on_signal(),
        ));
    }
    if let Some(address) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening for metrics on {address}"))?;
        tracing::info!(%address, "serving metrics");
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, anote_infra::http::metrics_router()).await {
                tracing::error!(error = %err, "the metrics server stopped");
            }
        });
    }
    Ok(())
}

/// The sweeper of the production services. It only deletes, so a local
/// store gets a throwaway key: it signs no URL.
async fn sweeper(storage: &Storage, documents: &DocumentConfig) -> anyhow::Result<Sweeper> {
    let throwaway = TokenSigner::new(Secret::new(uuid::Uuid::new_v4().as_bytes().to_vec()));
    let blobs = Blobs::open(documents, None, "http://localhost", throwaway)
        .await
        .context("opening the document store")?;
    let policy = anote_command_api::ledger_policy(documents);
    let notes = NoteCommands::new(storage.events.clone(), 10_000, policy);
    Ok(Sweeper::new(notes, storage.documents.clone(), blobs.store))
}

/// The document store of an API service: S3, or a local folder whose URLs
/// point at this service.
async fn api_blobs(
    documents: &DocumentConfig,
    http: &HttpConfig,
    signer: &TokenSigner,
) -> anyhow::Result<Blobs> {
    Blobs::open(
        documents,
        None,
        &format!("http://{}", http.listen),
        signer.clone(),
    )
    .await
    .context("opening the document store")
}

/// The token revocations of the event-log database `db`, loaded, and
/// followed in the background (notices and periodic reloads) until SIGTERM.
async fn follow_revocations(
    accounts: Arc<dyn AccountStore>,
    db: PgDatabase,
    auth: &AuthConfig,
) -> anyhow::Result<Revocations> {
    let revocations = Revocations::load(accounts)
        .await
        .context("loading the token revocations")?;
    tokio::spawn(
        revocations
            .clone()
            .follow_postgres(db, auth.revocation_poll, stop_on_signal()),
    );
    Ok(revocations)
}

/// A flag that turns true on SIGTERM or SIGINT.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        http_server::shutdown_signal().await;
        let _ = stop.send(true);
    });
    stopped
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    match cli.command {
        Service::Serve {
            embedded,
            http,
            auth,
            projection,
            documents,
            metrics,
        } => {
            serve_metrics(&metrics, "serve").await?;
            serve::run(embedded, http, auth, projection, documents).await
        }
        Service::CommandApi {
            postgres,
            http,
            auth,
            documents,
            metrics,
        } => {
            serve_metrics(&metrics, "command-api").await?;
            let signer = TokenSigner::new(auth.signing_key().map_err(anyhow::Error::msg)?);
            let db = connect(&postgres).await?;
            let storage = Storage::postgres(db.clone(), true).await?;
            let blobs = api_blobs(&documents, &http, &signer).await?;
            let revocations = follow_revocations(storage.accounts.clone(), db, &auth).await?;
            let state = AppState::new(storage, signer, auth, blobs, documents, revocations)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            http_server::serve_until_signal(anote_command_api::router(state, &http), &http).await
        }
        Service::QueryApi {
            postgres,
            reads,
            http,
            auth,
            projection,
            documents,
            metrics,
        } => {
            serve_metrics(&metrics, "query-api").await?;
            let signer = TokenSigner::new(auth.signing_key().map_err(anyhow::Error::msg)?);
            let blobs = api_blobs(&documents, &http, &signer).await?;
            let read_db = connect_reads(&postgres, &reads).await?;
            let reads = postgres_read_models(read_db.clone(), true).await?;
            let (notices, listening) = broadcast::channel(1024);
            let cache = ReadCache::new(projection.cache_max_bytes, projection.cache_ttl);
            cache.follow(listening);
            let checkpoint = Checkpoint::follow(
                reads.clone(),
                serve::NOTE_PROJECTOR.to_owned(),
                notices.subscribe(),
            );
            tokio::spawn(listen_applied(read_db, notices));
            let log = connect(&postgres).await?;
            let accounts = Arc::new(PgAccountStore::new(log.clone()));
            let revocations = follow_revocations(accounts, log.clone(), &auth).await?;
            let events = Arc::new(PgEventStore::new(log));
            let state = QueryState {
                reads,
                events,
                signer,
                revocations,
                projector: serve::NOTE_PROJECTOR.to_owned(),
                min_position_timeout: projection.min_position_timeout,
                checkpoint,
                cache,
                blobs,
                documents: Arc::new(documents),
            };
            let pages = pages::pages(&state.blobs).await?;
            let router = anote_query_api::router(state, &http, Some(pages));
            http_server::serve_until_signal(router, &http).await
        }
        Service::Projector {
            postgres,
            reads,
            kinesis,
            projection,
            metrics,
        } => {
            serve_metrics(&metrics, "projector").await?;
            let log = connect(&postgres).await?;
            let storage = Storage::postgres(log.clone(), true).await?;
            let read_db = connect_reads(&postgres, &reads).await?;
            let reads: Arc<dyn ReadStore> = postgres_read_models(read_db.clone(), true).await?;
            let projector = Projector::new(
                serve::NOTE_PROJECTOR,
                storage.events,
                reads,
                serve::PROJECTOR_BATCH,
            );
            let Some(stream) = kinesis.kinesis_stream.as_deref() else {
                tracing::info!("projecting from the event log");
                projector
                    .run_log_tail(projection.projector_idle, stop_on_signal())
                    .await;
                return Ok(());
            };
            let client = relay_kinesis::client(kinesis.kinesis_endpoint.as_deref()).await;
            let owner = instance_name();
            let leases = Leases::new(read_db, stream, &owner, kinesis.lease_ttl);
            let settings = FeedSettings {
                lease_ttl: kinesis.lease_ttl,
                batch: 1_000,
                idle: Duration::from_millis(250),
            };
            let shards = KinesisShards::new(client, stream);
            tracing::info!(%stream, %owner, "projecting from Kinesis");
            KinesisFeed::new(projector, shards, leases, log, settings)
                .run(stop_on_signal())
                .await;
            Ok(())
        }
        Service::Relay {
            postgres,
            kinesis,
            projection,
            metrics,
            documents,
        } => {
            serve_metrics(&metrics, "relay").await?;
            let db = connect(&postgres).await?;
            let storage = Storage::postgres(db.clone(), true).await?;
            let sweeping = if documents.s3_bucket.is_none() && documents.blob_dir.is_none() {
                tracing::warn!("no document store configured (ANOTE_S3_BUCKET): not sweeping");
                None
            } else {
                let sweeper = sweeper(&storage, &documents).await?;
                Some(tokio::spawn(
                    sweeper.run(documents.sweep_interval, stop_on_signal()),
                ))
            };
            let stream = kinesis
                .kinesis_stream
                .as_deref()
                .context("the relay needs ANOTE_KINESIS_STREAM")?;
            let client = relay_kinesis::client(kinesis.kinesis_endpoint.as_deref()).await;
            let sink = Arc::new(KinesisSink::new(client, stream));
            let relay = Relay::new(KINESIS_RELAY, db, storage.events, sink, kinesis.relay_batch);
            let relay = if kinesis.relay_aggregate {
                relay.with_aggregation()
            } else {
                relay
            };
            relay.run(projection.projector_idle, stop_on_signal()).await;
            if let Some(sweeping) = sweeping {
                sweeping.await.context("the sweeper failed")?;
            }
            Ok(())
        }
        Service::Replay(replay) => replay::run(replay).await,
        Service::Loadtest(args) => anote_loadtest::run(args).await,
        Service::Parked(parked) => {
            if parked::run(parked).await? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Service::Audit { action } => {
            if audit::run(action).await? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Service::Sweep {
            postgres,
            documents,
        } => {
            let storage = Storage::postgres(connect(&postgres).await?, true).await?;
            let swept = sweeper(&storage, &documents)
                .await?
                .sweep()
                .await
                .map_err(|e| anyhow::anyhow!("sweeping: {e}"))?;
            tracing::info!(
                abandoned = swept.abandoned,
                deleted = swept.deleted,
                "sweep finished"
            );
            Ok(())
        }
        Service::Healthcheck(check) => healthcheck::run(check).await,
        Service::Openapi => openapi::print(),
        Service::Migrate { postgres, reads } => {
            connect(&postgres)
                .await?
                .migrate(Tables::EventLog)
                .await
                .context("migrating the event log")?;
            connect_reads(&postgres, &reads)
                .await?
                .migrate(Tables::ReadModels)
                .await
                .context("migrating the read models")?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}
