//! Settings, parsed once from flags or `ANOTE_*` environment variables, and
//! turned into the plain settings each library takes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anote_blob::{BlobSettings, DocumentPolicy};
use anote_command_api::AuthSettings;
use anote_http::HttpSettings;
use anote_kinesis::relay::aggregation::Packing;
use anote_query_api::{QuerySettings, StreamSettings};
use anote_store::db::PoolSettings;
use anote_tokens::Secret;
use rand::RngCore;

use crate::anchors::{Anchors, Location};

/// The longest duration a setting takes: a year. Timers cannot add much
/// more to the clock without overflowing it.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `duration`, or why it is refused.
fn at_most_a_year(duration: Duration) -> Result<Duration, String> {
    if duration > LONGEST {
        return Err(format!("at most {} seconds (a year)", LONGEST.as_secs()));
    }
    Ok(duration)
}

/// Parses a number of seconds, at most a year.
fn seconds(s: &str) -> Result<Duration, String> {
    let seconds = s.parse::<u64>().map_err(|e| format!("seconds: {e}"))?;
    at_most_a_year(Duration::from_secs(seconds))
}

/// Parses a number of milliseconds, at most a year.
fn millis(s: &str) -> Result<Duration, String> {
    let millis = s.parse::<u64>().map_err(|e| format!("milliseconds: {e}"))?;
    at_most_a_year(Duration::from_millis(millis))
}

/// Parses a duration written as a number and a unit (`500ms`, `90s`,
/// `15m`, `1h`, `7d`), at most a year.
fn human_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("a number and a unit: ms, s, m, h or d (such as 1h)")?;
    let (number, unit) = s.split_at(split);
    let number = number
        .parse::<u64>()
        .map_err(|e| format!("a number and a unit (such as 1h): {e}"))?;
    let unit = match unit.trim() {
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(60 * 60),
        "d" => Duration::from_secs(24 * 60 * 60),
        other => return Err(format!("unknown unit {other:?}: ms, s, m, h or d")),
    };
    let duration = u32::try_from(number)
        .ok()
        .and_then(|n| unit.checked_mul(n))
        .ok_or_else(|| format!("at most {} seconds (a year)", LONGEST.as_secs()))?;
    if duration.is_zero() {
        return Err("more than nothing".to_owned());
    }
    at_most_a_year(duration)
}

/// Parses a statement timeout in milliseconds: at most what PostgreSQL's
/// `statement_timeout` holds (2³¹ − 1 ms, about 24 days).
fn statement_millis(s: &str) -> Result<Duration, String> {
    let limit = millis(s)?;
    if limit.as_millis() > i32::MAX as u128 {
        return Err(format!("at most {} milliseconds", i32::MAX));
    }
    Ok(limit)
}

/// How an HTTP service listens and guards its routes.
#[derive(clap::Args, Clone, Debug)]
pub struct HttpConfig {
    /// Address and port to listen on.
    #[arg(long, env = "ANOTE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Origins allowed by CORS, comma-separated (none by default).
    #[arg(long, env = "ANOTE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "ANOTE_REQUEST_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub request_timeout: Duration,
    /// Largest request body in bytes (a note body may be 512 KiB of text,
    /// which JSON escaping can grow).
    #[arg(long, env = "ANOTE_BODY_LIMIT_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Requests served at once; beyond, requests are shed at once with 503
    /// and `Retry-After` instead of queueing. A request counts once its body
    /// has arrived; document transfers of the local store do not count.
    #[arg(long, env = "ANOTE_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,
    /// Seconds a client may take to send a request's headers before its
    /// connection is closed.
    #[arg(long, env = "ANOTE_HEADER_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,
    /// Seconds an API request's body may take to arrive before it is
    /// answered with 408.
    #[arg(long, env = "ANOTE_BODY_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub body_timeout: Duration,
    /// Connections one client address may hold open at once; more are
    /// closed as they arrive (0: no limit, for a service behind a load
    /// balancer, whose own addresses are the clients it sees).
    #[arg(long, env = "ANOTE_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,
}

