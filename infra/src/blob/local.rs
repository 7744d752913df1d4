//! Document bytes in a local folder, for the embedded default. The flow is
//! the one of S3: "presigned" URLs point at the Anote server itself
//! (`/v1/blobs/{key}`), carry their limits in the query and are signed with
//! HMAC and an expiry; the routes of [`routes`] check them and move the bytes
//! between the client and the folder.
//!
//! Layout under the root: `objects/<key>` with `objects/<key>.meta` (type and
//! disposition), `uploads/<upload id>/` (multipart: `meta` and numbered
//! parts), `tmp/` (files being written, renamed into place when complete).
//! An object is moved into place only where none is (a second `PUT` is
//! refused), and a download URL carries the object's digest: bytes that do
//! not have it are never served.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anote_domain::document::ContentDigest;
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use uuid::Uuid;

use super::{BlobError, BlobKey, BlobStore, FileInfo, ObjectInfo, SignedRequest};
use crate::http::problem::ApiError;
use crate::tokens::TokenSigner;

/// How long past its URL's expiry an upload that started in time may go on.
const UPLOAD_SLACK_SECS: u64 = 300;

/// How long an upload may send nothing before it is cut off with 408.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Documents in a folder, reached through URLs of this server.
#[derive(Clone, Debug)]
pub struct LocalBlobs {
    root: PathBuf,
    base_url: String,
    signer: TokenSigner,
}

/// What is kept beside an object (or a multipart upload).
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    content_type: String,
    content_disposition: String,
}

/// The query of a blob URL, before its signature.
#[derive(Debug, Deserialize)]
struct UrlQuery {
    expires: i64,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "type")]
    content_type: Option<String>,
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    upload: Option<Uuid>,
    #[serde(default)]
    part: Option<u32>,
    #[serde(default)]
    sha256: Option<String>,
}

impl LocalBlobs {
    /// A store in `root` (created if missing) whose URLs start with
    /// `base_url` (this server as clients reach it) and are signed by
    /// `signer`.
    pub fn open(root: &Path, base_url: &str, signer: TokenSigner) -> Result<Self, BlobError> {
        // Files of uploads cut short by a crash are of no use.
        let _ = std::fs::remove_dir_all(root.join("tmp"));
        for dir in ["objects", "uploads", "tmp"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self {
            root: root.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer,
        })
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.root.join("objects").join(key)
    }

    fn upload_dir(&self, upload: Uuid) -> PathBuf {
        self.root.join("uploads").join(upload.to_string())
    }

    /// A URL for `method` on `key` with these query pairs, signed.
    fn sign(&self, method: &str, key: &BlobKey, pairs: &[(&str, String)]) -> String {
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let query = query.join("&");
        let signature = self
            .signer
            .sign_blob_url(&format!("{method}\n{}\n{query}", key.as_str()));
        format!(
            "{}/v1/blobs/{}?{query}&signature={signature}",
            self.base_url,
            key.as_str()
        )
    }

    /// Checks a request's signature and expiry; returns its query.
    fn check(&self, method: &str, key: &str, raw: Option<&str>) -> Result<UrlQuery, ApiError> {
        let raw = raw.unwrap_or_default();
        let (signed, signature) = raw
            .rsplit_once("&signature=")
            .ok_or(ApiError::SignatureMismatch)?;
        if !valid_key(key)
            || !self
                .signer
                .verify_blob_url(&format!("{method}\n{key}\n{signed}"), signature)
        {
            return Err(ApiError::SignatureMismatch);
        }
        let query = Query::<UrlQuery>::try_from_uri(
            &format!("/?{signed}")
                .parse()
                .map_err(|_| ApiError::SignatureMismatch)?,
        )
        .map_err(|_| ApiError::SignatureMismatch)?
        .0;
        if query.expires <= OffsetDateTime::now_utc().unix_timestamp() {
            return Err(ApiError::UrlExpired);
        }
        Ok(query)
    }

    /// A new file in `tmp/`, removed when dropped unless it is persisted:
    /// a failed, cancelled or timed-out upload leaves nothing behind.
    fn temp_file(&self) -> Result<(tokio::fs::File, TempPath), std::io::Error> {
        let (file, path) = tempfile::Builder::new()
            .tempfile_in(self.root.join("tmp"))?
            .into_parts();
        Ok((tokio::fs::File::from_std(file), path))
    }

    /// Streams `body` into a temporary file, refusing more or fewer than
    /// `size` bytes, and giving up at `deadline`.
    async fn receive(
        &self,
        body: Body,
        size: u64,
        deadline: Instant,
    ) -> Result<TempPath, ApiError> {
        let (file, path) = self.temp_file().map_err(internal)?;
        tokio::time::timeout_at(deadline, write_exactly(file, body, size))
            .await
            .map_err(|_| ApiError::UrlExpired)??;
        Ok(path)
    }
}

