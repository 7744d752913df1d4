//! Which entries of an archive become notes, which become their documents,
//! and which are passed over: from the export's manifest when the archive
//! has one, otherwise from the export's layout (`<note> files/` beside
//! `<note>.md`), which is also how a folder of Markdown files is read.
//! Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::archive::Entry;
use super::markdown::FileProblem;

/// The export's manifest, as far as an import reads it.
#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    /// `anote-export` for an export of Anote.
    #[serde(default)]
    pub format: String,
    /// The notes.
    #[serde(default)]
    pub notes: Vec<ManifestNote>,
}

/// A note of the manifest.
#[derive(Debug, Deserialize)]
pub struct ManifestNote {
    /// Its Markdown file.
    pub path: String,
    /// Its documents.
    #[serde(default)]
    pub documents: Vec<ManifestDocument>,
}

/// A document of the manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestDocument {
    /// Its bytes in the archive.
    pub path: String,
    /// Its file name.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
}

/// The export's manifest's path in the archive.
pub const MANIFEST: &str = "manifest.json";

/// A document to attach to a note.
#[derive(Clone, Debug)]
pub struct PlannedDocument {
    /// Its entry.
    pub entry: Entry,
    /// The name and type the manifest gives it, if any.
    pub declared: Option<ManifestDocument>,
}

/// A note to import.
#[derive(Clone, Debug)]
pub struct PlannedNote {
    /// Its Markdown file.
    pub entry: Entry,
    /// The export's manifest lists it: its front matter is whole, and its
    /// folder (`No subject/`, a name made safe) is not a subject.
    pub exported: bool,
    /// Its documents.
    pub documents: Vec<PlannedDocument>,
}

/// What an archive holds for an import.
#[derive(Debug, Default)]
pub struct Plan {
    /// The notes, in the archive's order.
    pub notes: Vec<PlannedNote>,
    /// Entries refused or passed over, and why.
    pub others: Vec<(Entry, Outcome)>,
}

/// Why an entry is not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not something an import takes (a folder's settings, a stray file).
    Skipped(FileProblem),
    /// Something an import would take, but not this one.
    Refused(FileProblem),
}

/// Whether an entry is a Markdown file.
fn is_markdown(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

/// The folder of a note's documents in an export: `<path minus .md> files`.
fn documents_folder(note: &[String]) -> Option<Vec<String>> {
    let (name, folders) = note.split_last()?;
    let stem = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(stem, _)| stem);
    let mut folder = folders.to_vec();
    folder.push(format!("{stem} files"));
    Some(folder)
}

/// Sorts `entries` into notes, their documents, and the rest.
pub fn plan(entries: Vec<Entry>, manifest: &Manifest) -> Plan {
    let listed: HashSet<&str> = manifest.notes.iter().map(|n| n.path.as_str()).collect();
    let declared: HashMap<&str, (&str, &ManifestDocument)> = manifest
        .notes
        .iter()
        .flat_map(|n| {
            n.documents
                .iter()
                .map(move |d| (d.path.as_str(), (n.path.as_str(), d)))
        })
        .collect();
    let mut plan = Plan::default();
    let mut notes_by_path: HashMap<String, usize> = HashMap::new();
    let mut folders: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut candidates = Vec::new();
    for entry in entries {
        let segments = match &entry.path {
            Err(problem) => {
                let problem = problem.clone();
                plan.others.push((entry, Outcome::Refused(problem)));
                continue;
            }
            Ok(segments) => segments.clone(),
        };
        if entry.is_dir {
            continue;
        }
        if segments == [MANIFEST] {
            continue; // read before planning
        }
        if segments
            .iter()
            .any(|s| s.starts_with('.') || s == "__MACOSX")
        {
            let problem = FileProblem::new("hidden", "hidden files and folders are not imported");
            plan.others.push((entry, Outcome::Skipped(problem)));
            continue;
        }
        let path = segments.join("/");
        if is_markdown(entry.file_name()) && !declared.contains_key(path.as_str()) {
            if let Some(folder) = documents_folder(&segments) {
                folders.insert(folder, plan.notes.len());
            }
            plan.notes.push(PlannedNote {
                entry,
                exported: listed.contains(path.as_str()),
                documents: Vec::new(),
            });
            notes_by_path.insert(path, plan.notes.len() - 1);
        } else {
            candidates.push((segments, entry));
        }
    }
    for (segments, entry) in candidates {
        let path = segments.join("/");
        let by_manifest = declared.get(path.as_str()).and_then(|(note, document)| {
            notes_by_path
                .get(*note)
                .map(|&n| (n, Some((*document).clone())))
        });
        let by_folder = || {
            let (_, folder) = segments.split_last()?;
            folders.get(folder).map(|&n| (n, None))
        };
        match by_manifest.or_else(by_folder) {
            Some((note, declared)) => plan.notes[note]
                .documents
                .push(PlannedDocument { entry, declared }),
            None => {
                let problem = FileProblem::new(
                    "not_a_note",
                    "only Markdown files (.md) become notes; other files are imported as the documents of the note whose \"<name> files\" folder holds them",
                );
                plan.others.push((entry, Outcome::Skipped(problem)));
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: usize, name: &str) -> Entry {
        Entry {
            index,
            name: name.to_owned(),
            path: Ok(name.split('/').map(str::to_owned).collect()),
            is_dir: name.ends_with('/'),
            modified: None,
        }
    }

    fn names(plan: &Plan) -> Vec<(String, Vec<String>)> {
        plan.notes
            .iter()
            .map(|n| {
                let docs = n.documents.iter().map(|d| d.entry.name.clone()).collect();
                (n.entry.name.clone(), docs)
            })
            .collect()
    }

    #[test]
    fn documents_go_to_the_note_beside_their_folder() {
        let entries = vec![
            entry(0, "Maths/"),
            entry(1, "Maths/Limits.md"),
            entry(2, "Maths/Limits files/plot.png"),
            entry(3, "Maths/Series.MD"),
            entry(4, "Maths/stray.pdf"),
            entry(5, ".obsidian/app.json"),
            entry(6, MANIFEST),
        ];
        let plan = plan(entries, &Manifest::default());
        assert_eq!(
            names(&plan),
            [
                (
                    "Maths/Limits.md".to_owned(),
                    vec!["Maths/Limits files/plot.png".to_owned()]
                ),
                ("Maths/Series.MD".to_owned(), vec![]),
            ]
        );
        let others: Vec<(&str, &str)> = plan
            .others
            .iter()
            .map(|(e, o)| match o {
                Outcome::Skipped(p) | Outcome::Refused(p) => (e.name.as_str(), p.code),
            })
            .collect();
        assert_eq!(
            others,
            [
                (".obsidian/app.json", "hidden"),
                ("Maths/stray.pdf", "not_a_note")
            ]
        );
    }

    #[test]
    fn the_manifest_names_documents_wherever_they_are() {
        let manifest: Manifest = serde_json::from_str(
            r#"{"format":"anote-export","notes":[{"path":"a.md","documents":[
                {"path":"elsewhere/x.bin","file_name":"Essay (final).pdf","content_type":"application/pdf"}]}]}"#,
        )
        .expect("manifest");
        let plan = plan(
            vec![
                entry(0, "a.md"),
                entry(1, "elsewhere/x.bin"),
                entry(2, "b.md"),
            ],
            &manifest,
        );
        assert!(plan.notes[0].exported && !plan.notes[1].exported);
        let document = &plan.notes[0].documents[0];
        assert_eq!(
            document.declared.as_ref().map(|d| d.file_name.as_str()),
            Some("Essay (final).pdf")
        );
    }
}
