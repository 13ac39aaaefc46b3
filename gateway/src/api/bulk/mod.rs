//! Bulk actions (F6): `POST /v1/bulk` runs one F6.2 action on the dialogs given by id, or on
//! every dialog a list selection holds (the filter in the list's JSON form with the tab, folder
//! and archived switch, every page, not one), and `GET /v1/jobs/{job}` tells how a large one is
//! going.
//!
//! - The selection is what the caller may see (`projections::query`), read in one snapshot of
//!   the dialogs read model (after `min_seq`, as every query) and frozen at the sequence it had
//!   applied; ids the caller may not
//!   see are counted as skipped. Each dialog's command then goes through the command service,
//!   where the domain decides again (a dialog reassigned away meanwhile is skipped).
//! - `dry_run` answers the count and changes nothing. Destructive actions (close, block,
//!   delete) and wide selections (any filter, or more than [`CONFIRM_ABOVE`] ids) run only with
//!   `confirm` repeating the action's name and the count (F6.3).
//! - Up to [`JOB_ABOVE`] dialogs run in the request and answer the tally; more run as a job
//!   (`202`, see [`run`]), which survives a crash of the server and changes no dialog twice.
//! - `resend_failed` (F6.5) and `delete_unsubscribed` (F6.6) select their own dialogs: the
//!   dialogs-list filter leaves `outbound_failed` and `unsubscribed` (with `filter`, ANDed to
//!   it; without, over every dialog, closed ones too). Both need `confirm`. `resend_failed`
//!   with `interval_secs` always runs as a job, which waits that long after each resend.
//! - The request's command id (from its `Idempotency-Key`) is the job's id, and each dialog's
//!   command id derives from it: a retried request changes nothing more and, for a job, answers
//!   the job it started.
//!
//! Submodules: `run` (one dialog's command, the job runner), `store` (where jobs are kept).

pub mod run;
pub mod store;

use super::caller::Operator;
use super::commands::dialog::DialogAction;
use super::consistency::MinSeq;
use super::dialogs::filter::{Node, OutboundFailed};
use super::dialogs::list::{MinSeqParam, OrderName, Selection as ListSelection, TabName};
use super::extract::Query;
use super::idempotency::CommandId;
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use run::{JobRecord, JobState, Runner, Tally};
use serde::{Deserialize, Serialize};
use switchboard_core::EventLog;
use switchboard_core::domain::rights;
use switchboard_projections::dialogs::Filter;
use switchboard_projections::query;
use switchboard_schemas::{DialogId, Timestamp};
use utoipa::ToSchema;

/// Selections of more ids than this need `confirm` whatever the action.
pub const CONFIRM_ABOVE: usize = 50;
/// Selections of more dialogs than this run as a job.
pub const JOB_ABOVE: usize = 100;
/// The most dialogs one bulk action takes.
pub const MAX_SELECTION: usize = 1_000_000;

/// The confirmation of a destructive or wide action (F6.3): the action's name and the count
/// a dry run answered.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The action's name, as in `action.action` (e.g. `close`).
    pub action: String,
    /// How many dialogs the selection holds (`selected` of a dry run).
    pub count: u64,
}

/// One bulk action: `action` and either `dialog_ids` or `filter` (with `tab`, `folder`,
/// `archived` as the list takes them; `{"all":[]}` selects every dialog: F6.4 is `mark_read`
/// over it with `archived: true`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// An F6.2 action: `mark_read`, `mark_unread`, `close`, `assign` (reassign), `block`,
    /// `unblock`, `delete`, `join_lists`, `leave_lists`, `add_tags`, `remove_tags`,
    /// `join_folders`, `leave_folders`, in the form `POST /v1/dialogs/{dialog}/actions` takes;
    /// or `resend_failed` (F6.5) or `delete_unsubscribed` (F6.6), which select their dialogs
    /// themselves (with `filter` narrowing them, never `dialog_ids`).
    pub action: DialogAction,
    /// The dialogs, by id (at most what a 1 MiB body holds).
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub dialog_ids: Option<Vec<String>>,
    /// Every dialog of the list with this filter (the list's JSON form).
    pub filter: Option<Node>,
    /// With `filter`: the list's tab.
    pub tab: Option<TabName>,
    /// With `filter`: `all`, `with_operator` or a folder id.
    pub folder: Option<String>,
    /// With `filter`: include closed dialogs (F1.6).
    #[serde(default)]
    pub archived: bool,
    /// Count only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Needed by destructive or wide actions: `{"action": <name>, "count": <selected>}`.
    pub confirm: Option<Confirm>,
}

