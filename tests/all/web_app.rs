//! The web app as the real binary serves it: `anote serve`, and `anote
//! query-api` of the split services (the load balancer sends it every GET):
//! the page at `/` and at every deep link, hashed assets cached for a year
//! and compressed, unknown assets and API paths refused as before, and the
//! security headers on the pages.

use anote_testkit::process::{body, Backend, Server};
use reqwest::{Method, Response};

/// A response's header as text ("" when absent).
fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = server.http.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET")
}

/// The first `/assets/…` file the page names.
fn first_asset(page: &str) -> String {
    let start = page.find("\"/assets/").expect("the page names an asset") + 1;
    let end = start + page[start..].find('"').expect("a closing quote");
    page[start..end].to_owned()
}

/// Checks the headers every page carries; `store` is the origin the
/// document store's URLs have, when it is not the server itself.
fn assert_security_headers(r: &Response, store: Option<&str>) {
    let connect = store.map_or_else(|| "'self'".to_owned(), |o| format!("'self' {o}"));
    assert_eq!(
        header(r, "content-security-policy"),
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    );
    assert_eq!(header(r, "x-content-type-options"), "nosniff");
    assert_eq!(header(r, "referrer-policy"), "no-referrer");
    assert_eq!(header(r, "x-frame-options"), "DENY");
}

async fn the_app_is_served_at_the_root_and_at_deep_links(split: bool) {
    let b = Backend::of(split).await;
    let server = b.reader();
    let store = split.then(anote_testkit::process::s3_endpoint);
    let root = get(server, "/", &[]).await;
    assert_eq!(root.status(), 200);
    assert_eq!(header(&root, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&root, "cache-control"), "no-cache");
    assert_security_headers(&root, store.as_deref());
    let etag = header(&root, "etag");
    let page = root.text().await.expect("the page");
    assert!(page.contains("<html"), "{page}");
    for deep in [
        "/notes/3f2c",
        "/s/some-token",
        "/account",
        "/search?q=x",
        "/index.html",
    ] {
        let r = get(server, deep, &[]).await;
        assert_eq!(r.status(), 200, "{deep}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{deep}");
        assert_security_headers(&r, store.as_deref());
        assert_eq!(r.text().await.expect("page"), page, "{deep} is the app");
    }
    let again = get(server, "/notes/1", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304, "revalidated by its ETag");
    let head = server
        .http
        .head(server.url("/upcoming"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), page.len().to_string());
    assert!(head.bytes().await.expect("no body").is_empty());
}

async fn assets_are_cached_for_a_year_and_compressed(split: bool) {
    let b = Backend::of(split).await;
    let server = b.reader();
    let page = get(server, "/", &[]).await.text().await.expect("page");
    let asset = first_asset(&page);
    let plain = get(server, &asset, &[]).await;
    assert_eq!(plain.status(), 200, "{asset}");
    assert_eq!(
        header(&plain, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&plain, "x-content-type-options"), "nosniff");
    assert_eq!(header(&plain, "content-encoding"), "");
    let plain = plain.bytes().await.expect("bytes");
    let zipped = get(server, &asset, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(zipped.status(), 200);
    if header(&zipped, "content-encoding") == "gzip" {
        let vary: Vec<&str> = zipped
            .headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("accept-encoding")),
            "{vary:?}"
        );
        let bytes = zipped.bytes().await.expect("bytes");
        assert!(bytes.starts_with(&[0x1f, 0x8b]), "gzip");
        assert!(bytes.len() < plain.len());
    } else {
        // Only a file too small to shrink goes out as it is.
        assert!(plain.len() < 200, "{asset} is {} bytes", plain.len());
    }
    let gone = get(server, "/assets/index-0000gone.js", &[]).await;
    assert_eq!(gone.status(), 404, "an unknown asset is not the app");
    assert_ne!(header(&gone, "content-type"), "text/html; charset=utf-8");
}

async fn the_api_paths_keep_their_problem_documents(split: bool) {
    let b = Backend::of(split).await;
    let server = b.reader();
    for path in ["/v1/nothing-here", "/v1", "/v1/notes/1/unknown"] {
        let r = get(server, path, &[]).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "content-security-policy"), "", "{path}");
        assert_eq!(body(r).await["code"], "route_not_found", "{path}");
    }
    let r = server
        .http
        .request(Method::DELETE, server.url("/notes/1"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 404, "only GET and HEAD get the app");
    assert_eq!(body(r).await["code"], "route_not_found");
    let doc = get(server, "/openapi.json", &[]).await;
    assert_eq!(header(&doc, "content-type"), "application/json");
    assert_eq!(header(&doc, "x-content-type-options"), "nosniff");
    let health = get(server, "/healthz", &[]).await;
    assert_eq!(body(health).await["status"], "ok");
    if split {
        // The command API serves no pages: GETs never reach it.
        let r = get(&b.writer, "/", &[]).await;
        assert_eq!(r.status(), 404);
        assert_eq!(body(r).await["code"], "route_not_found");
    }
}

anote_testkit::both_setups!(
    split;
    the_app_is_served_at_the_root_and_at_deep_links,
    assets_are_cached_for_a_year_and_compressed,
    the_api_paths_keep_their_problem_documents,
);
