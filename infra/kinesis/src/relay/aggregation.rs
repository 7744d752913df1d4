//! Packing events bound for one shard into one record.
//!
//! A shard takes 1,000 records/s but 1 MiB/s, and events are small, so the
//! relay packs the envelopes of events that Kinesis would send to the same
//! shard into one record (a JSON array), addressed to that shard with an
//! explicit hash key. Events keep their log order inside a record, and the
//! records of a shard keep theirs, so each stream stays in order.

use md5::{Digest, Md5};

use super::OutRecord;

/// The most bytes of envelopes one aggregated record carries (Kinesis takes
/// records of up to 1 MiB).
pub const MAX_AGGREGATE_BYTES: usize = 900 * 1024;

/// The hash-key ranges of a stream's open shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardMap {
    ranges: Vec<(u128, u128)>,
}

impl ShardMap {
    /// A map of these inclusive hash-key ranges.
    pub fn new(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.sort_unstable();
        Self { ranges }
    }

    /// The index of the shard Kinesis puts `partition_key` in: the one whose
    /// range holds the key's MD5 read as a 128-bit number.
    pub fn shard_of(&self, partition_key: &str) -> Option<usize> {
        let hash = u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into());
        self.ranges
            .iter()
            .position(|(start, end)| (*start..=*end).contains(&hash))
    }

    /// A hash key that Kinesis routes to shard `index`.
    fn hash_key(&self, index: usize) -> Option<String> {
        self.ranges.get(index).map(|(start, _)| start.to_string())
    }
}

/// Packs single-event records (in log order) into aggregated ones per shard;
/// a record whose shard is unknown travels alone.
pub fn aggregate(records: Vec<OutRecord>, map: &ShardMap) -> Vec<OutRecord> {
    // The record being filled for each shard, by shard index.
    let mut open: Vec<Option<(OutRecord, usize)>> = vec![None; map.ranges.len()];
    let mut out = Vec::new();
    for record in records {
        let Some(shard) = map.shard_of(&record.partition_key) else {
            out.push(record);
            continue;
        };
        let slot = &mut open[shard];
        if slot.as_ref().is_some_and(|(packed, _)| {
            packed.data.len() + record.data.len() + 2 > MAX_AGGREGATE_BYTES
        }) {
            if let Some((full, _)) = slot.take() {
                out.push(close(full));
            }
        }
        match slot {
            Some((packed, count)) => {
                packed.data.push(b',');
                packed.data.extend_from_slice(&record.data);
                *count += 1;
            }
            None => {
                let mut data = Vec::with_capacity(record.data.len() + 2);
                data.push(b'[');
                data.extend_from_slice(&record.data);
                let packed = OutRecord {
                    partition_key: record.partition_key,
                    explicit_hash_key: map.hash_key(shard),
                    data,
                };
                *slot = Some((packed, 1));
            }
        }
    }
    out.extend(open.into_iter().flatten().map(|(packed, _)| close(packed)));
    out
}

fn close(mut packed: OutRecord) -> OutRecord {
    packed.data.push(b']');
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, n: u32) -> OutRecord {
        OutRecord {
            partition_key: key.to_owned(),
            explicit_hash_key: None,
            data: format!("{{\"n\":{n}}}").into_bytes(),
        }
    }

    fn two_shards() -> ShardMap {
        ShardMap::new(vec![(0, u128::MAX / 2), (u128::MAX / 2 + 1, u128::MAX)])
    }

    #[test]
    fn keys_map_to_the_shard_that_holds_their_md5() {
        // MD5("a") = 0cc175b9…, in the lower half; MD5("b") = 92eb5ffe…, in the upper.
        assert_eq!(two_shards().shard_of("a"), Some(0));
        assert_eq!(two_shards().shard_of("b"), Some(1));
        assert_eq!(ShardMap::new(vec![]).shard_of("a"), None);
    }

    #[test]
    fn events_of_a_shard_share_records_in_order() {
        let map = two_shards();
        let records = vec![
            rec("a", 1),
            rec("b", 2),
            rec("a", 3),
            rec("b", 4),
            rec("a", 5),
        ];
        let packed = aggregate(records, &map);
        assert_eq!(packed.len(), 2);
        let lower = packed
            .iter()
            .find(|r| r.partition_key == "a")
            .expect("one for a's shard");
        assert_eq!(
            String::from_utf8_lossy(&lower.data),
            r#"[{"n":1},{"n":3},{"n":5}]"#
        );
        assert_eq!(lower.explicit_hash_key.as_deref(), Some("0"));
        let upper = packed
            .iter()
            .find(|r| r.partition_key == "b")
            .expect("one for b's shard");
        assert_eq!(
            upper.explicit_hash_key,
            Some((u128::MAX / 2 + 1).to_string())
        );
    }

    #[test]
    fn a_full_record_is_closed_and_another_begins() {
        let big = |n: u32| OutRecord {
            partition_key: "a".into(),
            explicit_hash_key: None,
            data: vec![b'1'; 400 * 1024 + n as usize],
        };
        let packed = aggregate(vec![big(1), big(2), big(3)], &two_shards());
        assert_eq!(packed.len(), 2);
        assert!(packed.iter().all(|r| r.data.len() <= MAX_AGGREGATE_BYTES));
    }
}