/// What a bulk action answers when it ran in the request (or was a dry run).
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkAnswer {
    pub dry_run: bool,
    /// Dialogs selected that the caller may see (what the action runs on).
    pub selected: u64,
    /// Whether this action on this selection needs `confirm`.
    pub confirm_needed: bool,
    /// Dialogs the action changed.
    pub changed: u64,
    /// Dialogs already as the action makes them.
    pub unchanged: u64,
    /// Dialogs the caller may not change (ids they may not see, dialogs whose state or
    /// assignee refuses the action).
    pub skipped: u64,
    /// Dialogs the action could not be applied to.
    pub failed: u64,
    /// A log sequence at or after every change: pass it as `min_seq`.
    pub seq: u64,
}

/// A bulk job and how far it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[schema(value_type = uuid::Uuid)]
    pub job: String,
    pub state: JobState,
    /// The action, as it was asked.
    #[schema(value_type = Object)]
    pub action: serde_json::Value,
    /// Dialogs selected.
    pub total: u64,
    /// Dialogs done (changed, unchanged, skipped or failed).
    pub done: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The log sequence the selection was frozen at.
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

impl JobView {
    pub fn new(record: &JobRecord) -> Self {
        Self {
            job: record.id.to_string(),
            state: record.state,
            action: record.action.clone(),
            total: record.total,
            done: record.done,
            changed: record.tally.changed,
            unchanged: record.tally.unchanged,
            skipped: record.tally.skipped,
            failed: record.tally.failed,
            seq: record.seq,
            created_at: record.created_at,
            finished_at: record.finished_at,
        }
    }
}

/// The longest pause between two sends of `resend_failed`.
pub const MAX_INTERVAL_SECS: u32 = 3600;

/// What `resend_failed` (F6.5) and `delete_unsubscribed` (F6.6) select by themselves: the
/// filter leaf ANDed with the request's filter.
fn criterion(action: &DialogAction) -> Option<Node> {
    match action {
        DialogAction::ResendFailed { since, channel, .. } => {
            Some(Node::OutboundFailed(OutboundFailed {
                since: *since,
                channel: *channel,
            }))
        }
        DialogAction::DeleteUnsubscribed => Some(Node::Unsubscribed),
        _ => None,
    }
}

/// The pause a job of `action` takes after each dialog it changed: `resend_failed`'s
/// `interval_secs` (F6.5), bounded by [`MAX_INTERVAL_SECS`].
pub(crate) fn pace(action: &DialogAction) -> Result<Option<std::time::Duration>, AppError> {
    match action {
        DialogAction::ResendFailed {
            interval_secs: Some(secs),
            ..
        } if *secs > MAX_INTERVAL_SECS => Err(AppError::bad_request(
            "action.interval_secs",
            format!("at most {MAX_INTERVAL_SECS} seconds"),
        )),
        DialogAction::ResendFailed {
            interval_secs: Some(secs),
            ..
        } if *secs > 0 => Ok(Some(std::time::Duration::from_secs(u64::from(*secs)))),
        _ => Ok(None),
    }
}

