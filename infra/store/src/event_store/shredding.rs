//! Crypto-shredding: the content of a note's events (title, body, subject,
//! tags, document names and digests) is sealed with the note's own AES-256-GCM data key,
//! kept in a key table beside the log and never in an event or a Kinesis
//! record. Purging the note destroys the key: the events keep their shape
//! and their hash chains, but their content can no longer be read anywhere.
//! An account's personal fields (username and display name) are sealed the
//! same way with the account's key, destroyed when the account is deleted.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{codec, RecordedEvent};
use crate::error::StoreError;
use anote_domain::note::NoteEvent;
use anote_domain::user::UserEvent;

/// For a field of note events that carries content, what it reads as once
/// its key is gone; `None` for every other field.
fn erased(field: &str) -> Option<Value> {
    match field {
        "title" | "body" => Some(json!("")),
        "subject" => Some(Value::Null),
        "tags" => Some(json!([])),
        // An imported note's documents: their names and digests, at once.
        "documents" => Some(json!([])),
        "file_name" => Some(json!("erased")),
        // A digest could confirm a guess of a document's bytes.
        "sha256" => Some(Value::Null),
        _ => None,
    }
}

/// For a personal field of account events, what it reads as once its key
/// is gone (a valid username and display name); `None` for other fields.
fn erased_personal(field: &str) -> Option<Value> {
    match field {
        "username" | "display_name" => Some(json!("erased")),
        _ => None,
    }
}

/// What a sealed field reads as once its key is gone, by field name.
type Erasure = fn(&str) -> Option<Value>;

/// The member that marks a sealed field: `{"sealed": "<base64>"}`.
const SEALED: &str = "sealed";

/// A note's data key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteKey([u8; 32]);

impl NoteKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key read back from the key table.
    pub fn from_stored(bytes: Vec<u8>) -> Result<Self, StoreError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| StoreError::corrupt("a note key is not 32 bytes"))
    }

    /// The key's bytes, for the key table.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoteKey(<redacted>)")
    }
}

/// The associated data of a sealed field: the event and the field's name,
/// so a sealed value cannot be moved to another event or field.
fn aad(event_id: Uuid, field: &str) -> Vec<u8> {
    let mut aad = event_id.as_bytes().to_vec();
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Seals the content fields of a note event's payload, wherever they are.
pub fn seal(payload: &mut Value, event_id: Uuid, key: &NoteKey) -> Result<(), StoreError> {
    seal_fields(payload, event_id, key, erased)
}

/// Seals the personal fields of an account event's payload with the
/// account's key.
pub fn seal_personal(payload: &mut Value, event_id: Uuid, key: &NoteKey) -> Result<(), StoreError> {
    seal_fields(payload, event_id, key, erased_personal)
}

fn seal_fields(
    payload: &mut Value,
    event_id: Uuid,
    key: &NoteKey,
    erasure: Erasure,
) -> Result<(), StoreError> {
    let Value::Object(fields) = payload else {
        return Ok(());
    };
    for (name, value) in fields.iter_mut() {
        if erasure(name).is_some() {
            let plain = serde_json::to_vec(value).map_err(StoreError::corrupt)?;
            let mut nonce = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            let sealed = key
                .cipher()
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &plain,
                        aad: &aad(event_id, name),
                    },
                )
                .map_err(|_| StoreError::corrupt("sealing failed"))?;
            let mut bytes = nonce.to_vec();
            bytes.extend_from_slice(&sealed);
            *value = json!({ SEALED: STANDARD.encode(bytes) });
        } else {
            seal_fields(value, event_id, key, erasure)?;
        }
    }
    Ok(())
}

/// Opens the sealed fields of a payload with `key`, or, without one (the
/// note was purged), puts the erased value in their place. Returns whether
/// anything was erased.
pub fn open(
    payload: &mut Value,
    event_id: Uuid,
    key: Option<&NoteKey>,
) -> Result<bool, StoreError> {
    open_fields(payload, event_id, key, erased)
}