impl HttpConfig {
    /// What the API layers need of these settings.
    pub fn settings(&self) -> HttpSettings {
        HttpSettings {
            cors_origins: self.cors_origins.clone(),
            request_timeout: self.request_timeout,
            body_limit: self.body_limit,
            max_in_flight: self.max_in_flight,
            body_timeout: self.body_timeout,
        }
    }
}

/// Tokens, sessions and login throttling.
#[derive(clap::Args, Clone, Debug)]
pub struct AuthConfig {
    /// Key that signs access tokens (required by the split services; the
    /// embedded default creates one in its data folder).
    #[arg(long, env = "ANOTE_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<Secret<String>>,
    /// Seconds an access token lives.
    #[arg(long, env = "ANOTE_ACCESS_TOKEN_TTL_SECS", default_value = "900", value_parser = seconds)]
    pub access_ttl: Duration,
    /// Seconds a refresh token lives.
    #[arg(long, env = "ANOTE_REFRESH_TOKEN_TTL_SECS", default_value = "2592000", value_parser = seconds)]
    pub refresh_ttl: Duration,
    /// Failed logins allowed per username within the window (attempts in
    /// flight count until they fail or succeed), across every instance.
    #[arg(long, env = "ANOTE_LOGIN_FAILURES_PER_USER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_user: u32,
    /// Failed logins allowed per client address within the window.
    #[arg(long, env = "ANOTE_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_address: u32,
    /// Seconds over which failed logins are counted.
    #[arg(long, env = "ANOTE_LOGIN_WINDOW_SECS", default_value = "900", value_parser = seconds)]
    pub login_window: Duration,
    /// Proxies (load balancers) in front of the service that append the
    /// address they saw to `X-Forwarded-For`: the login limits count the
    /// address that many entries from the right (0: the TCP peer).
    #[arg(long, env = "ANOTE_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,
    /// Milliseconds between reloads of the token revocations (the split
    /// services also hear of each at once through PostgreSQL notices; the
    /// reload heals a missed notice).
    #[arg(long, env = "ANOTE_REVOCATION_POLL_MS", default_value = "2000", value_parser = millis)]
    pub revocation_poll: Duration,
}

impl AuthConfig {
    /// What the command API needs of these settings.
    pub fn settings(&self) -> AuthSettings {
        AuthSettings {
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            login_failures_per_user: self.login_failures_per_user,
            login_failures_per_address: self.login_failures_per_address,
            login_window: self.login_window,
            trusted_proxy_hops: self.trusted_proxy_hops,
        }
    }

    /// The configured signing key, or the one kept in `data_dir` (created
    /// with 256 random bits on first use).
    pub fn signing_key_or_create(&self, data_dir: &Path) -> std::io::Result<Secret<Vec<u8>>> {
        if let Some(secret) = &self.token_secret {
            return Ok(Secret::new(secret.expose().as_bytes().to_vec()));
        }
        let path = data_dir.join("token-secret");
        match std::fs::read(&path) {
            Ok(key) if key.len() >= 32 => return Ok(Secret::new(key)),
            Ok(_) | Err(_) => {}
        }
        let mut key = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private(&path, &key)?;
        Ok(Secret::new(key))
    }

    /// The configured signing key; the split services must be given one so
    /// that every instance agrees.
    pub fn signing_key(&self) -> Result<Secret<Vec<u8>>, &'static str> {
        self.token_secret
            .as_ref()
            .map(|s| Secret::new(s.expose().as_bytes().to_vec()))
            .ok_or("ANOTE_TOKEN_SECRET must be set")
    }
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// `url` with its password replaced by `password`, when one is given: a
/// deployed service gets the password alone from a secret store, and the
/// rest of the URL as plain configuration.
pub fn with_password(
    url: &Secret<String>,
    password: Option<&Secret<String>>,
) -> Result<Secret<String>, String> {
    let Some(password) = password else {
        return Ok(url.clone());
    };
    let mut parsed = url::Url::parse(url.expose()).map_err(|e| format!("a PostgreSQL URL: {e}"))?;
    parsed
        .set_password(Some(password.expose()))
        .map_err(|()| "a PostgreSQL URL with a host".to_owned())?;
    Ok(Secret::new(parsed.into()))
}

