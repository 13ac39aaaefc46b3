//! Events of the Dialog aggregate (`sb.<project>.dialog.<dialog>`): the dialog and its client.

use crate::common::*;
use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A client and their dialog came into being: by hand (F5.1) or from inbound traffic (F5.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogRegistered {
    pub profile: ClientProfile,
    pub source: Source,
    /// The identity the dialog was created for, if any.
    pub identity: Option<ChannelIdentity>,
}

/// Card data edited (F7.1). Carries the whole profile as it now is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientProfileUpdated {
    pub profile: ClientProfile,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLinked {
    pub identity: ChannelIdentity,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// F4.9: the identity is detached from the dialog; the client record stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityUnlinked {
    pub identity: ChannelIdentity,
}

/// On the surviving dialog: another dialog of the same person was merged into this one (F4.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogsMerged {
    pub absorbed: DialogId,
    /// The identities taken over from the absorbed dialog.
    pub identities: Vec<ChannelIdentity>,
}

/// On the absorbed dialog: it now lives on in `survivor` and takes no more commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogMergedInto {
    pub survivor: DialogId,
}

/// A message from the client arrived on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceived {
    pub message: MessageId,
    pub channel: ChannelId,
    /// The channel's own message id.
    pub external_id: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<MessageId>,
    /// When the channel says the client sent it.
    pub sent_at: Timestamp,
}

/// An operator or the bot wrote a message; it waits for delivery by the connector. Version 2
/// added `reply_to_external_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQueued {
    pub message: MessageId,
    pub channel: ChannelId,
    pub author: MessageAuthor,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<MessageId>,
    pub template: Option<TemplateId>,
    /// The channel's own id of the quoted message (`reply_to`) when it came through the same
    /// channel: the connector quotes it there (Telegram `reply_parameters`, WhatsApp
    /// `context`, VK `forward`).
    pub reply_to_external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSent {
    pub message: MessageId,
    /// The channel's id of the sent message.
    pub external_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDelivered {
    pub message: MessageId,
}

/// The client read an outbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRead {
    pub message: MessageId,
}

/// An outbound message could not be delivered (F3.6). Version 2 added `retry_after_secs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFailed {
    pub message: MessageId,
    pub reason: FailureReason,
    /// The channel's own words.
    pub detail: String,
    /// For rate limits: when the channel allows the next try (F6.5, F11.3).
    pub retry_after_secs: Option<u32>,
}

/// An operator sent a failed outbound message again (F3.6, F6.5): it is queued once more on the
/// channel it was queued on, with the same text and files, and the delivery worker sends it as
/// it sends a new message. The message keeps its id and its place in the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResent {
    pub message: MessageId,
}

/// Frozen older versions, kept to decode what is stored.
pub mod v1 {
    use super::*;

    /// `message.failed` version 1: no retry-after.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MessageFailedV1 {
        pub message: MessageId,
        pub reason: FailureReason,
        pub detail: String,
    }

    /// `message.queued` version 1: no channel id of the quoted message.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MessageQueuedV1 {
        pub message: MessageId,
        pub channel: ChannelId,
        pub author: MessageAuthor,
        pub text: String,
        pub attachments: Vec<Attachment>,
        pub reply_to: Option<MessageId>,
        pub template: Option<TemplateId>,
    }

    impl From<MessageQueuedV1> for MessageQueued {
        fn from(old: MessageQueuedV1) -> Self {
            Self {
                message: old.message,
                channel: old.channel,
                author: old.author,
                text: old.text,
                attachments: old.attachments,
                reply_to: old.reply_to,
                template: old.template,
                reply_to_external_id: None,
            }
        }
    }

    impl From<MessageFailedV1> for MessageFailed {
        fn from(old: MessageFailedV1) -> Self {
            Self {
                message: old.message,
                reason: old.reason,
                detail: old.detail,
                retry_after_secs: None,
            }
        }
    }
}

/// An internal comment, visible to operators only (F3.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteAdded {
    pub note: NoteId,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogAssigned {
    pub operator: OperatorId,
    pub previous: Option<OperatorId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogUnassigned {
    pub previous: OperatorId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogClosed {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogReopened {
    pub cause: ReopenCause,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogPinned {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogUnpinned {}

/// Nothing can be sent or received while blocked (F4.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientBlocked {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUnblocked {}

/// No broadcasts to this client; the dialog itself still works (F4.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientBlacklisted {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUnblacklisted {}

/// The bot stops answering; the dialog moves to *With operator* (F4.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotPaused {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotResumed {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotScenarioStarted {
    pub scenario: String,
}

/// An operator read the dialog up to a message (F4.3, F3.9). Read marks are per operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMarked {
    pub operator: OperatorId,
    /// The last message read; none when the dialog has no message.
    pub up_to: Option<MessageId>,
}

/// An operator marked the dialog unread for themselves only (F4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkedUnread {
    pub operator: OperatorId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsAdded {
    pub tags: Vec<TagId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsRemoved {
    pub tags: Vec<TagId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListsJoined {
    pub lists: Vec<ListId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListsLeft {
    pub lists: Vec<ListId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldersJoined {
    pub folders: Vec<FolderId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldersLeft {
    pub folders: Vec<FolderId>,
}

/// A client variable (F7.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableSet {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableCleared {
    pub name: String,
}

/// F7.4: the deal moved to a stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealStageChanged {
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub previous: Option<StageId>,
}

/// F7.4: the deal's other fields as they now are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealUpdated {
    /// Support line, 1 or 2.
    pub line: u8,
    pub channel: Option<ChannelId>,
    /// Sum of sales in minor units (kopecks, cents).
    pub sales_sum_minor: i64,
    pub sales_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreated {
    pub task: TaskId,
    pub text: String,
    pub due: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCompleted {
    pub task: TaskId,
}

/// The bot moved the client to a block (step) of its funnel (F2.3, F7.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelBlockEntered {
    pub block: String,
    pub block_name: String,
}

/// An operator's unsent text, kept across reloads (F3.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftSaved {
    pub operator: OperatorId,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftCleared {
    pub operator: OperatorId,
}

/// F4.8 tombstone: the client is deleted; read models erase their personal data. Irreversible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDeleted {}

/// The client changed one of their messages (its text or caption): the message keeps its place
/// in the timeline and now reads `text`. No new message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEdited {
    pub message: MessageId,
    pub channel: ChannelId,
    /// The channel's own id of the message.
    pub external_id: String,
    /// The whole new text.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// When the channel says the client edited it.
    pub edited_at: Timestamp,
}

/// The client set, changed or removed their reaction to a message of the dialog (either
/// direction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionSet {
    /// The message reacted to, when the dialog knew the channel's id of it.
    pub message: Option<MessageId>,
    pub channel: ChannelId,
    /// The channel's own id of the message reacted to.
    pub target_external_id: String,
    /// An emoji, or the channel's id of a reaction; empty when the reaction was removed.
    pub reaction: String,
    pub reacted_at: Timestamp,
}
