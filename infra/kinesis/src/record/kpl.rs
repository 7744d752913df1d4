//! The aggregation format of the Kinesis Producer Library (KPL), which the
//! Kinesis Client Library, Lambda's deaggregation modules and Firehose read:
//! a magic prefix, a protobuf `AggregatedRecord`, and the MD5 of that
//! protobuf message.
//!
//! ```text
//! f3 89 9a c2 | AggregatedRecord (protobuf) | MD5(AggregatedRecord), 16 bytes
//! ```
//!
//! Each user record names its partition key (and optionally an explicit hash
//! key) by its index in the message's tables.

use std::collections::HashMap;

use md5::{Digest, Md5};
use prost::Message;

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xf3, 0x89, 0x9a, 0xc2];

/// The length of the MD5 trailer.
const DIGEST_LEN: usize = 16;

/// The protobuf message of an aggregated record (`messages.proto` of the
/// KPL, package `aws.kinesis.protobuf`).
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    /// The partition keys of the user records, each once.
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    /// Their explicit hash keys, each once.
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    /// The user records, in order.
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// One user record of an [`AggregatedRecord`].
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    /// Its partition key's index in `partition_key_table`.
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    /// Its explicit hash key's index in `explicit_hash_key_table`, if any.
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    /// Its bytes.
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    /// Tags, which the KPL defines but does not use.
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// A tag of a user record.
#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    /// Its key.
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Its value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// A user record taken out of an aggregated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Its partition key.
    pub partition_key: String,
    /// Its explicit hash key, if it had one.
    pub explicit_hash_key: Option<String>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Why an aggregated record was refused. Nothing of a refused record is
/// returned.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    /// Too short to hold even its checksum.
    #[error("aggregated record truncated: {0} bytes after the magic prefix, fewer than its 16-byte MD5 trailer")]
    Truncated(usize),
    /// The MD5 trailer does not match the message: damaged or cut short.
    #[error("aggregated record's MD5 checksum does not match its {0} bytes of contents (damaged or truncated)")]
    Checksum(usize),
    /// The checksum matches but the message is not an `AggregatedRecord`.
    #[error("aggregated record's protobuf message is malformed: {0}")]
    Malformed(String),
    /// A user record names a key its tables do not have.
    #[error("user record {record} names {table} key {index}, but the table has {len}")]
    MissingKey {
        /// The user record's index.
        record: usize,
        /// `partition` or `explicit hash`.
        table: &'static str,
        /// The index it names.
        index: u64,
        /// The table's length.
        len: usize,
    },
}

/// Whether `bytes` claim to be an aggregated record (start with [`MAGIC`]).
pub fn is_aggregated(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The user records of an aggregated record, in order; the record is read
/// whole and checked (checksum, tables) before any is returned.
pub fn deaggregate(bytes: &[u8]) -> Result<Vec<UserRecord>, KplError> {
    let body = bytes.strip_prefix(&MAGIC).unwrap_or(bytes);
    let Some(split) = body.len().checked_sub(DIGEST_LEN) else {
        return Err(KplError::Truncated(body.len()));
    };
    let (message, digest) = body.split_at(split);
    if Md5::digest(message).as_slice() != digest {
        return Err(KplError::Checksum(message.len()));
    }
    let aggregated =
        AggregatedRecord::decode(message).map_err(|e| KplError::Malformed(e.to_string()))?;
    let key = |table: &'static str, keys: &[String], record: usize, index: u64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| keys.get(i))
            .cloned()
            .ok_or(KplError::MissingKey {
                record,
                table,
                index,
                len: keys.len(),
            })
    };
    aggregated
        .records
        .into_iter()
        .enumerate()
        .map(|(n, record)| {
            Ok(UserRecord {
                partition_key: key(
                    "partition",
                    &aggregated.partition_key_table,
                    n,
                    record.partition_key_index,
                )?,
                explicit_hash_key: record
                    .explicit_hash_key_index
                    .map(|i| key("explicit hash", &aggregated.explicit_hash_key_table, n, i))
                    .transpose()?,
                data: record.data,
            })
        })
        .collect()
}