/// Keys are made of ids by [`BlobKey`]; anything else (`..`, absolute
/// paths) is refused before it reaches the file system.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

async fn write_exactly(mut file: tokio::fs::File, body: Body, size: u64) -> Result<(), ApiError> {
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    loop {
        let next = tokio::time::timeout(STALL_TIMEOUT, stream.next()).await;
        let Some(chunk) = next.map_err(|_| ApiError::BodyTimeout)? else {
            break;
        };
        let chunk = chunk.map_err(|e| ApiError::InvalidBody(e.to_string()))?;
        written += chunk.len() as u64;
        if written > size {
            return Err(ApiError::UploadMismatch("size"));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    if written != size {
        return Err(ApiError::UploadMismatch("size"));
    }
    file.flush().await.map_err(internal)?;
    file.sync_all().await.map_err(internal)?;
    Ok(())
}

fn internal(e: std::io::Error) -> ApiError {
    BlobError::from(e).into()
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn write_meta(path: &Path, file: FileInfo<'_>) -> Result<(), BlobError> {
    let meta = Meta {
        content_type: file.content_type.to_owned(),
        content_disposition: super::content_disposition(file.file_name),
    };
    let json = serde_json::to_vec(&meta).map_err(|e| BlobError::Backend(e.to_string()))?;
    tokio::fs::write(path, json).await?;
    Ok(())
}

async fn read_meta(path: &Path) -> Result<Option<Meta>, BlobError> {
    match tokio::fs::read(path).await {
        Ok(json) => Ok(Some(
            serde_json::from_slice(&json).map_err(|e| BlobError::Backend(e.to_string()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The SHA-256 of a file's bytes.
async fn file_sha256(path: PathBuf) -> std::io::Result<[u8; 32]> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hasher.finalize().into())
    })
    .await
    .map_err(std::io::Error::other)?
}

fn meta_path(object: &Path) -> PathBuf {
    let mut name = object.as_os_str().to_owned();
    name.push(".meta");
    PathBuf::from(name)
}

fn expiry(expires_in: Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + expires_in
}

async fn remove_if_present(path: &Path) -> Result<(), BlobError> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn presign_put(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError> {
        let expires_at = expiry(expires_in);
        let disposition = super::content_disposition(file.file_name);
        let url = self.sign(
            "PUT",
            key,
            &[
                ("expires", expires_at.unix_timestamp().to_string()),
                ("size", size.to_string()),
                ("type", file.content_type.to_owned()),
                ("disposition", disposition),
            ],
        );
        let headers = [("content-type".to_owned(), file.content_type.to_owned())];
        Ok(SignedRequest {
            url,
            headers: headers.into_iter().collect(),
            expires_at,
        })
    }

    async fn start_multipart(
        &self,
        _key: &BlobKey,
        file: FileInfo<'_>,
    ) -> Result<String, BlobError> {
        let upload = Uuid::new_v4();
        let dir = self.upload_dir(upload);
        tokio::fs::create_dir_all(&dir).await?;
        write_meta(&dir.join("meta"), file).await?;
        Ok(upload.to_string())
    }

    async fn presign_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: u32,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError> {
        let expires_at = expiry(expires_in);
        let url = self.sign(
            "PUT",
            key,
            &[
                ("expires", expires_at.unix_timestamp().to_string()),
                ("size", size.to_string()),
                ("upload", upload_id.to_owned()),
                ("part", number.to_string()),
            ],
        );
        Ok(SignedRequest {
            url,
            headers: Default::default(),
            expires_at,
        })
    }

    async fn finish_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        let upload = Uuid::parse_str(upload_id).map_err(|_| BlobError::NoSuchUpload)?;
        let dir = self.upload_dir(upload);
        let mut numbers = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NoSuchUpload)
            }
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                numbers.push(n);
            }
        }
        if numbers.is_empty() {
            return Err(BlobError::NoSuchUpload);
        }
        numbers.sort_unstable();
        let (mut out, joined) = self.temp_file()?;
        for n in numbers {
            let mut part = tokio::fs::File::open(dir.join(n.to_string())).await?;
            tokio::io::copy(&mut part, &mut out).await?;
        }
        out.sync_all().await?;
        let object = self.object_path(key.as_str());
        if let Some(parent) = object.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // Each step can be repeated: an interrupted completion is finished
        // by the next one, which leaves the object it joined as it is.
        tokio::fs::copy(dir.join("meta"), meta_path(&object)).await?;
        if let Err(e) = joined.persist_noclobber(&object) {
            if e.error.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(e.error.into());
            }
        }
        tokio::fs::remove_dir_all(&dir).await?;
        Ok(())
    }

    async fn abort_multipart(&self, _key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        let Ok(upload) = Uuid::parse_str(upload_id) else {
            return Ok(());
        };
        match tokio::fs::remove_dir_all(self.upload_dir(upload)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectInfo>, BlobError> {
        let object = self.object_path(key.as_str());
        let size = match tokio::fs::metadata(&object).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = read_meta(&meta_path(&object)).await?;
        Ok(Some(ObjectInfo {
            size,
            content_type: meta.map(|m| m.content_type),
        }))
    }

    async fn sha256(&self, key: &BlobKey) -> Result<Option<[u8; 32]>, BlobError> {
        match file_sha256(self.object_path(key.as_str())).await {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        sha256: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        let expires_at = expiry(expires_in);
        let mut pairs = vec![
            ("expires", expires_at.unix_timestamp().to_string()),
            ("type", file.content_type.to_owned()),
            ("disposition", super::content_disposition(file.file_name)),
        ];
        pairs.extend(sha256.map(|digest| ("sha256", digest.to_owned())));
        Ok(self.sign("GET", key, &pairs))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let object = self.object_path(key.as_str());
        remove_if_present(&object).await?;
        remove_if_present(&meta_path(&object)).await
    }
}

/// The routes that move bytes for a local store: `PUT` and `GET
/// /v1/blobs/{key}` with a signed query.
pub fn routes(store: Arc<LocalBlobs>) -> Router {
    Router::new()
        .route("/v1/blobs/{*key}", put(upload).get(download))
        .with_state(store)
}

async fn upload(
    State(store): State<Arc<LocalBlobs>>,
    UrlPath(key): UrlPath<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query = store.check("PUT", &key, raw.as_deref())?;
    let size = query.size.ok_or(ApiError::SignatureMismatch)?;
    // An upload that started in time may take a while, but not forever.
    let left = query.expires - OffsetDateTime::now_utc().unix_timestamp();
    let deadline = Instant::now() + Duration::from_secs(left.unsigned_abs() + UPLOAD_SLACK_SECS);
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n != size) {
        return Err(ApiError::UploadMismatch("size"));
    }
    if let (Some(upload), Some(part)) = (query.upload, query.part) {
        let dir = store.upload_dir(upload);
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(ApiError::DocumentNotFound);
        }
        let received = store.receive(body, size, deadline).await?;
        received
            .persist(dir.join(part.to_string()))
            .map_err(|e| internal(e.error))?;
        return Ok(StatusCode::OK.into_response());
    }
    let content_type = query.content_type.ok_or(ApiError::SignatureMismatch)?;
    let sent_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if sent_type != Some(content_type.as_str()) {
        return Err(ApiError::SignatureMismatch);
    }
    let object = store.object_path(&key);
    if tokio::fs::try_exists(&object).await.map_err(internal)? {
        return Err(ApiError::AlreadyUploaded);
    }
    let received = store.receive(body, size, deadline).await?;
    if let Some(parent) = object.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(internal)?;
    }
    let meta = Meta {
        content_type,
        content_disposition: query.disposition.unwrap_or_default(),
    };
    let json = serde_json::to_vec(&meta).map_err(|e| ApiError::Internal(e.to_string()))?;
    // The same URL (so the same metadata) for every upload to this key.
    tokio::fs::write(meta_path(&object), json)
        .await
        .map_err(internal)?;
    received.persist_noclobber(&object).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            ApiError::AlreadyUploaded
        } else {
            internal(e.error)
        }
    })?;
    Ok(StatusCode::OK.into_response())
}

