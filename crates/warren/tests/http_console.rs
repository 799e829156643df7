//! The web console's files on the HTTP listener: the page at `/` and its assets,
//! with their content types and caching, no login needed for them, and the API
//! beside them unchanged.

mod http_common;

use http_common::*;

/// The asset root the page names, e.g. `/console/0123456789abcdef`.
fn asset_root(page: &str) -> String {
    let end = page.find("/js/main.js").expect("the page loads js/main.js");
    let start = page[..end]
        .rfind("/console/")
        .expect("under the asset root");
    page[start..end].to_string()
}

#[tokio::test]
async fn the_page_is_served_at_the_root_without_credentials() {
    let api = start().await;
    let reply = api.raw("GET", "/", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-cache"));
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(reply.header("x-frame-options").as_deref(), Some("DENY"));
    let page = String::from_utf8(reply.body).unwrap();
    assert!(page.contains("<script type=\"module\""), "{page}");
    assert!(!page.contains("{{ASSETS}}"), "the asset root is filled in");
}

#[tokio::test]
async fn assets_have_their_types_and_are_cached_for_good_under_their_version() {
    let api = start().await;
    let page = String::from_utf8(api.raw("GET", "/", None, None).await.body).unwrap();
    let root = asset_root(&page);
    for (path, content_type) in [
        ("/js/main.js", "text/javascript; charset=utf-8"),
        ("/js/vendor/preact-htm.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let reply = api.raw("GET", &format!("{root}{path}"), None, None).await;
        assert_eq!(reply.status, 200, "{root}{path}");
        assert_eq!(reply.header("content-type").as_deref(), Some(content_type));
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert!(!reply.body.is_empty());
    }
    // Every module the entry point imports is served too (a missing one would
    // leave a blank page).
    let main = api
        .raw("GET", &format!("{root}/js/main.js"), None, None)
        .await;
    let main = String::from_utf8(main.body).unwrap();
    for line in main.lines().filter(|l| l.starts_with("import ")) {
        let target = line.split('\'').nth(1).expect("an import names a module");
        let path = target.trim_start_matches("./");
        let reply = api
            .raw("GET", &format!("{root}/js/{path}"), None, None)
            .await;
        assert_eq!(reply.status, 200, "{line}");
    }
}

#[tokio::test]
async fn an_older_version_is_served_but_not_cached_and_unknown_files_are_404() {
    let api = start().await;
    let old = api
        .raw("GET", "/console/0000000000000000/style.css", None, None)
        .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.header("cache-control").as_deref(), Some("no-cache"));
    for path in [
        "/console/0000000000000000/nope.js",
        "/console/0000000000000000/../Cargo.toml",
        "/console/0000000000000000/js/vendor/LICENSE-htm",
    ] {
        let reply = api.raw("GET", path, None, None).await;
        assert_eq!(reply.status, 404, "{path}");
    }
}

#[tokio::test]
async fn the_api_still_wants_credentials_and_answers_json() {
    let api = start().await;
    let anonymous = api.raw("GET", "/api/overview", None, None).await;
    anonymous.assert_error(401, "not_authorized");
    assert!(anonymous.header("www-authenticate").is_some());
    let missing = api.get("/api/no-such-endpoint").await;
    missing.assert_error(404, "Object Not Found");
    let overview = api.get_ok("/api/overview").await;
    assert_eq!(overview["product_name"], "Warren");
}

#[tokio::test]
async fn the_node_reports_its_memory_and_disk_limits() {
    let api = start().await;
    let node = &api.get_ok("/api/nodes").await[0];
    assert!(node["mem_limit"].as_u64().unwrap() > 0, "{node}");
    assert!(node["mem_used"].as_u64().unwrap() > 0, "{node}");
    assert!(node["disk_free_limit"].as_u64().is_some(), "{node}");
    let free = api
        .eventually("/api/nodes", |n| n[0]["disk_free"].as_u64().is_some())
        .await;
    assert!(free[0]["disk_free"].as_u64().unwrap() > 0);
}
