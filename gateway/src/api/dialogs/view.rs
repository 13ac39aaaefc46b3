//! One dialog: `GET /v1/dialogs/{dialog}` (its list row with the caller's read state) and
//! `GET /v1/dialogs/{dialog}/timeline` (F3: messages, notes, service entries and statuses,
//! newest first, paged towards the past). Access is `projections::query`'s decision: a dialog
//! of another project or unknown is 404, one assigned to another operator 403, a merged one
//! 404 naming its survivor.

use super::row::DialogItem;
use crate::api::caller::Operator;
use crate::api::consistency::MinSeq;
use crate::api::extract::{Query, dialog_id};
use crate::api::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use switchboard_core::domain::dialog::Delivery;
use switchboard_projections::dialogs::{ListRow, operator_marks};
use switchboard_projections::query::{self, Access};
use switchboard_projections::timeline::{
    Anchor, AttachmentCursor, ItemId, ItemKind, Show, TimelineCursor, TimelineItem, TimelinePage,
    Window,
};
use switchboard_schemas::{Actor, AttachmentKind, Timestamp};
use utoipa::{IntoParams, ToSchema};

/// Most items of one timeline page.
pub const MAX_TIMELINE_PAGE: usize = 200;

pub(crate) fn denied(access: Access) -> AppError {
    match access {
        Access::Forbidden => {
            AppError::Forbidden("the dialog is assigned to another operator".to_owned())
        }
        Access::Merged(survivor) => {
            AppError::NotFound(format!("the dialog was merged into {survivor}"))
        }
        Access::NotFound | Access::Visible => AppError::NotFound("no such dialog".to_owned()),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ViewParams {
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// One dialog's row, with the caller's own read state.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}",
    tag = "dialogs",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), ViewParams),
    responses(
        (status = OK, body = DialogItem),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn dialog(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(_): Query<ViewParams>,
    _: MinSeq,
) -> Result<Json<DialogItem>, AppError> {
    let dialog = dialog_id(&dialog)?;
    let found = state
        .readers(Kind::Dialogs)?
        .query(move |conn| {
            Ok(match query::row(conn, &caller, dialog)? {
                Ok(row) => {
                    let marks = operator_marks(conn, dialog)?
                        .into_iter()
                        .find(|marks| marks.operator == caller.operator);
                    Ok((row, marks))
                }
                Err(denied) => Err(denied),
            })
        })
        .await?;
    let (row, marks) = found.map_err(denied)?;
    // The caller's own state, as their list row shows it.
    let unread_messages = marks
        .as_ref()
        .map_or(row.inbound_count, |m| m.unread_messages(&row));
    let marked_unread = marks.as_ref().is_some_and(|m| m.marked_unread);
    Ok(Json(DialogItem::new(ListRow {
        unread: marked_unread || unread_messages > 0,
        unread_messages,
        draft: marks.and_then(|m| m.draft),
        row,
    })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// `next_cursor` of a page: the items before it in time.
    pub cursor: Option<String>,
    /// `newer_cursor` of a page: the items after it in time (paging back up after `around`).
    pub after: Option<String>,
    /// Open the timeline at an item: a message's, note's or service entry's id (a search hit's
    /// `message.id`), or a moment (RFC 3339: the first item written then or later, the newest
    /// when none is; "jump to date"). The page holds about half older items (the item itself
    /// among them) and half newer. At most one of `cursor`, `after` and `around`.
    pub around: Option<String>,
    /// Items per page, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// F7.6: show the bot's messages (default true).
    pub bot_messages: Option<bool>,
    /// F7.6: show internal comments (default true).
    pub notes: Option<bool>,
    /// F7.6: show service entries (default true).
    pub service_entries: Option<bool>,
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// A page of a dialog's timeline, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineAnswer {
    pub items: Vec<Item>,
    /// Pass as `cursor` for older items; `null` at the beginning of the dialog.
    pub next_cursor: Option<String>,
    /// Pass as `after` for newer items; `null` when the page ends at the newest item (the live
    /// stream brings what comes next).
    pub newer_cursor: Option<String>,
}

/// One entry of the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item {
    /// `message`, `note` or `service`.
    pub kind: &'static str,
    /// The message's, note's or (service entry) event's id.
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    /// The dialog it was written in (an absorbed dialog's for merged history).
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    /// `inbound` (from the client), `outbound` (to the client); none for notes and entries.
    pub direction: Option<&'static str>,
    /// Who: `client`, `bot`, `system`, `connector`, or an operator's id.
    pub author: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub channel: Option<String>,
    pub text: String,
    #[schema(value_type = Vec<Object>)]
    pub files: Vec<switchboard_schemas::Attachment>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub reply_to: Option<String>,
    /// A service entry's event in its JSON form.
    #[schema(value_type = Option<Object>)]
    pub entry: Option<serde_json::Value>,
    /// F3.6: `queued`, `sent`, `delivered`, `read` or `failed`.
    pub delivery: Option<&'static str>,
    /// Why delivery failed.
    pub failure: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// When the client edited the message (`text` and `files` are the edit's); `null` if never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<Timestamp>,
    /// The client's reaction to the message (an emoji, or the channel's id of a reaction).
    pub reaction: Option<String>,
}

fn author(actor: Actor) -> String {
    match actor {
        Actor::Operator(operator) => operator.to_string(),
        Actor::Client => "client".to_owned(),
        Actor::Bot => "bot".to_owned(),
        Actor::Connector(_) => "connector".to_owned(),
        Actor::System => "system".to_owned(),
    }
}

impl From<TimelineItem> for Item {
    fn from(item: TimelineItem) -> Self {
        let (kind, id) = match item.id {
            ItemId::Message(id) => ("message", id.to_string()),
            ItemId::Note(id) => ("note", id.to_string()),
            ItemId::Service(id) => ("service", id.to_string()),
        };
        let (direction, author) = match item.kind {
            ItemKind::Inbound => (Some("inbound"), "client".to_owned()),
            ItemKind::Outbound(operator) => (
                Some("outbound"),
                operator.map_or_else(|| "bot".to_owned(), |o| o.to_string()),
            ),
            ItemKind::Note(operator) => (
                None,
                operator.map_or_else(|| "system".to_owned(), |o| o.to_string()),
            ),
            ItemKind::Service(actor) => (None, author(actor)),
        };
        Self {
            kind,
            id,
            dialog: item.dialog.to_string(),
            direction,
            author,
            channel: item.channel.map(|c| c.to_string()),
            text: item.text,
            files: item.files,
            reply_to: item.reply_to.map(|m| m.to_string()),
            entry: item
                .entry
                .and_then(|event| serde_json::to_value(event).ok()),
            delivery: item.delivery.map(|d| match d {
                Delivery::Queued => "queued",
                Delivery::Sent => "sent",
                Delivery::Delivered => "delivered",
                Delivery::Read => "read",
                Delivery::Failed => "failed",
            }),
            failure: item.failure,
            at: item.at,
            edited_at: item.edited_at,
            reaction: item.reaction,
        }
    }
}

/// A page of the dialog's timeline (with the dialogs it absorbed), newest first.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/timeline",
    tag = "dialogs",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), TimelineParams),
    responses(
        (status = OK, body = TimelineAnswer),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn timeline(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(params): Query<TimelineParams>,
    _: MinSeq,
) -> Result<Json<TimelineAnswer>, AppError> {
    let dialog = dialog_id(&dialog)?;
    let window = window(&params)?;
    let limit = crate::api::extract::page_limit(params.limit, 50, MAX_TIMELINE_PAGE)?;
    let show = Show {
        bot_messages: params.bot_messages.unwrap_or(true),
        notes: params.notes.unwrap_or(true),
        service_entries: params.service_entries.unwrap_or(true),
    };
    let timelines = state.readers(Kind::Timeline)?;
    let page: Result<TimelinePage, Access> = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            timelines.run(|timelines| {
                query::open_timeline(dialogs, timelines, &caller, dialog, show, window, limit)
            })
        })
        .await?;
    let page = page.map_err(denied)?;
    Ok(Json(TimelineAnswer {
        next_cursor: page.next.map(TimelineCursor::to_token),
        newer_cursor: page.newer.map(TimelineCursor::to_token),
        items: page.items.into_iter().map(Item::from).collect(),
    }))
}

