//! Dialog events and commands as the tests write them, and the catalogue of every dialog
//! command ([`every_dialog_command`]) with its kind, for the tests that run them all.

use super::fixtures::*;
use crate::domain::dialog::DialogCommand;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

// ---- dialog events and commands -------------------------------------------------------------

pub fn profile() -> ClientProfile {
    ClientProfile {
        name: Some(s("Vasya1988")),
        ..ClientProfile::default()
    }
}

/// The client wrote to the Telegram bot for the first time (F5.2).
pub fn registered() -> Event {
    Event::DialogRegistered(DialogRegistered {
        profile: profile(),
        source: Source::default(),
        identity: Some(telegram_identity()),
    })
}

pub fn whatsapp_linked() -> Event {
    Event::IdentityLinked(IdentityLinked {
        identity: whatsapp_identity(),
        display_name: None,
        avatar_url: None,
    })
}

pub fn assigned(operator: OperatorId, previous: Option<OperatorId>) -> Event {
    Event::DialogAssigned(DialogAssigned { operator, previous })
}

pub fn closed() -> Event {
    Event::DialogClosed(DialogClosed {})
}

pub fn reopened(cause: ReopenCause) -> Event {
    Event::DialogReopened(DialogReopened { cause })
}

pub fn blocked() -> Event {
    Event::ClientBlocked(ClientBlocked {})
}

pub fn deleted() -> Event {
    Event::ClientDeleted(ClientDeleted {})
}

pub fn read_marked(operator: OperatorId, up_to: Option<MessageId>) -> Event {
    Event::ReadMarked(ReadMarked { operator, up_to })
}

pub fn marked_unread(operator: OperatorId) -> Event {
    Event::MarkedUnread(MarkedUnread { operator })
}

pub fn draft_saved(operator: OperatorId, text: &str) -> Event {
    Event::DraftSaved(DraftSaved {
        operator,
        text: s(text),
    })
}

pub fn draft_cleared(operator: OperatorId) -> Event {
    Event::DraftCleared(DraftCleared { operator })
}

pub fn external_id(n: u128) -> String {
    format!("tg-{n}")
}

/// A client text message on Telegram, as a connector reports it.
pub fn receive(n: u128) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s("where is my order?"),
        attachments: vec![],
        reply_to: None,
        sent_at: NOW,
    }
}

/// What [`receive`] records.
pub fn received(n: u128) -> Event {
    Event::MessageReceived(MessageReceived {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s("where is my order?"),
        attachments: vec![],
        reply_to: None,
        sent_at: NOW,
    })
}

/// A text answer through `channel`.
pub fn send_via(n: u128, channel: ChannelId, text: &str) -> DialogCommand {
    DialogCommand::SendMessage {
        message: message(n),
        channel,
        text: s(text),
        attachments: vec![],
        reply_to: None,
        template: None,
    }
}

pub fn send(n: u128) -> DialogCommand {
    send_via(n, TELEGRAM, "on its way")
}

pub fn send_attachments(
    n: u128,
    channel: ChannelId,
    attachments: Vec<Attachment>,
) -> DialogCommand {
    DialogCommand::SendMessage {
        message: message(n),
        channel,
        text: s(""),
        attachments,
        reply_to: None,
        template: None,
    }
}

/// What [`send`] records.
pub fn queued(n: u128, author: MessageAuthor) -> Event {
    Event::MessageQueued(MessageQueued {
        message: message(n),
        channel: TELEGRAM,
        author,
        text: s("on its way"),
        attachments: vec![],
        reply_to: None,
        template: None,
        reply_to_external_id: None,
    })
}

/// Outbound message `n` failed for `reason` (the channel's words: "boom").
pub fn failed_with(n: u128, reason: FailureReason) -> Event {
    Event::MessageFailed(MessageFailed {
        message: message(n),
        reason,
        detail: s("boom"),
        retry_after_secs: None,
    })
}

pub fn image(size_bytes: u64) -> Attachment {
    Attachment {
        kind: AttachmentKind::Image,
        file_name: s("photo.jpg"),
        mime_type: s("image/jpeg"),
        size_bytes,
        storage_ref: s("blob/photo"),
    }
}

