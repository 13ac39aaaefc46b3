//! `GET /v1/dialogs/{dialog}/card`: the client card (F7) — identity and source, identities on
//! channels, variables, tasks, lists, funnel block and deal — with the dialog's tags and folders
//! (kept by the dialogs projection). Edited through the dialog's actions.

use super::view::{ViewParams, denied};
use crate::api::caller::Operator;
use crate::api::consistency::MinSeq;
use crate::api::extract::Query;
use crate::api::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::Serialize;
use switchboard_projections::card::Card;
use switchboard_projections::dialogs::{dialog_folders, dialog_tags};
use switchboard_projections::query::{self, Access};
use switchboard_schemas::{FolderId, TagId, Timestamp};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CardAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    /// The client's number in the project (F7.1).
    pub number: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Name, phone, email, avatar, country, language.
    #[schema(value_type = Object)]
    pub profile: switchboard_schemas::ClientProfile,
    /// Where the client came from: platform, campaign, ad set, ad, UTM pairs.
    #[schema(value_type = Object)]
    pub source: switchboard_schemas::Source,
    pub identities: Vec<Identity>,
    pub variables: Vec<VariableValue>,
    pub tasks: Vec<Task>,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub lists: Vec<String>,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub tags: Vec<String>,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub folders: Vec<String>,
    /// The bot's funnel block: id and name.
    pub funnel_block: Option<FunnelBlock>,
    pub deal: Option<Deal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    #[schema(value_type = uuid::Uuid)]
    pub channel: String,
    /// The client's id on the channel.
    pub external_id: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariableValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    #[schema(value_type = uuid::Uuid)]
    pub task: String,
    pub text: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due: Option<Timestamp>,
    pub done: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelBlock {
    pub block: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deal {
    #[schema(value_type = uuid::Uuid)]
    pub pipeline: String,
    #[schema(value_type = uuid::Uuid)]
    pub stage: String,
}

pub(crate) fn answer(card: Card, tags: Vec<TagId>, folders: Vec<FolderId>) -> CardAnswer {
    CardAnswer {
        dialog: card.dialog.to_string(),
        number: card.number,
        created_at: card.created_at,
        profile: card.profile,
        source: card.source,
        identities: card
            .identities
            .into_iter()
            .map(|(channel, external_id, display_name)| Identity {
                channel: channel.to_string(),
                external_id,
                display_name,
            })
            .collect(),
        variables: card
            .variables
            .into_iter()
            .map(|(name, value)| VariableValue { name, value })
            .collect(),
        tasks: card
            .tasks
            .into_iter()
            .map(|t| Task {
                task: t.task.to_string(),
                text: t.text,
                due: t.due,
                done: t.done,
            })
            .collect(),
        lists: card.lists.iter().map(ToString::to_string).collect(),
        tags: tags.iter().map(ToString::to_string).collect(),
        folders: folders.iter().map(ToString::to_string).collect(),
        funnel_block: card
            .funnel_block
            .map(|(block, name)| FunnelBlock { block, name }),
        deal: card.deal_stage.map(|(pipeline, stage)| Deal {
            pipeline: pipeline.to_string(),
            stage: stage.to_string(),
        }),
    }
}

/// The client card of a dialog.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/card",
    tag = "dialogs",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog"), ViewParams),
    responses(
        (status = OK, body = CardAnswer),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn card(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Query(_): Query<ViewParams>,
    _: MinSeq,
) -> Result<Json<CardAnswer>, AppError> {
    let dialog = crate::api::extract::dialog_id(&dialog)?;
    let cards = state.readers(Kind::Card)?;
    let found: Result<(Card, Vec<TagId>, Vec<FolderId>), Access> = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            let card = cards.run(|cards| query::open_card(dialogs, cards, &caller, dialog))?;
            Ok(match card {
                Ok(card) => Ok((
                    card,
                    dialog_tags(dialogs, dialog)?,
                    dialog_folders(dialogs, dialog)?,
                )),
                Err(denied) => Err(denied),
            })
        })
        .await?;
    let (card, tags, folders) = found.map_err(denied)?;
    Ok(Json(answer(card, tags, folders)))
}
