//! Document bytes in a local folder, for the embedded default. The flow is
//! the one of S3: "presigned" URLs point at the Anote server itself
//! (`/v1/blobs/{key}`), carry their limits in the query and are signed with
//! HMAC and an expiry; [`LocalBlobs::receive_upload`] and
//! [`LocalBlobs::open_download`] check them and move the bytes between the
//! client and the folder (the API that serves `/v1/blobs/{key}` calls them).
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
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use uuid::Uuid;

use super::clock::{Clock, SystemClock};
use super::{BlobBytes, BlobError, BlobKey, BlobStore, FileInfo, ObjectInfo, SignedRequest};
use anote_tokens::TokenSigner;

/// Why a transfer through a local store's URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The URL's signature does not match the request.
    #[error("the URL's signature does not match this request")]
    SignatureMismatch,
    /// The URL is past its expiry.
    #[error("the URL has expired; ask for a new one")]
    UrlExpired,
    /// More or fewer bytes than the URL allows.
    #[error("the uploaded object does not match the declared size; it was discarded")]
    SizeMismatch,
    /// The body stopped arriving.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The body could not be read.
    #[error("the body does not match the expected shape: {0}")]
    InvalidBody(String),
    /// No such object or upload.
    #[error("no such document")]
    NotFound,
    /// The object's bytes are there already and are never replaced.
    #[error("this document was already uploaded; its bytes cannot be replaced")]
    AlreadyUploaded,
    /// The stored bytes no longer have the digest they were attached with.
    #[error("the object {0} no longer has the digest it was attached with")]
    DigestChanged(String),
    /// The folder failed.
    #[error("the document store failed: {0}")]
    Store(#[from] BlobError),
}

impl From<std::io::Error> for TransferError {
    fn from(e: std::io::Error) -> Self {
        Self::Store(e.into())
    }
}

/// An object ready to be sent, with what its URL says about it.
#[derive(Debug)]
pub struct Download {
    /// The object's bytes.
    pub file: tokio::fs::File,
    /// How many there are.
    pub length: u64,
    /// The media type the URL carries.
    pub content_type: Option<String>,
    /// The `Content-Disposition` the URL carries.
    pub disposition: Option<String>,
}

