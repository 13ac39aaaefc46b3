//! A dialog list row in JSON (F1.2): everything a row of the left pane shows.

use serde::Serialize;
use switchboard_projections::dialogs::{DialogRow, LastAuthor, ListRow};
use switchboard_schemas::Timestamp;
use utoipa::ToSchema;

/// One row of the dialog list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialogItem {
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    /// The client's name, else the phone, else the id on the first channel.
    pub title: Option<String>,
    pub client: Client,
    /// The last message, if any.
    pub last_message: Option<LastMessage>,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<String>,
    pub closed: bool,
    pub blocked: bool,
    pub blacklisted: bool,
    pub bot_paused: bool,
    pub pinned: bool,
    /// The client waits for an answer (F1.4 *Unanswered*).
    pub unanswered: bool,
    /// Since when the client waits (the SLA colour counts from here).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub waiting_since: Option<Timestamp>,
    /// Unread for the caller: unread client messages or marked unread (F4.3).
    pub unread: bool,
    /// Client messages the caller has not read (exact, F1.2).
    pub unread_messages: u64,
    /// The caller's unsent draft, shortened (F3.5).
    pub draft: Option<String>,
    /// The dialog's tags (their names and colours are the project's, `GET /v1/project`).
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Client {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    /// The client's id on their first channel.
    pub external_id: Option<String>,
    /// The client's number in the project (F2.2).
    pub number: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastMessage {
    /// The text, shortened; none for an attachment alone.
    pub preview: Option<String>,
    pub author: Option<Author>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub channel: Option<String>,
    pub attachments: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// Who wrote the last message (the row's author label).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    Client,
    Operator {
        #[schema(value_type = uuid::Uuid)]
        operator: String,
    },
    Bot,
    /// An internal comment.
    Note {
        #[schema(value_type = Option<uuid::Uuid>)]
        operator: Option<String>,
    },
}

impl From<LastAuthor> for Author {
    fn from(author: LastAuthor) -> Self {
        match author {
            LastAuthor::Client => Author::Client,
            LastAuthor::Operator(operator) => Author::Operator {
                operator: operator.to_string(),
            },
            LastAuthor::Bot => Author::Bot,
            LastAuthor::Note(operator) => Author::Note {
                operator: operator.map(|o| o.to_string()),
            },
        }
    }
}

impl DialogItem {
    pub fn new(list_row: ListRow) -> Self {
        let ListRow {
            row,
            unread_messages,
            unread,
            draft,
        } = list_row;
        let mut item = Self::from_row(row);
        item.unread = unread;
        item.unread_messages = unread_messages;
        item.draft = draft;
        item
    }

    /// A row without the caller's own read state (unread false, no draft).
    pub fn from_row(row: DialogRow) -> Self {
        let last_message = (row.last_message_at.is_some() || row.last_message_preview.is_some())
            .then(|| LastMessage {
                preview: row.last_message_preview.clone(),
                author: row.last_message_author.map(Author::from),
                channel: row.last_message_channel.map(|c| c.to_string()),
                attachments: row.last_message_attachments,
                at: row.last_message_at,
            });
        Self {
            dialog: row.dialog.to_string(),
            title: row.title().map(str::to_owned),
            last_message,
            last_activity_at: row.last_activity_at,
            assignee: row.assignee.map(|o| o.to_string()),
            closed: row.closed,
            blocked: row.blocked,
            blacklisted: row.blacklisted,
            bot_paused: row.bot_paused,
            pinned: row.pinned,
            unanswered: row.unanswered,
            waiting_since: row.sla_wait_since,
            unread: false,
            unread_messages: 0,
            draft: None,
            tags: row.tags.iter().map(ToString::to_string).collect(),
            client: Client {
                name: row.client_name,
                phone: row.client_phone,
                email: row.client_email,
                avatar_url: row.client_avatar_url,
                external_id: row.client_external_id,
                number: row.client_number,
                created_at: row.client_created_at,
            },
        }
    }
}
