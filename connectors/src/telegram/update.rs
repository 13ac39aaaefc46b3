//! The Bot API's `Update` as it arrives, read tolerantly: only the fields the connector uses,
//! unknown fields ignored, every field the official examples leave out optional (`from.is_bot`,
//! `chat.type`).

use crate::de::Id;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
    pub business_message: Option<Message>,
    pub edited_business_message: Option<Message>,
    pub message_reaction: Option<ReactionUpdated>,
    pub callback_query: Option<CallbackQuery>,
    pub inline_query: Option<InlineQuery>,
    pub chosen_inline_result: Option<ChosenInlineResult>,
    /// Every other kind of update (`channel_post`, `my_chat_member`, `poll`, …).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
    /// A chat in the place of a user (old `forward_from` of a channel).
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Chat {
    pub id: i64,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub message_id: i64,
    pub date: i64,
    pub chat: Chat,
    pub from: Option<User>,
    pub edit_date: Option<i64>,
    pub text: Option<String>,
    pub caption: Option<String>,
    pub photo: Option<Vec<PhotoSize>>,
    pub voice: Option<File>,
    pub audio: Option<File>,
    pub video: Option<File>,
    pub video_note: Option<File>,
    pub animation: Option<File>,
    pub document: Option<File>,
    pub sticker: Option<Sticker>,
    pub location: Option<Location>,
    pub venue: Option<Venue>,
    pub contact: Option<Contact>,
    pub reply_to_message: Option<MessageRef>,
    pub forward_from: Option<User>,
    pub forward_from_chat: Option<Chat>,
    pub forward_sender_name: Option<String>,
    pub forward_origin: Option<ForwardOrigin>,
    /// What else the message holds (`poll`, `dice`, `game`, service fields, …).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The quoted message: only its id is needed.
#[derive(Debug, Deserialize)]
pub(super) struct MessageRef {
    pub message_id: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ForwardOrigin {
    pub sender_user: Option<User>,
    pub sender_user_name: Option<String>,
    pub chat: Option<Chat>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PhotoSize {
    pub file_id: String,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct File {
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Sticker {
    pub file_id: String,
    pub emoji: Option<String>,
    pub is_animated: Option<bool>,
    pub is_video: Option<bool>,
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Deserialize)]
pub(super) struct Venue {
    pub location: Location,
    pub title: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Contact {
    pub phone_number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReactionUpdated {
    pub chat: Chat,
    pub message_id: i64,
    pub user: Option<User>,
    pub date: i64,
    #[serde(default)]
    pub new_reaction: Vec<ReactionType>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReactionType {
    #[serde(rename = "type")]
    pub kind: String,
    pub emoji: Option<String>,
    pub custom_emoji_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    pub id: Id,
    pub from: User,
    pub data: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct InlineQuery {
    pub id: Id,
    pub from: User,
    pub query: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChosenInlineResult {
    pub result_id: Id,
    pub from: User,
    pub query: Option<String>,
}
