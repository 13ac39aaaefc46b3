//! VK Callback API bodies as they arrive (schema 5.199, and older captures such as 5.131 without
//! `message.version`): only the fields the connector uses, everything optional that the
//! connector can do without.

use serde::Deserialize;

/// What every event carries.
#[derive(Debug, Deserialize)]
pub(super) struct Base {
    #[serde(rename = "type")]
    pub kind: String,
    pub group_id: i64,
    pub event_id: Option<String>,
    pub secret: Option<String>,
    pub object: Option<serde_json::Value>,
}

/// `message_new` since 5.103: the message beside the client's capabilities.
#[derive(Debug, Deserialize)]
pub(super) struct MessageNew {
    pub message: Message,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub date: i64,
    pub peer_id: i64,
    pub from_id: i64,
    #[serde(default)]
    pub text: String,
    pub conversation_message_id: i64,
    pub update_time: Option<i64>,
    /// 1 for the community's own messages.
    #[serde(default)]
    pub out: i64,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub reply_message: Option<Quoted>,
    #[serde(default)]
    pub fwd_messages: Vec<Quoted>,
    pub geo: Option<Geo>,
}

/// A quoted or forwarded message.
#[derive(Debug, Deserialize)]
pub(super) struct Quoted {
    pub conversation_message_id: Option<i64>,
    pub from_id: Option<i64>,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Attachment {
    #[serde(rename = "type")]
    pub kind: String,
    pub photo: Option<Photo>,
    pub doc: Option<Doc>,
    pub audio_message: Option<AudioMessage>,
    pub audio: Option<Audio>,
    pub video: Option<Video>,
    pub sticker: Option<Sticker>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Photo {
    #[serde(default)]
    pub sizes: Vec<Size>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Size {
    pub url: Option<String>,
    #[serde(default)]
    pub width: u64,
    #[serde(default)]
    pub height: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct Doc {
    pub url: Option<String>,
    pub title: Option<String>,
    pub size: Option<u64>,
    pub ext: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AudioMessage {
    pub link_ogg: Option<String>,
    pub link_mp3: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Audio {
    pub url: Option<String>,
    pub artist: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Video {
    pub id: Option<i64>,
    pub owner_id: Option<i64>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Sticker {
    pub sticker_id: Option<i64>,
    #[serde(default)]
    pub images: Vec<Size>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Geo {
    pub coordinates: Option<Coordinates>,
    pub place: Option<Place>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Deserialize)]
pub(super) struct Place {
    pub title: Option<String>,
    pub address: Option<String>,
}

/// `message_read`.
#[derive(Debug, Deserialize)]
pub(super) struct Read {
    pub from_id: i64,
    pub peer_id: i64,
    pub conversation_message_id: i64,
}

/// `message_reaction_event`.
#[derive(Debug, Deserialize)]
pub(super) struct Reaction {
    pub reacted_id: i64,
    pub peer_id: i64,
    pub cmid: i64,
    /// Absent when the reaction was removed.
    pub reaction_id: Option<i64>,
}

/// The person named by other events (`message_allow`, `group_join`, `message_typing_state`…).
#[derive(Debug, Deserialize)]
pub(super) struct Someone {
    pub user_id: Option<i64>,
    pub from_id: Option<i64>,
}
