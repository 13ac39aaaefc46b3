//! The web inbox at `/`: the files `build.rs` built from `gateway/web/` (or, without Node, a
//! page saying how to build them), embedded in the binary and served on the API's origin.
//!
//! - a built file answers with its content type, its gzip copy when the caller accepts gzip,
//!   and `Cache-Control: immutable` for a year when its name carries a content hash
//!   (`/assets/…`, Vite's output), `no-cache` otherwise (`index.html` must never be stale);
//! - any other GET path outside `/v1` answers `index.html` (the client's routes, e.g.
//!   `/dialogs/{id}`), except under `/assets/`, where a missing file is a 404;
//! - nothing here knows the API: the UI is a client of the documented `/v1` like any other.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its URL path, e.g. `/index.html`, `/assets/index-3f2a1b.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// A gzip copy, when it is smaller.
    pub gzip: Option<&'static [u8]>,
}

mod assets {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Whether this binary carries the built UI (false: the fallback page that says how to build it).
pub const BUILT: bool = assets::BUILT;

/// Where Vite puts the files whose names carry a content hash.
const HASHED: &str = "/assets/";

/// Security headers of every UI answer: no framing, no sniffing, scripts and styles only from
/// this origin (avatars may come from anywhere).
const CSP: &str = "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn find(path: &str) -> Option<&'static Asset> {
    assets::ASSETS.iter().find(|asset| asset.path == path)
}

/// The UI's answer to a request no `/v1` route took; `None` when it is not the UI's (an API
/// path, a write, a missing hashed asset).
pub fn answer(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if !matches!(*method, Method::GET | Method::HEAD)
        || path == "/v1"
        || path.starts_with("/v1/")
        || path == "/metrics"
    {
        return None;
    }
    let asset = match find(path) {
        Some(asset) => asset,
        None if path.starts_with(HASHED) => return None,
        None => find("/index.html")?,
    };
    Some(respond(asset, method, headers))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn respond(asset: &'static Asset, method: &Method, headers: &HeaderMap) -> Response {
    let (body, gzipped) = match asset.gzip {
        Some(packed) if accepts_gzip(headers) => (packed, true),
        _ => (asset.body, false),
    };
    let cache = if asset.path.starts_with(HASHED) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if *method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        body.into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if gzipped {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if *method == Method::HEAD {
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        headers
    }

    #[test]
    fn gzip_is_taken_only_when_accepted() {
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(accepts_gzip(&headers("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0, br")));
        assert!(!accepts_gzip(&headers("br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn api_paths_and_writes_are_never_the_uis() {
        let none = HeaderMap::new();
        assert!(answer(&Method::GET, "/v1/nothing", &none).is_none());
        assert!(answer(&Method::GET, "/metrics", &none).is_none());
        assert!(answer(&Method::POST, "/", &none).is_none());
        assert!(answer(&Method::GET, "/assets/missing-0000.js", &none).is_none());
        let page = answer(&Method::GET, "/dialogs/some-client-route", &none).unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
