//! An uploaded zip, read defensively: every entry's path is checked before
//! it is used (nothing may leave the archive), and every entry is read
//! under a limit that its declared size cannot talk its way past (a zip
//! bomb expands no further than the limit). Blocking.

use std::fs::File;
use std::io::Read;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};
use zip::ZipArchive;

use super::markdown::FileProblem;

/// How far an entry may expand beyond its compressed size (text compresses
/// well, but not a thousandfold): more is refused as a zip bomb.
pub const MAX_RATIO: u64 = 200;

/// Entries smaller than this are never taken for bombs, whatever their ratio.
const RATIO_FLOOR: u64 = 1024 * 1024;

/// Why a whole archive is refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a zip, or one whose directory cannot be read.
    #[error("the upload is not a zip archive that can be read: {0}")]
    NotZip(String),
    /// More entries than an import takes.
    #[error("the archive holds {actual} entries; an import takes at most {max}")]
    TooManyEntries {
        /// The limit.
        max: usize,
        /// What the archive holds.
        actual: usize,
    },
}

/// One entry of the archive's directory.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its place in the archive.
    pub index: usize,
    /// Its name as the archive gives it (for the report).
    pub name: String,
    /// Its path's segments, or why the path is refused.
    pub path: Result<Vec<String>, FileProblem>,
    /// A folder, not a file.
    pub is_dir: bool,
    /// When the archive says it changed.
    pub modified: Option<OffsetDateTime>,
}

impl Entry {
    /// Its file name, the last segment of its path.
    pub fn file_name(&self) -> &str {
        match &self.path {
            Ok(segments) => segments.last().map_or("", String::as_str),
            Err(_) => &self.name,
        }
    }
}

/// An archive being imported.
pub struct Archive {
    zip: ZipArchive<File>,
}

impl Archive {
    /// Opens the zip in `file`, refusing one of more than `max_entries`.
    pub fn open(file: File, max_entries: usize) -> Result<Self, ArchiveError> {
        let zip = ZipArchive::new(file).map_err(|e| ArchiveError::NotZip(e.to_string()))?;
        if zip.len() > max_entries {
            return Err(ArchiveError::TooManyEntries {
                max: max_entries,
                actual: zip.len(),
            });
        }
        Ok(Self { zip })
    }

    /// Every entry, in the archive's order.
    pub fn entries(&mut self) -> Vec<Entry> {
        (0..self.zip.len())
            .map(|index| match self.zip.by_index_raw(index) {
                Ok(file) => {
                    let (name, path) = match file.name() {
                        Ok(name) => {
                            let path = safe_path(&name, file.enclosed_name().is_some());
                            (name.into_owned(), path)
                        }
                        Err(e) => (
                            String::from_utf8_lossy(file.name_raw()).into_owned(),
                            Err(FileProblem::new(
                                "not_utf8",
                                format!("the file's name cannot be read: {e}"),
                            )),
                        ),
                    };
                    Entry {
                        index,
                        name,
                        path,
                        is_dir: file.is_dir(),
                        modified: file.last_modified().and_then(instant),
                    }
                }
                Err(e) => Entry {
                    index,
                    name: format!("entry {}", index + 1),
                    path: Err(FileProblem::new("unreadable", e.to_string())),
                    is_dir: false,
                    modified: None,
                },
            })
            .collect()
    }

    /// The bytes of entry `index`, at most `limit` of them: refused before
    /// reading when its directory says it is larger or expands more than
    /// [`MAX_RATIO`] times, and when more bytes come than the limit anyway.
    pub fn read(&mut self, index: usize, limit: u64) -> Result<Vec<u8>, FileProblem> {
        let unreadable = |e: zip::result::ZipError| FileProblem::new("unreadable", e.to_string());
        let file = self.zip.by_index(index).map_err(unreadable)?;
        if file.encrypted() {
            return Err(FileProblem::new(
                "encrypted",
                "the file is encrypted in the archive",
            ));
        }
        let (size, packed) = (file.size(), file.compressed_size().max(1));
        if size > RATIO_FLOOR && size / packed > MAX_RATIO {
            return Err(FileProblem::new(
                "zip_bomb",
                format!(
                    "the file expands {}-fold (from {packed} to {size} bytes); more than {MAX_RATIO}-fold is refused",
                    size / packed
                ),
            ));
        }
        if size > limit {
            return Err(too_large(limit));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FileProblem::new("unreadable", e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(limit));
        }
        Ok(bytes)
    }
}

fn too_large(limit: u64) -> FileProblem {
    FileProblem::new(
        "too_large",
        format!("the file is larger than {limit} bytes"),
    )
}

/// An entry's path as segments: relative, without `.` or `..`, without
/// control characters, never reaching outside the archive.
fn safe_path(name: &str, enclosed: bool) -> Result<Vec<String>, FileProblem> {
    let segments: Vec<&str> = name
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let escapes = !enclosed
        || name.starts_with(['/', '\\'])
        || segments.iter().any(|s| *s == ".." || s.contains(':'));
    if escapes {
        return Err(FileProblem::new(
            "unsafe_path",
            "the path leaves the archive (an absolute path, a drive, or ..)",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FileProblem::new(
            "unsafe_path",
            "the path holds control characters",
        ));
    }
    Ok(segments.into_iter().map(str::to_owned).collect())
}

/// A zip time (local time of the machine that wrote it, which the archive
/// does not say) read as UTC.
fn instant(at: zip::DateTime) -> Option<OffsetDateTime> {
    let date = Date::from_calendar_date(
        i32::from(at.year()),
        Month::try_from(at.month()).ok()?,
        at.day(),
    )
    .ok()?;
    let time = Time::from_hms(at.hour(), at.minute(), at.second()).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_archive_are_refused() {
        let code = |name: &str, enclosed| safe_path(name, enclosed).map_err(|p| p.code);
        assert_eq!(
            code("Maths/Limits.md", true),
            Ok(vec!["Maths".to_owned(), "Limits.md".to_owned()])
        );
        assert_eq!(
            code("./a//b.md", true),
            Ok(vec!["a".to_owned(), "b.md".to_owned()])
        );
        assert_eq!(code("../evil.md", false), Err("unsafe_path"));
        assert_eq!(code("a/../../evil.md", false), Err("unsafe_path"));
        assert_eq!(code("a/../b.md", true), Err("unsafe_path"));
        assert_eq!(code("/etc/passwd", true), Err("unsafe_path"));
        assert_eq!(code("C:\\Windows\\x.md", true), Err("unsafe_path"));
        assert_eq!(code("..\\evil.md", true), Err("unsafe_path"));
        assert_eq!(code("bell\u{7}.md", true), Err("unsafe_path"));
    }
}
