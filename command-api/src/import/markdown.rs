//! A Markdown file of an archive as a note: its YAML front matter (the
//! export's own, Obsidian's, Joplin's) read for the fields Anote knows, the
//! rest as the body. Pure.
//!
//! Front matter is the block between a first line `---` and the next line
//! `---` (or `...`). Only its top-level `key: value` lines are read: strings
//! (bare, `"double"` or `'single'` quoted), booleans, and lists (`[a, b]`
//! or one `- item` per line below the key); anything else is passed over.

use std::collections::BTreeMap;

use anote_domain::note::ImportedNote;
use anote_domain::text::{self, Lines};
use anote_domain::values::{Body, DueAt, Subject, Tags, Title};
use anote_domain::ValidationError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// Why one file of an archive was not imported: a stable code and what to
/// tell the student.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    /// The stable, machine-readable code.
    pub code: &'static str,
    /// What was wrong.
    pub detail: String,
}

impl FileProblem {
    /// A problem with this code and detail.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl From<ValidationError> for FileProblem {
    fn from(error: ValidationError) -> Self {
        Self::new("validation_failed", error.to_string())
    }
}

/// A note read from a file, before its documents are added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedNote {
    /// The note, with no documents yet.
    pub note: ImportedNote,
    /// The `id` of its front matter (an export's note id), if it had one.
    pub exported_id: Option<Uuid>,
}

/// Where a file was and when the archive says it changed.
#[derive(Clone, Copy, Debug)]
pub struct FileContext<'a> {
    /// Its folders, outermost first (the subject, unless the front matter
    /// names one).
    pub folders: &'a [&'a str],
    /// Its name without `.md` (the title, unless the front matter names one).
    pub stem: &'a str,
    /// Its modification time in the archive, if recorded.
    pub modified: Option<OffsetDateTime>,
    /// The import's time, for a file with no dates at all.
    pub now: OffsetDateTime,
}

/// Reads a note from the bytes of a Markdown file.
pub fn parse_note(bytes: &[u8], at: FileContext<'_>) -> Result<ParsedNote, FileProblem> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FileProblem::new("not_utf8", format!("the file is not UTF-8 text: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Windows line ends: a note's text has no carriage returns.
    let text = text.replace("\r\n", "\n");
    let (front, body) = split_front_matter(&text)?;
    let fields = front.map(read_fields).unwrap_or_default();

    let title = match fields.text("title")? {
        Some(title) => title,
        // A name the file system took may hold what a title may not.
        None => at
            .stem
            .chars()
            .filter(|c| text::is_allowed(*c, Lines::One))
            .take(200)
            .collect(),
    };
    let subject = match fields.text("subject")? {
        Some(subject) => Some(subject),
        None => folder_subject(at.folders),
    };
    let tags: Vec<String> = fields
        .list("tags")?
        .into_iter()
        .map(|t| t.trim().trim_start_matches('#').to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let created = fields
        .time(&["created", "created_at", "date"])?
        .or(at.modified)
        .unwrap_or(at.now);
    let updated = fields
        .time(&["updated", "updated_at", "modified"])?
        .or(at.modified)
        .unwrap_or(created)
        .max(created);
    let note = ImportedNote {
        title: Title::parse(&title)?,
        body: Body::parse(body)?,
        subject: subject.as_deref().map(Subject::parse).transpose()?,
        tags: Tags::parse(&tags)?,
        due_at: fields.time(&["due", "due_at"])?.map(DueAt::new),
        done: fields.flag("done")?,
        pinned: fields.flag("pinned")?,
        archived: fields.flag("archived")?,
        trashed: fields.flag("trashed")?,
        created_at: created,
        updated_at: updated,
        documents: Vec::new(),
    };
    let exported_id = fields
        .text("id")?
        .and_then(|id| Uuid::parse_str(id.trim()).ok());
    Ok(ParsedNote { note, exported_id })
}

/// The subject a file's folders give: their path, or the innermost folder
/// alone when the path is longer than a subject may be.
fn folder_subject(folders: &[&str]) -> Option<String> {
    let path = folders.join("/");
    match folders.last() {
        None => None,
        Some(_) if path.chars().count() <= 80 => Some(path),
        Some(last) => Some(last.chars().take(80).collect()),
    }
}

/// The front matter's lines (if the file has any) and the body after it.
/// The one blank line an export writes after the front matter is not part
/// of the body.
fn split_front_matter(text: &str) -> Result<(Option<Vec<&str>>, &str), FileProblem> {
    let Some(rest) = text.strip_prefix("---\n") else {
        return Ok((None, text));
    };
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        let bare = line.trim_end_matches('\n');
        if bare == "---" || bare == "..." {
            let body = &rest[offset..];
            return Ok((Some(lines), body.strip_prefix('\n').unwrap_or(body)));
        }
        lines.push(bare);
    }
    Err(FileProblem::new(
        "invalid_front_matter",
        "the front matter that starts on the first line never ends (no closing ---)",
    ))
}