pub const MB: u64 = 1024 * 1024;

/// One instance of every dialog command, each valid against the standard project and a
/// registered dialog that has received message 1 and queued message 2 (so that statuses find
/// their message). [`dialog_command_kind`] is an exhaustive match: a new variant does not compile
/// until it is added there, and the `every_command_covers_every_variant` test then asks for it
/// here.
pub fn every_dialog_command() -> Vec<DialogCommand> {
    use DialogCommand as C;
    vec![
        C::Register {
            profile: profile(),
            source: Source::default(),
            identity: Some(telegram_identity()),
        },
        C::UpdateProfile {
            profile: ClientProfile {
                name: Some(s("Vasily")),
                ..ClientProfile::default()
            },
        },
        C::LinkIdentity {
            identity: whatsapp_identity(),
            display_name: None,
            avatar_url: None,
        },
        C::UnlinkIdentity {
            identity: telegram_identity(),
        },
        C::MergeInto {
            survivor: OTHER_DIALOG,
        },
        C::AcceptMerge {
            absorbed: OTHER_DIALOG,
            identities: vec![whatsapp_identity()],
        },
        receive(10),
        C::EditMessage {
            message: message(1),
            channel: TELEGRAM,
            external_id: external_id(1),
            text: s("where is my order #42?"),
            attachments: vec![],
            edited_at: NOW,
        },
        C::ReactToMessage {
            channel: TELEGRAM,
            target_external_id: external_id(1),
            reaction: s("👍"),
            reacted_at: NOW,
        },
        send(11),
        C::MarkSent {
            message: message(2),
            external_id: s("tg-out-2"),
        },
        C::MarkDelivered {
            message: message(2),
        },
        C::MarkReadByClient {
            message: message(2),
        },
        C::MarkFailed {
            message: message(2),
            reason: FailureReason::ChannelError,
            detail: s("boom"),
            retry_after_secs: None,
        },
        C::ResendMessage {
            message: message(2),
        },
        C::ResendLastFailed,
        C::AddNote {
            note: NOTE,
            text: s("call back"),
        },
        C::Assign { operator: O1_ID },
        C::Unassign,
        C::Close,
        C::Reopen,
        C::Pin,
        C::Unpin,
        C::Block,
        C::Unblock,
        C::Blacklist,
        C::Unblacklist,
        C::PauseBot,
        C::ResumeBot,
        C::StartScenario {
            scenario: s("welcome"),
        },
        C::MarkRead,
        C::MarkUnread,
        C::AddTags { tags: vec![TAG] },
        C::RemoveTags { tags: vec![TAG] },
        C::JoinLists { lists: vec![LIST] },
        C::LeaveLists { lists: vec![LIST] },
        C::JoinFolders {
            folders: vec![FOLDER],
        },
        C::LeaveFolders {
            folders: vec![FOLDER],
        },
        C::SetVariable {
            name: s(SIZE),
            value: s("M"),
        },
        C::ClearVariable { name: s(SIZE) },
        C::ChangeDealStage {
            pipeline: PIPELINE,
            stage: STAGE_NEW,
        },
        C::UpdateDeal {
            line: 1,
            channel: Some(TELEGRAM),
            sales_sum_minor: 100,
            sales_count: 1,
        },
        C::CreateTask {
            task: TASK,
            text: s("call"),
            due: None,
        },
        C::CompleteTask { task: TASK },
        C::EnterFunnelBlock {
            block: s("b1"),
            block_name: s("Welcome"),
        },
        C::SaveDraft { text: s("hello") },
        C::ClearDraft,
        C::Delete,
        C::DeleteUnsubscribed,
    ]
}