/// Which part of the timeline the parameters ask for: `cursor`, `after` or `around`, at most
/// one of them.
fn window(params: &TimelineParams) -> Result<Window, AppError> {
    let given: Vec<&str> = [
        ("cursor", params.cursor.is_some()),
        ("after", params.after.is_some()),
        ("around", params.around.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    if let [_, second, ..] = given[..] {
        return Err(AppError::bad_request(
            second,
            format!("give at most one of {}", given.join(", ")),
        ));
    }
    let cursor = |field: &str, token: &str| {
        TimelineCursor::from_token(token).ok_or_else(|| AppError::BadRequest {
            code: "invalid_cursor",
            message: "not a cursor of this timeline".to_owned(),
            field: Some(field.to_owned()),
        })
    };
    Ok(match (&params.cursor, &params.after, &params.around) {
        (Some(token), _, _) => Window::Older(Some(cursor("cursor", token)?)),
        (_, Some(token), _) => Window::Newer(cursor("after", token)?),
        (_, _, Some(around)) => Window::Around(anchor(around)?),
        _ => Window::Older(None),
    })
}

/// `around`: an item's id, or a moment.
fn anchor(around: &str) -> Result<Anchor, AppError> {
    if let Ok(id) = uuid::Uuid::parse_str(around) {
        return Ok(Anchor::Item(id));
    }
    Timestamp::parse_rfc3339(around)
        .map(Anchor::Time)
        .map_err(|_| {
            AppError::bad_request(
                "around",
                "neither an item's id (UUID) nor a moment (RFC 3339, e.g. 2026-12-07T10:00:00Z)",
            )
        })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttachmentParams {
    /// Kinds, comma-separated: `image`, `audio`, `voice`, `video`, `file` (default: all).
    pub kind: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Attachments per page, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// One attachment of the dialog (F3.7).
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentEntry {
    /// The message it came with.
    #[schema(value_type = uuid::Uuid)]
    pub message: String,
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    /// Kind, file name, MIME type, size and where the bytes are.
    #[schema(value_type = Object)]
    pub attachment: switchboard_schemas::Attachment,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentsAnswer {
    pub items: Vec<AttachmentEntry>,
    /// Pass as `cursor` for older ones; `null` at the first.
    pub next_cursor: Option<String>,
}

fn kinds(text: Option<&str>) -> Result<Vec<AttachmentKind>, AppError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|kind| match kind.trim() {
            "image" => Ok(AttachmentKind::Image),
            "audio" => Ok(AttachmentKind::Audio),
            "voice" => Ok(AttachmentKind::Voice),
            "video" => Ok(AttachmentKind::Video),
            "file" => Ok(AttachmentKind::File),
            other => Err(AppError::bad_request(
                "kind",
                format!("{other:?} is not one of image, audio, voice, video, file"),
            )),
        })
        .collect()
}

/// The dialog's attachments of some kinds, newest first (F3.7).
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/attachments",
    tag = "dialogs",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), AttachmentParams),
    responses(
        (status = OK, body = AttachmentsAnswer),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn attachments(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(params): Query<AttachmentParams>,
    _: MinSeq,
) -> Result<Json<AttachmentsAnswer>, AppError> {
    let dialog = dialog_id(&dialog)?;
    let kinds = kinds(params.kind.as_deref())?;
    let before = match params.cursor.as_deref() {
        None => None,
        Some(token) => Some(
            AttachmentCursor::from_token(token)
                .ok_or_else(|| AppError::invalid_cursor("not a cursor of this attachment list"))?,
        ),
    };
    let limit = crate::api::extract::page_limit(params.limit, 50, MAX_TIMELINE_PAGE)?;
    let timelines = state.readers(Kind::Timeline)?;
    let page = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            timelines.run(|timelines| {
                query::open_attachments(dialogs, timelines, &caller, dialog, &kinds, before, limit)
            })
        })
        .await?;
    let page = page.map_err(denied)?;
    Ok(Json(AttachmentsAnswer {
        next_cursor: page.next.map(AttachmentCursor::to_token),
        items: page
            .items
            .into_iter()
            .map(|item| AttachmentEntry {
                message: item.message.to_string(),
                dialog: item.dialog.to_string(),
                attachment: item.attachment,
                at: item.at,
            })
            .collect(),
    }))
}
