//! End-to-end tests of documents through the real binary: `anote serve` with
//! its local blob store, and the split services with the S3 emulator. Bytes
//! go through presigned URLs with a plain HTTP client, never through the API.

use std::time::{Duration, Instant};

use anote_testkit::process::{body, bucket_of, s3_client, Account, Backend};
use reqwest::{Client, Method};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// Deterministic bytes that differ from position to position.
pub(crate) fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A client that does not follow redirects, to see them.
fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Asks to upload a document; returns the status and body.
async fn request_upload(b: &Backend, who: &Account, note: &str, spec: Value) -> (u16, Value) {
    let r = b
        .writer
        .as_user(who, Method::POST, &format!("/v1/notes/{note}/documents"))
        .json(&spec)
        .send()
        .await
        .expect("request upload");
    (r.status().as_u16(), body(r).await)
}

/// PUTs `data` to a signed URL with its headers, as a browser would: the
/// length it sends is the body's own; returns the status.
async fn put(url: &str, headers: &Value, data: Vec<u8>) -> u16 {
    try_put(url, headers, data).await.expect("upload")
}

/// Like [`put`], `None` when the store closed the connection before taking
/// the body (a refusal too), or could not be reached.
pub(crate) async fn try_put(url: &str, headers: &Value, data: Vec<u8>) -> Option<u16> {
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut req = client.put(url).body(data);
    for (name, value) in headers.as_object().into_iter().flatten() {
        if !name.eq_ignore_ascii_case("content-length") {
            req = req.header(name, value.as_str().expect("header value"));
        }
    }
    req.send().await.ok().map(|r| r.status().as_u16())
}

/// Uploads `data` as a reply to `request_upload` says (one PUT or parts).
async fn upload(reply: &Value, data: &[u8]) {
    if let Some(url) = reply["upload_url"].as_str() {
        assert_eq!(put(url, &reply["upload_headers"], data.to_vec()).await, 200);
        return;
    }
    let mut start = 0;
    for part in reply["parts"].as_array().expect("parts") {
        let size = part["size"].as_u64().expect("size") as usize;
        let chunk = data[start..start + size].to_vec();
        let url = part["url"].as_str().expect("url");
        assert_eq!(put(url, &part["headers"], chunk).await, 200, "part");
        start += size;
    }
    assert_eq!(start, data.len());
}

/// Completes an upload; returns the status and body.
async fn complete(b: &Backend, who: &Account, note: &str, doc: &str) -> (u16, Value) {
    let path = format!("/v1/notes/{note}/documents/{doc}/complete");
    let r = b
        .writer
        .as_user(who, Method::POST, &path)
        .send()
        .await
        .expect("complete");
    (r.status().as_u16(), body(r).await)
}

/// Requests, uploads and completes a document; returns its id and the
/// completion's position.
pub(crate) async fn attach(
    b: &Backend,
    who: &Account,
    note: &str,
    name: &str,
    data: &[u8],
) -> (String, String) {
    let spec = json!({ "file_name": name, "content_type": "application/pdf", "size": data.len() });
    let (status, reply) = request_upload(b, who, note, spec).await;
    assert_eq!(status, 201, "{reply}");
    upload(&reply, data).await;
    let doc = reply["id"].as_str().expect("id").to_owned();
    let (status, done) = complete(b, who, note, &doc).await;
    assert_eq!(status, 200, "{done}");
    (doc, done["position"].as_str().expect("position").to_owned())
}

