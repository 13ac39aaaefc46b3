//! Read-your-writes: every query accepts `min_seq` (the `seq` a command answered) and answers
//! once the read models have applied it, or after [`MAX_WAIT`] with 503 and `Retry-After`.
//! After a start, every query also waits for the log's end as it was then, until the read
//! models have applied it once: a model rebuilt from nothing does not answer with a part.

use super::{AppError, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use std::time::Duration;
use switchboard_core::EventLog;
use switchboard_projections::ProjectionError;

/// The longest a query waits for its `min_seq`.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Waits for `min_seq` of the query string (a route takes it before reading a read model and
/// lists `min_seq` among its parameters).
#[derive(Debug, Clone, Copy)]
pub struct MinSeq;

#[derive(Deserialize)]
struct Param {
    min_seq: Option<String>,
}

impl FromRequestParts<AppState> for MinSeq {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        // A malformed query string is reported by the route's own parameters.
        let asked = match serde_urlencoded::from_str::<Param>(query) {
            Ok(Param {
                min_seq: Some(text),
            }) => Some(text.parse::<u64>().map_err(|_| {
                AppError::bad_request(
                    "min_seq",
                    "a log sequence (a non-negative integer) expected",
                )
            })?),
            _ => None,
        };
        let Some(models) = &state.read_models else {
            return match asked {
                Some(_) => Err(AppError::Unavailable("no read models".to_owned())),
                None => Ok(MinSeq),
            };
        };
        // Until the read models have caught up with the log as it was when they started, every
        // query waits for that too (see `ReadModels::start_floor`).
        let floor = models.start_floor();
        let seq = asked.unwrap_or(0).max(floor);
        if seq == 0 || models.applied_everywhere() >= seq {
            return Ok(MinSeq);
        }
        if let Some(asked) = asked {
            // No command ever answered a sequence past the log's end: refuse it at once rather
            // than wait for what may never come.
            let last = state.log.last_seq().await?;
            if asked > last {
                return Err(AppError::bad_request(
                    "min_seq",
                    format!("{asked} is past the end of the log ({last})"),
                ));
            }
        }
        match models.wait_for(seq, MAX_WAIT).await {
            Ok(()) => Ok(MinSeq),
            Err(ProjectionError::Timeout { .. }) => Err(AppError::Lagging(format!(
                "the read models have not reached sequence {seq} within {MAX_WAIT:?}; retry"
            ))),
            Err(error) => Err(error.into()),
        }
    }
}