async fn download(
    State(store): State<Arc<LocalBlobs>>,
    UrlPath(key): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = store.check("GET", &key, raw.as_deref())?;
    let path = store.object_path(&key);
    if let Some(expected) = &query.sha256 {
        let stored = match file_sha256(path.clone()).await {
            Ok(digest) => ContentDigest::from_bytes(digest),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::DocumentNotFound)
            }
            Err(e) => return Err(internal(e)),
        };
        if stored.as_str() != expected {
            return Err(ApiError::Internal(format!(
                "the object {key} no longer has the digest it was attached with"
            )));
        }
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::DocumentNotFound)
        }
        Err(e) => return Err(internal(e)),
    };
    let length = file.metadata().await.map_err(internal)?.len();
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    let value = |v: Option<String>| v.and_then(|v| HeaderValue::from_str(&v).ok());
    if let Some(v) = value(query.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = value(query.disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_made_of_ids_reach_the_disk() {
        assert!(valid_key("notes/0b6e/documents/9f2a-11"));
        assert!(!valid_key("notes/../../etc/passwd"));
        assert!(!valid_key("/etc/passwd"));
        assert!(!valid_key("notes//x"));
        assert!(!valid_key("notes/a.b"));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("text/plain; charset=utf-8"),
            "text%2Fplain%3B%20charset%3Dutf-8"
        );
    }
}