/// Follows a download redirect by hand; returns the final response.
pub(crate) async fn download(
    b: &Backend,
    who: Option<&Account>,
    path: &str,
    position: &str,
) -> reqwest::Response {
    let mut req = no_redirects()
        .get(b.reader().url(path))
        .header("anote-min-position", position);
    if let Some(who) = who {
        req = req.bearer_auth(&who.access);
    }
    let r = req.send().await.expect("download");
    assert_eq!(r.status(), 302, "{path}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    Client::new().get(location).send().await.expect("follow")
}

/// Whether the object of a document exists in the backend's blob store.
async fn object_exists(b: &Backend, note: &str, doc: &str) -> bool {
    let key = format!("notes/{note}/documents/{doc}");
    match (&b.schema, b.writer.data_dir()) {
        (Some(schema), _) => s3_client()
            .head_object()
            .bucket(bucket_of(schema))
            .key(&key)
            .send()
            .await
            .is_ok(),
        (None, Some(dir)) => dir.join("blobs/objects").join(&key).exists(),
        (None, None) => unreachable!("a backend is embedded or split"),
    }
}

async fn get_json(b: &Backend, who: &Account, path: &str, position: &str) -> (u16, Value) {
    let r = b
        .reader()
        .as_user(who, Method::GET, path)
        .header("anote-min-position", position)
        .send()
        .await
        .expect("read");
    (r.status().as_u16(), body(r).await)
}

async fn a_document_goes_up_down_out_in_and_away(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let eve = b.writer.user("eve").await;
    let due = "2026-12-24T18:00:00Z";
    let note = b
        .writer
        .note(&ada, json!({ "title": "Essay", "body": "", "due_at": due }))
        .await;
    let data = bytes(MIB + 7, 1);
    let name = "Übung \"3\".pdf";
    let (doc, position) = attach(&b, &ada, &note, name, &data).await;

    // The note lists it; the owner downloads it through a redirect.
    let (status, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), &position).await;
    assert_eq!(status, 200);
    let listed = &view["documents"][0];
    assert_eq!(
        (
            listed["id"].as_str(),
            listed["file_name"].as_str(),
            listed["status"].as_str()
        ),
        (Some(doc.as_str()), Some(name), Some("attached"))
    );
    assert_eq!(listed["size"], data.len());
    let got = download(&b, Some(&ada), &format!("/v1/documents/{doc}"), &position).await;
    assert_eq!(got.status(), 200);
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"_bung _3_.pdf\"; filename*=UTF-8''%C3%9Cbung%20%223%22.pdf"
    );
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), data.as_slice());

    // A web page asks for the URL as JSON (it cannot send its token along a
    // redirect it follows), then goes there.
    let r = no_redirects()
        .get(b.reader().url(&format!("/v1/documents/{doc}")))
        .bearer_auth(&ada.access)
        .header("accept", "application/json")
        .send()
        .await
        .expect("link");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let link = body(r).await;
    let expires_at = link["expires_at"].as_str().expect("expires_at");
    let expires_at =
        time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
    let left = expires_at - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::seconds(200) && left <= time::Duration::seconds(301),
        "the download URL lifetime (5 min): {left}"
    );
    let url = link["url"].as_str().expect("url");
    let got = Client::new().get(url).send().await.expect("follow");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), data.as_slice());

    // Someone else's document is a 404, like a missing one.
    let r = no_redirects()
        .get(b.reader().url(&format!("/v1/documents/{doc}")))
        .bearer_auth(&eve.access)
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), 404);
    assert_eq!(body(r).await["code"], "document_not_found");
    let (status, _) = complete(&b, &eve, &note, &doc).await;
    assert_eq!(status, 404);

    // Through a share link, without logging in.
    let share = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{note}/shares"),
            None,
            Some(json!({})),
        )
        .await;
    let token = share["token"].as_str().expect("token");
    let shared_at = share["position"].as_str().expect("position");
    let r = b
        .reader()
        .http
        .get(b.reader().url(&format!("/v1/shared/{token}")))
        .header("anote-min-position", shared_at)
        .send()
        .await
        .expect("shared");
    assert_eq!(body(r).await["documents"][0]["id"], doc.as_str());
    let got = download(
        &b,
        None,
        &format!("/v1/shared/{token}/documents/{doc}"),
        shared_at,
    )
    .await;
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), data.as_slice());

    // Handed in once, with its time; listed with its note; counted.
    let submitted = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{note}/documents/{doc}/submit"),
            None,
            None,
        )
        .await;
    let at = submitted["position"].as_str().expect("position");
    let (_, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), at).await;
    assert!(view["documents"][0]["submitted_at"].is_string(), "{view}");
    let (_, mine) = get_json(&b, &ada, "/v1/documents", at).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["items"][0]["note_id"], note.as_str());
    let (_, usage) = get_json(&b, &ada, "/v1/account/usage", at).await;
    assert_eq!(
        (usage["documents"].as_u64(), usage["bytes"].as_u64()),
        (Some(1), Some(data.len() as u64))
    );

    // Removed: gone from the note, the list, the usage and downloads.
    let removed = b
        .command(
            &ada,
            Method::DELETE,
            &format!("/v1/notes/{note}/documents/{doc}"),
            None,
            None,
        )
        .await;
    let at = removed["position"].as_str().expect("position");
    let (_, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), at).await;
    assert_eq!(view["documents"], json!([]));
    let (_, usage) = get_json(&b, &ada, "/v1/account/usage", at).await;
    assert_eq!(usage["bytes"], 0);
    let (status, _) = get_json(&b, &ada, &format!("/v1/documents/{doc}"), at).await;
    assert_eq!(status, 404);
}