/// The variant's name; exhaustive on purpose (no wildcard arm).
pub fn dialog_command_kind(command: &DialogCommand) -> &'static str {
    use DialogCommand as C;
    match command {
        C::Register { .. } => "Register",
        C::UpdateProfile { .. } => "UpdateProfile",
        C::LinkIdentity { .. } => "LinkIdentity",
        C::UnlinkIdentity { .. } => "UnlinkIdentity",
        C::MergeInto { .. } => "MergeInto",
        C::AcceptMerge { .. } => "AcceptMerge",
        C::ReceiveMessage { .. } => "ReceiveMessage",
        C::EditMessage { .. } => "EditMessage",
        C::ReactToMessage { .. } => "ReactToMessage",
        C::SendMessage { .. } => "SendMessage",
        C::MarkSent { .. } => "MarkSent",
        C::MarkDelivered { .. } => "MarkDelivered",
        C::MarkReadByClient { .. } => "MarkReadByClient",
        C::MarkFailed { .. } => "MarkFailed",
        C::ResendMessage { .. } => "ResendMessage",
        C::ResendLastFailed => "ResendLastFailed",
        C::AddNote { .. } => "AddNote",
        C::Assign { .. } => "Assign",
        C::Unassign => "Unassign",
        C::Close => "Close",
        C::Reopen => "Reopen",
        C::Pin => "Pin",
        C::Unpin => "Unpin",
        C::Block => "Block",
        C::Unblock => "Unblock",
        C::Blacklist => "Blacklist",
        C::Unblacklist => "Unblacklist",
        C::PauseBot => "PauseBot",
        C::ResumeBot => "ResumeBot",
        C::StartScenario { .. } => "StartScenario",
        C::MarkRead => "MarkRead",
        C::MarkUnread => "MarkUnread",
        C::AddTags { .. } => "AddTags",
        C::RemoveTags { .. } => "RemoveTags",
        C::JoinLists { .. } => "JoinLists",
        C::LeaveLists { .. } => "LeaveLists",
        C::JoinFolders { .. } => "JoinFolders",
        C::LeaveFolders { .. } => "LeaveFolders",
        C::SetVariable { .. } => "SetVariable",
        C::ClearVariable { .. } => "ClearVariable",
        C::ChangeDealStage { .. } => "ChangeDealStage",
        C::UpdateDeal { .. } => "UpdateDeal",
        C::CreateTask { .. } => "CreateTask",
        C::CompleteTask { .. } => "CompleteTask",
        C::EnterFunnelBlock { .. } => "EnterFunnelBlock",
        C::SaveDraft { .. } => "SaveDraft",
        C::ClearDraft => "ClearDraft",
        C::Delete => "Delete",
        C::DeleteUnsubscribed => "DeleteUnsubscribed",
    }
}

/// Every variant name, in declaration order.
pub const DIALOG_COMMAND_KINDS: [&str; 49] = [
    "Register",
    "UpdateProfile",
    "LinkIdentity",
    "UnlinkIdentity",
    "MergeInto",
    "AcceptMerge",
    "ReceiveMessage",
    "EditMessage",
    "ReactToMessage",
    "SendMessage",
    "MarkSent",
    "MarkDelivered",
    "MarkReadByClient",
    "MarkFailed",
    "ResendMessage",
    "ResendLastFailed",
    "AddNote",
    "Assign",
    "Unassign",
    "Close",
    "Reopen",
    "Pin",
    "Unpin",
    "Block",
    "Unblock",
    "Blacklist",
    "Unblacklist",
    "PauseBot",
    "ResumeBot",
    "StartScenario",
    "MarkRead",
    "MarkUnread",
    "AddTags",
    "RemoveTags",
    "JoinLists",
    "LeaveLists",
    "JoinFolders",
    "LeaveFolders",
    "SetVariable",
    "ClearVariable",
    "ChangeDealStage",
    "UpdateDeal",
    "CreateTask",
    "CompleteTask",
    "EnterFunnelBlock",
    "SaveDraft",
    "ClearDraft",
    "Delete",
    "DeleteUnsubscribed",
];

/// Commands only the channel side may give.
pub fn is_channel_side(command: &DialogCommand) -> bool {
    matches!(
        command,
        DialogCommand::ReceiveMessage { .. }
            | DialogCommand::EditMessage { .. }
            | DialogCommand::ReactToMessage { .. }
            | DialogCommand::MarkSent { .. }
            | DialogCommand::MarkDelivered { .. }
            | DialogCommand::MarkReadByClient { .. }
            | DialogCommand::MarkFailed { .. }
    )
}
