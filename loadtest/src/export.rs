//! `anote loadtest --export N`: one student with N notes and `--export-mib`
//! MiB of documents downloads their export (`/v1/account/export`). It
//! reports how long the archive took and how large it was, and the
//! services' resident memory before and at its highest while the archive
//! was written: an export must cost the same memory whatever it holds.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::driver::scrape;
use crate::student::{bearer, note_fields, ok_json, sign_up, text, Target};

/// What the benchmark builds before it exports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Notes of the student.
    pub notes: usize,
    /// MiB of documents, in documents of at most [`DOCUMENT_MIB`].
    pub mib: u64,
}

/// The size of each document (the service's default largest is 50 MiB).
const DOCUMENT_MIB: u64 = 32;

/// Notes created at once.
const WRITING: usize = 32;

/// Builds the account, exports it and prints the figures.
pub(crate) async fn run(target: &Target, metrics: &[String], plan: Plan) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let username = format!("export-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = sign_up(&http, target, &username).await?;
    tracing::info!(notes = plan.notes, "writing the notes");
    let ids: Vec<String> = futures_util::stream::iter(0..plan.notes)
        .map(|i| {
            let (http, token) = (&http, &token);
            async move {
                let fields = note_fields(&mut StdRng::seed_from_u64(i as u64), None);
                let create = bearer(http.post(format!("{}/v1/notes", target.write)), token);
                let reply = ok_json(create.json(&fields).send().await?, "creating a note").await?;
                text(&reply, "id")
            }
        })
        .buffer_unordered(WRITING)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    tracing::info!(mib = plan.mib, "uploading the documents");
    let mut position = String::new();
    let mut left = plan.mib * 1024 * 1024;
    for (n, note) in ids.iter().enumerate() {
        if left == 0 {
            break;
        }
        let size = left.min(DOCUMENT_MIB * 1024 * 1024);
        position = upload(&http, target, &token, note, n, size).await?;
        left -= size;
    }
    let before = scrape_sum(&http, metrics).await;
    tracing::info!("exporting");
    let started = Instant::now();
    let request = bearer(
        http.get(format!("{}/v1/account/export", target.read)),
        &token,
    );
    let request = if position.is_empty() {
        request
    } else {
        request.header("anote-min-position", &position)
    };
    let mut response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "export: {}",
        response.status()
    );
    let mut bytes = 0u64;
    let mut peak = before;
    let mut sampled = Instant::now();
    while let Some(chunk) = response.chunk().await.context("reading the export")? {
        bytes += chunk.len() as u64;
        if sampled.elapsed() >= Duration::from_millis(200) {
            sampled = Instant::now();
            peak = peak.max(scrape_sum(&http, metrics).await);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = scrape_sum(&http, metrics).await;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    writeln!(
        std::io::stdout(),
        "export of {} notes and {} MiB of documents: {:.1} MiB in {seconds:.1} s ({:.0} MiB/s); \
         services resident before {:.1} MiB, at most {:.1} MiB while exporting (+{:.1}), after {:.1} MiB",
        plan.notes,
        plan.mib,
        mib(bytes),
        mib(bytes) / seconds,
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before)),
        mib(after),
    )?;
    Ok(())
}

/// The services' resident memory together (0 when none is given).
async fn scrape_sum(http: &reqwest::Client, metrics: &[String]) -> u64 {
    let mut sum = 0;
    for base in metrics {
        sum += scrape(http, base).await.map_or(0, |s| s.resident);
    }
    sum
}

/// Uploads one document of `size` bytes to `note` (in parts when the
/// service asks); returns the position of its completion.
async fn upload(
    http: &reqwest::Client,
    target: &Target,
    token: &str,
    note: &str,
    n: usize,
    size: u64,
) -> anyhow::Result<String> {
    let spec = json!({ "file_name": format!("slides-{n}.pdf"), "content_type": "application/pdf", "size": size });
    let ask = bearer(
        http.post(format!("{}/v1/notes/{note}/documents", target.write)),
        token,
    );
    let reply = ok_json(ask.json(&spec).send().await?, "asking to upload").await?;
    let data = vec![(n % 251) as u8; usize::try_from(size)?];
    let parts: Vec<(&Value, &Value, u64)> = match reply["upload_url"].as_str() {
        Some(_) => vec![(&reply["upload_url"], &reply["upload_headers"], size)],
        None => reply["parts"]
            .as_array()
            .context("no upload URL and no parts")?
            .iter()
            .map(|p| (&p["url"], &p["headers"], p["size"].as_u64().unwrap_or(0)))
            .collect(),
    };
    let mut start = 0;
    for (url, headers, part) in parts {
        let end = start + usize::try_from(part)?;
        let mut put = http
            .put(url.as_str().context("a URL")?)
            .body(data[start..end].to_vec());
        for (name, value) in headers.as_object().into_iter().flatten() {
            if !name.eq_ignore_ascii_case("content-length") {
                put = put.header(name, value.as_str().unwrap_or_default());
            }
        }
        let status = put.send().await?.status();
        anyhow::ensure!(status.is_success(), "uploading: {status}");
        start = end;
    }
    let id = text(&reply, "id")?;
    let complete = bearer(
        http.post(format!(
            "{}/v1/notes/{note}/documents/{id}/complete",
            target.write
        )),
        token,
    );
    let done = ok_json(complete.send().await?, "completing an upload").await?;
    text(&done, "position")
}