/// An aggregated record being filled, which knows its encoded size as it
/// grows. User records keep their own partition keys; explicit hash keys
/// are not used (each user record is routed by its partition key).
#[derive(Clone, Debug, Default)]
pub struct Aggregate {
    message: AggregatedRecord,
    /// The index of each partition key in the table.
    keys: HashMap<String, u64>,
    /// The encoded length of `message`.
    message_len: usize,
}

impl Aggregate {
    /// The length of the encoded record (magic, message and checksum) once a
    /// user record with `partition_key` and `data` is added.
    pub fn len_with(&self, partition_key: &str, data: &[u8]) -> usize {
        let (key_len, record_len) = self.added_len(partition_key, data);
        MAGIC.len() + self.message_len + key_len + record_len + DIGEST_LEN
    }

    /// The encoded lengths that adding a user record adds: its partition
    /// key's table entry (0 when the key is known) and its record field.
    fn added_len(&self, partition_key: &str, data: &[u8]) -> (usize, usize) {
        use prost::encoding::{encoded_len_varint, key_len};
        let (index, table_entry) = match self.keys.get(partition_key) {
            Some(index) => (*index, 0),
            None => (self.keys.len() as u64, field_len(1, partition_key.len())),
        };
        let record = key_len(1) + encoded_len_varint(index) + field_len(3, data.len());
        (table_entry, field_len(3, record))
    }

    /// Adds a user record at the end.
    pub fn push(&mut self, partition_key: &str, data: Vec<u8>) {
        let (key_len, record_len) = self.added_len(partition_key, &data);
        self.message_len += key_len + record_len;
        let next = self.keys.len() as u64;
        let index = *self
            .keys
            .entry(partition_key.to_owned())
            .or_insert_with(|| {
                self.message
                    .partition_key_table
                    .push(partition_key.to_owned());
                next
            });
        self.message.records.push(Record {
            partition_key_index: index,
            explicit_hash_key_index: None,
            data,
            tags: Vec::new(),
        });
    }

    /// How many user records it holds.
    pub fn len(&self) -> usize {
        self.message.records.len()
    }

    /// Whether it holds no user record.
    pub fn is_empty(&self) -> bool {
        self.message.records.is_empty()
    }

    /// The user records it holds, in order, taken out again.
    pub fn into_user_records(self) -> impl Iterator<Item = UserRecord> {
        let keys = self.message.partition_key_table;
        self.message
            .records
            .into_iter()
            .map(move |record| UserRecord {
                partition_key: usize::try_from(record.partition_key_index)
                    .ok()
                    .and_then(|i| keys.get(i))
                    .cloned()
                    .unwrap_or_default(),
                explicit_hash_key: None,
                data: record.data,
            })
    }

    /// The encoded record: magic, message, checksum.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + self.message_len + DIGEST_LEN);
        bytes.extend_from_slice(&MAGIC);
        self.message.encode_raw(&mut bytes);
        let digest = Md5::digest(&bytes[MAGIC.len()..]);
        bytes.extend_from_slice(&digest);
        bytes
    }
}

