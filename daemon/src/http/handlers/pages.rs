//! The reviewer desk (`/review/`, public listener) and the operator console (`/console/`,
//! admin listener): static pages, scripts and styles embedded in the binary, served with
//! a strict Content-Security-Policy. Everything a page does is a call to the documented
//! API (`sessions` for sign-in); the pages hold no logic the API does not check.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::problem::Problem;

/// No inline script or style, nothing from elsewhere, no framing; images from this origin
/// (photos) and `blob:` (none today, kept out), forms only to this origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media:expr, $path:literal) => {
        Asset {
            name: $name,
            media_type: $media,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

const REVIEW: &[Asset] = &[
    asset!("index.html", HTML, "review/index.html"),
    asset!("desk.js", JS, "review/desk.js"),
    asset!("pages.css", CSS, "pages.css"),
    asset!("i18n.js", JS, "i18n.js"),
    asset!("icon.svg", SVG, "icon.svg"),
];

const CONSOLE: &[Asset] = &[
    asset!("index.html", HTML, "console/index.html"),
    asset!("console.js", JS, "console/console.js"),
    asset!("charts.js", JS, "console/charts.js"),
    asset!("pages.css", CSS, "pages.css"),
    asset!("i18n.js", JS, "i18n.js"),
    asset!("uPlot.iife.min.js", JS, "vendor/uPlot.iife.min.js"),
    asset!("uPlot.min.css", CSS, "vendor/uPlot.min.css"),
    asset!("icon.svg", SVG, "icon.svg"),
];

/// `GET /review/`.
pub(crate) async fn review_page() -> Response {
    serve(REVIEW, "index.html")
}

/// `GET /review/{asset}`.
pub(crate) async fn review_asset(Path(name): Path<String>) -> Response {
    serve(REVIEW, &name)
}

/// `GET /console/`.
pub(crate) async fn console_page() -> Response {
    serve(CONSOLE, "index.html")
}

/// `GET /console/{asset}`.
pub(crate) async fn console_asset(Path(name): Path<String>) -> Response {
    serve(CONSOLE, &name)
}

fn serve(assets: &[Asset], name: &str) -> Response {
    let Some(asset) = assets.iter().find(|a| a.name == name) else {
        return Problem::not_found("page").into_response();
    };
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The pages change with the binary: revalidate, never serve a stale script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
