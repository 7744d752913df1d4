//! Document bytes in an S3 bucket. Uploads and downloads use presigned URLs;
//! the server itself only creates and completes multipart uploads, reads
//! object heads and deletes. Also the write-once, locked objects of the
//! audit anchors ([`put_locked`], [`get`]).

use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Config, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use sha2::Digest;
use time::OffsetDateTime;

use super::{BlobBytes, BlobError, BlobKey, BlobStore, FileInfo, ObjectInfo, SignedRequest};

/// How long an S3 call of the server may take: 2 s to connect, 3 s per
/// attempt, 8 s in all, so that a request that needs the store is answered
/// 503 `blob_store_unavailable` inside the request timeout. The SDK's
/// standard mode retries each call (3 attempts, exponential back-off with
/// jitter); all of the server's calls may be repeated: heads, deletes and
/// lists are idempotent, completing a multipart upload twice gives the same
/// object, and an upload created twice leaves one unused, which the
/// bucket's lifecycle rule aborts.
fn limits() -> (TimeoutConfig, RetryConfig) {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build();
    (timeouts, RetryConfig::standard().with_max_attempts(3))
}

/// How long one attempt at a `PUT` of a document the service writes itself
/// (an import's) may take: its bytes may be tens of megabytes.
const PUT_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds an S3 client from the usual AWS settings (region, credentials)
/// with this service's [`limits`], talking to `endpoint` instead of AWS when
/// given (an emulator, addressed by path). Checksums are left to the
/// protocol's own checks, so that presigned requests carry only the headers
/// the client is told about.
pub async fn client(endpoint: Option<&str>) -> Client {
    let (timeouts, retries) = limits();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(endpoint.is_some())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

/// A client for an emulator with fixed credentials (tests and benchmarks).
pub fn emulator_client(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            access_key, secret_key, None, None, "anote",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

/// Creates bucket `name` (tests and benchmarks; in AWS the bucket comes from
/// the deployment).
pub async fn create_bucket(client: &Client, name: &str) -> Result<(), BlobError> {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

/// Puts `body` (JSON) at `key` of `bucket` once: refused when an object
/// has that key (`If-None-Match: *`), and locked in compliance mode until
/// `retain_until` (the bucket must have Object Lock on), so that nobody,
/// its owner included, can delete or overwrite it before then. The body
/// carries its `Content-MD5`, which Object Lock requires.
pub async fn put_locked(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    retain_until: OffsetDateTime,
) -> Result<(), BlobError> {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::ObjectLockMode;
    use base64::Engine as _;
    use md5::Md5;
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body));
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .content_md5(md5)
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(retain_until.unix_timestamp()))
        .if_none_match("*")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

/// The bytes of the object at `key` of `bucket`, or `None` when there is
/// none.
pub async fn get(client: &Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(got) => Ok(Some(got.body.collect().await.map_err(backend)?.to_vec())),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(backend(e)),
    }
}

fn backend<E: std::error::Error + 'static>(e: E) -> BlobError {
    BlobError::Backend(DisplayErrorContext(e).to_string())
}

/// Whether an SDK error is a 404 or an S3 "no such …" error.
fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.as_service_error().and_then(|s| s.code());
    status == Some(404) || matches!(code, Some("NoSuchKey" | "NoSuchUpload" | "NotFound"))
}

/// Documents in one bucket.
#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    /// The store over `bucket`.
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
        }
    }

    /// A `PUT` of a new object at `key`, named and typed as `file`. It
    /// carries `If-None-Match: *` (signed, in a presigned URL, so the
    /// client must send it): S3 refuses the `PUT` once the object exists.
    fn put_new(&self, key: &BlobKey, file: FileInfo<'_>) -> PutObjectFluentBuilder {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(file.content_type)
            .content_disposition(super::content_disposition(file.file_name))
            .if_none_match("*")
    }
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, BlobError> {
    PresigningConfig::expires_in(expires_in).map_err(backend)
}

fn signed(request: &PresignedRequest, expires_in: Duration) -> SignedRequest {
    SignedRequest {
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect(),
        expires_at: OffsetDateTime::now_utc() + expires_in,
    }
}

