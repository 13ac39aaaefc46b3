//! `GET /v1/health`: whether the event log answers, how far it is, and how far each read model
//! has applied it (`projections`: name, live generation, applied sequence, lag, failure).

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;
use switchboard_core::EventLog;

/// A health check must answer before a load balancer gives up on it (typically 5 s), also when
/// the log hangs (e.g. a NATS client waiting for a reconnect).
const LOG_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn health(State(state): State<AppState>) -> Response {
    let log = state.log.backend();
    let error = match tokio::time::timeout(LOG_TIMEOUT, state.log.last_seq()).await {
        Ok(Ok(last_seq)) => {
            let mut body = json!({ "status": "ok", "log": log, "last_seq": last_seq });
            if let Some(models) = &state.read_models {
                let projections: Vec<_> = models
                    .status()
                    .into_iter()
                    .map(|s| {
                        json!({
                            "projection": s.projection,
                            "generation": s.generation,
                            "applied_seq": s.applied_seq,
                            "lag": last_seq.saturating_sub(s.applied_seq),
                            "failed": s.failed,
                        })
                    })
                    .collect();
                body["projections"] = projections.into();
            }
            return Json(body).into_response();
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("the log did not answer within {LOG_TIMEOUT:?}"),
    };
    tracing::warn!(%error, log, "health check: the event log does not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "log": log, "error": error })),
    )
        .into_response()
}
