//! Downloads through the local document store's URLs (`GET
//! /v1/blobs/{key}` with a signed query): the embedded default's stand-in
//! for S3's presigned URLs. The store checks the signature and the digest;
//! this handler only speaks HTTP. Uploads are the command API's.

use std::sync::Arc;

use anote_blob::local::LocalBlobs;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::QueryError;

/// The download route of `store`.
pub fn routes(store: Arc<LocalBlobs>) -> Router {
    Router::new()
        .route("/v1/blobs/{*key}", get(download))
        .with_state(store)
}

async fn download(
    State(store): State<Arc<LocalBlobs>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, QueryError> {
    let download = store.open_download(&key, query.as_deref()).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(download.file));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let value = |v: Option<String>| v.and_then(|v| HeaderValue::from_str(&v).ok());
    if let Some(v) = value(download.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = value(download.disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.length));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
