//! Value types: parsed once at the edge, valid by construction afterwards.
//!
//! Every type keeps its field private; the only ways in are `parse` (or
//! `TryFrom`), which enforce the rules below, and serde, which goes through the
//! same checks so that an event read back from the log is as valid as one that
//! was just decided.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ValidationError;
use crate::text::{self, Lines};

/// Checks a length in characters against inclusive bounds.
fn check_chars(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let count = value.chars().count();
    if count < min || count > max {
        return Err(ValidationError::Length {
            field,
            min,
            max,
            actual: count,
        });
    }
    Ok(())
}

/// Defines a string newtype whose serde form is checked by `parse`, after
/// characters refused since the value was recorded are repaired (see
/// [`text::repair`]): requests go through `parse` alone and are refused.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $lines:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&text::repair(value, $lines))
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
    };
}

checked_string!(
    /// A login name: 3–32 characters of `[a-z0-9_.-]`, case-folded.
    Username,
    Lines::One
);

impl Username {
    /// Case-folds and checks a username.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let folded = raw.trim().to_lowercase();
        check_chars("username", &folded, 3, 32)?;
        if !folded
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(ValidationError::Charset {
                field: "username",
                allowed: "a-z 0-9 _ . -",
            });
        }
        Ok(Self(folded))
    }
}

checked_string!(
    /// The name shown to other people: 1–80 characters, trimmed.
    DisplayName,
    Lines::One
);

impl DisplayName {
    /// Trims and checks a display name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        check_chars("display_name", trimmed, 1, 80)?;
        text::check("display_name", trimmed, Lines::One)?;
        Ok(Self(trimmed.to_owned()))
    }
}

checked_string!(
    /// A note's title: at most 200 characters of one line (it may be empty).
    Title,
    Lines::One
);

impl Title {
    /// Checks a title.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_chars("title", raw, 0, 200)?;
        text::check("title", raw, Lines::One)?;
        Ok(Self(raw.to_owned()))
    }
}

checked_string!(
    /// A note's Markdown body: at most 512 KiB of UTF-8, lines and tabs
    /// allowed, other control characters not.
    Body,
    Lines::Many
);

impl Body {
    /// The largest body in bytes.
    pub const MAX_BYTES: usize = 512 * 1024;

    /// Checks a body.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::TooLarge {
                field: "body",
                max_bytes: Self::MAX_BYTES,
                actual: raw.len(),
            });
        }
        text::check("body", raw, Lines::Many)?;
        Ok(Self(raw.to_owned()))
    }
}

checked_string!(
    /// The subject a note belongs to: 1–80 characters, trimmed.
    Subject,
    Lines::One
);

impl Subject {
    /// Trims and checks a subject.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        check_chars("subject", trimmed, 1, 80)?;
        text::check("subject", trimmed, Lines::One)?;
        Ok(Self(trimmed.to_owned()))
    }
}

checked_string!(
    /// One tag: 1–40 characters, trimmed and lower-cased.
    Tag,
    Lines::One
);

impl Tag {
    /// Trims, lower-cases and checks a tag.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let folded = raw.trim().to_lowercase();
        check_chars("tag", &folded, 1, 40)?;
        text::check("tag", &folded, Lines::One)?;
        Ok(Self(folded))
    }
}

/// A note's tags: at most 20, each a valid [`Tag`], without duplicates, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(BTreeSet<Tag>);

impl Tags {
    /// The most tags a note may carry.
    pub const MAX: usize = 20;

