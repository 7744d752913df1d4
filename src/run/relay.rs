//! `anote relay`: the PostgreSQL event log onto Kinesis, the sweeper, and
//! the audit anchors on their schedule.

use std::sync::Arc;

use anote_kinesis::relay::kinesis::{self as relay_kinesis, KinesisSink};
use anote_kinesis::relay::{Relay, KINESIS_RELAY};
use anote_store::Storage;
use anyhow::Context;

use super::{connect, serve_metrics, stop_on_signal, sweeper};
use crate::config::{
    AnchorConfig, DocumentConfig, KinesisConfig, MetricsConfig, PostgresConfig, ProjectionConfig,
};

/// The relay's settings.
#[derive(clap::Args, Debug)]
pub struct Args {
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
    #[command(flatten)]
    anchors: AnchorConfig,
}

/// Runs the relay (leader or hot standby), the sweeper and the audit
/// anchors until SIGTERM or SIGINT. Every instance anchors, the standby
/// too: an anchor is a fact about the log, and one more does no harm.
pub async fn run_relay(args: Args) -> anyhow::Result<()> {
    let db = connect(&args.postgres).await?;
    let storage = Storage::postgres(db.clone(), true).await?;
    let sweeping = match sweeper(&storage, &args.documents).await? {
        Some(sweeper) => Some(tokio::spawn(
            sweeper.run(args.documents.sweep_interval, stop_on_signal()),
        )),
        None => {
            tracing::warn!("no document store configured (ANOTE_S3_BUCKET): not sweeping");
            None
        }
    };
    let anchoring = crate::anchors::start(
        &args.anchors,
        storage.events.clone(),
        args.documents.s3_endpoint.as_deref(),
        stop_on_signal(),
    )
    .await;
    let stream = args
        .kinesis
        .kinesis_stream
        .as_deref()
        .context("the relay needs ANOTE_KINESIS_STREAM")?;
    let client = relay_kinesis::client(args.kinesis.kinesis_endpoint.as_deref()).await;
    let checks = vec![
        super::log_ready(&storage.events),
        super::kinesis_ready(&client, stream),
    ];
    serve_metrics(&args.metrics, "relay", anote_http::readiness_route(checks)).await?;
    let sink = Arc::new(KinesisSink::new(client, stream));
    let relay = Relay::new(
        KINESIS_RELAY,
        db,
        storage.events,
        sink,
        args.kinesis.relay_batch,
    )
    .with_packing(args.kinesis.relay_packing);
    relay
        .run(args.projection.projector_idle, stop_on_signal())
        .await;
    if let Some(sweeping) = sweeping {
        sweeping.await.context("the sweeper failed")?;
    }
    if let Some(anchoring) = anchoring {
        anchoring.await.context("the anchoring task failed")?;
    }
    Ok(())
}
