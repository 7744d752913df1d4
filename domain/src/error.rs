//! The domain's errors: invalid values and broken business rules.

use thiserror::Error;

/// A value that does not satisfy its type's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// Too short or too long, counted in characters.
    #[error("{field} must be {min} to {max} characters long (got {actual})")]
    Length {
        /// The field that was checked.
        field: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The most characters allowed.
        max: usize,
        /// How many characters it had.
        actual: usize,
    },
    /// Larger than allowed, counted in bytes.
    #[error("{field} must be at most {max_bytes} bytes of UTF-8 (got {actual})")]
    TooLarge {
        /// The field that was checked.
        field: &'static str,
        /// The most bytes allowed.
        max_bytes: usize,
        /// How many bytes it had.
        actual: usize,
    },
    /// More items than allowed.
    #[error("{field} may hold at most {max} items (got {actual})")]
    TooMany {
        /// The field that was checked.
        field: &'static str,
        /// The most items allowed.
        max: usize,
        /// How many it had.
        actual: usize,
    },
    /// A character that text of this kind may not hold (see [`crate::text`]).
    #[error("{field} may not contain U+{code_point:04X} (character {at})")]
    Character {
        /// The field that was checked.
        field: &'static str,
        /// The refused character's code point.
        code_point: u32,
        /// Where it is, counted in characters from 1.
        at: usize,
    },
    /// A character outside the allowed set.
    #[error("{field} may only contain {allowed}")]
    Charset {
        /// The field that was checked.
        field: &'static str,
        /// The allowed characters, for people.
        allowed: &'static str,
    },
}

impl ValidationError {
    /// The name of the field that failed.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Length { field, .. }
            | Self::TooLarge { field, .. }
            | Self::TooMany { field, .. }
            | Self::Character { field, .. }
            | Self::Charset { field, .. } => field,
        }
    }
}

/// A command that the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The aggregate does not exist (or is gone for good).
    #[error("not found")]
    NotFound,
    /// The aggregate exists already.
    #[error("already exists")]
    AlreadyExists,
    /// The note is in the trash: restore it first.
    #[error("the note is in the trash")]
    NoteTrashed,
    /// Purging is only allowed from the trash.
    #[error("only a note in the trash can be purged")]
    NotInTrash,
    /// Completing or reopening needs a due date.
    #[error("the note has no due date, so it is not an assignment")]
    NotAnAssignment,
    /// The note has no live share link with this id.
    #[error("no such share link")]
    ShareNotFound,
    /// A note may have only so many live share links.
    #[error("the note has too many share links; revoke one first")]
    TooManyShares,
    /// The note has no document with this id.
    #[error("no such document")]
    DocumentNotFound,
    /// A note may hold only so many documents.
    #[error("the note has too many documents; remove one first")]
    TooManyDocuments,
    /// The document's upload is not complete yet.
    #[error("the document's upload is not complete")]
    UploadIncomplete,
}
