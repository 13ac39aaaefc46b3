//! What a messenger told us, in one provider-neutral form: every parser (`telegram`, `vk`,
//! `whatsapp`) turns a webhook body into a list of [`Inbound`]s, and `ingest` maps them onto the
//! commands `core` takes.
//!
//! Invariants: a parser never drops what it does not understand (it becomes
//! [`Inbound::Unsupported`], with the sender when the payload names one); every item carries the
//! provider's own id of what it is about, so the same delivery parsed twice gives equal items
//! (and so the same log message ids).

use switchboard_schemas::{AttachmentKind, FailureReason, MessageId, Timestamp};

/// One thing a provider reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A new message from a client.
    Message(InboundMessage),
    /// The client changed the text (or caption) of one of their messages: no new message.
    Edit(InboundEdit),
    /// The client set, changed or removed a reaction on a message.
    Reaction(InboundReaction),
    /// How far one of our outbound messages got.
    Status(InboundStatus),
    /// Anything else, kept with a short description instead of being dropped.
    Unsupported(Unsupported),
}

/// Who wrote: the channel's ids of the person and what the channel says about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The channel's ids of the client, the preferred one first; never empty. WhatsApp gives a
    /// phone (`wa_id`), a business-scoped user id, or both.
    pub ids: Vec<String>,
    /// The name to show (first and last name, profile name).
    pub name: Option<String>,
    /// The handle on the channel (Telegram or WhatsApp username), without `@`.
    pub username: Option<String>,
    /// The phone number when the channel reveals it (WhatsApp `wa_id`), digits only.
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
    /// The client's language (BCP 47) when the channel says (Telegram `language_code`).
    pub language: Option<String>,
}

/// A file the message carries. The bytes stay at the provider until fetched; `provider_ref` is
/// what fetches them (a Telegram `file_id`, a WhatsApp media id, a VK URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    pub kind: AttachmentKind,
    pub provider_ref: String,
    pub mime_type: Option<String>,
    pub size_bytes: Option<u64>,
    pub file_name: Option<String>,
    /// What the provider calls it (`photo`, `sticker`, `video_note`, `audio_message`, …).
    pub provider_kind: String,
}

/// A place the client shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// A contact card the client shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactCard {
    pub name: String,
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The provider's id of the message, unique on the channel (Telegram `chat:message`, VK
    /// `peer_cmid`, WhatsApp `wamid`).
    pub external_id: String,
    pub sender: Sender,
    pub text: String,
    pub attachments: Vec<InboundAttachment>,
    pub location: Option<Location>,
    pub contacts: Vec<ContactCard>,
    /// The external id of the quoted message, when this is a reply.
    pub reply_to: Option<String>,
    /// Who the message was forwarded from, as the provider names them.
    pub forwarded_from: Option<String>,
    pub sent_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundEdit {
    /// The external id of the message that changed.
    pub external_id: String,
    pub sender: Sender,
    /// The whole new text (or caption).
    pub text: String,
    pub attachments: Vec<InboundAttachment>,
    pub edited_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReaction {
    /// The external id of the message reacted to (either direction).
    pub target_external_id: String,
    pub sender: Sender,
    /// The reaction now set (an emoji, or the provider's reaction id as text); empty when the
    /// reaction was removed.
    pub reaction: String,
    /// When, if the provider says (VK does not).
    pub reacted_at: Option<Timestamp>,
    /// The provider's id of this delivery, when it has one (VK `event_id`): it tells a retry
    /// from the same reaction set again later.
    pub delivery_id: Option<String>,
}

/// Where an outbound message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Sent,
    Delivered,
    /// Read by the client; on VK it means every message up to this one.
    Read,
    Failed,
}

/// Why and for how long a send failed, as the provider said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// The provider's code and words.
    pub detail: String,
    pub retry_after_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundStatus {
    /// The provider's id of our message.
    pub external_id: String,
    /// Our id of the message when the provider echoes one back (WhatsApp
    /// `biz_opaque_callback_data` holding a message id; the outbound builder does not set it,
    /// the v23.0 description has no such parameter); else the caller looks the external id up.
    pub message: Option<MessageId>,
    pub state: DeliveryState,
    pub failure: Option<Failure>,
    /// The client's id on the channel (the recipient), when given.
    pub recipient: Option<String>,
    /// When, if the provider says (VK's read receipts do not).
    pub at: Option<Timestamp>,
}

/// Something the connector does not turn into a message, edit, reaction or status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The provider's name of it (`inline_query`, `group_join`, `order`, …).
    pub kind: String,
    /// A unique id of the delivery (Telegram update id, VK event id, WhatsApp message id).
    pub external_id: String,
    /// The person it came from, when the payload names one.
    pub sender: Option<Sender>,
    /// A short human description (at most [`SUMMARY_MAX`] characters).
    pub summary: String,
    /// When it happened, if the provider says.
    pub at: Option<Timestamp>,
}

/// How long an unsupported item's summary may be.
pub const SUMMARY_MAX: usize = 500;

/// `text` cut to at most `max` characters.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

impl Inbound {
    /// What makes this item unique on its channel: the base of its deterministic command id, so
    /// that a provider's retry of the same delivery is one command.
    pub fn dedup_key(&self) -> String {
        match self {
            Inbound::Message(m) => format!("message:{}", m.external_id),
            Inbound::Edit(e) => format!(
                "edit:{}:{}:{}",
                e.external_id,
                e.edited_at.as_micros(),
                e.text.len()
            ),
            Inbound::Reaction(r) => format!(
                "reaction:{}:{}:{}:{}:{}",
                r.target_external_id,
                r.sender.ids.first().map(String::as_str).unwrap_or(""),
                r.reaction,
                r.reacted_at.map_or(0, Timestamp::as_micros),
                r.delivery_id.as_deref().unwrap_or("")
            ),
            Inbound::Status(s) => format!("status:{}:{:?}", s.external_id, s.state),
            Inbound::Unsupported(u) => format!("unsupported:{}:{}", u.kind, u.external_id),
        }
    }
}
