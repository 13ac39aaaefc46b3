//! `GET /v1/counters`: every counter of the left pane for the caller (F1.4, F1.5, F1.7), exact
//! and per operator; `GET /v1/tags/picker`: the tag picker with counts (F2.5). Each reads
//! counters kept by the dialogs projection: O(folders), never a scan of dialogs.

use super::caller::Operator;
use super::consistency::MinSeq;
use super::dialogs::list::MinSeqParam;
use super::extract::Query;
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::State;
use serde::Serialize;
use switchboard_projections::query::{self, QueryCaller};
use switchboard_projections::runtime::Readers;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Counters {
    /// The header total (F1.7): unread dialogs — an admin's of the project, an operator's of
    /// the dialogs assigned to them.
    pub unread: u64,
    /// The *Unanswered* tab (F1.4).
    pub unanswered: u64,
    /// Built-in folder *All chats*.
    pub all_chats: u64,
    /// Built-in folder *With operator* (the bot is paused).
    pub with_operator: u64,
    /// The project's folders in their order, each with its badge and notification switches.
    pub folders: Vec<FolderBadge>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FolderBadge {
    #[schema(value_type = uuid::Uuid)]
    pub folder: String,
    pub name: String,
    /// Unread dialogs in the folder the caller sees.
    pub badge: u64,
    pub push: bool,
    pub sound: bool,
}

/// The caller's counters and folder badges.
#[utoipa::path(
    get,
    path = "/v1/counters",
    tag = "dialogs",
    params(MinSeqParam),
    responses(
        (status = OK, body = Counters),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn counters(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
) -> Result<Json<Counters>, AppError> {
    let counters = read(
        state.readers(Kind::Dialogs)?,
        state.readers(Kind::Project)?,
        caller,
    );
    Ok(Json(counters.await?))
}

/// The caller's counters (also what `GET /v1/live` sends as `counters`).
pub(crate) async fn read(
    dialogs: Readers,
    project: Readers,
    caller: QueryCaller,
) -> Result<Counters, AppError> {
    let badges = dialogs
        .query(move |dialogs| project.run(|project| query::badges(dialogs, project, &caller)))
        .await?;
    Ok(Counters {
        unread: badges.unread,
        unanswered: badges.unanswered,
        all_chats: badges.all_chats,
        with_operator: badges.with_operator,
        folders: badges
            .folders
            .into_iter()
            .map(|(folder, badge)| FolderBadge {
                folder: folder.folder.to_string(),
                name: folder.name,
                badge,
                push: folder.push,
                sound: folder.sound,
            })
            .collect(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagCount {
    #[schema(value_type = uuid::Uuid)]
    pub tag: String,
    pub name: String,
    pub color: String,
    /// Live dialogs carrying the tag.
    pub dialogs: u64,
}

/// F2.5: the project's tags, most used first, with how many dialogs carry each.
#[utoipa::path(
    get,
    path = "/v1/tags/picker",
    tag = "dialogs",
    params(MinSeqParam),
    responses(
        (status = OK, body = Vec<TagCount>),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn tag_picker(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
) -> Result<Json<Vec<TagCount>>, AppError> {
    let project = state.readers(Kind::Project)?;
    let picker = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| project.run(|project| query::tag_picker(dialogs, project, &caller)))
        .await?;
    Ok(Json(
        picker
            .into_iter()
            .map(|(tag, dialogs)| TagCount {
                tag: tag.tag.to_string(),
                name: tag.name,
                color: tag.color,
                dialogs,
            })
            .collect(),
    ))
}
