//! The blob port: document bytes in S3 or in a local folder. Clients move the
//! bytes themselves through short-lived presigned URLs; the API servers only
//! sign, check (`head`, `sha256`) and delete. An object is written once: a
//! second upload to its key is refused, so the bytes checked and attached
//! are the bytes every download gets. An account's export reads the bytes
//! itself (`read`), and an import writes them (`put`).
//!
//! # Layout
//! - this file: the [`BlobStore`] port, [`Blobs`] (the store a service
//!   opens from [`BlobSettings`]) and the [`DocumentPolicy`] limits.
//! - [`s3`]: S3 and its emulator; the locked objects of the audit anchors.
//! - [`local`]: a folder, with URLs signed by the service itself.
//! - [`clock`]: the time the local store checks its URLs' expiry against.

pub mod clock;
pub mod local;
pub mod s3;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anote_domain::NoteId;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use anote_tokens::TokenSigner;

/// Uploads above this size go in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The size of every part but the last (S3 wants at least 5 MiB).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Where an object lives, derived from ids only (never from a file name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of a note's document.
    pub fn document(note: NoteId, document: Uuid) -> Self {
        Self(format!("notes/{note}/documents/{document}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request a client may send once, before `expires_at`, exactly as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The URL, with its signature.
    pub url: String,
    /// Headers the client must send with these values (they are signed).
    pub headers: BTreeMap<String, String>,
    /// When the signature stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// What the store knows of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: u64,
    /// Its media type, as uploaded.
    pub content_type: Option<String>,
}

/// What a document is called and what it holds: stored with the object and
/// sent with its downloads.
#[derive(Clone, Copy, Debug)]
pub struct FileInfo<'a> {
    /// The original (sanitised) file name.
    pub file_name: &'a str,
    /// The media type.
    pub content_type: &'a str,
}

/// What can go wrong in a blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The multipart upload is unknown or has no parts yet.
    #[error("the multipart upload has no parts or does not exist")]
    NoSuchUpload,
    /// The store refused to join the uploaded parts (missing, out of
    /// order, or too small): the client's upload is at fault.
    #[error("the uploaded parts cannot be joined: {0}")]
    BadParts(String),
    /// The store failed or could not be reached.
    #[error("blob store: {0}")]
    Backend(String),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// An object's bytes, in chunks as the store gives them.
pub type BlobBytes = BoxStream<'static, Result<Bytes, BlobError>>;

/// A store of document bytes.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A `PUT` of exactly `size` bytes of `file` to `key`, accepted only
    /// while no object has that key.
    async fn presign_put(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError>;

    /// Starts a multipart upload to `key`; returns its id.
    async fn start_multipart(&self, key: &BlobKey, file: FileInfo<'_>)
        -> Result<String, BlobError>;

    /// A `PUT` of part `number` (from 1), `size` bytes, of a multipart upload.
    async fn presign_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: u32,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError>;

    /// Joins the uploaded parts, in order, into the object.
    async fn finish_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError>;

    /// Drops a multipart upload and its parts (no error if it is gone).
    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError>;

    /// Stores `bytes` under `key`, written by the service itself (an
    /// import's documents, whose keys are derived from their digests), unless
    /// an object is already there: that one is kept, never replaced.
    async fn put(&self, key: &BlobKey, file: FileInfo<'_>, bytes: Bytes) -> Result<(), BlobError>;

    /// The object's size and type, or `None` when there is none.
    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectInfo>, BlobError>;

    /// The object's bytes as they come, or `None` when there is none.
    async fn read(&self, key: &BlobKey) -> Result<Option<BlobBytes>, BlobError>;

    /// The SHA-256 of the object's bytes, or `None` when there is none.
    async fn sha256(&self, key: &BlobKey) -> Result<Option<[u8; 32]>, BlobError> {
        let Some(mut bytes) = self.read(key).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = bytes.try_next().await? {
            hasher.update(&chunk);
        }
        Ok(Some(hasher.finalize().into()))
    }

    /// A `GET` URL that downloads the object as an attachment named as in
    /// `file`; with `sha256`, a store that serves the bytes itself refuses
    /// to serve others.
    async fn presign_get(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        sha256: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, BlobError>;

    /// Deletes the object (no error if it is gone).
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// The origin (`scheme://host[:port]`) of the URLs this store presigns,
    /// for a browser page that must be allowed to reach them; `None` for a
    /// store whose URLs are the service's own (the local store).
    async fn origin(&self) -> Result<Option<String>, BlobError> {
        Ok(None)
    }
}

/// Where documents are kept.
#[derive(Clone, Debug)]
pub enum BlobSettings {
    /// An S3 bucket (through `endpoint` instead of AWS's, for an emulator).
    S3 {
        /// The bucket.
        bucket: String,
        /// An endpoint addressed by path, instead of AWS's.
        endpoint: Option<String>,
    },
    /// A local folder, whose URLs point at this server.
    Local {
        /// The folder.
        dir: PathBuf,
        /// The address clients reach this server at.
        public_url: String,
    },
}

/// The document store a service uses; a local store also needs its
/// transfer routes on the service (see [`Blobs::local`]).
#[derive(Clone)]
pub struct Blobs {
    /// The store.
    pub store: Arc<dyn BlobStore>,
    local: Option<Arc<local::LocalBlobs>>,
}

impl Blobs {
    /// Opens the store `settings` name; a local store's URLs are signed by
    /// `signer`.
    pub async fn open(settings: &BlobSettings, signer: TokenSigner) -> Result<Self, BlobError> {
        match settings {
            BlobSettings::S3 { bucket, endpoint } => {
                let client = s3::client(endpoint.as_deref()).await;
                Ok(Self::from_store(Arc::new(s3::S3Blobs::new(client, bucket))))
            }
            BlobSettings::Local { dir, public_url } => Ok(Self::local_store(
                local::LocalBlobs::open(dir, public_url, signer)?,
            )),
        }
    }

    /// A store that moves no bytes through the service (S3).
    pub fn from_store(store: Arc<dyn BlobStore>) -> Self {
        Self { store, local: None }
    }

    /// A local store, whose bytes move through the service's own routes.
    pub fn local_store(store: local::LocalBlobs) -> Self {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            local: Some(store),
        }
    }

    /// The local store, when documents are kept in a folder: the service
    /// must then serve its transfer URLs.
    pub fn local(&self) -> Option<&Arc<local::LocalBlobs>> {
        self.local.as_ref()
    }
}

/// The limits on documents both APIs apply.
#[derive(Clone, Debug)]
pub struct DocumentPolicy {
    /// The largest document in bytes.
    pub max_bytes: u64,
    /// The bytes of pending and attached documents one user may hold.
    pub quota_bytes: u64,
    /// The media types accepted (essences, compared without case).
    pub types: Vec<String>,
    /// How long an upload URL works.
    pub upload_url_ttl: Duration,
    /// How long a download URL works.
    pub download_url_ttl: Duration,
    /// How long after its URLs expire an upload never completed is abandoned.
    pub upload_grace: Duration,
}

impl DocumentPolicy {
    /// Whether documents of `essence` (a media type without parameters,
    /// lower-cased) are accepted.
    pub fn allows(&self, essence: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(essence))
    }
}

/// The parts of a multipart upload of `size` bytes: `(number, size)`.
pub fn parts(size: u64) -> Vec<(u32, u64)> {
    (0..size.div_ceil(PART_SIZE))
        .map(|i| {
            let start = i * PART_SIZE;
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            (number, PART_SIZE.min(size - start))
        })
        .collect()
}

/// A `Content-Disposition: attachment` value carrying `file_name`: an ASCII
/// fallback in `filename` (quotes, backslashes and non-ASCII replaced) and
/// the exact name in RFC 8187 `filename*`.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_split_into_full_parts_and_a_rest() {
        let mib = 1024 * 1024;
        assert_eq!(
            parts(40 * mib),
            vec![
                (1, 8 * mib),
                (2, 8 * mib),
                (3, 8 * mib),
                (4, 8 * mib),
                (5, 8 * mib)
            ]
        );
        assert_eq!(parts(17 * mib), vec![(1, 8 * mib), (2, 8 * mib), (3, mib)]);
    }

    #[test]
    fn dispositions_escape_quotes_and_encode_unicode() {
        assert_eq!(
            content_disposition("Übung \"3\".pdf"),
            "attachment; filename=\"_bung _3_.pdf\"; filename*=UTF-8''%C3%9Cbung%20%223%22.pdf"
        );
        assert_eq!(
            content_disposition("a;b\\c.txt"),
            "attachment; filename=\"a;b_c.txt\"; filename*=UTF-8''a%3Bb%5Cc.txt"
        );
    }

    #[test]
    fn keys_come_from_ids_only() {
        let note = NoteId::from_uuid(Uuid::from_u128(1));
        let key = BlobKey::document(note, Uuid::from_u128(2));
        assert_eq!(
            key.as_str(),
            "notes/00000000-0000-0000-0000-000000000001/documents/00000000-0000-0000-0000-000000000002"
        );
    }
}
