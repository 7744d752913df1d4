//! The API document of the whole backend: the command and query APIs'
//! documents merged, as `anote serve` serves it at `/openapi.json` and
//! `anote openapi` prints it.

use anyhow::Context;

/// The merged document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = anote_command_api::openapi::document();
    doc.merge(anote_query_api::openapi::document());
    doc.info.title = "Anote".to_owned();
    doc
}

/// Writes the merged document to standard output as pretty JSON, every
/// object's keys in alphabetical order, so that two runs of the same build
/// print the same bytes.
pub fn print() -> anyhow::Result<()> {
    use std::io::Write;
    let sorted = serde_json::to_value(document()).context("serializing the API document")?;
    let mut text = serde_json::to_string_pretty(&sorted)?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) wanted no more.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("writing the API document"),
    }
}
