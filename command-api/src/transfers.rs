//! Uploads through the local document store's URLs (`PUT /v1/blobs/{key}`
//! with a signed query): the embedded default's stand-in for S3's presigned
//! URLs. The store checks the signature and moves the bytes; this handler
//! only speaks HTTP. Downloads are the query API's.

use std::sync::Arc;

use anote_blob::local::{LocalBlobs, UploadRequest};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;

use crate::error::CommandError;

/// The upload route of `store`.
pub fn routes(store: Arc<LocalBlobs>) -> Router {
    Router::new()
        .route("/v1/blobs/{*key}", put(upload))
        .with_state(store)
}

async fn upload(
    State(store): State<Arc<LocalBlobs>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CommandError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let request = UploadRequest {
        key: &key,
        query: query.as_deref(),
        content_length: text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        content_type: text(header::CONTENT_TYPE),
    };
    store
        .receive_upload(request, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK.into_response())
}
