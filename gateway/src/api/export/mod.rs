//! `GET /v1/clients/export`: the clients of the dialog list's selection, or of one list, as a
//! CSV or XLSX file (F8.1), streamed.
//!
//! The selection is the list's: the same `tab`, `folder`, `archived`, `order` and `filter`
//! parameters as `GET /v1/dialogs` (parsed by the same code), and `list=<id>` for one list
//! (with the others, the list's members among them). Access is the list's: any operator may
//! export, and gets exactly the rows their list shows (an admin the project, an operator the
//! dialogs assigned to them and the free ones, F12.1); F8 and F12 name no export permission.
//!
//! Every parameter, the list and the columns are checked before the answer starts, so bad input
//! is a 4xx naming the field. Then [`Walk`] reads the list's keyset pages of [`PAGE`] rows one
//! after another on the blocking pool (`projections::query::export_page`, a reader connection
//! per page, none held between pages), each row with the rest of F8.1 from the card, and the
//! format writes them: [`csv`] sends each page as it is written, through a channel of
//! [`CHUNKS_IN_FLIGHT`] chunks, so a slow reader holds the walk, never the memory; [`xlsx`]
//! writes a constant-memory workbook into a temporary directory, then sends the file. A
//! client that goes away stops the walk at its next page (the temporary directory is removed).
//!
//! Columns: `client_id` (the client's number, F7.1), `dialog_id` (the API's id), `name`,
//! `messenger`, `channel` (the channel's name: the bot or account), `channel_user_id` (the id
//! in the messenger) — one value per channel identity, joined by `; ` in the card's order —
//! `first_contact`, `last_activity` (UTC), `avatar_url`, `funnel_block`, `funnel_history`
//! (the blocks entered, joined by ` > `), `tags` (names, joined by `; `), then one column per
//! variable: those the project defines in their order, then the ones clients hold without a
//! definition (F7.2), by name. A choice variable's value is its label (choices are labels).

mod csv;
mod xlsx;

use super::caller::Operator;
use super::consistency::MinSeq;
use super::dialogs::filter::{self, Node};
use super::dialogs::list::{OrderName, Selection, TabName};
use super::extract::Query;
use super::{AppError, AppState};
use crate::readmodels::Kind;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use switchboard_projections::ProjectionError;
use switchboard_projections::dialogs::{ListQuery, MAX_PAGE};
use switchboard_projections::export::{ExportClient, variable_names_in_use};
use switchboard_projections::project::{channels, lists, tags, variables};
use switchboard_projections::query::{self, QueryCaller};
use switchboard_projections::runtime::Readers;
use switchboard_schemas::{ChannelId, ListId, TagId, Timestamp};
use utoipa::{IntoParams, ToSchema};

/// Rows read per page: the list's largest page.
const PAGE: usize = MAX_PAGE;

/// Chunks (one page each) written ahead of what the client has read.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

/// The export's parameters: the list's selection (see `GET /v1/dialogs`) or one list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` (UTF-8 with a byte order mark, so that Excel reads Cyrillic names) or `xlsx`.
    #[param(inline)]
    pub format: ExportFormat,
    /// F1.4 tab.
    #[serde(default)]
    pub tab: TabName,
    /// `all` (the default), `with_operator`, or a folder id.
    pub folder: Option<String>,
    /// F1.6: include closed (archived) dialogs.
    #[serde(default)]
    pub archived: bool,
    /// Row order (default `created`: client creation, newest first, which no later event
    /// changes, so a long export neither repeats nor skips a client that writes meanwhile).
    pub order: Option<OrderName>,
    /// The filter in its JSON form, as the list takes it.
    pub filter: Option<String>,
    /// Only the members of this list (F8.1 "one list").
    #[param(value_type = Option<uuid::Uuid>)]
    pub list: Option<String>,
    /// Start once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// The clients of the list's selection, or of one list, as a file (F8.1).
#[utoipa::path(
    get,
    path = "/v1/clients/export",
    tag = "clients",
    params(ExportParams),
    responses(
        (status = OK, description = "the file, streamed; `Content-Disposition` names it",
            content(
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            )),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn export(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(params): Query<ExportParams>,
    _: MinSeq,
) -> Result<Response, AppError> {
    let list = match params.list.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<ListId>()
                .map_err(|_| AppError::bad_request("list", "a list id (a UUID) expected"))?,
        ),
    };
    let mut node = match &params.filter {
        Some(text) => filter::parse_node(text, "filter")?,
        None => Node::All(Vec::new()),
    };
    if let Some(list) = list {
        node = match node {
            Node::All(mut parts) => {
                parts.insert(0, Node::ListsAny(vec![list]));
                Node::All(parts)
            }
            other => Node::All(vec![Node::ListsAny(vec![list]), other]),
        };
    }
    let filter = node.into_filter("filter")?;
    let selection = Selection {
        tab: params.tab,
        folder: params.folder,
        archived: params.archived,
        order: params.order.unwrap_or(OrderName::Created),
    };
    let query = selection.list_query(&caller, filter, None, PAGE)?;
    let cards = state.readers(Kind::Card)?;
    let columns = Columns::read(&state, caller, list, cards.clone()).await?;
    let walk = Walk {
        dialogs: state.readers(Kind::Dialogs)?,
        cards,
        caller,
        query,
        columns,
    };
    let stamp = Timestamp::now().to_datetime().format("%Y%m%d-%H%M%S");
    match params.format {
        ExportFormat::Csv => Ok(attachment(
            "text/csv; charset=utf-8",
            &format!("clients-{stamp}.csv"),
            csv::stream(walk),
        )),
        ExportFormat::Xlsx => {
            let (length, body) = xlsx::build(walk).await?;
            let mut response = attachment(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("clients-{stamp}.xlsx"),
                body,
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, length.into());
            Ok(response)
        }
    }
}