async fn a_forty_mib_file_goes_up_in_parts(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let note = b
        .writer
        .note(&ada, json!({ "title": "Thesis", "body": "" }))
        .await;
    let data = bytes(40 * MIB, 3);
    let spec =
        json!({ "file_name": "thesis.zip", "content_type": "application/zip", "size": data.len() });
    let (status, reply) = request_upload(&b, &ada, &note, spec).await;
    assert_eq!(status, 201);
    assert!(reply["upload_url"].is_null());
    assert_eq!(reply["parts"].as_array().map(Vec::len), Some(5));
    upload(&reply, &data).await;
    let doc = reply["id"].as_str().expect("id");
    let (status, done) = complete(&b, &ada, &note, doc).await;
    assert_eq!(status, 200, "{done}");
    let position = done["position"].as_str().expect("position");
    let got = download(&b, Some(&ada), &format!("/v1/documents/{doc}"), position).await;
    let got = got.bytes().await.expect("bytes");
    assert!(
        got.as_ref() == data.as_slice(),
        "the 40 MiB come back as they went"
    );

    // A part uploaded again after completion changes nothing.
    let first = &reply["parts"][0];
    let status = try_put(
        first["url"].as_str().expect("url"),
        &first["headers"],
        bytes(8 * MIB, 4),
    )
    .await;
    assert_ne!(status, Some(200), "the multipart upload is over");
    let got = download(&b, Some(&ada), &format!("/v1/documents/{doc}"), position).await;
    let got = got.bytes().await.expect("bytes");
    assert!(got.as_ref() == data.as_slice(), "still the same 40 MiB");
    let (_, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), position).await;
    assert_eq!(view["documents"][0]["sha256"], sha256_hex(&data).as_str());
}