/// A front-matter value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Text(String),
    List(Vec<String>),
}

/// The top-level fields of a front matter, by key.
#[derive(Debug, Default)]
struct Fields(BTreeMap<String, Value>);

fn read_fields(lines: Vec<&str>) -> Fields {
    let mut fields = BTreeMap::new();
    let mut open_list: Option<String> = None;
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let (Some(key), Some(item)) = (&open_list, trimmed.strip_prefix('-')) {
            if let Some(Value::List(items)) = fields.get_mut(key) {
                items.push(scalar(item.trim()));
            }
            continue;
        }
        open_list = None;
        if line.starts_with([' ', '\t']) {
            continue; // a nested map's line: not a field Anote reads
        }
        let Some((key, raw)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let raw = raw.trim();
        let value = if raw.is_empty() {
            open_list = Some(key.clone());
            Value::List(Vec::new())
        } else if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Value::List(flow_items(inner).into_iter().map(|i| scalar(&i)).collect())
        } else {
            Value::Text(scalar(raw))
        };
        fields.insert(key, value);
    }
    Fields(fields)
}

/// One scalar: quotes removed (a double-quoted one read as JSON, which its
/// escapes are), a bare one without a trailing ` # comment`.
fn scalar(raw: &str) -> String {
    if raw.starts_with('"') {
        if let Ok(text) = serde_json::from_str::<String>(raw) {
            return text;
        }
    }
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    let bare = raw.split(" #").next().unwrap_or(raw);
    bare.trim().to_owned()
}

/// The items of a flow list's inside, split at commas outside quotes.
fn flow_items(inner: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in inner.chars() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => escaped = true,
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, ',') => {
                items.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => escaped = false,
        }
        current.push(c);
    }
    items.push(current.trim().to_owned());
    items.retain(|i| !i.is_empty());
    items
}

impl Fields {
    fn text(&self, key: &str) -> Result<Option<String>, FileProblem> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Text(text)) => Ok(Some(text.clone())),
            Some(Value::List(items)) if items.is_empty() => Ok(None),
            Some(Value::List(_)) => Err(wrong_shape(key, "a text")),
        }
    }

    /// A list, or a text of words separated by commas or spaces.
    fn list(&self, key: &str) -> Result<Vec<String>, FileProblem> {
        Ok(match self.0.get(key) {
            None => Vec::new(),
            Some(Value::List(items)) => items.clone(),
            Some(Value::Text(text)) => text
                .split([',', ' '])
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    fn flag(&self, key: &str) -> Result<bool, FileProblem> {
        match self.text(key)?.map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "no" | "off") => Ok(false),
            Some("true" | "yes" | "on") => Ok(true),
            Some(_) => Err(wrong_shape(key, "true or false")),
        }
    }

    /// The first of `keys` present, as an instant.
    fn time(&self, keys: &[&str]) -> Result<Option<OffsetDateTime>, FileProblem> {
        for key in keys {
            if let Some(text) = self.text(key)? {
                return instant(&text)
                    .map(Some)
                    .ok_or_else(|| wrong_shape(key, "a date (RFC 3339, or YYYY-MM-DD)"));
            }
        }
        Ok(None)
    }
}

fn wrong_shape(key: &str, expected: &str) -> FileProblem {
    FileProblem::new(
        "invalid_front_matter",
        format!("the front matter's {key:?} must be {expected}"),
    )
}

