//! WhatsApp Cloud API webhook bodies as they arrive (Meta's webhook reference; the OpenAPI file
//! has no webhook schemas): only the fields the connector uses, unknown fields ignored. Since
//! 2026 a user may come with a business-scoped user id (`user_id`) and no phone (`wa_id`).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Notification {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Change {
    pub field: String,
    pub value: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Value {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Metadata {
    pub phone_number_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Contact {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub id: String,
    /// The phone; absent for a user known by user id only.
    pub from: Option<String>,
    pub from_user_id: Option<String>,
    pub timestamp: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub context: Option<Context>,
    pub text: Option<Text>,
    pub image: Option<Media>,
    pub video: Option<Media>,
    pub audio: Option<Media>,
    pub voice: Option<Media>,
    pub document: Option<Media>,
    pub sticker: Option<Media>,
    pub location: Option<Location>,
    pub contacts: Option<Vec<SharedContact>>,
    pub reaction: Option<Reaction>,
    pub button: Option<Button>,
    pub interactive: Option<Interactive>,
    pub edit: Option<Edit>,
    #[serde(default)]
    pub errors: Vec<Error>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Context {
    pub id: Option<String>,
    pub forwarded: Option<bool>,
    pub frequently_forwarded: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Text {
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Media {
    pub id: Option<String>,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub voice: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SharedContact {
    pub name: Option<ContactName>,
    #[serde(default)]
    pub phones: Vec<ContactPhone>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContactName {
    pub formatted_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContactPhone {
    pub phone: Option<String>,
    pub wa_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Reaction {
    pub message_id: String,
    /// Absent or empty when the reaction was removed.
    pub emoji: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Button {
    pub text: Option<String>,
    pub payload: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Interactive {
    pub button_reply: Option<Reply>,
    pub list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Reply {
    pub id: Option<String>,
    pub title: Option<String>,
}

/// An edit of an earlier message (the original's id and the new content).
#[derive(Debug, Deserialize)]
pub(super) struct Edit {
    pub original_message_id: Option<String>,
    pub message: Option<Box<Message>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Status {
    pub id: String,
    pub status: String,
    pub timestamp: Option<String>,
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub errors: Vec<Error>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Error {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorData {
    pub details: Option<String>,
}
