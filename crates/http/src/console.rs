//! The web console: static HTML, CSS and ES modules compiled into the binary and
//! served at `/` beside the API (no build step, no CDN, works offline). The console
//! is a client of `/api` like any other, logging in with basic auth; these routes
//! need no credentials because they hold nothing but code.
//!
//! Assets are served under `/console/{version}/`, where the version is a hash of
//! their contents: a browser may cache them for good, and a new binary's page
//! asks for new paths. The page itself (`/`) is always revalidated.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// One embedded file: its path under the asset root, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/format.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/table.js", JS),
    asset!("js/pages/overview.js", JS),
    asset!("js/pages/queues.js", JS),
    asset!("js/pages/queue.js", JS),
    asset!("js/pages/exchanges.js", JS),
    asset!("js/pages/exchange.js", JS),
    asset!("js/pages/connections.js", JS),
    asset!("js/pages/admin.js", JS),
    asset!("js/vendor/preact-htm.js", JS),
];

const INDEX: &str = include_str!("../assets/index.html");

/// A hash of every asset (FNV-1a), naming this build's asset directory.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for asset in ASSETS {
        for byte in asset.path.bytes().chain(asset.body.iter().copied()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

/// The page, with the asset root filled in.
static PAGE: LazyLock<String> =
    LazyLock::new(|| INDEX.replace("{{ASSETS}}", &format!("/console/{}", *VERSION)));

/// Scripts, styles and connections only from this origin; no framing (clickjacking).
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/console/{version}/{*path}", get(asset))
}

async fn page() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE.as_str(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn asset(Path((version, path)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not Found",
        )
            .into_response();
    };
    // A page from an older binary asking for its own version gets today's file,
    // but must not keep it as if it were that version's.
    let caching = if version == *VERSION {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, caching),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}