/// An instant written as RFC 3339, as `YYYY-MM-DD HH:MM:SS` with or without
/// a zone (UTC when none), or as a day (its midnight in UTC).
fn instant(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let mut normal = if text.len() == 10 {
        format!("{text}T00:00:00")
    } else {
        text.replacen(' ', "T", 1)
    };
    let time_part = normal.get(10..).unwrap_or_default();
    if !time_part.ends_with(['Z', 'z']) && !time_part.contains(['+', '-']) {
        normal.push('Z');
    }
    OffsetDateTime::parse(&normal, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn at<'a>(folders: &'a [&'a str], stem: &'a str) -> FileContext<'a> {
        FileContext {
            folders,
            stem,
            modified: None,
            now: NOW,
        }
    }

    #[test]
    fn the_exports_front_matter_gives_every_field_back() {
        let file = "---\ntitle: \"Limits: \\\"ε\\\" and δ\"\nsubject: \"Maths\"\ntags: [\"exam\", \"week 1\"]\ndue: \"2026-12-10T09:00:00Z\"\ndone: true\npinned: true\narchived: false\ntrashed: true\ncreated: \"2026-11-01T08:00:00.5Z\"\nupdated: \"2026-11-02T08:00:00Z\"\nid: \"6f1c1a52-4d0e-4a8e-9d57-3f1c9a1b2c3d\"\n---\n\n\n# Limits\n";
        let parsed = parse_note(file.as_bytes(), at(&["Other"], "ignored")).expect("parsed");
        let note = parsed.note;
        assert_eq!(note.title.as_str(), "Limits: \"ε\" and δ");
        assert_eq!(note.subject.as_ref().map(Subject::as_str), Some("Maths"));
        let tags: Vec<&str> = note.tags.iter().map(|t| t.as_str()).collect();
        assert_eq!(tags, ["exam", "week 1"]);
        assert_eq!(
            note.body.as_str(),
            "\n# Limits\n",
            "one blank line belongs to the format"
        );
        assert_eq!(
            note.due_at,
            Some(DueAt::new(datetime!(2026-12-10 09:00 UTC)))
        );
        assert!(note.done && note.pinned && !note.archived && note.trashed);
        assert_eq!(note.created_at, datetime!(2026-11-01 08:00:00.5 UTC));
        assert_eq!(note.updated_at, datetime!(2026-11-02 08:00 UTC));
        assert_eq!(
            parsed.exported_id,
            Uuid::parse_str("6f1c1a52-4d0e-4a8e-9d57-3f1c9a1b2c3d").ok()
        );
    }

    #[test]
    fn a_plain_file_takes_its_title_from_its_name_and_subject_from_its_folders() {
        let mut context = at(&["Physics", "Lectures"], "Week 1");
        context.modified = Some(datetime!(2026-10-01 10:00 UTC));
        let parsed = parse_note(b"Just text\r\n", context).expect("parsed");
        assert_eq!(parsed.note.title.as_str(), "Week 1");
        assert_eq!(
            parsed.note.subject.as_ref().map(Subject::as_str),
            Some("Physics/Lectures")
        );
        assert_eq!(parsed.note.body.as_str(), "Just text\n");
        assert_eq!(parsed.note.created_at, datetime!(2026-10-01 10:00 UTC));
        assert_eq!(parsed.note.updated_at, parsed.note.created_at);
        assert!(parse_note(b"", at(&[], "x"))
            .expect("empty")
            .note
            .subject
            .is_none());
        let named = parse_note(b"", at(&[], "\u{202e}txt\u{7}")).expect("cleaned");
        assert_eq!(named.note.title.as_str(), "txt");
    }

    #[test]
    fn obsidian_and_joplin_front_matter_is_read() {
        let obsidian = "---\ntags:\n  - '#exam'\n  - physics\naliases: [a, b]\ndate: 2026-11-03\nnested:\n  key: value\n---\nBody";
        let note = parse_note(obsidian.as_bytes(), at(&[], "Obsidian"))
            .expect("parsed")
            .note;
        let tags: Vec<&str> = note.tags.iter().map(|t| t.as_str()).collect();
        assert_eq!(tags, ["exam", "physics"]);
        assert_eq!(note.created_at, datetime!(2026-11-03 00:00 UTC));
        assert_eq!(note.body.as_str(), "Body");

        let joplin = "---\ntitle: Lab report # draft\nupdated: 2026-11-05 10:12:00Z\ncreated: 2026-11-04 09:00:00\ntags: chemistry, lab\n---\n\nText";
        let note = parse_note(joplin.as_bytes(), at(&[], "x"))
            .expect("parsed")
            .note;
        assert_eq!(note.title.as_str(), "Lab report");
        assert_eq!(note.created_at, datetime!(2026-11-04 09:00 UTC));
        assert_eq!(note.updated_at, datetime!(2026-11-05 10:12 UTC));
        assert_eq!(note.tags.len(), 2);
    }

    #[test]
    fn bad_files_are_refused_with_a_code() {
        let code = |bytes: &[u8]| {
            parse_note(bytes, at(&[], "x"))
                .map(|_| ())
                .map_err(|p| p.code)
        };
        assert_eq!(code(b"caf\xe9"), Err("not_utf8"));
        assert_eq!(code(b"---\ntitle: x\nno end"), Err("invalid_front_matter"));
        assert_eq!(code(b"---\ndue: soon\n---\n"), Err("invalid_front_matter"));
        assert_eq!(
            code(b"---\npinned: maybe\n---\n"),
            Err("invalid_front_matter")
        );
        assert_eq!(
            code(b"---\ntitle: [a, b]\n---\n"),
            Err("invalid_front_matter")
        );
        assert_eq!(code(b"bell \x07 in the body"), Err("validation_failed"));
        let many: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
        let file = format!("---\ntags: [{}]\n---\n", many.join(", "));
        assert_eq!(code(file.as_bytes()), Err("validation_failed"));
    }

    #[test]
    fn updated_is_never_before_created() {
        let file = b"---\ncreated: 2026-11-05\nupdated: 2026-11-01\n---\n";
        let note = parse_note(file, at(&[], "x")).expect("parsed").note;
        assert_eq!(note.updated_at, note.created_at);
    }
}
