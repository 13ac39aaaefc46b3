//! Prometheus metrics at `/metrics` (text format; outside `/v1`, as scrapers expect):
//! `switchboard_http_requests_total{method,route,status}` and
//! `switchboard_http_request_duration_seconds{method,route}` per route (the matched route, never
//! the raw path, so ids do not multiply series), `switchboard_command_duration_seconds{kind}`
//! (decide + append), and at each scrape the log's last sequence and each read model's applied
//! sequence and lag (`switchboard_projection_lag{projection}`).
//!
//! The recorder is the process's one global recorder, installed by the first [`handle`].

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use switchboard_core::EventLog;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Request latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// The process's recorder handle; `None` when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Counts and times every request by its matched route.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "switchboard_http_request_duration_seconds",
        "method" => method.clone(),
        "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "switchboard_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}

/// Times one command (decide and append).
pub fn command_took(kind: &'static str, started: Instant) {
    metrics::histogram!("switchboard_command_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed",
        )
            .into_response();
    };
    if let Ok(last) = state.log.last_seq().await {
        metrics::gauge!("switchboard_log_last_seq").set(last as f64);
        if let Some(models) = &state.read_models {
            for model in models.status() {
                let name = model.projection;
                metrics::gauge!("switchboard_projection_applied_seq", "projection" => name)
                    .set(model.applied_seq as f64);
                metrics::gauge!("switchboard_projection_lag", "projection" => name)
                    .set(last.saturating_sub(model.applied_seq) as f64);
                metrics::gauge!("switchboard_projection_failed", "projection" => name)
                    .set(if model.failed.is_some() { 1.0 } else { 0.0 });
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
