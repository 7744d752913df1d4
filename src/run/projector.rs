//! `anote projector`: the relay's Kinesis stream (or the PostgreSQL log's
//! tail) into the read models.

use std::time::Duration;

use anote_kinesis::feed::kinesis::{KinesisShards, Leases};
use anote_kinesis::relay::kinesis as relay_kinesis;
use anote_projector::kinesis_feed::{instance_name, FeedSettings, KinesisFeed};
use anote_projector::Projector;
use anote_read_store::builds::postgres_read_models;
use anote_read_store::NOTE_VIEWS;
use anote_store::Storage;

use super::{connect, connect_reads, serve_metrics, stop_on_signal};
use crate::config::{
    KinesisConfig, MetricsConfig, PostgresConfig, ProjectionConfig, ReadDatabaseConfig,
};

/// The projector's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
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
}

/// Runs the projector until SIGTERM or SIGINT: from Kinesis with shard
/// leases shared by the instances, or from the log's tail without a stream.
pub async fn run_projector(args: Args) -> anyhow::Result<()> {
    let log = connect(&args.postgres).await?;
    let storage = Storage::postgres(log.clone(), true).await?;
    let read_db = connect_reads(&args.postgres, &args.reads).await?;
    let reads = postgres_read_models(read_db.clone(), true).await?;
    let reads_ping = reads.clone();
    let mut checks = vec![
        super::log_ready(&storage.events),
        anote_http::readiness("the read models", move || {
            let reads = reads_ping.clone();
            async move { reads.ping().await }
        }),
    ];
    let projector = Projector::new(
        NOTE_VIEWS,
        storage.events.clone(),
        reads,
        anote_projector::BATCH,
    );
    let Some(stream) = args.kinesis.kinesis_stream.as_deref() else {
        serve_metrics(
            &args.metrics,
            "projector",
            anote_http::readiness_route(checks),
        )
        .await?;
        tracing::info!("projecting from the event log");
        projector
            .run_log_tail(args.projection.projector_idle, stop_on_signal())
            .await;
        return Ok(());
    };
    let client = relay_kinesis::client(args.kinesis.kinesis_endpoint.as_deref()).await;
    checks.push(super::kinesis_ready(&client, stream));
    serve_metrics(
        &args.metrics,
        "projector",
        anote_http::readiness_route(checks),
    )
    .await?;
    let owner = instance_name();
    let leases = Leases::new(read_db, stream, &owner, args.kinesis.lease_ttl);
    let settings = FeedSettings {
        lease_ttl: args.kinesis.lease_ttl,
        batch: 1_000,
        idle: Duration::from_millis(250),
    };
    let shards = KinesisShards::new(client, stream, storage.events);
    tracing::info!(%stream, %owner, "projecting from Kinesis");
    KinesisFeed::new(projector, shards, leases, log, settings)
        .run(stop_on_signal())
        .await;
    Ok(())
}
