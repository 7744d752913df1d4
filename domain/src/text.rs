//! Which characters people's text may hold.
//!
//! One rule for every backend: a value the command API accepts is a value
//! PostgreSQL, SQLite and JSON all store unchanged. Refused everywhere:
//! control characters (Unicode category Cc: NUL, the C0 and C1 controls,
//! DEL) and the bidirectional embeddings, overrides and isolates
//! (U+202A–U+202E, U+2066–U+2069), which reorder the text around them and can
//! make `gpj.exe` read as `exe.jpg`. Multi-line text (a note's body) may also
//! hold newline and tab. The bidirectional marks U+200E and U+200F stay
//! allowed: they only settle the direction of neutral characters beside
//! right-to-left words and are needed to write mixed Arabic or Hebrew text.

use crate::error::ValidationError;

/// Whether a value is one line or may span several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// Titles, subjects, tags, names: no line breaks, no tabs.
    One,
    /// Note bodies: newline and tab allowed.
    Many,
}

/// Embeddings, overrides and isolates: they reorder the text after them.
pub fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` may appear in text of the given kind.
pub fn is_allowed(c: char, lines: Lines) -> bool {
    if is_bidi_override(c) {
        return false;
    }
    !c.is_control() || (lines == Lines::Many && matches!(c, '\n' | '\t'))
}

/// Checks every character of `value`; names the first refused one and where
/// it is (counted in characters from 1).
pub fn check(field: &'static str, value: &str, lines: Lines) -> Result<(), ValidationError> {
    match value
        .chars()
        .enumerate()
        .find(|(_, c)| !is_allowed(*c, lines))
    {
        None => Ok(()),
        Some((index, c)) => Err(ValidationError::Character {
            field,
            code_point: u32::from(c),
            at: index + 1,
        }),
    }
}

/// Replaces every refused character with U+FFFD. Used only for text read
/// back from the log that was recorded before these rules existed: an old
/// event stays readable, and what it shows can no longer break a store.
pub fn repair(value: String, lines: Lines) -> String {
    if value.chars().all(|c| is_allowed(c, lines)) {
        return value;
    }
    value
        .chars()
        .map(|c| if is_allowed(c, lines) { c } else { '\u{fffd}' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_named() {
        assert_eq!(
            check("title", "nul\u{0}title", Lines::One),
            Err(ValidationError::Character {
                field: "title",
                code_point: 0,
                at: 4
            })
        );
        for c in ['\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\r'] {
            assert!(
                check("body", &format!("a{c}b"), Lines::Many).is_err(),
                "{c:?}"
            );
        }
        assert!(check("title", "a\nb", Lines::One).is_err());
        assert!(check("title", "a\tb", Lines::One).is_err());
        assert!(check("body", "a\nb\tc", Lines::Many).is_ok());
    }

    #[test]
    fn bidi_overrides_are_refused_but_marks_and_rtl_text_are_not() {
        for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}'] {
            assert!(check("subject", &format!("x{c}y"), Lines::One).is_err());
            assert!(check("body", &format!("x{c}y"), Lines::Many).is_err());
        }
        assert!(check("title", "שלום \u{200f}(1)", Lines::One).is_ok());
        assert!(check("title", "مرحبا \u{200e}x", Lines::One).is_ok());
        assert!(check("title", "emoji 🎓 and ß", Lines::One).is_ok());
    }

    #[test]
    fn repair_replaces_only_what_is_refused() {
        assert_eq!(
            repair("a\u{0}b\u{202e}c".into(), Lines::One),
            "a\u{fffd}b\u{fffd}c"
        );
        assert_eq!(repair("a\nb".into(), Lines::Many), "a\nb");
        assert_eq!(repair("a\nb".into(), Lines::One), "a\u{fffd}b");
    }
}
