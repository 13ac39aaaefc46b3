//! Audit (F13): a dialog's own events as JSON, paged by log sequence
//! (`GET /v1/dialogs/{dialog}/events`), and an admin's view of the whole project's stream from a
//! sequence (`GET /v1/events`). Each event in the JSON form of `events tail`.

use super::caller::{Admin, Operator};
use super::extract::Query;
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use switchboard_core::{EventLog, LogRecord, Subject, SubjectFilter};
use switchboard_projections::query::{self, Access};
use switchboard_schemas::decode_batch;
use utoipa::{IntoParams, ToSchema};

/// Most log messages read for one page.
pub const MAX_EVENTS_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Events after this log sequence (`next_after` of the previous page; default 0).
    pub after: Option<u64>,
    /// Log messages per page, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    /// Each event with its `seq`, `subject`, `index` within its log message, `appended_at` (when
    /// the log stored it: `as-of` at that moment includes it), `type`, `version`, envelope
    /// fields and payload.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// Pass as `after` for the next page; `null` when the log has no more now.
    pub next_after: Option<u64>,
}

fn page(records: Vec<LogRecord>, limit: usize) -> EventsPage {
    let full = records.len() == limit;
    let last = records.last().map(|r| r.seq);
    let mut events = Vec::new();
    for record in records {
        match decode_batch(&record.batch) {
            Ok(decoded) => {
                for (index, event) in decoded.iter().enumerate() {
                    let mut fields = serde_json::Map::new();
                    fields.insert("seq".into(), record.seq.into());
                    fields.insert("subject".into(), record.subject.as_str().into());
                    fields.insert("index".into(), index.into());
                    fields.insert("appended_at".into(), record.appended_at.to_rfc3339().into());
                    fields.extend(event.to_json());
                    events.push(serde_json::Value::Object(fields));
                }
            }
            Err(error) => events.push(serde_json::json!({
                "seq": record.seq,
                "subject": record.subject.as_str(),
                "appended_at": record.appended_at.to_rfc3339(),
                "type": record.batch.types,
                "version": record.batch.versions,
                "error": error.to_string(),
            })),
        }
    }
    EventsPage {
        events,
        next_after: if full { last } else { None },
    }
}

fn bounds(params: &EventsParams) -> Result<(u64, usize), AppError> {
    let limit = crate::api::extract::page_limit(params.limit, 100, MAX_EVENTS_PAGE)?;
    Ok((params.after.unwrap_or(0).saturating_add(1), limit))
}

/// A dialog's events, oldest first.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/events",
    tag = "audit",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), EventsParams),
    responses(
        (status = OK, body = EventsPage),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn dialog_events(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(params): Query<EventsParams>,
) -> Result<Json<EventsPage>, AppError> {
    let dialog = crate::api::extract::dialog_id(&dialog)?;
    let (from, limit) = bounds(&params)?;
    let access = state
        .readers(Kind::Dialogs)?
        .query(move |conn| query::access(conn, &caller, dialog))
        .await?;
    // A merged dialog's own history stays readable: it is the audit trail of the merge.
    if !matches!(access, Access::Visible | Access::Merged(_)) {
        return Err(super::dialogs::view::denied(access));
    }
    let filter = SubjectFilter::exact(&Subject::dialog(caller.project, dialog));
    let records = state.log.read(from, &filter, limit).await?;
    Ok(Json(page(records, limit)))
}

/// The project's event stream from a sequence (admins).
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "audit",
    params(EventsParams),
    responses(
        (status = OK, body = EventsPage),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn project_events(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Query(params): Query<EventsParams>,
) -> Result<Json<EventsPage>, AppError> {
    let (from, limit) = bounds(&params)?;
    let filter = SubjectFilter::project(caller.project);
    let records = state.log.read(from, &filter, limit).await?;
    Ok(Json(page(records, limit)))
}
