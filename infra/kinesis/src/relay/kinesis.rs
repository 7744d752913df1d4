//! The record sink on an AWS Kinesis data stream.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;

use super::aggregation::ShardMap;
use super::{OutRecord, PutResult, RecordSink, RelayError};

/// The error code Kinesis gives a record refused for the shard's limits.
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// How long a Kinesis call may take: 2 s to connect, 10 s per attempt (a
/// `GetRecords` of up to 10 MiB), 30 s in all. Every call is retried by the
/// SDK's standard mode (3 attempts, exponential back-off with jitter,
/// throttling included); `PutRecords` is safe to retry because the relay
/// publishes at least once and the feed drops what it has applied, and the
/// relay backs off further per shard on top of it.
fn limits() -> (TimeoutConfig, RetryConfig) {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    (timeouts, RetryConfig::standard().with_max_attempts(3))
}

/// Builds a Kinesis client from the usual AWS settings (region, credentials)
/// with this service's [`limits`], talking to `endpoint` instead of AWS when
/// given (an emulator).
pub async fn client(endpoint: Option<&str>) -> Client {
    let (timeouts, retries) = limits();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
}

/// A client with a fixed region and credentials, for a local emulator (it
/// does not check signatures).
pub fn emulator_client(endpoint: &str) -> Client {
    use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "anote"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// Creates stream `name` with `shards` shards and waits until it is active.
pub async fn create_stream(client: &Client, name: &str, shards: i32) -> Result<(), RelayError> {
    let sdk = |e: String| RelayError::Sink(e);
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .map_err(|e| sdk(aws_sdk_kinesis::error::DisplayErrorContext(e).to_string()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let summary = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| sdk(aws_sdk_kinesis::error::DisplayErrorContext(e).to_string()))?;
        let status = summary
            .stream_description_summary()
            .map(|s| s.stream_status().as_str().to_owned());
        if status.as_deref() == Some("ACTIVE") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(sdk(format!("stream {name} is still {status:?}")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// One round trip to Kinesis: the summary of stream `name` (a readiness
/// check of the relay and the projector).
pub async fn ping(client: &Client, name: &str) -> Result<(), RelayError> {
    client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| RelayError::Sink(aws_sdk_kinesis::error::DisplayErrorContext(e).to_string()))
}

/// Puts records on one Kinesis stream.
#[derive(Clone, Debug)]
pub struct KinesisSink {
    client: Client,
    stream: String,
}

impl KinesisSink {
    /// A sink for the stream named `stream`.
    pub fn new(client: Client, stream: &str) -> Self {
        Self {
            client,
            stream: stream.to_owned(),
        }
    }
}

#[async_trait]
impl RecordSink for KinesisSink {
    async fn put(&self, records: &[OutRecord]) -> Result<Vec<PutResult>, RelayError> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .set_explicit_hash_key(r.explicit_hash_key.clone())
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .map_err(|e| RelayError::Sink(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| {
                RelayError::Sink(aws_sdk_kinesis::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(output
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => PutResult::Ok,
                Some(THROTTLED) => PutResult::Throttled,
                Some(code) => {
                    PutResult::Failed(format!("{code}: {}", r.error_message().unwrap_or("")))
                }
            })
            .collect())
    }

    async fn shard_map(&self) -> Result<Option<ShardMap>, RelayError> {
        let sink_error = |e: String| RelayError::Sink(e);
        let mut ranges = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let page = request.send().await.map_err(|e| {
                sink_error(aws_sdk_kinesis::error::DisplayErrorContext(e).to_string())
            })?;
            for shard in page.shards() {
                let open = shard
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none());
                if let (true, Some(range)) = (open, shard.hash_key_range()) {
                    let start = range
                        .starting_hash_key()
                        .parse()
                        .map_err(|e| sink_error(format!("hash key: {e}")))?;
                    let end = range
                        .ending_hash_key()
                        .parse()
                        .map_err(|e| sink_error(format!("hash key: {e}")))?;
                    ranges.push((start, end));
                }
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok((!ranges.is_empty()).then(|| ShardMap::new(ranges)));
            }
        }
    }
}