/// The limits on S3 (the local store's run in process, [`in_process`]): the
/// store itself refuses a size lie and a short upload, whose lengths are
/// signed into the presigned URLs.
#[tokio::test]
async fn limits_are_enforced_on_s3_before_anything_is_signed() {
    let split = true;
    let env = [
        ("ANOTE_DOCUMENT_MAX_BYTES", "20971520"),
        ("ANOTE_DOCUMENT_QUOTA_BYTES", "31457280"),
    ];
    let b = Backend::of_with(split, &env).await;
    let ada = b.writer.user("ada").await;
    let note = b
        .writer
        .note(&ada, json!({ "title": "Lab", "body": "" }))
        .await;
    let spec = |name: &str, kind: &str, size: usize| json!({ "file_name": name, "content_type": kind, "size": size });

    let (status, problem) = request_upload(
        &b,
        &ada,
        &note,
        spec("big.pdf", "application/pdf", 20 * MIB + 1),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("document_too_large"))
    );
    let (status, problem) = request_upload(
        &b,
        &ada,
        &note,
        spec("run.exe", "application/x-msdownload", 10),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (415, Some("content_type_not_allowed"))
    );
    let (status, problem) = request_upload(&b, &ada, &note, spec("", "application/pdf", 10)).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("file_name"))
    );
    let (status, _) = request_upload(&b, &ada, &note, spec("a.pdf", "pdf", 10)).await;
    assert_eq!(status, 422);

    // A pending upload counts against the quota.
    let (status, first) = request_upload(
        &b,
        &ada,
        &note,
        spec("lie.pdf", "application/pdf", 20 * MIB),
    )
    .await;
    assert_eq!(status, 201);
    let (status, problem) = request_upload(
        &b,
        &ada,
        &note,
        spec("two.pdf", "application/pdf", 11 * MIB),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (507, Some("quota_exceeded"))
    );

    // A size lie: the first of three parts never arrives. Completing finds a
    // smaller object, discards it and drops the document.
    let parts = first["parts"].as_array().expect("a multipart upload");
    assert_eq!(parts.len(), 3);
    let data = bytes(20 * MIB, 2);
    for part in &parts[1..] {
        let n = part["number"].as_u64().expect("number") as usize;
        let from = (n - 1) * 8 * MIB;
        let size = part["size"].as_u64().expect("size") as usize;
        assert_eq!(
            put(
                part["url"].as_str().expect("url"),
                &part["headers"],
                data[from..from + size].to_vec()
            )
            .await,
            200
        );
    }
    let doc = first["id"].as_str().expect("id");
    let (status, problem) = complete(&b, &ada, &note, doc).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("upload_mismatch")),
        "{problem}"
    );
    assert!(!object_exists(&b, &note, doc).await, "the lie is deleted");
    let (status, _) = complete(&b, &ada, &note, doc).await;
    assert_eq!(status, 404, "the document is gone");
    // Its bytes are free again.
    let (status, second) = request_upload(
        &b,
        &ada,
        &note,
        spec("two.txt", "text/plain; charset=utf-8", 11),
    )
    .await;
    assert_eq!(status, 201, "{second}");

    // A single PUT of other bytes than declared is refused by the store
    // (the length is signed), and completing finds nothing.
    let short = put(
        second["upload_url"].as_str().expect("url"),
        &second["upload_headers"],
        b"short".to_vec(),
    )
    .await;
    assert!(
        short == 403 || short == 422,
        "a short upload is refused: {short}"
    );
    if let Some(dir) = b.writer.data_dir() {
        let left = std::fs::read_dir(dir.join("blobs/tmp"))
            .expect("tmp")
            .count();
        assert_eq!(left, 0, "a refused upload leaves no temporary file");
    }
    let doc = second["id"].as_str().expect("id");
    let (status, problem) = complete(&b, &ada, &note, doc).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("upload_missing"))
    );
    // A completion before the upload is not fatal: upload, complete again.
    upload(&second, b"eleven byte").await;
    let (status, _) = complete(&b, &ada, &note, doc).await;
    assert_eq!(status, 200);
}

