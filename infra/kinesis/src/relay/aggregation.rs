//! Packing events bound for one shard into one record.
//!
//! A shard takes 1,000 records/s but 1 MiB/s, and events are small, so the
//! relay packs the envelopes of events that Kinesis would send to the same
//! shard into one record, addressed to that shard with an explicit hash key.
//! The record is in the KPL aggregation format ([`crate::record::kpl`]),
//! which AWS's own consumers read (the Kinesis Client Library, Lambda's
//! deaggregation modules, Firehose); each event keeps its stream id as its
//! own partition key. Earlier releases wrote a JSON array, which can still
//! be chosen while projectors that read only that are running. Events keep
//! their log order inside a record, and the records of a shard keep theirs,
//! so each stream stays in order. A shard with one event in a batch gets a
//! plain record, as the KPL does: it is smaller.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

use super::OutRecord;
use crate::record::kpl;

/// The most bytes Kinesis takes in one record: its data and its partition
/// key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// How the relay puts events into records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Packing {
    /// One record per event.
    Single,
    /// The events of a shard in a JSON array (earlier releases' format).
    JsonArray,
    /// The events of a shard in a KPL aggregated record.
    #[default]
    Kpl,
}

impl Packing {
    /// Its name in settings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::JsonArray => "json",
            Self::Kpl => "kpl",
        }
    }
}

impl fmt::Display for Packing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Packing {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Kpl, Self::JsonArray, Self::Single]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("expected kpl, json or single, not {name:?}"))
    }
}

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

/// Packs single-event records (in log order) into one record per shard,
/// as `packing` says, each at most [`MAX_RECORD_BYTES`]; a record whose
/// shard is unknown travels alone.
pub fn aggregate(records: Vec<OutRecord>, map: &ShardMap, packing: Packing) -> Vec<OutRecord> {
    if packing == Packing::Single {
        return records;
    }
    // The record being filled for each shard, by shard index.
    let mut open: Vec<Option<Open>> = (0..map.ranges.len()).map(|_| None).collect();
    let mut out = Vec::new();
    for record in records {
        let Some(shard) = map.shard_of(&record.partition_key) else {
            out.push(record);
            continue;
        };
        let slot = &mut open[shard];
        if let Some(filling) = slot.take() {
            if filling.len_with(&record) <= MAX_RECORD_BYTES {
                *slot = Some(filling);
            } else {
                out.extend(filling.close());
            }
        }
        match slot {
            Some(filling) => filling.push(record),
            None => *slot = Some(Open::new(record, packing, map.hash_key(shard))),
        }
    }
    out.extend(open.into_iter().flatten().filter_map(Open::close));
    out
}

/// A shard's record being filled.
struct Open {
    /// The first event's partition key, which the record is sent with.
    partition_key: String,
    /// A hash key inside the shard's range.
    explicit_hash_key: Option<String>,
    packed: Packed,
}

/// The events of an [`Open`] record, in their packing.
enum Packed {
    /// `[` and the envelopes so far, separated by commas, and how many.
    JsonArray(Vec<u8>, usize),
    /// A KPL aggregated record.
    Kpl(kpl::Aggregate),
}

impl Open {
    fn new(first: OutRecord, packing: Packing, explicit_hash_key: Option<String>) -> Self {
        let packed = match packing {
            Packing::Kpl => Packed::Kpl(kpl::Aggregate::default()),
            Packing::JsonArray | Packing::Single => Packed::JsonArray(b"[".to_vec(), 0),
        };
        let mut open = Self {
            partition_key: first.partition_key.clone(),
            explicit_hash_key,
            packed,
        };
        open.push(first);
        open
    }

    /// The size Kinesis counts (data and partition key) once `record` is in.
    fn len_with(&self, record: &OutRecord) -> usize {
        let data = match &self.packed {
            Packed::JsonArray(data, _) => data.len() + 1 + record.data.len() + 1,
            Packed::Kpl(aggregate) => aggregate.len_with(&record.partition_key, &record.data),
        };
        data + self.partition_key.len()
    }

    fn push(&mut self, record: OutRecord) {
        match &mut self.packed {
            Packed::JsonArray(data, count) => {
                if *count > 0 {
                    data.push(b',');
                }
                data.extend_from_slice(&record.data);
                *count += 1;
            }
            Packed::Kpl(aggregate) => aggregate.push(&record.partition_key, record.data),
        }
    }

