//! The web app's pages, as `anote serve` and `anote query-api` serve them.

use anote_blob::Blobs;
use anyhow::Context;
use axum::Router;

/// The embedded web app, its pages allowed to reach the document store's
/// presigned URLs (their origin, read from the store).
pub async fn pages(blobs: &Blobs) -> anyhow::Result<Router> {
    let origin = blobs
        .store
        .origin()
        .await
        .context("reading the origin of the document store's URLs")?;
    let app = anote_web::WebApp::new(origin.as_deref()).context("the document store's origin")?;
    Ok(app.router())
}
