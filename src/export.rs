//! `anote export --user NAME`: an account's notes as the zip that `GET
//! /v1/account/export` sends, written by an operator to a file or standard
//! output, on PostgreSQL (`ANOTE_DATABASE_URL`) or the embedded data folder.

use std::io::Write;
use std::path::PathBuf;

use anote_blob::{BlobSettings, Blobs};
use anote_domain::values::Username;
use anote_query_api::export::archive::write_archive;
use anote_tokens::{Secret, TokenSigner};
use anyhow::Context;
use clap::Args;

use crate::config::{DocumentConfig, ReadDatabaseConfig};
use crate::log_target::{accounts, read_models, Target};

/// Whose notes, from where, to where.
#[derive(Args, Debug)]
pub struct Export {
    /// The account's username.
    #[arg(long)]
    user: String,
    /// The zip file to write (it must not exist); `-` for standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    reads: ReadDatabaseConfig,
    #[command(flatten)]
    documents: DocumentConfig,
}

/// Writes the export; says on standard error how many notes it holds.
pub async fn run(export: Export) -> anyhow::Result<()> {
    let username = Username::parse(&export.user).map_err(|e| anyhow::anyhow!("--user: {e}"))?;
    let owner = accounts(&export.target)
        .await?
        .credentials_by_username(username.as_str())
        .await?
        .with_context(|| format!("no account is named {}", export.user))?
        .user_id;
    let reads = read_models(&export.target, &export.reads).await?;
    let default_dir = export.target.data_dir.join("blobs");
    let settings = export
        .documents
        .store(Some(&default_dir), "http://127.0.0.1")
        .context("no document store")?;
    if let BlobSettings::Local { dir, .. } = &settings {
        anyhow::ensure!(dir.exists(), "no document folder at {}", dir.display());
    }
    // Only URLs are signed with the key, and this command makes none.
    let signer = TokenSigner::new(Secret::new(uuid::Uuid::new_v4().as_bytes().to_vec()));
    let store = Blobs::open(&settings, signer).await?.store;
    let to_file = export.out.as_os_str() != "-";
    let out: Box<dyn Write + Send> = if !to_file {
        Box::new(std::io::stdout())
    } else {
        let file = std::fs::File::create_new(&export.out)
            .with_context(|| format!("creating {}", export.out.display()))?;
        Box::new(std::io::BufWriter::new(file))
    };
    let handle = tokio::runtime::Handle::current();
    let written =
        tokio::task::spawn_blocking(move || write_archive(&handle, &*reads, &*store, owner, out))
            .await?;
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(err) => {
            // A partial archive is never left to be taken for a whole one.
            if to_file {
                let _ = std::fs::remove_file(&export.out);
            }
            return Err(err.into());
        }
    };
    let documents: usize = manifest.notes.iter().map(|n| n.documents.len()).sum();
    writeln!(
        std::io::stderr(),
        "exported {} notes and {documents} documents of {}",
        manifest.notes.len(),
        export.user
    )?;
    Ok(())
}
