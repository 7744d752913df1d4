//! Where the read models live: PostgreSQL, or SQLite files in the embedded
//! data folder, one file per build (blue/green rebuilds switch between them).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anote_store::db::{PgDatabase, SqliteDatabase};
use anote_store::storage::create_dir;
use anote_store::StoreError;

use crate::{PgReadStore, ReadStore, SqliteReadStore};

/// The read models of the embedded default: their own SQLite file in
/// `data_dir` (the current build, see [`current_build`]), migrated; returns
/// the file too.
pub async fn embedded_read_models(
    data_dir: &Path,
) -> Result<(Arc<dyn ReadStore>, PathBuf), StoreError> {
    create_dir(data_dir)?;
    let path = current_build(data_dir)?;
    Ok((open_build(&path).await?, path))
}

/// One build of the embedded read models, opened and migrated.
pub async fn open_build(path: &Path) -> Result<Arc<dyn ReadStore>, StoreError> {
    let db = SqliteDatabase::open_rebuildable(path).await?;
    db.migrate(crate::migrations::sqlite()).await?;
    Ok(Arc::new(SqliteReadStore::new(db)))
}

/// The file in a data folder that names the current build of the embedded
/// read models (absent until the first rebuild).
const CURRENT_BUILD: &str = "read-models.current";

/// The first build's file.
const FIRST_BUILD: &str = "read-models.sqlite3";

/// Where a build's number puts it among the builds (the first is 0, a
/// rebuild's is the Unix time in milliseconds it started at).
fn build_number(file_name: &str) -> Option<u128> {
    if file_name == FIRST_BUILD {
        return Some(0);
    }
    file_name
        .strip_prefix("read-models-")?
        .strip_suffix(".sqlite3")?
        .parse()
        .ok()
}

/// The current build of the embedded read models in `data_dir`.
pub fn current_build(data_dir: &Path) -> Result<PathBuf, StoreError> {
    match std::fs::read_to_string(data_dir.join(CURRENT_BUILD)) {
        Ok(name) if build_number(name.trim()).is_some() => Ok(data_dir.join(name.trim())),
        Ok(name) => Err(StoreError::Corrupt(format!(
            "{CURRENT_BUILD} names no read-model build: {name:?}"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(data_dir.join(FIRST_BUILD)),
        Err(e) => Err(io_error(&data_dir.join(CURRENT_BUILD), &e)),
    }
}

/// The file for a new build, newer than every build before it.
pub fn new_build(data_dir: &Path) -> PathBuf {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    data_dir.join(format!("read-models-{millis}.sqlite3"))
}

/// The number of the build at `path`, if it is one.
fn number_of(path: &Path) -> Option<u128> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(build_number)
}

/// Makes `build` the current build, atomically and durably (written beside,
/// flushed, renamed over): a server watching the data folder switches to it.
pub fn make_current(data_dir: &Path, build: &Path) -> Result<(), StoreError> {
    let name = build
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| build_number(n).is_some())
        .ok_or(StoreError::Invalid("not a read-model build"))?;
    let staged = data_dir.join(format!("{CURRENT_BUILD}.{name}"));
    let durable = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&staged)?;
        std::io::Write::write_all(&mut file, name.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&staged, data_dir.join(CURRENT_BUILD))?;
        std::fs::File::open(data_dir)?.sync_all()
    };
    durable().map_err(|e| io_error(&staged, &e))
}

/// Deletes the builds older than `in_use` (the build a server has open),
/// with their journals; newer ones (a rebuild's) are left alone.
pub fn remove_old_builds(data_dir: &Path, in_use: &Path) -> Result<(), StoreError> {
    let Some(newest) = number_of(in_use) else {
        return Ok(());
    };
    let entries = std::fs::read_dir(data_dir).map_err(|e| io_error(data_dir, &e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let build = ["", "-wal", "-shm"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).and_then(build_number));
        if build.is_some_and(|n| n < newest) {
            std::fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), &e))?;
        }
    }
    Ok(())
}

/// A file-system failure on `path` as a store error.
fn io_error(path: &Path, err: &std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("{}: {err}", path.display()))
}

/// Read models in PostgreSQL; migrations are applied when `migrate` is set.
pub async fn postgres_read_models(
    db: PgDatabase,
    migrate: bool,
) -> Result<Arc<dyn ReadStore>, StoreError> {
    if migrate {
        db.migrate(crate::migrations::postgres()).await?;
    }
    Ok(Arc::new(PgReadStore::new(db)))
}
