//! From [`Inbound`] to what `core` takes: the deterministic ids, the identities and profile of
//! a sender, and the dialog commands.
//!
//! Determinism is what makes a provider's retries harmless: the log's message id of an inbound
//! message is [`message_id`] of (channel, the provider's message id), and the command that
//! records it has the id [`command_id`] of (channel, [`Inbound::dedup_key`]), which the log uses
//! as its deduplication id (`Nats-Msg-Id`). So the same delivery, parsed again, appends nothing
//! new; past the log's duplicate window the dialog's own memory of recent external ids does the
//! same.

use crate::inbound::*;
use sha2::{Digest, Sha256};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_schemas::{
    Attachment, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, MessageId, Source,
    Timestamp,
};
use uuid::Uuid;

/// One connected messenger account, as the connector knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRef {
    pub channel: ChannelId,
    pub kind: ChannelKind,
}

/// A UUID (version 8) from the SHA-256 of a purpose, the channel and a provider's text.
fn derived_uuid(purpose: &str, channel: ChannelId, text: &str) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(b"switchboard.connectors.v1\0");
    hasher.update(purpose.as_bytes());
    hasher.update([0]);
    hasher.update(channel.as_uuid().as_bytes());
    hasher.update(text.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The id of an inbound message in the log: the same for the same (channel, provider message
/// id), whoever computes it, however often.
pub fn message_id(channel: ChannelId, external_id: &str) -> MessageId {
    MessageId::from_uuid(derived_uuid("message", channel, external_id))
}

/// The command id of an inbound item: the log's deduplication id, so a retried delivery is not
/// appended twice.
pub fn command_id(channel: ChannelId, inbound: &Inbound) -> Uuid {
    derived_uuid("command", channel, &inbound.dedup_key())
}

impl Sender {
    /// The client's identities on the channel, the preferred one first.
    pub fn identities(&self, channel: ChannelRef) -> Vec<ChannelIdentity> {
        self.ids
            .iter()
            .map(|id| ChannelIdentity {
                channel: channel.channel,
                kind: channel.kind,
                external_id: id.clone(),
            })
            .collect()
    }

    /// What a new client's card starts with.
    pub fn profile(&self) -> ClientProfile {
        ClientProfile {
            name: self
                .name
                .clone()
                .or_else(|| self.username.as_ref().map(|u| format!("@{u}"))),
            phone: self.phone.as_ref().map(|digits| format!("+{digits}")),
            avatar_url: self.avatar_url.clone(),
            language: self.language.clone(),
            ..ClientProfile::default()
        }
    }

    /// What the dialog records the client came from.
    pub fn source(channel: ChannelRef) -> Source {
        Source {
            platform: Some(channel.kind.as_str().to_owned()),
            ..Source::default()
        }
    }
}

/// An attachment as the catalog stores it: the provider's file reference, prefixed by the
/// channel kind (`telegram:<file_id>`), until the bytes are fetched into blob storage.
pub fn attachment(kind: ChannelKind, file: &InboundAttachment) -> Attachment {
    Attachment {
        kind: file.kind,
        file_name: file
            .file_name
            .clone()
            .unwrap_or_else(|| file.provider_kind.clone()),
        mime_type: file
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        size_bytes: file.size_bytes.unwrap_or(0),
        storage_ref: format!("{}:{}", kind.as_str(), file.provider_ref),
    }
}

/// The text a message shows: its own, with a forward, a shared place or contact written out
/// (the catalog has no fields of their own for them).
pub fn rendered_text(message: &InboundMessage) -> String {
    let mut parts = Vec::new();
    if let Some(from) = &message.forwarded_from {
        parts.push(format!("[forwarded from {from}]"));
    }
    if !message.text.is_empty() {
        parts.push(message.text.clone());
    }
    if let Some(place) = &message.location {
        let mut line = format!("[location {:.6}, {:.6}]", place.latitude, place.longitude);
        for extra in [&place.name, &place.address].into_iter().flatten() {
            line.push(' ');
            line.push_str(extra);
        }
        parts.push(line);
    }
    for contact in &message.contacts {
        parts.push(format!(
            "[contact {} {}]",
            contact.name,
            contact.phones.join(", ")
        ));
    }
    parts.join("\n")
}

/// `ReceiveMessage` for a new client message.
pub fn receive_command(channel: ChannelRef, message: &InboundMessage) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: message_id(channel.channel, &message.external_id),
        channel: channel.channel,
        external_id: message.external_id.clone(),
        text: rendered_text(message),
        attachments: message
            .attachments
            .iter()
            .map(|file| attachment(channel.kind, file))
            .collect(),
        reply_to: message
            .reply_to
            .as_deref()
            .map(|quoted| message_id(channel.channel, quoted)),
        sent_at: message.sent_at,
    }
}

/// `EditMessage` for a client's edit (the message's id derived as [`receive_command`] did).
pub fn edit_command(channel: ChannelRef, edit: &InboundEdit) -> DialogCommand {
    DialogCommand::EditMessage {
        message: message_id(channel.channel, &edit.external_id),
        channel: channel.channel,
        external_id: edit.external_id.clone(),
        text: edit.text.clone(),
        attachments: edit
            .attachments
            .iter()
            .map(|file| attachment(channel.kind, file))
            .collect(),
        edited_at: edit.edited_at,
    }
}

/// `ReactToMessage` for a client's reaction; `now` when the provider gives no time.
pub fn reaction_command(
    channel: ChannelRef,
    reaction: &InboundReaction,
    now: Timestamp,
) -> DialogCommand {
    DialogCommand::ReactToMessage {
        channel: channel.channel,
        target_external_id: reaction.target_external_id.clone(),
        reaction: reaction.reaction.clone(),
        reacted_at: reaction.reacted_at.unwrap_or(now),
    }
}

/// `ReceiveMessage` keeping an unsupported item visible in the dialog of its sender: its text
/// says what it was. `None` when it names no sender (there is no dialog to put it in).
pub fn unsupported_command(
    channel: ChannelRef,
    item: &Unsupported,
    now: Timestamp,
) -> Option<DialogCommand> {
    item.sender.as_ref()?;
    let external_id = format!("unsupported:{}", item.external_id);
    Some(DialogCommand::ReceiveMessage {
        message: message_id(channel.channel, &external_id),
        channel: channel.channel,
        external_id,
        text: format!("[unsupported {}] {}", item.kind, item.summary),
        attachments: vec![],
        reply_to: None,
        sent_at: item.at.unwrap_or(now),
    })
}

/// The delivery-status command for one of our messages (`message`: ours, from the status's
/// echo or the caller's lookup of its external id).
pub fn status_command(message: MessageId, status: &InboundStatus) -> DialogCommand {
    match status.state {
        DeliveryState::Sent => DialogCommand::MarkSent {
            message,
            external_id: status.external_id.clone(),
        },
        DeliveryState::Delivered => DialogCommand::MarkDelivered { message },
        DeliveryState::Read => DialogCommand::MarkReadByClient { message },
        DeliveryState::Failed => {
            let failure = status.failure.clone().unwrap_or(Failure {
                reason: switchboard_schemas::FailureReason::ChannelError,
                detail: String::new(),
                retry_after_secs: None,
            });
            DialogCommand::MarkFailed {
                message,
                reason: failure.reason,
                detail: truncate_chars(&failure.detail, 2000),
                retry_after_secs: failure.retry_after_secs,
            }
        }
    }
}