/// S3 refuses a presigned upload URL past its expiry: the emulator's clock
/// is real, so this waits for it (the local store's case moves a clock).
#[tokio::test]
async fn expired_upload_urls_are_refused_by_s3() {
    let split = true;
    let b = Backend::of_with(split, &[("ANOTE_UPLOAD_URL_TTL_SECS", "1")]).await;
    let ada = b.writer.user("ada").await;
    let note = b
        .writer
        .note(&ada, json!({ "title": "Lab", "body": "" }))
        .await;
    let spec = json!({ "file_name": "late.pdf", "content_type": "application/pdf", "size": 4 });
    let (_, reply) = request_upload(&b, &ada, &note, spec).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let status = put(
        reply["upload_url"].as_str().expect("url"),
        &reply["upload_headers"],
        b"late".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = complete(&b, &ada, &note, reply["id"].as_str().expect("id")).await;
    assert_eq!(status, 409);
}

/// The split services' sweep (`anote sweep`) on S3; the embedded sweeper is
/// tested in process ([`in_process`]).
#[tokio::test]
async fn the_sweeper_removes_orphans_and_nothing_else_on_s3() {
    let split = true;
    let env = [
        ("ANOTE_UPLOAD_URL_TTL_SECS", "3"),
        ("ANOTE_UPLOAD_GRACE_SECS", "0"),
        ("ANOTE_SWEEP_INTERVAL_SECS", "1"),
    ];
    let b = Backend::of_with(split, &env).await;
    let ada = b.writer.user("ada").await;
    let note = b
        .writer
        .note(&ada, json!({ "title": "Kept", "body": "" }))
        .await;
    let gone = b
        .writer
        .note(&ada, json!({ "title": "Purged", "body": "" }))
        .await;
    let spec = json!({ "file_name": "x.pdf", "content_type": "application/pdf", "size": 5 });
    let (kept, _) = attach(&b, &ada, &note, "kept.pdf", b"kept!").await;
    let (removed, _) = attach(&b, &ada, &note, "removed.pdf", b"gone!").await;
    let (purged, _) = attach(&b, &ada, &gone, "purged.pdf", b"gone!").await;
    // Created, upload requested, attached: version 3.
    let trashed = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{gone}/trash"),
            Some(3),
            None,
        )
        .await;
    let (_, never) = request_upload(&b, &ada, &note, spec.clone()).await;
    let (_, unfinished) = request_upload(&b, &ada, &note, spec).await;
    upload(&unfinished, b"half!").await;
    let (never, unfinished) = (
        never["id"].as_str().expect("id"),
        unfinished["id"].as_str().expect("id"),
    );
    b.command(
        &ada,
        Method::DELETE,
        &format!("/v1/notes/{note}/documents/{removed}"),
        None,
        None,
    )
    .await;
    let version = trashed["version"].as_u64();
    b.command(
        &ada,
        Method::DELETE,
        &format!("/v1/notes/{gone}"),
        version,
        None,
    )
    .await;
    assert!(object_exists(&b, &note, unfinished).await);

    // Past the upload URLs' expiry (3 s, no grace), sweep: in the relay of
    // the split services `anote sweep` does it once; `anote serve` every second.
    tokio::time::sleep(Duration::from_secs(4)).await;
    if let Some(schema) = &b.schema {
        let status = anote_testkit::process::postgres_command("sweep", schema)
            .status()
            .expect("anote sweep");
        assert!(status.success());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let orphans = [
        (&note, removed.as_str()),
        (&gone, purged.as_str()),
        (&note, unfinished),
    ];
    loop {
        let mut left = Vec::new();
        for (n, d) in orphans {
            if object_exists(&b, n, d).await {
                left.push(d);
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "orphans left: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        object_exists(&b, &note, &kept).await,
        "an attached document stays"
    );

    // The abandoned uploads left the note (events), freeing their bytes.
    let changes = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{note}/shares"),
            None,
            Some(json!({})),
        )
        .await;
    let at = changes["position"].as_str().expect("position");
    let (_, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), at).await;
    let ids: Vec<&str> = view["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, vec![kept.as_str()], "{view}");
    assert!(!ids.contains(&never));
    let (_, usage) = get_json(&b, &ada, "/v1/account/usage", at).await;
    assert_eq!(usage["bytes"], 5);
    let got = download(&b, Some(&ada), &format!("/v1/documents/{kept}"), at).await;
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b"kept!");
}

/// The SHA-256 of `data` in lower-case hexadecimal.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a second upload to a URL was refused: 409 `already_uploaded`
/// from the local store, 412 from S3 (the signed `If-None-Match: *`).
fn refused_overwrite(status: u16) -> bool {
    status == 409 || status == 412
}

async fn a_handed_in_document_cannot_be_swapped(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let due = "2026-12-24T18:00:00Z";
    let note = b
        .writer
        .note(&ada, json!({ "title": "Essay", "body": "", "due_at": due }))
        .await;
    let original = bytes(4096, 5);
    let forged = bytes(4096, 6);
    let spec = json!({ "file_name": "essay.pdf", "content_type": "application/pdf", "size": 4096 });
    let (status, reply) = request_upload(&b, &ada, &note, spec).await;
    assert_eq!(status, 201, "{reply}");
    let (url, headers) = (
        reply["upload_url"].as_str().expect("url"),
        &reply["upload_headers"],
    );
    assert_eq!(put(url, headers, original.clone()).await, 200);
    let again = put(url, headers, forged.clone()).await;
    assert!(
        refused_overwrite(again),
        "a second upload is refused: {again}"
    );
    let doc = reply["id"].as_str().expect("id");
    let (status, done) = complete(&b, &ada, &note, doc).await;
    assert_eq!(status, 200, "{done}");
    let submitted = b
        .command(
            &ada,
            Method::POST,
            &format!("/v1/notes/{note}/documents/{doc}/submit"),
            None,
            None,
        )
        .await;
    let at = submitted["position"].as_str().expect("position");

    // After the hand-in, the URL is still within its lifetime: refused.
    let late = put(url, headers, forged).await;
    assert!(refused_overwrite(late), "a swap is refused: {late}");
    let got = download(&b, Some(&ada), &format!("/v1/documents/{doc}"), at).await;
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.expect("bytes").as_ref() == original.as_slice());

    // The digest of what was handed in is shown with the document.
    let digest = sha256_hex(&original);
    let (_, view) = get_json(&b, &ada, &format!("/v1/notes/{note}"), at).await;
    assert_eq!(view["documents"][0]["sha256"], digest.as_str(), "{view}");
    assert!(view["documents"][0]["submitted_at"].is_string());
    let (_, mine) = get_json(&b, &ada, "/v1/documents", at).await;
    assert_eq!(mine["items"][0]["sha256"], digest.as_str(), "{mine}");
}

