//! `POST /v1/dialogs/{dialog}/actions`: one action on one dialog (F3.4–F3.9, F4, F7), answered
//! with the log sequence of its events (`{"seq": N}`, the token `min_seq` takes). Whether the
//! caller may do it is the domain's decision (`core::domain::rights`), not this handler's.

use super::CommandAnswer;
use crate::api::caller::Operator;
use crate::api::idempotency::CommandId;
use crate::api::{AppError, AppState, Json};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_schemas::{
    Attachment, ChannelId, ClientProfile, DialogId, FolderId, ListId, MessageId, NoteId,
    OperatorId, PipelineId, Source, StageId, TagId, TaskId, TemplateId, Timestamp,
};
use utoipa::ToSchema;

/// One action on a dialog; `action` names it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum DialogAction {
    /// F3.4: queue an operator's message for delivery through `channel`.
    SendMessage {
        #[schema(value_type = uuid::Uuid)]
        channel: ChannelId,
        text: String,
        #[serde(default)]
        #[schema(value_type = Vec<Object>)]
        attachments: Vec<Attachment>,
        #[schema(value_type = Option<uuid::Uuid>)]
        reply_to: Option<MessageId>,
        #[schema(value_type = Option<uuid::Uuid>)]
        template: Option<TemplateId>,
    },
    /// F3.6: send a failed outbound message again, through the channel it was queued on. Refused
    /// (`field: message`) for a message that has not failed, or failed by a rate limit (the
    /// delivery worker sends those again by itself after the channel's retry-after).
    ResendMessage {
        #[schema(value_type = uuid::Uuid)]
        message: MessageId,
    },
    /// F6.5, a bulk action (`POST /v1/bulk`): send each selected dialog's last outbound message
    /// again when it failed. It selects every dialog whose last outbound message failed (not by
    /// a rate limit), failed at or after `since` and went through `channel` when given; a job
    /// waits `interval_secs` after each message it sends again.
    ResendFailed {
        #[serde(default)]
        #[schema(value_type = Option<String>, format = DateTime)]
        since: Option<Timestamp>,
        #[serde(default)]
        #[schema(value_type = Option<uuid::Uuid>)]
        channel: Option<ChannelId>,
        /// Seconds between two sends (at most 3600); 0 or absent: no pause.
        #[serde(default)]
        #[schema(maximum = 3600)]
        interval_secs: Option<u32>,
    },
    /// F6.6, a bulk action (`POST /v1/bulk`): delete every selected client who blocked the bot
    /// (their last outbound message failed so) or whom we blocked; needs the delete permission.
    DeleteUnsubscribed,
    /// An internal comment (F3.3).
    AddNote {
        text: String,
    },
    /// F4.1.
    Assign {
        #[schema(value_type = uuid::Uuid)]
        operator: OperatorId,
    },
    Unassign,
    /// F4.2.
    Close,
    Reopen,
    /// F4.4.
    Pin,
    Unpin,
    /// F4.5.
    Block,
    Unblock,
    /// F4.6.
    Blacklist,
    Unblacklist,
    /// F4.7.
    PauseBot,
    ResumeBot,
    StartScenario {
        scenario: String,
    },
    /// F3.9 / F4.3: read up to the last message, for the caller.
    MarkRead,
    /// F4.3: unread again, for the caller.
    MarkUnread,
    AddTags {
        #[schema(value_type = Vec<uuid::Uuid>)]
        tags: Vec<TagId>,
    },
    RemoveTags {
        #[schema(value_type = Vec<uuid::Uuid>)]
        tags: Vec<TagId>,
    },
    JoinLists {
        #[schema(value_type = Vec<uuid::Uuid>)]
        lists: Vec<ListId>,
    },
    LeaveLists {
        #[schema(value_type = Vec<uuid::Uuid>)]
        lists: Vec<ListId>,
    },
    JoinFolders {
        #[schema(value_type = Vec<uuid::Uuid>)]
        folders: Vec<FolderId>,
    },
    LeaveFolders {
        #[schema(value_type = Vec<uuid::Uuid>)]
        folders: Vec<FolderId>,
    },
    SetVariable {
        name: String,
        value: String,
    },
    ClearVariable {
        name: String,
    },
    ChangeDealStage {
        #[schema(value_type = uuid::Uuid)]
        pipeline: PipelineId,
        #[schema(value_type = uuid::Uuid)]
        stage: StageId,
    },
    UpdateDeal {
        line: u8,
        #[schema(value_type = Option<uuid::Uuid>)]
        channel: Option<ChannelId>,
        sales_sum_minor: i64,
        sales_count: u32,
    },
    CreateTask {
        text: String,
        #[schema(value_type = Option<String>, format = DateTime)]
        due: Option<Timestamp>,
    },
    CompleteTask {
        #[schema(value_type = uuid::Uuid)]
        task: TaskId,
    },
    /// F3.5: the caller's draft, kept on the server.
    SaveDraft {
        text: String,
    },
    ClearDraft,
    /// F4.8: irreversible; needs the delete permission.
    Delete,
}

