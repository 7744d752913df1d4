//! The record sink on an AWS Kinesis data stream.

use async_trait::async_trait;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;

use super::aggregation::ShardMap;
use super::{OutRecord, PutResult, RecordSink, RelayError};

/// The error code Kinesis gives a record refused for the shard's limits.
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// Builds a Kinesis client from the usual AWS settings (region, credentials),
/// talking to `endpoint` instead of AWS when given (an emulator).
pub async fn client(endpoint: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
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
