//! The web inbox at `/` (issue 18), in-process through `app(..).oneshot(..)`: the built UI (or,
//! in a build without Node, the page that says how to build it) for `/` and the client's routes,
//! hashed assets cached for a year and gzipped when asked, the API's paths left to the API; and
//! `GET /v1/setup`, which tells the first-run page whether the installation is empty.

use crate::common::*;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use switchboard_core::AnyLog;
use switchboard_gateway::{AppState, app, web};
use tower::ServiceExt;

async fn get(log: &AnyLog, uri: &str, accept_gzip: bool) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method("GET").uri(uri);
    if accept_gzip {
        request = request.header(header::ACCEPT_ENCODING, "gzip, deflate, br");
    }
    let response = app(AppState::new(log.clone()))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn the_inbox_answers_at_root_and_at_every_client_route_but_never_for_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));

    let (status, headers, root) = get(&log, "/", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let page = String::from_utf8(root.clone()).unwrap();
    if web::BUILT {
        assert!(page.contains(r#"<div id="app">"#), "{page}");
        assert!(page.contains("/assets/"), "{page}");
    } else {
        assert!(page.contains("was not built"), "{page}");
        assert!(page.contains("Node.js"), "{page}");
    }

    // A client route (a reload on an open dialog) answers the same page.
    let route = "/dialogs/0193a1f2-0000-7000-8000-000000000001";
    let (status, headers, body) = get(&log, route, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(body, root);

    // The API's own paths stay the API's: JSON errors, never the page.
    for path in ["/v1/no-such-thing", "/v1", "/assets/no-such-file-0000.js"] {
        let (status, headers, body) = get(&log, path, false).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{path}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_sent_gzipped_to_who_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let (_, _, root) = get(&log, "/", false).await;
    let page = String::from_utf8(root).unwrap();
    if !web::BUILT {
        // A build without Node: the fallback page links nothing of its own.
        assert!(!page.contains("/assets/"), "{page}");
        return;
    }
    let script = page
        .split('"')
        .find(|part| part.starts_with("/assets/") && part.ends_with(".js"))
        .expect("index.html loads a hashed script");

    let (status, headers, plain) = get(&log, script, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(headers[header::VARY], "accept-encoding");

    let (status, headers, packed) = get(&log, script, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(&packed[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(
        packed.len() * 2 < plain.len(),
        "{} vs {}",
        packed.len(),
        plain.len()
    );
}

#[tokio::test]
async fn setup_says_whether_the_installation_is_still_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let (status, _, body) = get(&log, "/v1/setup", false).await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer, serde_json::json!({"empty": true}));

    append(&log, &[note(dialog(1), "first")]).await;
    let (status, _, body) = get(&log, "/v1/setup", false).await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer, serde_json::json!({"empty": false}));
}
