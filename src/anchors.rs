//! Where audit anchors are kept, outside the database: a file (or a folder
//! of them) or an S3 bucket with Object Lock. `anote audit anchor` writes
//! one, `anote audit verify --against` reads one back, and the relay (and
//! `anote serve`) write one every ANOTE_AUDIT_ANCHOR_INTERVAL.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anote_store::event_store::anchor::{Anchor, Heads};
use anote_store::event_store::{EventStore, Position};
use anyhow::Context;
use time::OffsetDateTime;
use tokio::sync::watch;

/// Events read per batch while anchoring.
pub const BATCH: usize = 5_000;

/// Where anchors go, or where one is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A file; or, when it is a folder, a new file in it per anchor.
    Path(PathBuf),
    /// `s3://bucket/prefix`: an object per anchor under the prefix (or,
    /// to read one, the object's key).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key's prefix, without a trailing `/` (may be empty).
        prefix: String,
    },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.is_empty() {
                return Err("a path or an s3://bucket/prefix URL".to_owned());
            }
            return Ok(Self::Path(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("an S3 URL names its bucket: s3://bucket/prefix".to_owned());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The name of an anchor's file or object: `anchor-<P>-<time>.json`.
pub fn file_name(anchor: &Anchor) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let time = anchor
        .made_at
        .to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default();
    format!("anchor-{}-{time}.json", anchor.position)
}

/// Writes anchors to one location.
#[derive(Clone, Debug)]
pub enum Anchors {
    /// To a file, or to a new file per anchor in a folder.
    Path(PathBuf),
    /// To a new object per anchor under `prefix`, locked for `retention`.
    S3 {
        /// The client.
        client: aws_sdk_s3::Client,
        /// The bucket.
        bucket: String,
        /// The keys' prefix (may be empty).
        prefix: String,
        /// How long each object stays locked.
        retention: Duration,
    },
}

impl Anchors {
    /// Anchors at `location`; S3 objects are locked for `retention` and
    /// reached through `s3_endpoint` instead of AWS when given.
    pub async fn open(location: Location, retention: Duration, s3_endpoint: Option<&str>) -> Self {
        match location {
            Location::Path(path) => Self::Path(path),
            Location::S3 { bucket, prefix } => Self::S3 {
                client: anote_blob::s3::client(s3_endpoint).await,
                bucket,
                prefix,
                retention,
            },
        }
    }

    /// Writes `anchor`, never over an existing one; returns where it went.
    pub async fn write(&self, anchor: &Anchor) -> anyhow::Result<String> {
        let mut body = serde_json::to_vec_pretty(anchor)?;
        body.push(b'\n');
        match self {
            Self::S3 {
                client,
                bucket,
                prefix,
                retention,
            } => {
                let key = match prefix.as_str() {
                    "" => file_name(anchor),
                    prefix => format!("{prefix}/{}", file_name(anchor)),
                };
                let retain_until = OffsetDateTime::now_utc() + *retention;
                anote_blob::s3::put_locked(client, bucket, &key, body, retain_until)
                    .await
                    .with_context(|| format!("putting the anchor at s3://{bucket}/{key}"))?;
                Ok(format!("s3://{bucket}/{key}"))
            }
            Self::Path(path) => {
                let path = if path.is_dir() {
                    path.join(file_name(anchor))
                } else {
                    path.clone()
                };
                let written = path.display().to_string();
                tokio::task::spawn_blocking(move || write_new(&path, &body)).await??;
                Ok(written)
            }
        }
    }
}

/// Reads the anchor at `location` (a file, or one object's key), through
/// `s3_endpoint` instead of AWS when given.
pub async fn read(location: &Location, s3_endpoint: Option<&str>) -> anyhow::Result<Anchor> {
    let bytes = match location {
        Location::S3 { bucket, prefix } => {
            let client = anote_blob::s3::client(s3_endpoint).await;
            anote_blob::s3::get(&client, bucket, prefix)
                .await
                .with_context(|| format!("reading the anchor {location}"))?
                .with_context(|| format!("no anchor at {location}"))?
        }
        Location::Path(path) => {
            std::fs::read(path).with_context(|| format!("reading the anchor {location}"))?
        }
    };
    serde_json::from_slice(&bytes).with_context(|| format!("{location} is not an anchor"))
}

/// Writes `bytes` to a new file at `path` atomically: a temporary file in
/// the same folder, flushed, then moved into place only if nothing is
/// there (an existing anchor is never replaced).
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let exists = || {
        anyhow::anyhow!(
            "{} exists: an anchor is never overwritten (name a new file, or a folder)",
            path.display()
        )
    };
    if path.exists() {
        return Err(exists());
    }
    let mut temp = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("creating a file in {}", folder.display()))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist_noclobber(path)
        .map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => anyhow::Error::new(e.error).context(format!("writing {}", path.display())),
        })?;
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}

/// Starts [`run`] in the background when `config` names a location (S3
/// objects reached through `s3_endpoint` when given): the relay's and
/// `anote serve`'s scheduled anchors.
pub async fn start(
    config: &crate::config::AnchorConfig,
    events: Arc<dyn EventStore>,
    s3_endpoint: Option<&str>,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (anchors, interval) = config.anchors(s3_endpoint).await?;
    Some(tokio::spawn(run(events, anchors, interval, stop)))
}

/// Makes an anchor every `interval` until `stop` turns true, reading only
/// the events added since the last one; a tick that finds no new event
/// writes nothing. A failure is logged and retried at the next tick.
pub async fn run(
    events: Arc<dyn EventStore>,
    anchors: Anchors,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut heads = Heads::new();
    let mut anchored = Position::START;
    loop {
        match heads.read(&*events, None, BATCH).await {
            Ok(_) if heads.position() == anchored => {}
            Ok(_) => match anchors
                .write(&heads.anchor(OffsetDateTime::now_utc()))
                .await
            {
                Ok(place) => {
                    anchored = heads.position();
                    tracing::info!(%place, position = %anchored, "wrote an audit anchor");
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "writing an audit anchor failed; retrying later"
                    )
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "reading the log for an audit anchor failed; retrying later")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_paths_or_s3_urls() {
        assert_eq!(
            "s3://audit/anchors/prod/".parse(),
            Ok(Location::S3 {
                bucket: "audit".to_owned(),
                prefix: "anchors/prod".to_owned()
            })
        );
        assert_eq!(
            "s3://audit".parse(),
            Ok(Location::S3 {
                bucket: "audit".to_owned(),
                prefix: String::new()
            })
        );
        assert!("s3:///x".parse::<Location>().is_err());
        assert_eq!(
            "anchors/a.json".parse(),
            Ok(Location::Path(PathBuf::from("anchors/a.json")))
        );
    }

    #[test]
    fn a_written_anchor_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.json");
        write_new(&path, b"{}").expect("written");
        let refused = write_new(&path, b"[]").expect_err("refused");
        assert!(
            refused.to_string().contains("never overwritten"),
            "{refused}"
        );
        assert_eq!(std::fs::read(&path).expect("reads"), b"{}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 1);
    }
}
