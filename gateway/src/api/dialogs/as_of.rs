//! F13: a dialog as of any past moment — its row, card and timeline — replayed from its own
//! events (and its project's settings) as the log held them then: the records stored at or
//! before `as_of` are copied into a scratch embedded log and the dialogs, card and timeline
//! projections are rebuilt from it into scratch files, then read with the same queries as the
//! live ones. Nothing of the live read models is used but the access check, which is today's,
//! and the client's number, given once in the project's order.
//! A dialog that absorbed others shows its own history only.

use super::card::{CardAnswer, answer};
use super::row::DialogItem;
use super::view::{Item, denied};
use crate::api::caller::Operator;
use crate::api::extract::Query;
use crate::api::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::path::Path as FsPath;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::{
    AppendRequest, EventLog, Expected, LogRecord, MsgId, Subject, SubjectFilter,
};
use switchboard_projections::card::{CardProjection, card};
use switchboard_projections::dialogs::{
    DialogsProjection, dialog_folders, dialog_row, dialog_tags,
};
use switchboard_projections::query::{self, Access};
use switchboard_projections::runtime::{Until, open_reader_for};
use switchboard_projections::timeline::{Show, TimelineProjection, timeline_showing};
use switchboard_schemas::{DialogId, ProjectId, Timestamp};
use utoipa::{IntoParams, ToSchema};

/// Most log messages a replay reads (a dialog's own history and its project's settings).
pub const MAX_REPLAY_RECORDS: usize = 200_000;
const READ_CHUNK: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// The moment (RFC 3339): what the log held at or before it.
    #[param(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// Timeline items in the answer, newest first, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AsOfAnswer {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// The last log sequence the replay applied (0: the dialog did not exist yet).
    pub seq: u64,
    /// The row then; `null` when the dialog did not exist yet.
    pub row: Option<DialogItem>,
    pub card: Option<CardAnswer>,
    /// The newest timeline items then, newest first.
    pub timeline: Vec<Item>,
}

async fn records(
    log: &impl EventLog,
    subject: Subject,
    as_of: Timestamp,
    out: &mut Vec<LogRecord>,
) -> Result<(), AppError> {
    let filter = SubjectFilter::exact(&subject);
    let mut from = 1;
    loop {
        let chunk = log.read(from, &filter, READ_CHUNK).await?;
        let Some(last) = chunk.last().map(|r| r.seq) else {
            return Ok(());
        };
        let len = chunk.len();
        for record in chunk {
            if record.appended_at > as_of {
                return Ok(());
            }
            out.push(record);
        }
        if out.len() > MAX_REPLAY_RECORDS {
            return Err(AppError::bad_request(
                "as_of",
                format!("more than {MAX_REPLAY_RECORDS} log messages to replay"),
            ));
        }
        if len < READ_CHUNK {
            return Ok(());
        }
        from = last + 1;
    }
}

/// The scratch log: the records in their order, each with its own message id.
async fn scratch_log(dir: &FsPath, records: Vec<LogRecord>) -> Result<EmbeddedLog, AppError> {
    let path = dir.join("log.sqlite");
    let log =
        tokio::task::spawn_blocking(move || EmbeddedLog::open(&path, EmbeddedOptions::default()))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??;
    for record in records {
        let request = AppendRequest {
            subject: record.subject,
            expected: Expected::Any,
            msg_id: MsgId::new(record.msg_id).map_err(|e| AppError::Internal(e.to_string()))?,
            batch: record.batch,
        };
        log.append(request).await?;
    }
    Ok(log)
}

/// The row, card and newest timeline items of a replay.
type Replayed = (Option<DialogItem>, Option<CardAnswer>, Vec<Item>);

fn replayed(
    dir: &FsPath,
    project: ProjectId,
    dialog: DialogId,
    limit: usize,
) -> Result<Replayed, switchboard_projections::ProjectionError> {
    let dialogs = open_reader_for::<DialogsProjection>(&dir.join("dialogs.sqlite"))?;
    let cards = open_reader_for::<CardProjection>(&dir.join("card.sqlite"))?;
    let timelines = open_reader_for::<TimelineProjection>(&dir.join("timeline.sqlite"))?;
    let row = dialog_row(&dialogs, dialog)?.filter(|row| row.project == project);
    let Some(row) = row else {
        return Ok((None, None, Vec::new()));
    };
    let card = card(&cards, dialog)?
        .map(|c| {
            Ok::<_, switchboard_projections::ProjectionError>(answer(
                c,
                dialog_tags(&dialogs, dialog)?,
                dialog_folders(&dialogs, dialog)?,
            ))
        })
        .transpose()?;
    let page = timeline_showing(&timelines, dialog, Show::default(), None, limit)?;
    Ok((
        Some(DialogItem::from_row(row)),
        card,
        page.items.into_iter().map(Item::from).collect(),
    ))
}

/// The dialog as of a past moment, replayed from its own events.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/as-of",
    tag = "audit",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), AsOfParams),
    responses(
        (status = OK, body = AsOfAnswer),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn as_of(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(params): Query<AsOfParams>,
) -> Result<Json<AsOfAnswer>, AppError> {
    let dialog = crate::api::extract::dialog_id(&dialog)?;
    let limit = crate::api::extract::page_limit(params.limit, 50, 200)?;
    let (access, live_number) = state
        .readers(Kind::Dialogs)?
        .query(move |conn| {
            let access = query::access(conn, &caller, dialog)?;
            let number = dialog_row(conn, dialog)?.map(|row| row.client_number);
            Ok((access, number))
        })
        .await?;
    if !matches!(access, Access::Visible | Access::Merged(_)) {
        return Err(denied(access));
    }
    let mut found = Vec::new();
    records(
        &state.log,
        Subject::project(caller.project),
        params.as_of,
        &mut found,
    )
    .await?;
    records(
        &state.log,
        Subject::dialog(caller.project, dialog),
        params.as_of,
        &mut found,
    )
    .await?;
    found.sort_by_key(|r| r.seq);
    let seq = found
        .iter()
        .filter(|r| r.subject.as_str().ends_with(&dialog.token()))
        .map(|r| r.seq)
        .next_back()
        .unwrap_or(0);
    let scratch = tempfile::tempdir().map_err(|e| AppError::Internal(e.to_string()))?;
    let log = scratch_log(scratch.path(), found).await?;
    for (kind, file) in [
        (Kind::Dialogs, "dialogs.sqlite"),
        (Kind::Card, "card.sqlite"),
        (Kind::Timeline, "timeline.sqlite"),
    ] {
        kind.rebuild(&log, &scratch.path().join(file), Until::End, 1024, |_| {})
            .await?;
    }
    let dir = scratch.path().to_path_buf();
    let project = caller.project;
    let (mut row, mut card, timeline) =
        tokio::task::spawn_blocking(move || replayed(&dir, project, dialog, limit))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??;
    drop(log);
    // The client's number was given in the order of the project's dialogs, which a replay of
    // this one alone cannot repeat (it would say 1): the number is the one it was given.
    if let Some(number) = live_number {
        if let Some(row) = row.as_mut() {
            row.client.number = number;
        }
        if let Some(card) = card.as_mut() {
            card.number = number;
        }
    }
    Ok(Json(AsOfAnswer {
        as_of: params.as_of,
        seq,
        row,
        card,
        timeline,
    }))
}
