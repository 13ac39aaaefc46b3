//! `GET /v1/search` (F2.1): clients by a substring of their name, phone, email or channel ids;
//! messages and notes by stemmed words (Russian and English); newest first or by relevance;
//! paged. Only hits in dialogs the caller may open are answered (`projections::query`).

use super::caller::Operator;
use super::consistency::MinSeq;
use super::dialogs::view::Item;
use super::extract::Query;
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_projections::query::{self, FoundDetail};
use switchboard_projections::search::{
    MAX_LIMIT, SearchCursor, SearchError, SearchOrder, SearchQuery, SearchTarget,
};
use switchboard_schemas::Timestamp;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    #[default]
    Messages,
    Clients,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrderName {
    #[default]
    Newest,
    Relevance,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to search for.
    pub q: String,
    /// `messages` (the default) or `clients`.
    #[serde(default)]
    #[param(inline)]
    pub target: Target,
    /// `newest` (the default) or `relevance`.
    #[serde(default)]
    #[param(inline)]
    pub order: SearchOrderName,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Hits per page, 1..=1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    pub hits: Vec<Hit>,
    /// Pass as `cursor` for more; `null` when there are no more. A page may hold fewer hits
    /// than `limit` (hits in dialogs the caller may not open are left out) and still have a
    /// next one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Hit {
    /// The dialog to open (a merged dialog's survivor).
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    /// The log sequence of the event the hit comes from.
    pub seq: u64,
    /// Relevance (BM25), when ordered by it.
    pub score: Option<f32>,
    /// A client found (`target=clients`).
    pub client: Option<ClientFound>,
    /// A message or note found (`target=messages`): its timeline entry.
    pub message: Option<Item>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientFound {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The client's ids on their channels.
    pub identities: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: Timestamp,
}

fn bad(field: &str, error: SearchError) -> AppError {
    match error {
        SearchError::Index(error) => error.into(),
        other => AppError::BadRequest {
            code: "invalid_search",
            message: other.to_string(),
            field: Some(field.to_owned()),
        },
    }
}

/// Clients or messages the caller may open.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "dialogs",
    params(SearchParams),
    responses(
        (status = OK, body = SearchAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "`q` too short or too long, a bad cursor; `field` names it"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn search(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(params): Query<SearchParams>,
    _: MinSeq,
) -> Result<Json<SearchAnswer>, AppError> {
    let target = match params.target {
        Target::Messages => SearchTarget::Messages,
        Target::Clients => SearchTarget::Clients,
    };
    let mut search = SearchQuery::new(caller.project, target, params.q);
    search.order = match params.order {
        SearchOrderName::Newest => SearchOrder::Newest,
        SearchOrderName::Relevance => SearchOrder::Relevance,
    };
    search.limit = crate::api::extract::page_limit(params.limit, 20, MAX_LIMIT)?;
    search.after = match params.cursor.as_deref() {
        None => None,
        Some(token) => Some(
            token
                .parse::<SearchCursor>()
                .map_err(|error| bad("cursor", error))?,
        ),
    };
    let index = state
        .read_models
        .as_ref()
        .and_then(|models| models.search())
        .ok_or_else(|| AppError::Unavailable("the search index is not open".to_owned()))?;
    let timelines = state.readers(Kind::Timeline)?;
    let found = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            timelines.run(|timeline| {
                Ok(query::search_items(
                    dialogs, timeline, &index, &caller, search,
                ))
            })
        })
        .await?;
    let page = found.map_err(|error| bad("q", error))?;
    Ok(Json(SearchAnswer {
        next_cursor: page.next.map(|cursor| cursor.to_string()),
        hits: page
            .hits
            .into_iter()
            .map(|hit| {
                let (client, message) = match hit.detail {
                    FoundDetail::Client(client) => (
                        Some(ClientFound {
                            name: client.name,
                            phone: client.phone,
                            email: client.email,
                            identities: client
                                .identities
                                .into_iter()
                                .map(|(_, external, _)| external)
                                .collect(),
                            registered_at: client.registered_at,
                        }),
                        None,
                    ),
                    FoundDetail::Message(item) => (None, Some(Item::from(*item))),
                };
                Hit {
                    dialog: hit.dialog.to_string(),
                    seq: hit.seq,
                    score: hit.score,
                    client,
                    message,
                }
            })
            .collect(),
    }))
}