/// The name of an F6.2 action and whether it is destructive (F6.3); other actions are refused.
fn bulk_action(action: &DialogAction) -> Result<(String, bool), AppError> {
    let name = serde_json::to_value(action)
        .ok()
        .and_then(|value| value.get("action")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    use DialogAction as A;
    let destructive = match action {
        A::Close | A::Block | A::Delete | A::DeleteUnsubscribed => true,
        A::ResendFailed { .. }
        | A::MarkRead
        | A::MarkUnread
        | A::Assign { .. }
        | A::Unblock
        | A::JoinLists { .. }
        | A::LeaveLists { .. }
        | A::AddTags { .. }
        | A::RemoveTags { .. }
        | A::JoinFolders { .. }
        | A::LeaveFolders { .. } => false,
        _ => {
            return Err(AppError::bad_request(
                "action.action",
                format!("`{name}` is not a bulk action (F6.2)"),
            ));
        }
    };
    Ok((name, destructive))
}

/// Runs an action on many dialogs (F6).
#[utoipa::path(
    post,
    path = "/v1/bulk",
    tag = "commands",
    params(
        MinSeqParam,
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key changes nothing more; for a job it answers the job"),
    ),
    request_body = BulkRequest,
    responses(
        (status = OK, body = BulkAnswer, description = "A dry run, or a selection of at most 100 dialogs run in the request: the tally"),
        (status = ACCEPTED, body = JobView, description = "More than 100 dialogs: a job; `GET /v1/jobs/{job}` and the live stream's `job` events tell its progress"),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid, or `confirm` is missing or does not repeat the action and the count: `field` names it. `confirm` is needed by `close`, `block` and `delete`, by any selection by `filter`, and by more than 50 `dialog_ids`; its form is `{\"action\": <the action's name>, \"count\": <selected, as a dry run answers it>}`"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = PAYLOAD_TOO_LARGE, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn bulk(
    State(state): State<AppState>,
    Operator(caller): Operator,
    id: CommandId,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
    Json(request): Json<BulkRequest>,
) -> Result<Response, AppError> {
    let action = request.action;
    let (name, destructive) = bulk_action(&action)?;
    let paced = pace(&action)?.is_some();
    let readers = state.readers(Kind::Dialogs)?;
    // F6.5, F6.6 select their own dialogs: every one (closed too) unless a filter narrows it.
    let (filter, archived) = match (criterion(&action), request.filter) {
        (None, filter) => (filter, request.archived),
        (Some(_), _) if request.dialog_ids.is_some() => {
            return Err(AppError::bad_request(
                "dialog_ids",
                format!("`{name}` selects its dialogs itself: give a `filter` or nothing"),
            ));
        }
        (Some(own), Some(filter)) => (Some(Node::All(vec![filter, own])), request.archived),
        (Some(own), None) => (Some(own), true),
    };
    let by_filter = filter.is_some();
    let (selection, refused) = match (request.dialog_ids, filter) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
                "filter",
                "give either `dialog_ids` or `filter`, not both",
            ));
        }
        (None, None) => {
            return Err(AppError::bad_request(
                "dialog_ids",
                "give `dialog_ids` or a `filter`",
            ));
        }
        (Some(ids), None) => {
            if let Some(field) = [
                ("tab", request.tab.is_some()),
                ("folder", request.folder.is_some()),
                ("archived", request.archived),
            ]
            .into_iter()
            .find_map(|(field, given)| given.then_some(field))
            {
                return Err(AppError::bad_request(
                    field,
                    "only with `filter`: ids select dialogs themselves",
                ));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(n, text)| {
                    text.parse::<DialogId>().map_err(|_| {
                        AppError::bad_request(format!("dialog_ids[{n}]"), "a dialog id expected")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            readers
                .query(move |conn| query::select_visible(conn, &caller, &ids))
                .await?
        }
        (None, Some(node)) => {
            let filter: Filter = node.into_filter("filter")?;
            // Every page: `select_every` walks the list from its start.
            let list = ListSelection {
                tab: request.tab.unwrap_or_default(),
                folder: request.folder,
                archived,
                order: OrderName::Created,
            }
            .list_query(&caller, filter, None, 1)?;
            let selection = readers
                .query(move |conn| query::select_every(conn, &caller, list, MAX_SELECTION))
                .await?
                .ok_or_else(|| {
                    AppError::bad_request(
                        "filter",
                        format!("the filter selects more than {MAX_SELECTION} dialogs"),
                    )
                })?;
            (selection, 0)
        }
    };
    let selected = selection.dialogs.len();
    let confirm_needed = destructive || by_filter || selected > CONFIRM_ABOVE;
    let count = u64::try_from(selected).unwrap_or(u64::MAX);
    let refused = u64::try_from(refused).unwrap_or(u64::MAX);
    if request.dry_run {
        return Ok(Json(BulkAnswer {
            dry_run: true,
            selected: count,
            confirm_needed,
            changed: 0,
            unchanged: 0,
            skipped: refused,
            failed: 0,
            seq: selection.seq,
        })
        .into_response());
    }
    if confirm_needed {
        let expected = format!("{{\"action\": \"{name}\", \"count\": {count}}}");
        match &request.confirm {
            None => {
                return Err(AppError::bad_request(
                    "confirm",
                    format!("`{name}` on {count} dialogs needs `confirm`: {expected}"),
                ));
            }
            Some(confirm) if confirm.action != name || confirm.count != count => {
                return Err(AppError::bad_request(
                    "confirm",
                    format!("`confirm` must repeat the action and the count: {expected}"),
                ));
            }
            Some(_) => {}
        }
    }
    // A paced action runs as a job whatever its size: a request does not wait out its pauses.
    if selected > JOB_ABOVE || (paced && selected > 0) {
        let jobs = state
            .jobs
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this server runs no jobs".to_owned()))?;
        let record = JobRecord {
            id: id.0,
            project: caller.project,
            owner: caller.operator,
            action: serde_json::to_value(&action)
                .map_err(|e| AppError::Internal(format!("the action does not serialise: {e}")))?,
            total: count,
            seq: selection.seq,
            chunks: 0,
            state: JobState::Running,
            done: 0,
            tally: Tally {
                skipped: refused,
                ..Tally::default()
            },
            created_at: Timestamp::now(),
            finished_at: None,
            lease: None,
        };
        let record = jobs.create(record, &selection.dialogs).await?;
        return Ok((StatusCode::ACCEPTED, Json(JobView::new(&record))).into_response());
    }
    let runner = Runner {
        commands: state.commands.clone(),
        log: state.log.clone(),
    };
    let tally = runner
        .all(
            caller.project,
            caller.operator,
            id,
            &action,
            &selection.dialogs,
        )
        .await;
    let seq = state.log.last_seq().await?;
    Ok(Json(BulkAnswer {
        dry_run: false,
        selected: count,
        confirm_needed,
        changed: tally.changed,
        unchanged: tally.unchanged,
        skipped: tally.skipped + refused,
        failed: tally.failed,
        seq,
    })
    .into_response())
}

/// How a bulk job is going.
#[utoipa::path(
    get,
    path = "/v1/jobs/{job}",
    tag = "commands",
    params(("job" = uuid::Uuid, Path, description = "The job")),
    responses(
        (status = OK, body = JobView),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer, description = "another operator's job"),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer, description = "no such job in the caller's project"),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn job(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(job): Path<String>,
) -> Result<Json<JobView>, AppError> {
    let id = job
        .parse::<uuid::Uuid>()
        .map_err(|_| AppError::bad_request("job", "a job id expected"))?;
    let jobs = state
        .jobs
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("this server runs no jobs".to_owned()))?;
    let record = jobs
        .get(id)
        .await?
        .filter(|record| record.project == caller.project)
        .ok_or_else(|| AppError::NotFound("no such job".to_owned()))?;
    if !rights::may_see_job(caller.role, caller.operator, record.owner) {
        return Err(AppError::Forbidden("another operator's job".to_owned()));
    }
    Ok(Json(JobView::new(&record)))
}
