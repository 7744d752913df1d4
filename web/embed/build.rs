//! Embeds the built web app: every file under `../dist` (Vite's output,
//! `scripts/web.sh build`) becomes an entry of a table compiled into the
//! crate, with its media type, an entity tag and, for text, a gzip copy made
//! here once rather than on every request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Says something to cargo.
fn cargo(directive: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "cargo:{directive}");
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let dist = manifest.join("..").join("dist");
    // A folder: cargo looks at every file in it.
    cargo(&format!("rerun-if-changed={}", dist.display()));
    if !dist.join("index.html").is_file() {
        panic!(
            "\n\n{} is missing: the web app has not been built.\n\
             Build it with `scripts/web.sh build` (it needs Node 20.19 or later and npm),\n\
             then build Anote again.\n\n",
            dist.join("index.html").display()
        );
    }
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let zipped = out.join("gzip");
    let _ = std::fs::remove_dir_all(&zipped);
    std::fs::create_dir_all(&zipped).expect("creating OUT_DIR/gzip");
    let mut table = String::from("&[\n");
    for (n, (url, path)) in files.iter().enumerate() {
        let bytes = std::fs::read(path).expect("reading a file of web/dist");
        let content_type = content_type(url);
        let gzip = if is_text(content_type) {
            let packed = gzip(&bytes);
            (packed.len() < bytes.len()).then(|| {
                let copy = zipped.join(format!("{n}.gz"));
                std::fs::write(&copy, packed).expect("writing a gzip copy");
                copy
            })
        } else {
            None
        };
        let gzip = gzip.map_or_else(
            || "None".to_owned(),
            |copy| format!("Some(include_bytes!({:?}))", copy.display().to_string()),
        );
        let _ = writeln!(
            table,
            "    File {{ path: {url:?}, body: include_bytes!({:?}), gzip: {gzip}, \
             content_type: {content_type:?}, etag: \"W/\\\"{:016x}\\\"\" }},",
            path.display().to_string(),
            fnv1a(&bytes),
        );
    }
    table.push(']');
    std::fs::write(out.join("files.rs"), table).expect("writing OUT_DIR/files.rs");
}

/// Every file under `dir` as (URL path, file), hidden ones (such as Vite's
/// `.vite/manifest.json`) left out.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).expect("listing web/dist");
    for entry in entries {
        let path = entry.expect("listing web/dist").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let relative = path.strip_prefix(root).expect("under web/dist");
        let url: Vec<&str> = relative
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_str()
                    .expect("UTF-8 file names in web/dist")
            })
            .collect();
        files.push((format!("/{}", url.join("/")), path));
    }
}

/// The media type of a file, by its extension.
fn content_type(url: &str) -> &'static str {
    let extension = url.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Whether files of this type shrink when compressed.
fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(
            content_type,
            "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
        )
}

/// `bytes` compressed with gzip at the highest level (no time in the
/// header, so a build gives the same bytes every time).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("compressing in memory");
    encoder.finish().expect("compressing in memory")
}

/// The 64-bit FNV-1a hash of `bytes`: an entity tag that changes with them.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