impl DialogAction {
    /// The domain command; ids it creates derive from the command id (see
    /// [`crate::api::idempotency`]).
    pub(crate) fn into_command(self, id: CommandId) -> DialogCommand {
        use DialogAction as A;
        use DialogCommand as C;
        match self {
            A::SendMessage {
                channel,
                text,
                attachments,
                reply_to,
                template,
            } => C::SendMessage {
                message: MessageId::from_uuid(id.derived(1)),
                channel,
                text,
                attachments,
                reply_to,
                template,
            },
            A::ResendMessage { message } => C::ResendMessage { message },
            A::ResendFailed { .. } => C::ResendLastFailed,
            A::DeleteUnsubscribed => C::DeleteUnsubscribed,
            A::AddNote { text } => C::AddNote {
                note: NoteId::from_uuid(id.derived(1)),
                text,
            },
            A::Assign { operator } => C::Assign { operator },
            A::Unassign => C::Unassign,
            A::Close => C::Close,
            A::Reopen => C::Reopen,
            A::Pin => C::Pin,
            A::Unpin => C::Unpin,
            A::Block => C::Block,
            A::Unblock => C::Unblock,
            A::Blacklist => C::Blacklist,
            A::Unblacklist => C::Unblacklist,
            A::PauseBot => C::PauseBot,
            A::ResumeBot => C::ResumeBot,
            A::StartScenario { scenario } => C::StartScenario { scenario },
            A::MarkRead => C::MarkRead,
            A::MarkUnread => C::MarkUnread,
            A::AddTags { tags } => C::AddTags { tags },
            A::RemoveTags { tags } => C::RemoveTags { tags },
            A::JoinLists { lists } => C::JoinLists { lists },
            A::LeaveLists { lists } => C::LeaveLists { lists },
            A::JoinFolders { folders } => C::JoinFolders { folders },
            A::LeaveFolders { folders } => C::LeaveFolders { folders },
            A::SetVariable { name, value } => C::SetVariable { name, value },
            A::ClearVariable { name } => C::ClearVariable { name },
            A::ChangeDealStage { pipeline, stage } => C::ChangeDealStage { pipeline, stage },
            A::UpdateDeal {
                line,
                channel,
                sales_sum_minor,
                sales_count,
            } => C::UpdateDeal {
                line,
                channel,
                sales_sum_minor,
                sales_count,
            },
            A::CreateTask { text, due } => C::CreateTask {
                task: TaskId::from_uuid(id.derived(1)),
                text,
                due,
            },
            A::CompleteTask { task } => C::CompleteTask { task },
            A::SaveDraft { text } => C::SaveDraft { text },
            A::ClearDraft => C::ClearDraft,
            A::Delete => C::Delete,
        }
    }
}

/// One action on a dialog.
#[utoipa::path(
    post,
    path = "/v1/dialogs/{dialog}/actions",
    tag = "commands",
    params(
        ("dialog" = uuid::Uuid, Path, description = "The dialog"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key answers as the first request did and appends nothing"),
    ),
    request_body = DialogAction,
    responses(
        (status = OK, body = CommandAnswer, description = "Done; `seq` is the log sequence of its events (0 when it changed nothing)"),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer, description = "the caller may not do this to this dialog"),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer, description = "no such dialog in the caller's project"),
        (status = CONFLICT, body = crate::api::ErrorAnswer, description = "the dialog's state refuses it (blocked, merged, …)"),
        (status = PAYLOAD_TOO_LARGE, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn act(
    State(state): State<AppState>,
    Operator(caller): Operator,
    id: CommandId,
    Path(dialog): Path<String>,
    Json(mut action): Json<DialogAction>,
) -> Result<Json<CommandAnswer>, AppError> {
    let dialog = crate::api::extract::dialog_id(&dialog)?;
    if let DialogAction::SendMessage { attachments, .. } = &mut action {
        crate::api::attachments::check_sent_files(&state, &caller, dialog, attachments).await?;
    }
    let meta = id.meta(caller.operator);
    let started = std::time::Instant::now();
    let ack = state
        .commands
        .dialog(caller.project, dialog, action.into_command(id), meta)
        .await;
    crate::api::metrics::command_took("dialog", started);
    let ack = ack?;
    Ok(Json(CommandAnswer::from(ack)))
}

/// A client entered by hand (F5.1).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// BCP 47.
    pub language: Option<String>,
}

/// The dialog a command created.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DialogCreated {
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    pub seq: u64,
}

/// Registers a client by hand (F5.1): a new dialog.
#[utoipa::path(
    post,
    path = "/v1/dialogs",
    tag = "commands",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key registers nothing more"),
    ),
    request_body = NewClient,
    responses(
        (status = OK, body = DialogCreated),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = CONFLICT, body = crate::api::ErrorAnswer, description = "the dialog exists (a retry reaching another node)"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn register(
    State(state): State<AppState>,
    Operator(caller): Operator,
    id: CommandId,
    Json(client): Json<NewClient>,
) -> Result<Json<DialogCreated>, AppError> {
    let dialog = DialogId::from_uuid(id.derived(1));
    let profile = ClientProfile {
        name: client.name,
        phone: client.phone,
        email: client.email,
        avatar_url: client.avatar_url,
        country: client.country,
        language: client.language,
    };
    let meta = id.meta(caller.operator);
    let command = DialogCommand::Register {
        profile,
        source: Source::default(),
        identity: None,
    };
    let ack = state
        .commands
        .dialog(caller.project, dialog, command, meta)
        .await?;
    Ok(Json(DialogCreated {
        dialog: dialog.to_string(),
        seq: ack.seq,
    }))
}