fn attachment(content_type: &'static str, file: &str, body: axum::body::Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// A body of the chunks a blocking writer sends (an error ends it with that error).
fn body(
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> axum::body::Body {
    axum::body::Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) },
    ))
}

/// What the header and the cells need from the project: read once, before the first row.
#[derive(Debug)]
pub(crate) struct Columns {
    variables: Vec<String>,
    channels: HashMap<ChannelId, String>,
    tags: HashMap<TagId, String>,
}

/// The fixed columns (F8.1), before the variables.
const FIXED: [&str; 12] = [
    "client_id",
    "dialog_id",
    "name",
    "messenger",
    "channel",
    "channel_user_id",
    "first_contact",
    "last_activity",
    "avatar_url",
    "funnel_block",
    "funnel_history",
    "tags",
];

impl Columns {
    /// The project's channels, tags and variables; a 400 naming `list` when the project has no
    /// such list.
    async fn read(
        state: &AppState,
        caller: QueryCaller,
        list: Option<ListId>,
        cards: Readers,
    ) -> Result<Self, AppError> {
        let project = caller.project;
        let (defined, channels, tags, known_list) = state
            .readers(Kind::Project)?
            .query(move |conn| {
                let known = match list {
                    None => true,
                    Some(list) => lists(conn, project)?.iter().any(|l| l.list == list),
                };
                Ok((
                    variables(conn, project)?,
                    channels(conn, project)?,
                    tags(conn, project)?,
                    known,
                ))
            })
            .await?;
        if !known_list {
            return Err(AppError::BadRequest {
                code: "unknown_list",
                message: "the project has no such list".to_owned(),
                field: Some("list".to_owned()),
            });
        }
        let in_use = cards
            .query(move |conn| variable_names_in_use(conn, project))
            .await?;
        let mut variables: Vec<String> = defined.into_iter().map(|v| v.name).collect();
        for name in in_use {
            if !variables.contains(&name) {
                variables.push(name);
            }
        }
        Ok(Columns {
            variables,
            channels: channels.into_iter().map(|c| (c.channel, c.name)).collect(),
            tags: tags.into_iter().map(|t| (t.tag, t.name)).collect(),
        })
    }

    fn header(&self) -> impl Iterator<Item = &str> {
        FIXED
            .into_iter()
            .chain(self.variables.iter().map(String::as_str))
    }

    /// One client's cells, in [`Self::header`]'s order.
    fn cells(&self, client: ExportClient) -> Vec<Cell> {
        let row = client.row;
        let joined = |values: Vec<&str>| Cell::text(values.join("; "));
        let mut tag_names: Vec<&str> = client
            .tags
            .iter()
            .filter_map(|tag| self.tags.get(tag).map(String::as_str))
            .collect();
        tag_names.sort_unstable();
        let identities = &client.identities;
        let mut cells = vec![
            Cell::Number(row.client_number),
            Cell::text(row.dialog.to_string()),
            Cell::text(row.client_name.unwrap_or_default()),
            joined(identities.iter().map(|i| i.kind.as_str()).collect()),
            joined(
                identities
                    .iter()
                    .map(|i| self.channels.get(&i.channel).map_or("", String::as_str))
                    .collect(),
            ),
            joined(identities.iter().map(|i| i.external_id.as_str()).collect()),
            Cell::Time(row.client_created_at),
            Cell::Time(row.last_activity_at),
            Cell::text(row.client_avatar_url.unwrap_or_default()),
            Cell::text(client.funnel_block.unwrap_or_default()),
            Cell::text(client.funnel_history.join(" > ")),
            Cell::text(tag_names.join("; ")),
        ];
        let values: HashMap<String, String> = client.variables.into_iter().collect();
        cells.extend(
            self.variables
                .iter()
                .map(|name| Cell::text(values.get(name).cloned().unwrap_or_default())),
        );
        cells
    }
}

/// One cell of an export row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Number(u64),
    Time(Timestamp),
}

impl Cell {
    fn text(text: impl Into<String>) -> Self {
        Cell::Text(text.into())
    }
}

/// The export's selection, read page by page on the calling (blocking) thread.
#[derive(Debug)]
pub(crate) struct Walk {
    dialogs: Readers,
    cards: Readers,
    caller: QueryCaller,
    query: ListQuery,
    columns: Columns,
}

impl Walk {
    fn header(&self) -> Vec<&str> {
        self.columns.header().collect()
    }

    /// Reads every page, handing each page's rows to `each`, which answers whether to go on
    /// (false: the client went away). Blocking: run it on the blocking pool.
    fn run(
        mut self,
        mut each: impl FnMut(Vec<Vec<Cell>>) -> Result<bool, ExportError>,
    ) -> Result<(), ExportError> {
        loop {
            let query = self.query.clone();
            let caller = self.caller;
            let cards = &self.cards;
            let page = self.dialogs.run(|dialogs| {
                cards.run(|cards| query::export_page(dialogs, cards, &caller, query))
            })?;
            let rows = page
                .clients
                .into_iter()
                .map(|client| self.columns.cells(client))
                .collect();
            if !each(rows)? {
                return Ok(());
            }
            match page.next {
                Some(next) => self.query.after = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// Why an export stopped after its answer began.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("reading the read models: {0}")]
    Read(#[from] ProjectionError),
    #[error("writing the file: {0}")]
    Write(String),
}

impl From<ExportError> for AppError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::Read(error) => error.into(),
            ExportError::Write(message) => AppError::Internal(message),
        }
    }
}