async fn concurrent_requests_without_if_match_are_never_told_their_version_is_wrong(split: bool) {
    let b = Backend::of(split).await;
    let ada = b.writer.user("ada").await;
    let note = b
        .writer
        .note(&ada, json!({ "title": "Busy", "body": "" }))
        .await;
    let spec = |n: usize| json!({ "file_name": format!("{n}.pdf"), "content_type": "application/pdf", "size": 4 });
    let requests = (0..20).map(|n| request_upload(&b, &ada, &note, spec(n)));
    let replies = futures_util::future::join_all(requests).await;
    let statuses: Vec<u16> = replies.iter().map(|(status, _)| *status).collect();
    assert!(
        statuses.iter().all(|s| *s == 201),
        "every request without If-Match goes through: {statuses:?}"
    );
    let mut versions: Vec<u64> = replies
        .iter()
        .filter_map(|(_, reply)| reply["version"].as_u64())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..22).collect::<Vec<u64>>(), "one event each");
}

anote_testkit::both_setups!(
    split;
    a_document_goes_up_down_out_in_and_away,
    a_forty_mib_file_goes_up_in_parts,
    a_handed_in_document_cannot_be_swapped,
    concurrent_requests_without_if_match_are_never_told_their_version_is_wrong,
);

/// The local store's rules in process on [`TestApp`], its clock moved
/// instead of waiting for URLs to expire.
mod in_process {
    use std::time::Duration;

    use anote_testkit::{Account, Reply, Settings, TestApp};
    use reqwest::Method;
    use serde_json::{json, Value};

    use super::{bytes, MIB};

    /// Asks to upload a document; returns the status and body.
    async fn request_upload(app: &TestApp, who: &Account, note: &str, spec: Value) -> (u16, Value) {
        let r = app
            .as_user(who, Method::POST, &format!("/v1/notes/{note}/documents"))
            .json(&spec)
            .send()
            .await;
        (r.status, r.json())
    }

    /// PUTs `data` to a signed URL with its headers, as a browser would.
    async fn put(app: &TestApp, url: &str, headers: &Value, data: Vec<u8>) -> u16 {
        let mut call = app.call(Method::PUT, url).body(data);
        for (name, value) in headers.as_object().into_iter().flatten() {
            if !name.eq_ignore_ascii_case("content-length") {
                call = call.header(name, value.as_str().expect("header value"));
            }
        }
        call.send().await.status
    }

    /// Uploads `data` as a reply to `request_upload` says (one PUT or parts).
    async fn upload(app: &TestApp, reply: &Value, data: &[u8]) {
        if let Some(url) = reply["upload_url"].as_str() {
            let status = put(app, url, &reply["upload_headers"], data.to_vec()).await;
            assert_eq!(status, 200);
            return;
        }
        let mut start = 0;
        for part in reply["parts"].as_array().expect("parts") {
            let size = part["size"].as_u64().expect("size") as usize;
            let chunk = data[start..start + size].to_vec();
            let url = part["url"].as_str().expect("url");
            assert_eq!(put(app, url, &part["headers"], chunk).await, 200, "part");
            start += size;
        }
        assert_eq!(start, data.len());
    }

    /// Completes an upload.
    async fn complete(app: &TestApp, who: &Account, note: &str, doc: &str) -> Reply {
        let path = format!("/v1/notes/{note}/documents/{doc}/complete");
        app.as_user(who, Method::POST, &path).send().await
    }

    /// Requests, uploads and completes a document; returns its id.
    async fn attach(app: &TestApp, who: &Account, note: &str, name: &str, data: &[u8]) -> String {
        let spec =
            json!({ "file_name": name, "content_type": "application/pdf", "size": data.len() });
        let (status, reply) = request_upload(app, who, note, spec).await;
        assert_eq!(status, 201, "{reply}");
        upload(app, &reply, data).await;
        let doc = reply["id"].as_str().expect("id").to_owned();
        let done = complete(app, who, note, &doc).await;
        assert_eq!(done.status, 200, "{}", done.json());
        doc
    }