fn length(size: u64) -> Result<i64, BlobError> {
    i64::try_from(size).map_err(|_| BlobError::Backend("size out of range".into()))
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn presign_put(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError> {
        let request = self
            .put_new(key, file)
            .content_length(length(size)?)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(backend)?;
        Ok(signed(&request, expires_in))
    }

    async fn start_multipart(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
    ) -> Result<String, BlobError> {
        let started = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(file.content_type)
            .content_disposition(super::content_disposition(file.file_name))
            .send()
            .await
            .map_err(backend)?;
        started
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| BlobError::Backend("no upload id in the reply".into()))
    }

    async fn presign_part(
        &self,
        key: &BlobKey,
        upload_id: &str,
        number: u32,
        size: u64,
        expires_in: Duration,
    ) -> Result<SignedRequest, BlobError> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .content_length(length(size)?)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(backend)?;
        Ok(signed(&request, expires_in))
    }

    async fn finish_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        let listed = self
            .client
            .list_parts()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) if is_missing(&e) => return Err(BlobError::NoSuchUpload),
            Err(e) => return Err(backend(e)),
        };
        let mut listed = listed.parts().to_vec();
        listed.sort_by_key(|p| p.part_number());
        let parts: Vec<CompletedPart> = listed
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .set_part_number(p.part_number())
                    .set_e_tag(p.e_tag().map(str::to_owned))
                    .build()
            })
            .collect();
        if parts.is_empty() {
            return Err(BlobError::NoSuchUpload);
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                let refused = e.raw_response().is_some_and(|r| r.status().as_u16() == 400);
                if is_missing(&e) {
                    // Completed (or aborted) by a concurrent call.
                    BlobError::NoSuchUpload
                } else if refused {
                    BlobError::BadParts(DisplayErrorContext(e).to_string())
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put(&self, key: &BlobKey, file: FileInfo<'_>, bytes: Bytes) -> Result<(), BlobError> {
        let sent = self
            .put_new(key, file)
            .body(ByteStream::from(bytes))
            .customize()
            // A document may be tens of megabytes: more than one attempt's
            // few seconds of the API's calls.
            .config_override(
                Config::builder().timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(2))
                        .operation_attempt_timeout(PUT_TIMEOUT)
                        .operation_timeout(PUT_TIMEOUT * 2)
                        .build(),
                ),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // The object is there already (412): it is kept.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectInfo>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectInfo {
                size: head
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn read(&self, key: &BlobKey) -> Result<Option<BlobBytes>, BlobError> {
        let got = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(got) => got,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let chunks = futures_util::stream::try_unfold(got.body, |mut body| async move {
            let chunk = body.try_next().await.map_err(backend)?;
            Ok(chunk.map(|chunk| (chunk, body)))
        });
        Ok(Some(Box::pin(chunks)))
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        file: FileInfo<'_>,
        // S3 objects are never overwritten (see `presign_put`), and S3
        // checks its own copies.
        _sha256: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_disposition(super::content_disposition(file.file_name))
            .response_content_type(file.content_type)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(backend)?;
        Ok(request.uri().to_owned())
    }

    /// The origin of a presigned URL, read from one: path-style on an
    /// emulator's endpoint, the bucket's virtual host on AWS (such as
    /// `https://<bucket>.s3.<region>.amazonaws.com`), whichever the client
    /// signs.
    async fn origin(&self) -> Result<Option<String>, BlobError> {
        let probe = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key("origin-probe")
            .presigned(presigning(Duration::from_secs(60))?)
            .await
            .map_err(backend)?;
        let url = url::Url::parse(probe.uri()).map_err(backend)?;
        Ok(Some(url.origin().ascii_serialization()))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers the bucket's CORS rule lets a browser send
    /// (`deploy/cloudformation/data.yaml`).
    fn cors_allowed_headers() -> Vec<String> {
        let template = include_str!("../../../deploy/cloudformation/data.yaml");
        let line = template
            .lines()
            .find_map(|l| l.trim().strip_prefix("AllowedHeaders:"))
            .expect("the bucket has a CORS rule");
        line.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect()
    }

    #[tokio::test]
    async fn a_browser_may_send_every_header_an_upload_url_signs() {
        let store = S3Blobs::new(
            emulator_client("http://127.0.0.1:1", "key", "secret"),
            "documents",
        );
        let key = BlobKey("notes/n/documents/d".to_owned());
        let file = FileInfo {
            file_name: "Übung 3.pdf",
            content_type: "application/pdf",
        };
        let put = store
            .presign_put(&key, file, 42, Duration::from_secs(60))
            .await
            .expect("signed offline");
        let part = store
            .presign_part(&key, "upload", 1, 42, Duration::from_secs(60))
            .await
            .expect("signed offline");
        let allowed = cors_allowed_headers();
        let signed: Vec<&String> = put.headers.keys().chain(part.headers.keys()).collect();
        assert!(signed.iter().any(|h| *h == "if-none-match"), "{signed:?}");
        for header in signed {
            assert!(allowed.contains(header), "{header} is not in {allowed:?}");
        }
        assert_eq!(
            store.origin().await.expect("signed offline").as_deref(),
            Some("http://127.0.0.1:1")
        );
    }
}
