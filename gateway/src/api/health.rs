//! `GET /v1/health`: whether the event log answers, how far it is, and how far each read model
//! has applied it (`projections`: name, live generation, state, applied sequence, lag, records
//! skipped, failure).
//!
//! 200 `"ok"` only when the log answers and every read model runs and is not ahead of the log;
//! otherwise 503: `"unavailable"` (the log does not answer) or `"failing"` with `problems`
//! naming each model that `failed` (it stopped, its store refuses writes, a full disk say, and
//! is being retried, or the log tail keeps failing) or is
//! `ahead` of the log (its checkpoint past the log's end: another log, see the runner's log
//! check). A model `behind` (lag > 0) is not a failure: lag is normal under load and after a
//! start, and a model that stopped moving is `failed` by its own runner (a store error, or
//! the same log error several times in a row) rather than guessed from a lag threshold, which
//! would flap with load.

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

/// Whether the log answers and how far each read model has applied it.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "meta",
    responses(
        (status = OK, description = "The log answers and every read model runs, none ahead of the log",
         content_type = "application/json"),
        (status = SERVICE_UNAVAILABLE, description = "`unavailable` (the log does not answer) or `failing` \
         (`problems` names each read model that failed or is ahead of the log)",
         content_type = "application/json"),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let log = state.log.backend();
    // The models' positions are read before the log's end: the log only grows, so a model
    // seen past the end read afterwards is really ahead of this log, not racing an append.
    let models = state.read_models.as_ref().map(|models| models.status());
    let error = match tokio::time::timeout(LOG_TIMEOUT, state.log.last_seq()).await {
        Ok(Ok(last_seq)) => {
            let mut body = json!({ "status": "ok", "log": log, "last_seq": last_seq });
            let mut problems = Vec::new();
            if let Some(models) = models {
                let projections: Vec<_> = models
                    .into_iter()
                    .map(|s| {
                        let lag = last_seq.saturating_sub(s.applied_seq);
                        let state = if let Some(reason) = &s.failed {
                            problems.push(format!("{} failed: {reason}", s.projection));
                            "failed"
                        } else if s.applied_seq > last_seq {
                            problems.push(format!(
                                "{} is ahead of the log: applied {}, the log ends at {last_seq}",
                                s.projection, s.applied_seq
                            ));
                            "ahead"
                        } else if lag > 0 {
                            "behind"
                        } else {
                            "running"
                        };
                        json!({
                            "projection": s.projection,
                            "generation": s.generation,
                            "state": state,
                            "applied_seq": s.applied_seq,
                            "lag": lag,
                            "undecodable": s.undecodable,
                            "failed": s.failed,
                        })
                    })
                    .collect();
                body["projections"] = projections.into();
            }
            if problems.is_empty() {
                return Json(body).into_response();
            }
            tracing::warn!(problems = ?problems, "health check: read models failing");
            body["status"] = "failing".into();
            body["problems"] = problems.into();
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
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