/// The PostgreSQL database of the split services.
#[derive(clap::Args, Clone, Debug)]
pub struct PostgresConfig {
    /// Connection URL of the event-log database.
    #[arg(long, env = "ANOTE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret<String>,
    /// Password of the event-log database, replacing the URL's.
    #[arg(long, env = "ANOTE_DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<Secret<String>>,
    /// Schema that holds Anote's tables (created if missing).
    #[arg(long, env = "ANOTE_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Connections in the pool.
    #[arg(long, env = "ANOTE_DATABASE_MAX_CONNECTIONS", default_value_t = 32)]
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it is
    /// answered 503 `store_unavailable` (well inside the request timeout).
    #[arg(long, env = "ANOTE_DATABASE_ACQUIRE_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub database_acquire_timeout: Duration,
    /// How long the server lets one statement run (`statement_timeout`);
    /// 0 for no limit.
    #[arg(long, env = "ANOTE_DATABASE_STATEMENT_TIMEOUT_MS", default_value = "5000", value_parser = statement_millis)]
    pub database_statement_timeout: Duration,
}

impl PostgresConfig {
    /// The services' pools: this size, these waits.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
            statement_timeout: Some(self.database_statement_timeout)
                .filter(|limit| !limit.is_zero()),
        }
    }

    /// The event-log database's URL, with its password.
    pub fn url(&self) -> Result<Secret<String>, String> {
        with_password(&self.database_url, self.database_password.as_ref())
    }
}

/// The read-model database of the split services.
#[derive(clap::Args, Clone, Debug)]
pub struct ReadDatabaseConfig {
    /// Connection URL of the read-model database (defaults to the event log's).
    #[arg(long, env = "ANOTE_READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<Secret<String>>,
    /// Password of the read-model database, replacing its URL's.
    #[arg(long, env = "ANOTE_READ_DATABASE_PASSWORD", hide_env_values = true)]
    pub read_database_password: Option<Secret<String>>,
    /// Schema that holds the live read models (created if missing).
    #[arg(long, env = "ANOTE_READ_DATABASE_SCHEMA", default_value = "anote_read")]
    pub read_database_schema: String,
}

impl ReadDatabaseConfig {
    /// The read-model database's URL, with its password; `log` (the event
    /// log's URL, with its password) when no other database is named.
    pub fn url(&self, log: &Secret<String>) -> Result<Secret<String>, String> {
        match &self.read_database_url {
            Some(url) => with_password(url, self.read_database_password.as_ref()),
            None => Ok(log.clone()),
        }
    }
}

/// The Kinesis data stream between the relay and the projectors.
#[derive(clap::Args, Clone, Debug)]
pub struct KinesisConfig {
    /// Name of the Kinesis data stream (the relay needs it; the projector
    /// reads it when set and tails the event log otherwise).
    #[arg(long, env = "ANOTE_KINESIS_STREAM")]
    pub kinesis_stream: Option<String>,
    /// Endpoint to use instead of AWS's (an emulator); region and
    /// credentials come from the usual AWS_* variables.
    #[arg(long, env = "ANOTE_KINESIS_ENDPOINT")]
    pub kinesis_endpoint: Option<String>,
    /// Events the relay reads from the log per batch.
    #[arg(long, env = "ANOTE_RELAY_BATCH", default_value_t = 2_000)]
    pub relay_batch: usize,
    /// How the relay puts events into records: `kpl` packs the events bound
    /// for one shard into KPL aggregated records, `json` into JSON arrays
    /// (the format of earlier releases, for projectors that read only
    /// that), `single` sends one record per event.
    #[arg(long, env = "ANOTE_RELAY_PACKING", default_value_t = Packing::Kpl)]
    pub relay_packing: Packing,
    /// Milliseconds a projector's shard lease lasts without renewal; a dead
    /// instance's shards are taken over after this long.
    #[arg(long, env = "ANOTE_LEASE_TTL_MS", default_value = "10000", value_parser = millis)]
    pub lease_ttl: Duration,
}