/// The encoded length of a length-delimited field of `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + prost::encoding::encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut aggregate = Aggregate::default();
        aggregate.push("note-a", b"one".to_vec());
        aggregate.push("note-b", b"two".to_vec());
        aggregate.push("note-a", Vec::new());
        aggregate.into_bytes()
    }

    #[test]
    fn user_records_come_back_in_order_with_their_keys() {
        let bytes = sample();
        assert!(is_aggregated(&bytes));
        let records = deaggregate(&bytes).expect("decodes");
        let keys: Vec<(&str, &[u8])> = records
            .iter()
            .map(|r| (r.partition_key.as_str(), r.data.as_slice()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("note-a", &b"one"[..]),
                ("note-b", &b"two"[..]),
                ("note-a", &b""[..])
            ]
        );
        assert!(records.iter().all(|r| r.explicit_hash_key.is_none()));
        let message = AggregatedRecord::decode(&bytes[4..bytes.len() - 16]).expect("protobuf");
        assert_eq!(message.partition_key_table, vec!["note-a", "note-b"]);
    }

    #[test]
    fn the_size_is_known_before_each_record_is_added() {
        let mut aggregate = Aggregate::default();
        for n in 0..300_usize {
            let key = format!("note-{}", n % 7);
            let data = vec![b'x'; n * 3];
            let expected = aggregate.len_with(&key, &data);
            aggregate.push(&key, data);
            assert_eq!(aggregate.clone().into_bytes().len(), expected, "after {n}");
        }
    }

    #[test]
    fn a_damaged_or_cut_record_is_refused_whole() {
        let bytes = sample();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(deaggregate(&flipped), Err(KplError::Checksum(_))));
        let mut body = bytes.clone();
        body[10] ^= 0x40;
        assert!(matches!(deaggregate(&body), Err(KplError::Checksum(_))));
        let cut = &bytes[..bytes.len() - 5];
        assert!(matches!(deaggregate(cut), Err(KplError::Checksum(_))));
        assert_eq!(deaggregate(&MAGIC), Err(KplError::Truncated(0)));
        assert_eq!(deaggregate(&bytes[..12]), Err(KplError::Truncated(8)));
    }

    #[test]
    fn a_message_cut_short_with_a_matching_checksum_is_malformed() {
        let bytes = sample();
        let message = &bytes[4..bytes.len() - 16];
        let cut = &message[..message.len() - 2];
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(cut);
        forged.extend_from_slice(&Md5::digest(cut));
        assert!(matches!(deaggregate(&forged), Err(KplError::Malformed(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_user_records_come_back_as_they_went_in(
            users in proptest::collection::vec((0..5_u8, proptest::collection::vec(proptest::num::u8::ANY, 0..300)), 0..40)
        ) {
            let mut aggregate = Aggregate::default();
            for (key, data) in &users {
                let key = format!("note-{key}");
                let expected = aggregate.len_with(&key, data);
                aggregate.push(&key, data.clone());
                proptest::prop_assert_eq!(aggregate.clone().into_bytes().len(), expected);
            }
            let back: Vec<(String, Vec<u8>)> = deaggregate(&aggregate.into_bytes())
                .expect("decodes")
                .into_iter()
                .map(|u| (u.partition_key, u.data))
                .collect();
            let sent: Vec<(String, Vec<u8>)> = users
                .into_iter()
                .map(|(key, data)| (format!("note-{key}"), data))
                .collect();
            proptest::prop_assert_eq!(back, sent);
        }

        #[test]
        fn any_damaged_byte_refuses_the_record(at in 4_usize..1_000, flip in 1..=255_u8) {
            let mut bytes = sample();
            let at = at % bytes.len();
            proptest::prop_assume!(at >= MAGIC.len());
            bytes[at] ^= flip;
            proptest::prop_assert!(deaggregate(&bytes).is_err());
        }

        #[test]
        fn any_bytes_after_the_magic_are_read_or_refused_without_panicking(
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..200)
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = deaggregate(&bytes);
            // The same bytes as a message with a matching checksum.
            bytes.extend_from_slice(&Md5::digest(&tail));
            let _ = deaggregate(&bytes);
        }
    }

    #[test]
    fn a_key_index_outside_the_table_is_refused() {
        let message = AggregatedRecord {
            partition_key_table: vec!["only".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: Vec::new(),
            }],
        }
        .encode_to_vec();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&message);
        bytes.extend_from_slice(&Md5::digest(&message));
        assert_eq!(
            deaggregate(&bytes),
            Err(KplError::MissingKey {
                record: 0,
                table: "partition",
                index: 3,
                len: 1
            })
        );
    }
}
