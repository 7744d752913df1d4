//! Documents attached to a note: their names, types and upload states.
//!
//! The bytes live in a blob store under a key derived from ids; the domain
//! only knows what the student declared and what the upload became.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::text;
use crate::values::Timestamp;

/// The most documents (pending or attached) one note may hold.
pub const MAX_DOCUMENTS: usize = 100;

/// A file name for display: the last path segment of what the client sent,
/// without control or bidirectional-override characters, trimmed, 1–255
/// characters. It is never used to address storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

impl FileName {
    /// Sanitises and checks a file name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let clean: String = last
            .chars()
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .collect();
        let clean = clean.trim();
        let count = clean.chars().count();
        if !(1..=255).contains(&count) || clean == "." || clean == ".." {
            return Err(ValidationError::Length {
                field: "file_name",
                min: 1,
                max: 255,
                actual: count,
            });
        }
        Ok(Self(clean.to_owned()))
    }

    /// The sanitised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that reorder the text around them (they can disguise a name
/// such as `exe.pdf` as `fdp.exe`); a file name keeps not even the marks.
fn is_bidi_control(c: char) -> bool {
    text::is_bidi_override(c) || matches!(c, '\u{200e}' | '\u{200f}')
}

/// A media type such as `application/pdf` or `text/plain; charset=utf-8`:
/// type, subtype and parameter names lower-cased, parameters only as
/// `name=value` tokens (nothing a browser could read as a second type), at
/// most 127 characters of printable ASCII.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentType(String);

impl ContentType {
    /// Normalises and checks a media type.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = ValidationError::Charset {
            field: "content_type",
            allowed: "a media type such as application/pdf",
        };
        let raw = raw.trim();
        if raw.len() > 127 || !raw.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return Err(invalid);
        }
        let (essence, params) = raw.split_once(';').unwrap_or((raw, ""));
        let essence = essence.trim().to_ascii_lowercase();
        let token = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
        };
        match essence.split_once('/') {
            Some((kind, sub)) if token(kind) && token(sub) => {}
            _ => return Err(invalid),
        }
        let mut normalised = essence;
        for param in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match param.split_once('=') {
                Some((name, value)) if token(name.trim()) && token(value.trim()) => {
                    normalised.push_str(&format!(
                        "; {}={}",
                        name.trim().to_ascii_lowercase(),
                        value.trim()
                    ));
                }
                _ => return Err(invalid),
            }
        }
        Ok(Self(normalised))
    }

    /// The whole media type.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The type and subtype without parameters, lower-cased.
    pub fn essence(&self) -> &str {
        self.0.split(';').next().unwrap_or_default()
    }
}

/// The SHA-256 digest of a document's bytes, as 64 lower-case hexadecimal
/// digits: recorded when its upload is attached, shown with it, and the
/// bytes every download must have.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentDigest(String);

impl ContentDigest {
    /// Checks a digest in hexadecimal (either case).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() != 64 || !raw.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ValidationError::Charset {
                field: "sha256",
                allowed: "64 hexadecimal digits",
            });
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The digest of these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The digest in lower-case hexadecimal.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Implements the string conversions of a checked string type.
macro_rules! string_conversions {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

string_conversions!(FileName, ContentType, ContentDigest);

/// Where a document's upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Upload URLs were handed out; the bytes are not checked yet.
    Pending,
    /// The object was checked and belongs to the note.
    Attached,
}

/// Why an upload did not become a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFailure {
    /// The stored object's size or type differed from what was declared.
    Mismatch,
    /// The upload was never completed before its URLs expired.
    Abandoned,
}

/// What the student declared for a new document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentSpec {
    /// The name to show.
    pub file_name: FileName,
    /// The media type.
    pub content_type: ContentType,
    /// The size in bytes.
    pub size: u64,
    /// The blob store's id of a multipart upload, for large files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart_upload: Option<String>,
}

/// A document of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// What was declared.
    pub spec: DocumentSpec,
    /// Pending or attached.
    pub status: DocumentStatus,
    /// When it was handed in, if it was.
    pub submitted_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_a_clean_last_segment() {
        let name = |s: &str| FileName::parse(s).map(String::from);
        assert_eq!(name("../../etc/passwd"), Ok("passwd".to_owned()));
        assert_eq!(
            name("C:\\Users\\ada\\essay.pdf"),
            Ok("essay.pdf".to_owned())
        );
        assert_eq!(
            name(" rapport\u{202e}fdp.exe "),
            Ok("rapportfdp.exe".to_owned())
        );
        assert_eq!(name("line\nbreak.txt"), Ok("linebreak.txt".to_owned()));
        assert_eq!(
            name("Übung 3 «final».md"),
            Ok("Übung 3 «final».md".to_owned())
        );
        assert!(FileName::parse("dir/").is_err());
        assert!(FileName::parse("..").is_err());
        assert!(FileName::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn digests_are_64_hex_digits_in_lower_case() {
        let digest = ContentDigest::from_bytes([0xab; 32]);
        assert_eq!(digest.as_str(), "ab".repeat(32));
        assert_eq!(ContentDigest::parse(&"AB".repeat(32)), Ok(digest));
        assert!(ContentDigest::parse(&"ab".repeat(31)).is_err());
        assert!(ContentDigest::parse(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn content_types_are_normalised_and_checked() {
        let parsed = ContentType::parse(" Text/Plain;charset=utf-8").expect("valid");
        assert_eq!(parsed.as_str(), "text/plain; charset=utf-8");
        assert_eq!(parsed.essence(), "text/plain");
        assert!(ContentType::parse("application/pdf").is_ok());
        assert!(ContentType::parse("pdf").is_err());
        assert!(ContentType::parse("text/").is_err());
        assert!(ContentType::parse("text/plain\r\nx-evil: 1").is_err());
        assert!(ContentType::parse("application/pdf; ,text/html").is_err());
        assert!(ContentType::parse("application/pdf; x=\"a,b\"").is_err());
    }
}
