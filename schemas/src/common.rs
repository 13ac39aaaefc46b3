//! Value types shared by many events. Postcard is positional: never reorder, remove or change a
//! field or variant of these; append new enum variants at the end only.

use crate::ids::*;
use serde::{Deserialize, Serialize};

/// Who caused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Operator(OperatorId),
    Client,
    Bot,
    Connector(ChannelId),
    System,
}

/// The messenger behind a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Telegram,
    /// WhatsApp Business (Cloud) API.
    WhatsappCloud,
    /// WhatsApp through a QR-linked device.
    WhatsappQr,
    Vk,
    Email,
    Facebook,
    Instagram,
    Other,
}

impl ChannelKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::WhatsappCloud => "whatsapp_cloud",
            ChannelKind::WhatsappQr => "whatsapp_qr",
            ChannelKind::Vk => "vk",
            ChannelKind::Email => "email",
            ChannelKind::Facebook => "facebook",
            ChannelKind::Instagram => "instagram",
            ChannelKind::Other => "other",
        }
    }
}

/// A client's identity on one channel: a Telegram user id, a WhatsApp phone or user id, a VK id,
/// an email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelIdentity {
    pub channel: ChannelId,
    pub kind: ChannelKind,
    /// The channel's own id of the client, as the channel spells it.
    pub external_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Audio,
    Voice,
    Video,
    File,
}

/// A file attached to a message. The bytes live in blob storage; the event holds the reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub file_name: String,
    pub mime_type: String,
    pub size_bytes: u64,
    /// Where the bytes are: a blob key or the channel's file id.
    pub storage_ref: String,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageAuthor {
    Client,
    Operator(OperatorId),
    Bot,
}

/// Where a client came from (F5.2, F7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub platform: Option<String>,
    pub campaign: Option<String>,
    pub ad_set: Option<String>,
    pub ad: Option<String>,
    /// UTM parameters as given, e.g. `("utm_source", "vk")`.
    pub utm: Vec<(String, String)>,
}

/// The client's own data shown on the card (F7.1). Personal data: erased from read models on
/// deletion (F4.8).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientProfile {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// The client's language (BCP 47), for translation (F3.8).
    pub language: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and may do everything in the project.
    Admin,
    /// Sees dialogs assigned to them and free ones.
    Operator,
}

/// Why an outbound message failed (F3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Any other error the channel reported.
    ChannelError,
    /// The client blocked the bot.
    BlockedByClient,
    /// Too many requests; `retry_after_secs` says when to try again.
    RateLimited,
    /// The sender had no right to send (e.g. the dialog is not theirs).
    NoRights,
    /// Outside the channel's reply window (WhatsApp 24-hour window).
    OutsideWindow,
    /// The message or an attachment is over the channel's limits.
    TooLarge,
}

/// Why a closed dialog reopened (F4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReopenCause {
    Operator,
    InboundMessage,
    OutboundMessage,
}

/// One stage of a deal pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub stage: StageId,
    pub name: String,
}
