//! One `run_<service>` per subcommand that runs a service, and what they
//! share: connecting to PostgreSQL, the metrics listener, the document
//! store, the followed revocations, the stop signal.

pub mod command_api;
pub mod migrate;
pub mod projector;
pub mod query_api;
pub mod relay;
pub mod serve;
pub mod sweep;

pub use command_api::run_command_api;
pub use migrate::run_migrate;
pub use projector::run_projector;
pub use query_api::run_query_api;
pub use relay::run_relay;
pub use serve::run_serve;
pub use sweep::run_sweep;

use std::sync::Arc;

use anote_blob::Blobs;
use anote_command_api::note_commands::NoteCommands;
use anote_command_api::sweeper::Sweeper;
use anote_http::ReadinessCheck;
use anote_query_api::Streams;
use anote_store::accounts::AccountStore;
use anote_store::db::PgDatabase;
use anote_store::event_store::EventStore;
use anote_store::revocations::Revocations;
use anote_store::Storage;
use anote_tokens::{Secret, TokenSigner};
use anyhow::Context;
use tokio::sync::watch;

use crate::config::{
    AuthConfig, DocumentConfig, HttpConfig, MetricsConfig, PostgresConfig, ReadDatabaseConfig,
};

/// The event-log database.
async fn connect(postgres: &PostgresConfig) -> anyhow::Result<PgDatabase> {
    let url = postgres
        .url()
        .map_err(|e| anyhow::anyhow!("ANOTE_DATABASE_URL: {e}"))?;
    PgDatabase::connect_with(
        url.expose(),
        postgres.database_schema.as_deref(),
        &postgres.pool(),
    )
    .await
    .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")
}

/// The read-model database (the event log's unless another is named).
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
    PgDatabase::connect_with(
        url.expose(),
        Some(&reads.read_database_schema),
        &postgres.pool(),
    )
    .await
    .context("connecting to the read-model database (ANOTE_READ_DATABASE_URL)")
}

/// Readiness of the event log: one round trip.
fn log_ready(events: &Arc<dyn EventStore>) -> ReadinessCheck {
    let events = events.clone();
    anote_http::readiness("the event log", move || {
        let events = events.clone();
        async move { events.ping().await }
    })
}

/// Readiness of the Kinesis stream `stream`: its summary.
fn kinesis_ready(client: &aws_sdk_kinesis::Client, stream: &str) -> ReadinessCheck {
    let (client, stream) = (client.clone(), stream.to_owned());
    anote_http::readiness("Kinesis", move || {
        let (client, stream) = (client.clone(), stream.clone());
        async move { anote_kinesis::relay::kinesis::ping(&client, &stream).await }
    })
}

/// Serves `/metrics`, `/healthz` and `routes` (a service without an API:
/// its `/readyz`) in the background, if an address is set, and prints
/// CloudWatch metric lines for `service`, if an interval is.
async fn serve_metrics(
    config: &MetricsConfig,
    service: &'static str,
    routes: axum::Router,
) -> anyhow::Result<()> {
    if !config.emf_interval.is_zero() {
        let reporter = anote_metrics::emf::Reporter {
            namespace: config.emf_namespace.clone(),
            environment: config.environment.clone(),
            service,
        };
        tokio::spawn(anote_metrics::emf::report(
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
            if let Err(err) =
                axum::serve(listener, anote_http::metrics_router().merge(routes)).await
            {
                tracing::error!(error = %err, "the metrics server stopped");
            }
        });
    }
    Ok(())
}

/// The sweeper of the production services, if a document store is
/// configured. It only deletes, so a local store gets a throwaway key: it
/// signs no URL.
async fn sweeper(storage: &Storage, documents: &DocumentConfig) -> anyhow::Result<Option<Sweeper>> {
    let Some(store) = documents.store(None, "http://localhost") else {
        return Ok(None);
    };
    let throwaway = TokenSigner::new(Secret::new(uuid::Uuid::new_v4().as_bytes().to_vec()));
    let blobs = Blobs::open(&store, throwaway)
        .await
        .context("opening the document store")?;
    let policy = anote_command_api::ledger_policy(&documents.policy());
    let notes = NoteCommands::new(storage.events.clone(), 10_000, policy);
    Ok(Some(Sweeper::new(
        notes,
        storage.documents.clone(),
        blobs.store,
    )))
}

/// The document store of an API service: S3, or a local folder whose URLs
/// point at this service.
async fn api_blobs(
    documents: &DocumentConfig,
    http: &HttpConfig,
    signer: &TokenSigner,
) -> anyhow::Result<Blobs> {
    let store = documents
        .store(None, &format!("http://{}", http.listen))
        .context("set ANOTE_S3_BUCKET, or ANOTE_BLOB_DIR for a local folder")?;
    Blobs::open(&store, signer.clone())
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

/// Ends the query API's change streams on SIGTERM or SIGINT: they never
/// end by themselves, and the graceful shutdown waits for every reply.
fn close_streams_on_signal(streams: Streams) {
    tokio::spawn(async move {
        crate::http_server::shutdown_signal().await;
        streams.close();
    });
}

/// A flag that turns true on SIGTERM or SIGINT.
pub fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        crate::http_server::shutdown_signal().await;
        let _ = stop.send(true);
    });
    stopped
}