    /// The record to send: packed, or plain when it holds one event.
    fn close(self) -> Option<OutRecord> {
        let packed = |data| OutRecord {
            partition_key: self.partition_key.clone(),
            explicit_hash_key: self.explicit_hash_key.clone(),
            data,
        };
        let plain = |partition_key, data| OutRecord {
            partition_key,
            explicit_hash_key: None,
            data,
        };
        match self.packed {
            Packed::JsonArray(_, 0) => None,
            Packed::JsonArray(mut data, 1) => {
                data.remove(0);
                Some(plain(self.partition_key.clone(), data))
            }
            Packed::JsonArray(mut data, _) => {
                data.push(b']');
                Some(packed(data))
            }
            Packed::Kpl(aggregate) if aggregate.len() <= 1 => aggregate
                .into_user_records()
                .next()
                .map(|user| plain(user.partition_key, user.data)),
            Packed::Kpl(aggregate) => Some(packed(aggregate.into_bytes())),
        }
    }
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

    fn six_over_two_shards() -> Vec<OutRecord> {
        vec![
            rec("a", 1),
            rec("b", 2),
            rec("a", 3),
            rec("b", 4),
            rec("a", 5),
            rec("c", 6),
        ]
    }

    #[test]
    fn events_of_a_shard_share_a_kpl_record_in_order() {
        // MD5("c") = 4a8a08f0…, in the lower half with "a".
        let packed = aggregate(six_over_two_shards(), &two_shards(), Packing::Kpl);
        assert_eq!(packed.len(), 2);
        let lower = &packed[0];
        assert_eq!(lower.partition_key, "a");
        assert_eq!(lower.explicit_hash_key.as_deref(), Some("0"));
        let users: Vec<(String, String)> = kpl::deaggregate(&lower.data)
            .expect("a KPL record")
            .into_iter()
            .map(|u| {
                (
                    u.partition_key,
                    String::from_utf8_lossy(&u.data).into_owned(),
                )
            })
            .collect();
        let expected = [("a", 1), ("a", 3), ("a", 5), ("c", 6)]
            .map(|(k, n)| (k.to_owned(), format!("{{\"n\":{n}}}")));
        assert_eq!(users, expected);
        assert_eq!(
            packed[1].explicit_hash_key,
            Some((u128::MAX / 2 + 1).to_string())
        );
        assert_eq!(kpl::deaggregate(&packed[1].data).expect("KPL").len(), 2);
    }

    #[test]
    fn events_of_a_shard_share_a_json_array_in_order() {
        let packed = aggregate(six_over_two_shards(), &two_shards(), Packing::JsonArray);
        assert_eq!(packed.len(), 2);
        assert_eq!(
            String::from_utf8_lossy(&packed[0].data),
            r#"[{"n":1},{"n":3},{"n":5},{"n":6}]"#
        );
        assert_eq!(packed[0].explicit_hash_key.as_deref(), Some("0"));
    }

    #[test]
    fn a_shard_with_one_event_gets_a_plain_record() {
        for packing in [Packing::Kpl, Packing::JsonArray] {
            let packed = aggregate(
                vec![rec("a", 1), rec("b", 2), rec("b", 3)],
                &two_shards(),
                packing,
            );
            assert_eq!(packed.len(), 2);
            assert_eq!(packed[0], rec("a", 1), "{packing}");
        }
        let single = aggregate(six_over_two_shards(), &two_shards(), Packing::Single);
        assert_eq!(single, six_over_two_shards());
    }

    #[test]
    fn a_full_record_is_closed_and_another_begins() {
        let big = |n: u32| OutRecord {
            partition_key: "a".into(),
            explicit_hash_key: None,
            data: vec![b'1'; 400 * 1024 + n as usize],
        };
        for packing in [Packing::Kpl, Packing::JsonArray] {
            let packed = aggregate(vec![big(1), big(2), big(3)], &two_shards(), packing);
            assert_eq!(packed.len(), 2, "{packing}");
            assert!(packed
                .iter()
                .all(|r| r.data.len() + r.partition_key.len() <= MAX_RECORD_BYTES));
            assert_eq!(packed[1], big(3), "the last one alone, plain");
        }
    }

    #[test]
    fn packings_are_named_in_settings() {
        for packing in [Packing::Kpl, Packing::JsonArray, Packing::Single] {
            assert_eq!(packing.name().parse::<Packing>(), Ok(packing));
        }
        assert!("KPL ".parse::<Packing>().is_err());
    }
}