    /// Whether the object of a document is in the local store.
    fn object_exists(app: &TestApp, note: &str, doc: &str) -> bool {
        let key = format!("notes/{note}/documents/{doc}");
        app.data_dir().join("blobs/objects").join(key).exists()
    }

    /// Follows a download redirect; returns the final reply.
    async fn download(app: &TestApp, who: &Account, path: &str, position: &str) -> Reply {
        let r = app
            .as_user(who, Method::GET, path)
            .header("anote-min-position", position)
            .send()
            .await;
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("cache-control"), "no-store");
        app.get(r.header("location")).send().await
    }

    #[tokio::test]
    async fn limits_are_enforced_before_anything_is_signed() {
        let mut settings = Settings::default();
        settings.documents.max_bytes = 20 * MIB as u64;
        settings.documents.quota_bytes = 30 * MIB as u64;
        let app = TestApp::with(settings).await;
        let ada = app.user("ada").await;
        let note = app.note(&ada, json!({ "title": "Lab", "body": "" })).await;
        let spec = |name: &str, kind: &str, size: usize| json!({ "file_name": name, "content_type": kind, "size": size });

        let (status, problem) = request_upload(
            &app,
            &ada,
            &note,
            spec("big.pdf", "application/pdf", 20 * MIB + 1),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (413, Some("document_too_large"))
        );
        let (status, problem) = request_upload(
            &app,
            &ada,
            &note,
            spec("run.exe", "application/x-msdownload", 10),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (415, Some("content_type_not_allowed"))
        );
        let (status, problem) =
            request_upload(&app, &ada, &note, spec("", "application/pdf", 10)).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some("file_name"))
        );
        let (status, _) = request_upload(&app, &ada, &note, spec("a.pdf", "pdf", 10)).await;
        assert_eq!(status, 422);

        // A pending upload counts against the quota.
        let (status, first) = request_upload(
            &app,
            &ada,
            &note,
            spec("lie.pdf", "application/pdf", 20 * MIB),
        )
        .await;
        assert_eq!(status, 201);
        let (status, problem) = request_upload(
            &app,
            &ada,
            &note,
            spec("two.pdf", "application/pdf", 11 * MIB),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (507, Some("quota_exceeded"))
        );

        // A size lie: the first of three parts never arrives. Completing finds
        // a smaller object, discards it and drops the document.
        let parts = first["parts"].as_array().expect("a multipart upload");
        assert_eq!(parts.len(), 3);
        let data = bytes(20 * MIB, 2);
        for part in &parts[1..] {
            let n = part["number"].as_u64().expect("number") as usize;
            let from = (n - 1) * 8 * MIB;
            let size = part["size"].as_u64().expect("size") as usize;
            let url = part["url"].as_str().expect("url");
            let status = put(
                &app,
                url,
                &part["headers"],
                data[from..from + size].to_vec(),
            )
            .await;
            assert_eq!(status, 200);
        }
        let doc = first["id"].as_str().expect("id");
        let r = complete(&app, &ada, &note, doc).await;
        assert_eq!((r.status, r.code()), (422, "upload_mismatch".to_owned()));
        assert!(!object_exists(&app, &note, doc), "the lie is deleted");
        assert_eq!(
            complete(&app, &ada, &note, doc).await.status,
            404,
            "the document is gone"
        );
        // Its bytes are free again.
        let (status, second) = request_upload(
            &app,
            &ada,
            &note,
            spec("two.txt", "text/plain; charset=utf-8", 11),
        )
        .await;
        assert_eq!(status, 201, "{second}");

        // A single PUT of other bytes than declared is refused by the store
        // (the length is signed), and completing finds nothing.
        let url = second["upload_url"].as_str().expect("url");
        let short = put(&app, url, &second["upload_headers"], b"short".to_vec()).await;
        assert!(
            short == 403 || short == 422,
            "a short upload is refused: {short}"
        );
        let left = std::fs::read_dir(app.data_dir().join("blobs/tmp"))
            .expect("tmp")
            .count();
        assert_eq!(left, 0, "a refused upload leaves no temporary file");
        let doc = second["id"].as_str().expect("id");
        let r = complete(&app, &ada, &note, doc).await;
        assert_eq!((r.status, r.code()), (409, "upload_missing".to_owned()));
        // A completion before the upload is not fatal: upload, complete again.
        upload(&app, &second, b"eleven byte").await;
        assert_eq!(complete(&app, &ada, &note, doc).await.status, 200);
    }

    #[tokio::test]
    async fn expired_upload_urls_are_refused() {
        let mut settings = Settings::default();
        settings.documents.upload_url_ttl = Duration::from_secs(1);
        let app = TestApp::with(settings).await;
        let ada = app.user("ada").await;
        let note = app.note(&ada, json!({ "title": "Lab", "body": "" })).await;
        let spec = json!({ "file_name": "late.pdf", "content_type": "application/pdf", "size": 4 });
        let (_, reply) = request_upload(&app, &ada, &note, spec).await;
        app.clock.advance(Duration::from_millis(2_500));
        let url = reply["upload_url"].as_str().expect("url");
        let status = put(&app, url, &reply["upload_headers"], b"late".to_vec()).await;
        assert_eq!(status, 403);
        let doc = reply["id"].as_str().expect("id");
        assert_eq!(complete(&app, &ada, &note, doc).await.status, 409);
    }

    #[tokio::test]
    async fn the_sweeper_removes_orphans_and_nothing_else() {
        let mut settings = Settings::default();
        settings.documents.upload_url_ttl = Duration::from_secs(3);
        settings.documents.upload_grace = Duration::ZERO;
        let app = TestApp::with(settings).await;
        let ada = app.user("ada").await;
        let note = app.note(&ada, json!({ "title": "Kept", "body": "" })).await;
        let gone = app
            .note(&ada, json!({ "title": "Purged", "body": "" }))
            .await;
        let spec = json!({ "file_name": "x.pdf", "content_type": "application/pdf", "size": 5 });
        let kept = attach(&app, &ada, &note, "kept.pdf", b"kept!").await;
        let removed = attach(&app, &ada, &note, "removed.pdf", b"gone!").await;
        let purged = attach(&app, &ada, &gone, "purged.pdf", b"gone!").await;
        // Created, upload requested, attached: version 3.
        let trashed = app
            .command(
                &ada,
                Method::POST,
                &format!("/v1/notes/{gone}/trash"),
                Some(3),
                None,
            )
            .await;
        let (_, never) = request_upload(&app, &ada, &note, spec.clone()).await;
        let (_, unfinished) = request_upload(&app, &ada, &note, spec).await;
        upload(&app, &unfinished, b"half!").await;
        let (never, unfinished) = (
            never["id"].as_str().expect("id"),
            unfinished["id"].as_str().expect("id"),
        );
        let path = format!("/v1/notes/{note}/documents/{removed}");
        app.command(&ada, Method::DELETE, &path, None, None).await;
        let version = trashed["version"].as_u64();
        app.command(
            &ada,
            Method::DELETE,
            &format!("/v1/notes/{gone}"),
            version,
            None,
        )
        .await;
        assert!(object_exists(&app, &note, unfinished));

        // Past the upload URLs' expiry (3 s, no grace), one sweep.
        app.clock.advance(Duration::from_secs(4));
        app.sweep().await;
        for (n, d) in [
            (&note, removed.as_str()),
            (&gone, purged.as_str()),
            (&note, unfinished),
        ] {
            assert!(!object_exists(&app, n, d), "orphan left: {d}");
        }
        assert!(
            object_exists(&app, &note, &kept),
            "an attached document stays"
        );

        // The abandoned uploads left the note (events), freeing their bytes.
        let changes = app
            .command(
                &ada,
                Method::POST,
                &format!("/v1/notes/{note}/shares"),
                None,
                Some(json!({})),
            )
            .await;
        let at = changes["position"].as_str().expect("position");
        let (_, view) = app.read(&ada, &format!("/v1/notes/{note}"), at).await;
        let ids: Vec<&str> = view["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        assert_eq!(ids, vec![kept.as_str()], "{view}");
        assert!(!ids.contains(&never));
        let (_, usage) = app.read(&ada, "/v1/account/usage", at).await;
        assert_eq!(usage["bytes"], 5);
        let got = download(&app, &ada, &format!("/v1/documents/{kept}"), at).await;
        assert_eq!(got.body.as_ref(), b"kept!");
    }
}