/// What an upload request says about its body.
#[derive(Debug)]
pub struct UploadRequest<'a> {
    /// The object's key (the URL's path after `/v1/blobs/`).
    pub key: &'a str,
    /// The URL's raw query, signature included.
    pub query: Option<&'a str>,
    /// The `Content-Length` sent, if any.
    pub content_length: Option<u64>,
    /// The `Content-Type` sent, if any.
    pub content_type: Option<&'a str>,
}

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
    clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
        })
    }

    /// This store, its URLs' expiry given and checked by `clock` instead of
    /// the system's time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// When a URL signed now for `expires_in` expires.
    fn expiry(&self, expires_in: Duration) -> OffsetDateTime {
        self.clock.now() + expires_in
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
    fn check(&self, method: &str, key: &str, raw: Option<&str>) -> Result<UrlQuery, TransferError> {
        let raw = raw.unwrap_or_default();
        let (signed, signature) = raw
            .rsplit_once("&signature=")
            .ok_or(TransferError::SignatureMismatch)?;
        if !valid_key(key)
            || !self
                .signer
                .verify_blob_url(&format!("{method}\n{key}\n{signed}"), signature)
        {
            return Err(TransferError::SignatureMismatch);
        }
        let query: UrlQuery =
            serde_urlencoded::from_str(signed).map_err(|_| TransferError::SignatureMismatch)?;
        if query.expires <= self.clock.now().unix_timestamp() {
            return Err(TransferError::UrlExpired);
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
    async fn receive<B, E>(
        &self,
        body: B,
        size: u64,
        deadline: Instant,
    ) -> Result<TempPath, TransferError>
    where
        B: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (file, path) = self.temp_file()?;
        tokio::time::timeout_at(deadline, write_exactly(file, body, size))
            .await
            .map_err(|_| TransferError::UrlExpired)??;
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

async fn write_exactly<B, E>(
    mut file: tokio::fs::File,
    mut body: B,
    size: u64,
) -> Result<(), TransferError>
where
    B: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut written = 0u64;
    loop {
        let next = tokio::time::timeout(STALL_TIMEOUT, body.next()).await;
        let Some(chunk) = next.map_err(|_| TransferError::BodyTimeout)? else {
            break;
        };
        let chunk = chunk.map_err(|e| TransferError::InvalidBody(e.to_string()))?;
        written += chunk.len() as u64;
        if written > size {
            return Err(TransferError::SizeMismatch);
        }
        file.write_all(&chunk).await?;
    }
    if written != size {
        return Err(TransferError::SizeMismatch);
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(())
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
        let expires_at = self.expiry(expires_in);
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
        let expires_at = self.expiry(expires_in);
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

    async fn put(&self, key: &BlobKey, file: FileInfo<'_>, bytes: Bytes) -> Result<(), BlobError> {
        let object = self.object_path(key.as_str());
        if tokio::fs::try_exists(&object).await? {
            return Ok(());
        }
        let (mut temp, path) = self.temp_file()?;
        temp.write_all(&bytes).await?;
        temp.sync_all().await?;
        if let Some(parent) = object.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        write_meta(&meta_path(&object), file).await?;
        match path.persist_noclobber(&object) {
            Err(e) if e.error.kind() != std::io::ErrorKind::AlreadyExists => Err(e.error.into()),
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

    async fn read(&self, key: &BlobKey) -> Result<Option<BlobBytes>, BlobError> {
        let file = match tokio::fs::File::open(self.object_path(key.as_str())).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let chunks = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        Ok(Some(Box::pin(
            chunks.map(|chunk| chunk.map_err(BlobError::from)),
        )))
    }

    // One blocking read of the whole file rather than a thread hop a chunk.
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
        let expires_at = self.expiry(expires_in);
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

impl LocalBlobs {
    /// Receives the body of an upload (a whole object, or one part of a
    /// multipart upload) through a URL this store signed: exactly the size
    /// it allows, of the type it names, never over an object already there.
    pub async fn receive_upload<B, E>(
        &self,
        request: UploadRequest<'_>,
        body: B,
    ) -> Result<(), TransferError>
    where
        B: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let query = self.check("PUT", request.key, request.query)?;
        let size = query.size.ok_or(TransferError::SignatureMismatch)?;
        // An upload that started in time may take a while, but not forever.
        let left = query.expires - self.clock.now().unix_timestamp();
        let deadline =
            Instant::now() + Duration::from_secs(left.unsigned_abs() + UPLOAD_SLACK_SECS);
        if request.content_length.is_some_and(|n| n != size) {
            return Err(TransferError::SizeMismatch);
        }
        if let (Some(upload), Some(part)) = (query.upload, query.part) {
            let dir = self.upload_dir(upload);
            if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
                return Err(TransferError::NotFound);
            }
            let received = self.receive(body, size, deadline).await?;
            received
                .persist(dir.join(part.to_string()))
                .map_err(|e| TransferError::from(e.error))?;
            return Ok(());
        }
        let content_type = query.content_type.ok_or(TransferError::SignatureMismatch)?;
        if request.content_type != Some(content_type.as_str()) {
            return Err(TransferError::SignatureMismatch);
        }
        let object = self.object_path(request.key);
        if tokio::fs::try_exists(&object).await? {
            return Err(TransferError::AlreadyUploaded);
        }
        let received = self.receive(body, size, deadline).await?;
        if let Some(parent) = object.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let meta = Meta {
            content_type,
            content_disposition: query.disposition.unwrap_or_default(),
        };
        let json = serde_json::to_vec(&meta).map_err(|e| BlobError::Backend(e.to_string()))?;
        // The same URL (so the same metadata) for every upload to this key.
        tokio::fs::write(meta_path(&object), json).await?;
        received.persist_noclobber(&object).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                TransferError::AlreadyUploaded
            } else {
                e.error.into()
            }
        })?;
        Ok(())
    }

    /// Opens an object for a download through a URL this store signed; its
    /// bytes must still have the digest the URL carries.
    pub async fn open_download(
        &self,
        key: &str,
        query: Option<&str>,
    ) -> Result<Download, TransferError> {
        let query = self.check("GET", key, query)?;
        let path = self.object_path(key);
        let not_found = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TransferError::NotFound
            } else {
                e.into()
            }
        };
        if let Some(expected) = &query.sha256 {
            let stored =
                ContentDigest::from_bytes(file_sha256(path.clone()).await.map_err(not_found)?);
            if stored.as_str() != expected {
                return Err(TransferError::DigestChanged(key.to_owned()));
            }
        }
        let file = tokio::fs::File::open(&path).await.map_err(not_found)?;
        let length = file.metadata().await?.len();
        Ok(Download {
            file,
            length,
            content_type: query.content_type,
            disposition: query.disposition,
        })
    }
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