    /// Parses, normalises and de-duplicates a list of tags.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let tags = raw
            .iter()
            .map(|t| Tag::parse(t.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if tags.len() > Self::MAX {
            return Err(ValidationError::TooMany {
                field: "tags",
                max: Self::MAX,
                actual: tags.len(),
            });
        }
        Ok(Self(tags))
    }

    /// The tags in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    /// How many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<String>> for Tags {
    type Error = ValidationError;
    fn try_from(value: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Tags> for Vec<String> {
    fn from(value: Tags) -> Self {
        value.0.into_iter().map(String::from).collect()
    }
}

/// An instant in UTC, whole seconds: due dates, expiries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

/// When an assignment is due.
pub type DueAt = Timestamp;

impl Timestamp {
    /// Normalises an instant to UTC with whole seconds.
    pub fn new(at: OffsetDateTime) -> Self {
        let utc = at.to_offset(time::UtcOffset::UTC);
        Self(utc.replace_nanosecond(0).unwrap_or(utc))
    }

    /// The instant in UTC.
    pub fn instant(self) -> OffsetDateTime {
        self.0
    }
}

/// A password as typed: 10–128 characters. It never enters an event; the write
/// side hashes it and keeps only the hash, outside the log.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a password's length.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_chars("password", raw, 10, 128)?;
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing or verifying.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_folded_and_checked() {
        assert_eq!(
            Username::parse(" Ada.L ").map(String::from),
            Ok("ada.l".to_owned())
        );
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("ada lovelace").is_err());
        assert!(Username::parse("adä").is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("ééééééééé").is_err());
        assert!(Password::parse("éééééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse").ok()),
            "Some(Password(<redacted>))"
        );
    }

    #[test]
    fn titles_bodies_and_subjects_have_limits() {
        assert!(Title::parse(&"t".repeat(200)).is_ok());
        assert!(Title::parse(&"t".repeat(201)).is_err());
        assert!(Body::parse(&"b".repeat(Body::MAX_BYTES)).is_ok());
        assert!(Body::parse(&"b".repeat(Body::MAX_BYTES + 1)).is_err());
        assert!(Subject::parse("   ").is_err());
        assert_eq!(
            Subject::parse(" Maths ").map(String::from),
            Ok("Maths".to_owned())
        );
    }

    #[test]
    fn tags_are_trimmed_lowered_and_deduplicated() {
        let tags = Tags::parse(&[" Exam", "exam", "LAB "]).expect("valid tags");
        let names: Vec<String> = tags.into();
        assert_eq!(names, vec!["exam".to_owned(), "lab".to_owned()]);
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&many).is_err());
        assert!(Tags::parse(&[""]).is_err());
    }

    #[test]
    fn serde_goes_through_the_same_checks() {
        assert!(serde_json::from_str::<Title>(&format!("\"{}\"", "x".repeat(201))).is_err());
        assert!(serde_json::from_str::<Tags>("[\"A\",\"a\"]").is_ok_and(|t| t.len() == 1));
    }

    #[test]
    fn every_text_field_refuses_control_characters_and_overrides() {
        let bad = [
            "nul\u{0}x",
            "esc\u{1b}[2J",
            "bidi\u{202e}gpj.exe",
            "c1\u{85}x",
        ];
        for raw in bad {
            assert!(Title::parse(raw).is_err(), "{raw:?}");
            assert!(Subject::parse(raw).is_err(), "{raw:?}");
            assert!(Tag::parse(raw).is_err(), "{raw:?}");
            assert!(DisplayName::parse(raw).is_err(), "{raw:?}");
            assert!(Body::parse(raw).is_err(), "{raw:?}");
        }
        assert!(Title::parse("two\nlines").is_err());
        assert!(Body::parse("two\nlines\tand a tab").is_ok());
    }

    #[test]
    fn text_recorded_before_the_rules_reads_back_repaired() {
        let title: Title = serde_json::from_str(r#""nul\u0000title""#).expect("repaired");
        assert_eq!(title.as_str(), "nul\u{fffd}title");
        let body: Body = serde_json::from_str(r#""a\nb\u0007""#).expect("repaired");
        assert_eq!(body.as_str(), "a\nb\u{fffd}");
    }

    #[test]
    fn due_dates_are_utc_whole_seconds() {
        let at = time::macros::datetime!(2026-12-01 10:30:15.5 +02:00);
        let due = DueAt::new(at);
        assert_eq!(
            due.instant(),
            time::macros::datetime!(2026-12-01 08:30:15 UTC)
        );
    }
}
