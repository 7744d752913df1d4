//! A note as a Markdown file with front matter, and the names of the files
//! and folders an export gives notes and documents. Pure.

use std::collections::HashSet;

use anote_read_store::NoteView;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The folder of the notes without a subject.
pub const NO_SUBJECT: &str = "No subject";

/// The longest name (in characters) a file or folder of an export gets.
const MAX_NAME: usize = 80;

/// The note as Markdown: YAML front matter (every string quoted, so that no
/// title can break out of it), a blank line, the body.
pub fn note_file(view: &NoteView) -> String {
    let mut out = String::from("---\n");
    field(&mut out, "title", &quoted(&view.title));
    if let Some(subject) = &view.subject {
        field(&mut out, "subject", &quoted(subject));
    }
    let tags: Vec<String> = view.tags.iter().map(|t| quoted(t)).collect();
    field(&mut out, "tags", &format!("[{}]", tags.join(", ")));
    if let Some(due) = view.due_at {
        field(&mut out, "due", &quoted(&timestamp(due)));
    }
    field(&mut out, "done", &view.done.to_string());
    field(&mut out, "pinned", &view.pinned.to_string());
    field(&mut out, "archived", &view.archived.to_string());
    field(&mut out, "trashed", &view.trashed.to_string());
    field(&mut out, "created", &quoted(&timestamp(view.created_at)));
    field(&mut out, "updated", &quoted(&timestamp(view.updated_at)));
    field(&mut out, "id", &quoted(&view.id.uuid().to_string()));
    // The body exactly as it is (an import reads it back to the byte).
    out.push_str("---\n\n");
    out.push_str(&view.body);
    out
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

/// A YAML double-quoted scalar (a JSON string is one).
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// RFC 3339, as the API writes instants.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// `text` as a file or folder name every system accepts: no separators,
/// reserved or control characters, no leading or trailing dots and spaces,
/// at most [`MAX_NAME`] characters; `fallback` when nothing is left.
pub fn safe_name(text: &str, fallback: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(MAX_NAME)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A file's extension (with its dot) as it may stay in a name: a dot and
/// at most 10 ASCII letters and digits; anything else is dropped.
pub fn safe_extension(extension: &str) -> String {
    match extension.strip_prefix('.') {
        Some(rest)
            if !rest.is_empty()
                && rest.len() <= 10
                && rest.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            extension.to_owned()
        }
        _ => String::new(),
    }
}

/// The names already given in an archive, compared without case (as
/// Windows and macOS do).
#[derive(Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `stem` + `extension` in `folder`, or with " (2)", " (3)", … before
    /// the extension when that path is taken.
    pub fn claim(&mut self, folder: &str, stem: &str, extension: &str) -> String {
        for n in 1.. {
            let path = if n == 1 {
                format!("{folder}/{stem}{extension}")
            } else {
                format!("{folder}/{stem} ({n}){extension}")
            };
            if self.taken.insert(path.to_lowercase()) {
                return path;
            }
        }
        unreachable!("some suffix is free")
    }
}

/// A file name split into stem and extension (with its dot).
pub fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_what_file_systems_refuse_and_never_collide() {
        assert_eq!(safe_name("../../etc/passwd", "x"), "-..-etc-passwd");
        assert_eq!(safe_name("  .hidden. ", "x"), "hidden");
        assert_eq!(safe_name("a\u{0}b\tc", "x"), "a b c");
        assert_eq!(safe_name("...", "Untitled"), "Untitled");
        assert_eq!(safe_name(&"é".repeat(200), "x").chars().count(), MAX_NAME);
        let mut names = Names::default();
        assert_eq!(names.claim("Maths", "Week 1", ".md"), "Maths/Week 1.md");
        assert_eq!(names.claim("Maths", "WEEK 1", ".md"), "Maths/WEEK 1 (2).md");
        assert_eq!(names.claim("Maths", "Week 1", ".md"), "Maths/Week 1 (3).md");
        assert_eq!(
            split_extension("slides.final.pdf"),
            ("slides.final", ".pdf")
        );
        assert_eq!(split_extension(".env"), (".env", ""));
        assert_eq!(safe_extension(".pdf"), ".pdf");
        assert_eq!(safe_extension(".x:y?"), "");
        assert_eq!(safe_extension(&format!(".{}", "a".repeat(11))), "");
        assert_eq!(safe_extension(""), "");
    }
}