/// How reads wait for the projection.
#[derive(clap::Args, Clone, Debug)]
pub struct ProjectionConfig {
    /// Milliseconds a read with `Anote-Min-Position` waits for the read models.
    #[arg(long, env = "ANOTE_MIN_POSITION_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub min_position_timeout: Duration,
    /// Milliseconds a cached read may live: the bound on how stale a read
    /// without `Anote-Min-Position` can be if a change notice is lost.
    #[arg(long, env = "ANOTE_CACHE_TTL_MS", default_value = "5000", value_parser = millis)]
    pub cache_ttl: Duration,
    /// Bytes of note views and list pages the query API keeps in memory.
    #[arg(long, env = "ANOTE_CACHE_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_max_bytes: u64,
    /// Milliseconds a caught-up projector waits before looking at the log again.
    #[arg(long, env = "ANOTE_PROJECTOR_IDLE_MS", default_value = "10", value_parser = millis)]
    pub projector_idle: Duration,
    /// Change streams (`/v1/changes/stream`) an account may hold open.
    #[arg(long, env = "ANOTE_STREAMS_PER_USER", default_value_t = StreamSettings::DEFAULT.per_user)]
    pub streams_per_user: usize,
    /// Change streams this process holds open at most (each takes a
    /// connection, so a file descriptor).
    #[arg(long, env = "ANOTE_MAX_STREAMS", default_value_t = StreamSettings::DEFAULT.total)]
    pub max_streams: usize,
    /// Milliseconds an idle change stream waits before a heartbeat (below
    /// the load balancer's idle timeout).
    #[arg(long, env = "ANOTE_STREAM_HEARTBEAT_MS", default_value = "15000", value_parser = millis)]
    pub stream_heartbeat: Duration,
}

impl ProjectionConfig {
    /// What the query API needs of these settings.
    pub fn query_settings(&self) -> QuerySettings {
        QuerySettings {
            min_position_timeout: self.min_position_timeout,
            cache_max_bytes: self.cache_max_bytes,
            cache_ttl: self.cache_ttl,
            streams: StreamSettings {
                per_user: self.streams_per_user,
                total: self.max_streams,
                heartbeat: self.stream_heartbeat,
            },
        }
    }
}

/// Where a process serves `/metrics` and `/healthz` for monitoring (never on
/// an API's public port), and how often it prints CloudWatch metric lines.
#[derive(clap::Args, Clone, Debug)]
pub struct MetricsConfig {
    /// Address for `/metrics` and `/healthz` (no metrics served if unset).
    #[arg(long, env = "ANOTE_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Seconds between CloudWatch metric lines (embedded metric format) on
    /// standard output; 0 prints none.
    #[arg(long, env = "ANOTE_EMF_INTERVAL_SECS", default_value = "0", value_parser = seconds)]
    pub emf_interval: Duration,
    /// The CloudWatch namespace of those lines.
    #[arg(long, env = "ANOTE_EMF_NAMESPACE", default_value = "Anote")]
    pub emf_namespace: String,
    /// The environment those lines name (`dev`, `staging`, `prod`).
    #[arg(long, env = "ANOTE_ENVIRONMENT", default_value = "local")]
    pub environment: String,
}

/// The data folder of the embedded default.
#[derive(clap::Args, Clone, Debug)]
pub struct EmbeddedConfig {
    /// Folder for the SQLite database and the token key.
    #[arg(long, env = "ANOTE_DATA_DIR", default_value = "anote-data")]
    pub data_dir: PathBuf,
}

/// The media types documents may have unless `ANOTE_DOCUMENT_TYPES` says
/// otherwise: PDF, images, plain text, Markdown, office documents, zip.
pub const DEFAULT_DOCUMENT_TYPES: &str = "application/pdf,image/png,image/jpeg,image/gif,\
image/webp,image/heic,image/svg+xml,text/plain,text/markdown,application/msword,\
application/vnd.openxmlformats-officedocument.wordprocessingml.document,\
application/vnd.ms-excel,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,\
application/vnd.ms-powerpoint,\
application/vnd.openxmlformats-officedocument.presentationml.presentation,\
application/vnd.oasis.opendocument.text,application/vnd.oasis.opendocument.spreadsheet,\
application/vnd.oasis.opendocument.presentation,application/rtf,application/zip";

