//! `anote`: the one binary. `anote serve` runs everything in one process on
//! embedded storage; the other subcommands run the production services.

use std::net::SocketAddr;

use anote_command_api::AppState;
use anote_infra::config::{AuthConfig, EmbeddedConfig, HttpConfig, LogConfig, PostgresConfig};
use anote_infra::db::PgDatabase;
use anote_infra::tokens::TokenSigner;
use anote_infra::{telemetry, Storage};
use anyhow::Context;
use clap::{Parser, Subcommand};

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
    },
    /// Run the command API against PostgreSQL.
    CommandApi {
        #[command(flatten)]
        postgres: PostgresConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        auth: AuthConfig,
    },
    /// Apply the PostgreSQL migrations and exit.
    Migrate {
        #[command(flatten)]
        postgres: PostgresConfig,
    },
}

async fn connect(postgres: &PostgresConfig) -> anyhow::Result<PgDatabase> {
    PgDatabase::connect(
        postgres.database_url.expose(),
        postgres.database_schema.as_deref(),
        postgres.database_max_connections,
    )
    .await
    .context("connecting to PostgreSQL (ANOTE_DATABASE_URL)")
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
        } => {
            let storage = Storage::embedded(&embedded.data_dir)
                .await
                .with_context(|| {
                    format!("opening the data folder {}", embedded.data_dir.display())
                })?;
            let key = auth
                .signing_key_or_create(&embedded.data_dir)
                .context("reading or creating the token key")?;
            tracing::info!(data_dir = %embedded.data_dir.display(), "embedded storage ready");
            serve(storage, TokenSigner::new(key), auth, &http).await
        }
        Service::CommandApi {
            postgres,
            http,
            auth,
        } => {
            let key = auth.signing_key().map_err(anyhow::Error::msg)?;
            let storage = Storage::postgres(connect(&postgres).await?, true).await?;
            serve(storage, TokenSigner::new(key), auth, &http).await
        }
        Service::Migrate { postgres } => {
            connect(&postgres)
                .await?
                .migrate()
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}

/// Serves the command API until SIGTERM or SIGINT, then drains requests.
async fn serve(
    storage: Storage,
    signer: TokenSigner,
    auth: AuthConfig,
    http: &HttpConfig,
) -> anyhow::Result<()> {
    let state = AppState::new(storage, signer, auth).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = anote_command_api::router(state, http);
    let listener = tokio::net::TcpListener::bind(http.listen)
        .await
        .with_context(|| format!("listening on {}", http.listen))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
