//! The JSON form of a dialog-list filter (F2.2–F2.4): the form `GET /v1/dialogs?filter=…`,
//! `POST /v1/dialogs/query` and saved filters (F2.6) all use, so a saved filter is exactly
//! what the list was asked.
//!
//! A node is a group — `{"all":[…]}` (AND, the default combination) or `{"any":[…]}` (OR) —
//! or one condition: `{"tags_all":[id…]}`, `{"assignee":id|null}`, `"unanswered"`, … (the
//! variants of [`Node`]). Unknown names and wrong types are refused by serde with the path of
//! the offending node (`filter.all[1].tags_all[0]`); bounds (depth, size, values) by
//! [`Filter::new`], naming `filter`.

use super::super::AppError;
use serde::{Deserialize, Serialize};
use switchboard_projections::dialogs::{
    AuthorKind, Condition, DialogStatus, Expr, Filter, FilterError,
};
use switchboard_schemas::{ChannelId, ListId, OperatorId, StageId, TagId, Timestamp};
use utoipa::ToSchema;

/// One node of a filter: a group or a condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Every part holds; an empty group holds for every dialog.
    #[schema(no_recursion)]
    All(Vec<Node>),
    /// At least one part holds; must not be empty.
    #[schema(no_recursion)]
    Any(Vec<Node>),
    /// The bot's current funnel block is one of these block ids.
    FunnelBlock(Vec<String>),
    /// A member of at least one of these lists.
    #[schema(value_type = Vec<uuid::Uuid>)]
    ListsAny(Vec<ListId>),
    /// A member of none of these lists.
    #[schema(value_type = Vec<uuid::Uuid>)]
    ListsNone(Vec<ListId>),
    /// Every one of these tags.
    #[schema(value_type = Vec<uuid::Uuid>)]
    TagsAll(Vec<TagId>),
    /// None of these tags.
    #[schema(value_type = Vec<uuid::Uuid>)]
    TagsNone(Vec<TagId>),
    /// No tag at all.
    NoTags,
    /// At least one tag.
    AnyTag,
    /// An identity on, or a message through, one of these channels.
    #[schema(value_type = Vec<uuid::Uuid>)]
    Channels(Vec<ChannelId>),
    /// Assigned to this operator; `null`: free.
    #[schema(value_type = Option<uuid::Uuid>)]
    Assignee(Option<OperatorId>),
    Status(Status),
    LastAuthor(LastAuthorName),
    /// The deal is at one of these stages.
    #[schema(value_type = Vec<uuid::Uuid>)]
    DealStages(Vec<StageId>),
    /// Registered before this moment (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    RegisteredBefore(Timestamp),
    /// Registered at or after this moment (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    RegisteredFrom(Timestamp),
    /// A message at `from <= t < to`, counted in 15-minute buckets.
    ActiveBetween(Range),
    /// F1.4 *Unanswered* only.
    Unanswered,
    /// A variable with this name and/or this value.
    Variable(Variable),
    /// The client's number contains these decimal digits.
    ClientNumber(String),
    /// F6.5: the last outbound message (bot or operator) failed, not by a rate limit (those
    /// are retried by themselves); at or after `since`, through `channel`, when given.
    OutboundFailed(OutboundFailed),
    /// F6.6: the client blocked the bot (the last outbound message failed so) or we blocked
    /// the client.
    Unsubscribed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundFailed {
    /// Failed at or after this moment (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    /// The message went through this channel.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub channel: Option<ChannelId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LastAuthorName {
    Client,
    Operator,
    Bot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

impl Node {
    fn into_expr(self) -> Expr {
        use Condition as C;
        let condition = match self {
            Node::All(parts) => return Expr::All(parts.into_iter().map(Node::into_expr).collect()),
            Node::Any(parts) => return Expr::Any(parts.into_iter().map(Node::into_expr).collect()),
            Node::FunnelBlock(blocks) => C::FunnelBlock(blocks),
            Node::ListsAny(lists) => C::ListsAny(lists),
            Node::ListsNone(lists) => C::ListsNone(lists),
            Node::TagsAll(tags) => C::TagsAll(tags),
            Node::TagsNone(tags) => C::TagsNone(tags),
            Node::NoTags => C::NoTags,
            Node::AnyTag => C::AnyTag,
            Node::Channels(channels) => C::Channels(channels),
            Node::Assignee(operator) => C::Assignee(operator),
            Node::Status(Status::Open) => C::Status(DialogStatus::Open),
            Node::Status(Status::Closed) => C::Status(DialogStatus::Closed),
            Node::LastAuthor(author) => C::LastAuthor(match author {
                LastAuthorName::Client => AuthorKind::Client,
                LastAuthorName::Operator => AuthorKind::Operator,
                LastAuthorName::Bot => AuthorKind::Bot,
            }),
            Node::DealStages(stages) => C::DealStages(stages),
            Node::RegisteredBefore(at) => C::RegisteredBefore(at),
            Node::RegisteredFrom(at) => C::RegisteredFrom(at),
            Node::ActiveBetween(Range { from, to }) => C::ActiveBetween { from, to },
            Node::Unanswered => C::Unanswered,
            Node::Variable(Variable { name, value }) => C::Variable { name, value },
            Node::ClientNumber(digits) => C::ClientNumber(digits),
            Node::OutboundFailed(OutboundFailed { since, channel }) => {
                C::OutboundFailed { since, channel }
            }
            Node::Unsubscribed => C::Unsubscribed,
        };
        Expr::Is(condition)
    }

    /// The checked filter, or a 400 naming `field`.
    pub fn into_filter(self, field: &str) -> Result<Filter, AppError> {
        Filter::new(self.into_expr()).map_err(|error: FilterError| AppError::BadRequest {
            code: "invalid_filter",
            message: error.to_string(),
            field: Some(field.to_owned()),
        })
    }
}

/// A filter given as JSON text (a query-string parameter or a saved filter's `query`): parse
/// errors name the node's path under `field`.
pub fn parse(text: &str, field: &str) -> Result<Filter, AppError> {
    parse_node(text, field)?.into_filter(field)
}

/// [`parse`] before the filter's bounds are checked: the node, to be combined with another.
pub fn parse_node(text: &str, field: &str) -> Result<Node, AppError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        AppError::BadRequest {
            code: "invalid_filter",
            message: error.inner().to_string(),
            field: Some(if path == "." {
                field.to_owned()
            } else {
                format!("{field}.{path}")
            }),
        }
    })
}

#[cfg(test)]
mod tests;