/// Documents: where their bytes live, the limits on them, and the sweeper.
#[derive(clap::Args, Clone, Debug)]
pub struct DocumentConfig {
    /// S3 bucket for documents; without it they go to a local folder.
    /// Region and credentials come from the usual AWS_* variables.
    #[arg(long, env = "ANOTE_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Endpoint to use instead of AWS's (an emulator, addressed by path).
    #[arg(long, env = "ANOTE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Folder of the local document store (`anote serve`: `blobs` in the
    /// data folder).
    #[arg(long, env = "ANOTE_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,
    /// The address clients reach this server at, for the URLs of the local
    /// document store (default `http://` and ANOTE_LISTEN).
    #[arg(long, env = "ANOTE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest document in bytes.
    #[arg(long, env = "ANOTE_DOCUMENT_MAX_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub document_max_bytes: u64,
    /// Bytes of pending and attached documents one user may hold.
    #[arg(long, env = "ANOTE_DOCUMENT_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub document_quota_bytes: u64,
    /// Media types accepted, comma-separated (parameters such as charset
    /// are ignored when matching).
    #[arg(long, env = "ANOTE_DOCUMENT_TYPES", value_delimiter = ',', default_value = DEFAULT_DOCUMENT_TYPES)]
    pub document_types: Vec<String>,
    /// Seconds an upload URL works.
    #[arg(long, env = "ANOTE_UPLOAD_URL_TTL_SECS", default_value = "900", value_parser = seconds)]
    pub upload_url_ttl: Duration,
    /// Seconds a download URL works.
    #[arg(long, env = "ANOTE_DOWNLOAD_URL_TTL_SECS", default_value = "300", value_parser = seconds)]
    pub download_url_ttl: Duration,
    /// Seconds after its URLs expire that an upload never completed is
    /// abandoned (and its bytes freed) by the sweeper.
    #[arg(long, env = "ANOTE_UPLOAD_GRACE_SECS", default_value = "600", value_parser = seconds)]
    pub upload_grace: Duration,
    /// Seconds between two sweeps in `anote relay` and `anote serve`.
    #[arg(long, env = "ANOTE_SWEEP_INTERVAL_SECS", default_value = "300", value_parser = seconds)]
    pub sweep_interval: Duration,
}

impl DocumentConfig {
    /// The limits both APIs apply.
    pub fn policy(&self) -> DocumentPolicy {
        DocumentPolicy {
            max_bytes: self.document_max_bytes,
            quota_bytes: self.document_quota_bytes,
            types: self.document_types.clone(),
            upload_url_ttl: self.upload_url_ttl,
            download_url_ttl: self.download_url_ttl,
            upload_grace: self.upload_grace,
        }
    }

    /// Where documents are kept: the S3 bucket, or else the local folder
    /// (`blob_dir`, or `default_dir`) whose URLs start with `public_url` or
    /// `default_url`; `None` when neither a bucket nor a folder is named.
    pub fn store(&self, default_dir: Option<&Path>, default_url: &str) -> Option<BlobSettings> {
        if let Some(bucket) = &self.s3_bucket {
            return Some(BlobSettings::S3 {
                bucket: bucket.clone(),
                endpoint: self.s3_endpoint.clone(),
            });
        }
        let dir = self.blob_dir.as_deref().or(default_dir)?;
        Some(BlobSettings::Local {
            dir: dir.to_owned(),
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| default_url.to_owned()),
        })
    }
}

/// Audit anchors made on a schedule (`anote relay`, `anote serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct AnchorConfig {
    /// Where to write an audit anchor every interval: a folder, or
    /// `s3://bucket/prefix` (a bucket with Object Lock); unset, none is made.
    #[arg(long, env = "ANOTE_AUDIT_ANCHOR_TO")]
    pub audit_anchor_to: Option<Location>,
    /// Time between two anchors, such as `1h` or `15m`.
    #[arg(long, env = "ANOTE_AUDIT_ANCHOR_INTERVAL", default_value = "1h", value_parser = human_duration)]
    pub audit_anchor_interval: Duration,
    /// How long an anchor put to S3 stays locked.
    #[command(flatten)]
    pub retention: AnchorRetention,
}

