//! `GET /v1/dialogs` and `POST /v1/dialogs/query`: a page of the dialog list (F1, F2) as the
//! caller sees it. The two take the same fields; the POST form carries the filter as JSON in
//! its body for filters too long for a URL.

use super::filter::{self, Node};
use super::row::DialogItem;
use crate::api::caller::Operator;
use crate::api::consistency::MinSeq;
use crate::api::extract::Query;
use crate::api::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_projections::dialogs::{
    Cursor, CursorError, Filter, Folder, ListQuery, MAX_PAGE, Order, Tab,
};
use switchboard_projections::query;
use switchboard_schemas::FolderId;
use utoipa::{IntoParams, ToSchema};

const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TabName {
    #[default]
    All,
    Unanswered,
    Mine,
    Others,
    Free,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderName {
    /// Last activity, newest first.
    #[default]
    Activity,
    /// Longest waiting for an answer first.
    Processing,
    /// Client creation, newest first.
    Created,
}

/// The list's fields in the query string.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// F1.4 tab.
    #[serde(default)]
    pub tab: TabName,
    /// `all` (the default), `with_operator`, or a folder id.
    pub folder: Option<String>,
    /// F1.6: include closed (archived) dialogs.
    #[serde(default)]
    pub archived: bool,
    /// F1.3 order; pinned dialogs come first in each.
    #[serde(default)]
    pub order: OrderName,
    /// The filter in its JSON form (see `Node`).
    pub filter: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// `min_seq` alone, for routes whose other fields are in the body.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MinSeqParam {
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// The list's fields as a JSON body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBody {
    #[serde(default)]
    pub tab: TabName,
    pub folder: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub order: OrderName,
    pub filter: Option<Node>,
    pub cursor: Option<String>,
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A page of the dialog list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialogPage {
    pub items: Vec<DialogItem>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many filter conditions are active (F2.4's count).
    pub active_filters: usize,
}

/// A page of the dialog list.
#[utoipa::path(
    get,
    path = "/v1/dialogs",
    tag = "dialogs",
    params(ListParams),
    responses(
        (status = OK, body = DialogPage),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn list(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(params): Query<ListParams>,
    _: MinSeq,
) -> Result<Json<DialogPage>, AppError> {
    let filter = match &params.filter {
        Some(text) => filter::parse(text, "filter")?,
        None => Filter::default(),
    };
    let fields = Fields {
        selection: Selection {
            tab: params.tab,
            folder: params.folder,
            archived: params.archived,
            order: params.order,
        },
        cursor: params.cursor,
        limit: params.limit,
    };
    page(state, caller, fields, filter).await
}

/// A page of the dialog list, its fields in the body.
#[utoipa::path(
    post,
    path = "/v1/dialogs/query",
    tag = "dialogs",
    params(MinSeqParam),
    request_body = ListBody,
    responses(
        (status = OK, body = DialogPage),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn query(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
    Json(body): Json<ListBody>,
) -> Result<Json<DialogPage>, AppError> {
    let filter = match body.filter {
        Some(node) => node.into_filter("filter")?,
        None => Filter::default(),
    };
    let fields = Fields {
        selection: Selection {
            tab: body.tab,
            folder: body.folder,
            archived: body.archived,
            order: body.order,
        },
        cursor: body.cursor,
        limit: body.limit,
    };
    page(state, caller, fields, filter).await
}

struct Fields {
    selection: Selection,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// What the list selects by beside its filter: shared by a page and the clients export (F8).
#[derive(Debug)]
pub(crate) struct Selection {
    pub tab: TabName,
    pub folder: Option<String>,
    pub archived: bool,
    pub order: OrderName,
}

impl Selection {
    pub(crate) fn order(&self) -> Order {
        match self.order {
            OrderName::Activity => Order::Activity,
            OrderName::Processing => Order::Processing,
            OrderName::Created => Order::Created,
        }
    }

    /// The read model's list query of `caller`'s project and view; a 400 naming `folder` for
    /// a folder that is not one.
    pub(crate) fn list_query(
        self,
        caller: &query::QueryCaller,
        filter: Filter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<ListQuery, AppError> {
        let folder = match self.folder.as_deref() {
            None | Some("all") => Folder::All,
            Some("with_operator") => Folder::WithOperator,
            Some(id) => Folder::Custom(id.parse::<FolderId>().map_err(|_| {
                AppError::bad_request("folder", "`all`, `with_operator` or a folder id expected")
            })?),
        };
        Ok(ListQuery {
            project: caller.project,
            viewer: caller.viewer(),
            tab: match self.tab {
                TabName::All => Tab::All,
                TabName::Unanswered => Tab::Unanswered,
                TabName::Mine => Tab::Mine,
                TabName::Others => Tab::Others,
                TabName::Free => Tab::Free,
            },
            folder,
            include_closed: self.archived,
            order: self.order(),
            filter,
            after,
            limit,
        })
    }
}

async fn page(
    state: AppState,
    caller: query::QueryCaller,
    fields: Fields,
    filter: Filter,
) -> Result<Json<DialogPage>, AppError> {
    let order = fields.selection.order();
    let after =
        match fields.cursor.as_deref() {
            None => None,
            Some(token) => Some(Cursor::from_token(token, order).map_err(|error| {
                AppError::BadRequest {
                    code: "invalid_cursor",
                    message: match error {
                        CursorError::Malformed => "not a cursor of this list".to_owned(),
                        CursorError::OtherOrder => {
                            "the cursor was made for another order; start again without it"
                                .to_owned()
                        }
                    },
                    field: Some("cursor".to_owned()),
                }
            })?),
        };
    let limit = crate::api::extract::page_limit(fields.limit, DEFAULT_LIMIT, MAX_PAGE)?;
    let active_filters = filter.active_conditions();
    let list_query = fields.selection.list_query(&caller, filter, after, limit)?;
    let page = state
        .readers(Kind::Dialogs)?
        .query(move |conn| query::list(conn, &caller, list_query))
        .await?;
    Ok(Json(DialogPage {
        next_cursor: page.next.map(|cursor| cursor.to_token(order)),
        items: page.rows.into_iter().map(DialogItem::new).collect(),
        active_filters,
    }))
}