fn open_fields(
    payload: &mut Value,
    event_id: Uuid,
    key: Option<&NoteKey>,
    erasure: Erasure,
) -> Result<bool, StoreError> {
    let Value::Object(fields) = payload else {
        return Ok(false);
    };
    let mut any_erased = false;
    for (name, value) in fields.iter_mut() {
        let sealed = value
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get(SEALED))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(sealed) = sealed else {
            any_erased |= open_fields(value, event_id, key, erasure)?;
            continue;
        };
        let Some(key) = key else {
            *value = erasure(name).unwrap_or(Value::Null);
            any_erased = true;
            continue;
        };
        let bytes = STANDARD.decode(sealed).map_err(StoreError::corrupt)?;
        let (nonce, sealed) = bytes
            .split_at_checked(12)
            .ok_or_else(|| StoreError::corrupt("a sealed field is too short"))?;
        let plain = key
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(event_id, name),
                },
            )
            .map_err(|_| StoreError::corrupt("a sealed field does not open with its key"))?;
        *value = serde_json::from_slice(&plain).map_err(StoreError::corrupt)?;
    }
    Ok(any_erased)
}

/// A note event read back through its key: the event, and whether its
/// content was erased.
pub fn decode_note(
    recorded: &RecordedEvent,
    key: Option<&NoteKey>,
) -> Result<(NoteEvent, bool), StoreError> {
    let mut opened = recorded.clone();
    let erased = open(&mut opened.payload, recorded.event_id, key)?;
    Ok((codec::decode(&opened)?, erased))
}

/// An account event read back through the account's key (its personal
/// fields erased once the key is gone; events written before accounts had
/// keys read as written).
pub fn decode_account(
    recorded: &RecordedEvent,
    key: Option<&NoteKey>,
) -> Result<UserEvent, StoreError> {
    let mut opened = recorded.clone();
    open_fields(&mut opened.payload, recorded.event_id, key, erased_personal)?;
    codec::decode(&opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_content_opens_with_its_key_and_is_erased_without() {
        let key = NoteKey::generate();
        let id = Uuid::new_v4();
        let plain = json!({
            "owner": "u1", "title": "Secret plan", "tags": ["exam"],
            "content": { "body": "line", "subject": null }
        });
        let mut payload = plain.clone();
        seal(&mut payload, id, &key).expect("seals");
        let text = payload.to_string();
        assert!(!text.contains("Secret") && !text.contains("exam") && !text.contains("line"));
        assert!(text.contains("u1"), "other fields stay readable");
        let mut opened = payload.clone();
        assert_eq!(open(&mut opened, id, Some(&key)).ok(), Some(false));
        assert_eq!(opened, plain);
        let mut erased = payload.clone();
        assert_eq!(open(&mut erased, id, None).ok(), Some(true));
        assert_eq!(erased["title"], "");
        assert_eq!(erased["content"]["body"], "");
        assert_eq!(erased["tags"], json!([]));
        let mut moved = payload;
        assert!(
            open(&mut moved, Uuid::new_v4(), Some(&key)).is_err(),
            "bound to its event"
        );
        assert!(open(&mut json!({ "title": "old, unsealed" }), id, None).is_ok_and(|e| !e));
    }

    #[test]
    fn personal_fields_open_with_the_account_key_and_are_erased_without() {
        let key = NoteKey::generate();
        let id = Uuid::new_v4();
        let plain = json!({ "username": "ada.lovelace", "display_name": "Ada Lovelace" });
        let mut payload = plain.clone();
        seal_personal(&mut payload, id, &key).expect("seals");
        let text = payload.to_string();
        assert!(
            !text.contains("ada") && !text.contains("Lovelace"),
            "{text}"
        );
        let recorded = |payload: Value| RecordedEvent {
            position: super::super::Position::START,
            event_id: id,
            stream_id: anote_domain::StreamId::from_stored("user-x".into()),
            stream_version: 1,
            event_type: "UserRegistered".into(),
            schema_version: codec::CURRENT_SCHEMA_VERSION,
            payload,
            metadata: super::super::Metadata::for_request(None, Uuid::nil()),
            recorded_at: time::OffsetDateTime::UNIX_EPOCH,
            seal: None,
        };
        let UserEvent::UserRegistered { username, .. } =
            decode_account(&recorded(payload.clone()), Some(&key)).expect("opens")
        else {
            panic!("a registration");
        };
        assert_eq!(username.as_str(), "ada.lovelace");
        let UserEvent::UserRegistered {
            username,
            display_name,
        } = decode_account(&recorded(payload), None).expect("reads erased")
        else {
            panic!("a registration");
        };
        assert_eq!(
            (username.as_str(), display_name.as_str()),
            ("erased", "erased")
        );
        assert!(
            decode_account(&recorded(plain), None).is_ok(),
            "an event written before accounts had keys reads as written"
        );
    }
}