/// How long an anchor put to S3 stays locked.
#[derive(clap::Args, Clone, Debug)]
pub struct AnchorRetention {
    /// Days an anchor put to S3 is locked (compliance mode: nobody can
    /// delete or overwrite it before then).
    #[arg(long = "retention-days", env = "ANOTE_AUDIT_ANCHOR_RETENTION_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub retention_days: u64,
}

impl AnchorRetention {
    /// The retention as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.retention_days * 24 * 60 * 60)
    }
}

impl AnchorConfig {
    /// The anchors to write, if a location is set; S3 objects are reached
    /// through `s3_endpoint` when given.
    pub async fn anchors(&self, s3_endpoint: Option<&str>) -> Option<(Anchors, Duration)> {
        let location = self.audit_anchor_to.clone()?;
        let anchors = Anchors::open(location, self.retention.duration(), s3_endpoint).await;
        Some((anchors, self.audit_anchor_interval))
    }
}

/// How logs are written.
#[derive(clap::Args, Clone, Debug)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "ANOTE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Which logs to keep, as a tracing filter (such as `info,sqlx=warn`).
    #[arg(long, env = "ANOTE_LOG", default_value = "info,sqlx=warn")]
    pub log: String,
}

/// The shape of log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s: Secret<String> = "hunter2hunter2".parse().unwrap_or_else(|e| match e {});
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn statement_timeouts_are_what_postgresql_can_hold() {
        assert_eq!(statement_millis("0"), Ok(Duration::ZERO));
        assert_eq!(statement_millis("5000"), Ok(Duration::from_secs(5)));
        assert!(statement_millis("2147483647").is_ok());
        assert!(statement_millis("2147483648").is_err());
        assert!(statement_millis("-1").is_err());
    }

    #[test]
    fn the_embedded_key_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = AuthConfig {
            token_secret: None,
            access_ttl: Duration::from_secs(1),
            refresh_ttl: Duration::from_secs(1),
            login_failures_per_user: 1,
            login_failures_per_address: 1,
            trusted_proxy_hops: 0,
            revocation_poll: Duration::from_secs(1),
            login_window: Duration::from_secs(1),
        };
        let first = auth.signing_key_or_create(dir.path()).expect("created");
        let second = auth.signing_key_or_create(dir.path()).expect("read back");
        assert_eq!(first.expose().len(), 32);
        assert_eq!(first, second);
    }

    #[test]
    fn a_separate_password_replaces_the_urls_and_is_escaped() {
        let url = Secret::new("postgres://anote:old@db.internal:5432/anote".to_owned());
        let password = Secret::new("p@ss/w:rd#?".to_owned());
        let merged = with_password(&url, Some(&password)).expect("merged");
        assert_eq!(
            merged.expose(),
            "postgres://anote:p%40ss%2Fw%3Ard%23%3F@db.internal:5432/anote"
        );
        let parsed = url::Url::parse(merged.expose()).expect("a URL");
        assert_eq!(parsed.host_str(), Some("db.internal"));
        assert_eq!(with_password(&url, None).expect("kept"), url);
        let bad = Secret::new("not a url".to_owned());
        assert!(with_password(&bad, Some(&password)).is_err());
    }

    #[test]
    fn anchor_intervals_take_a_unit() {
        assert_eq!(human_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(human_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(human_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(human_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(human_duration("60").is_err());
        assert!(human_duration("0s").is_err());
        assert!(human_duration("1y").is_err());
        assert!(human_duration("366d").is_err_and(|e| e.contains("a year")));
        assert!(human_duration("99999999999h").is_err());
    }

    #[test]
    fn durations_beyond_a_year_are_refused_clearly() {
        assert_eq!(seconds("60"), Ok(Duration::from_secs(60)));
        assert_eq!(millis("1500"), Ok(Duration::from_millis(1_500)));
        assert!(seconds("31536001").is_err_and(|e| e.contains("a year")));
        assert!(seconds("18446744073709551615").is_err());
        assert!(millis("18446744073709551615").is_err());
        assert!(seconds("-1").is_err());
    }
}
