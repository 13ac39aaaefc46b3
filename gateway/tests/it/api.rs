//! The HTTP API driven in-process through `app(..).oneshot(..)`, on real logs.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use switchboard_core::AnyLog;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_gateway::{AppState, app};
use switchboard_tests::NatsServer;
use tower::ServiceExt;

async fn call(log: &AnyLog, method: &str, uri: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app(AppState::new(log.clone()))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json",
        "{method} {uri}"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_reports_the_embedded_log_and_its_last_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));

    let (status, body) = call(&log, "GET", "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "log": "embedded", "last_seq": 0})
    );

    // Three messages, one of them carrying two events: last_seq counts messages.
    let (d1, d2) = (dialog(1), dialog(2));
    append(&log, &[note(d1, "first")]).await;
    append(&log, &[pinned(d2), closed(d2)]).await;
    let last = append(&log, &[note(d1, "second")]).await;
    assert_eq!(last, 3);

    let (status, body) = call(&log, "GET", "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["log"], "embedded");
    assert_eq!(body["last_seq"], 3);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_json_error_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));

    let (status, body) = call(&log, "GET", "/v1/no-such-thing?x=1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "no route for /v1/no-such-thing");
    assert!(body["error"]["field"].is_null());

    let (status, body) = call(&log, "DELETE", "/v1/health").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_while_the_jetstream_server_is_down() {
    let mut nats = NatsServer::start();
    let log = AnyLog::JetStream(
        JetStreamLog::connect(&nats.url(), JetStreamOptions::default())
            .await
            .unwrap(),
    );
    append(&log, &[note(dialog(1), "hello")]).await;
    let (status, body) = call(&log, "GET", "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "log": "jetstream", "last_seq": 1})
    );

    nats.stop();
    let (status, body) = call(&log, "GET", "/v1/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["log"], "jetstream");
    assert!(!body["error"].as_str().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn operator_routes_answer_401_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    for uri in ["/v1/dialogs", "/v1/counters", "/v1/tags/picker"] {
        let (status, body) = call(&log, "GET", uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{uri}");
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_carry_a_request_id_and_oversized_bodies_are_413() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let state = AppState::new(log);
    let response = app(state.clone())
        .oneshot(Request::get("/v1/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    // The caller's own id is kept.
    let response = app(state.clone())
        .oneshot(
            Request::get("/v1/health")
                .header("x-request-id", "client-chosen-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-1");

    let response = app(state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("switchboard_http_requests_total")
                && l.contains("route=\"/v1/health\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("switchboard_log_last_seq"), "{text}");

    let huge = format!(
        "{{\"email\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(2 << 20)
    );
    let response = app(state)
        .oneshot(
            Request::post("/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(huge))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
}
