//! What goes out: one of our messages as the provider's API calls, without credentials (the
//! bot token, the access token are the transport's), so a request can be logged, compared and
//! checked against the provider's own description (the tests do, for every builder).
//!
//! Each provider's module has a `build` (message → requests, in the order they must go), a
//! `sent` (the answer of a successful call → the channel's id of what was sent) and a
//! `classify` (an error answer → [`crate::outcome::ProviderError`]).

use serde_json::{Map, Value};
use switchboard_schemas::{AttachmentKind, MessageId};

/// One call of a provider's API.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    /// The method as the provider's description names it (`sendMessage`, `messages.send`, the
    /// OpenAPI path `/{Version}/{Phone-Number-ID}/messages`).
    pub operation: &'static str,
    /// Where it goes, after the provider's base URL and credentials: Telegram `sendMessage`
    /// (after `/bot<token>/`), WhatsApp `/v23.0/<phone-number-id>/messages`, VK `messages.send`
    /// (after `/method/`).
    pub path: String,
    /// The parameters: Telegram and WhatsApp send them as a JSON body; VK as a form, arrays
    /// joined with commas and objects as JSON text.
    pub params: Map<String, Value>,
}

/// Where the bytes of a file to send are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// The provider's own id of a file it has (Telegram `file_id`, WhatsApp media id, VK
    /// `photo<owner>_<id>`).
    ProviderId(String),
    /// A URL the provider fetches (Telegram and WhatsApp; VK needs an upload first).
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    pub kind: AttachmentKind,
    pub source: FileSource,
    pub file_name: Option<String>,
}

/// One of our messages, to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message: MessageId,
    /// The client's id on the channel: a Telegram chat id, a WhatsApp phone or user id, a VK
    /// peer id.
    pub to: String,
    pub text: String,
    pub files: Vec<OutgoingFile>,
    /// The channel's id of the quoted message.
    pub reply_to: Option<String>,
}

/// Why a message cannot be turned into requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("a message needs text or a file")]
    Empty,
    #[error("the recipient {0:?} is not an id of this channel")]
    BadRecipient(String),
    #[error("{0}")]
    Unsupported(&'static str),
}

/// `text` in pieces of at most `max` characters, cut at the last line break or space before the
/// limit when there is one. Nothing is lost: the pieces joined are the text (spaces at cuts
/// kept at the end of the earlier piece).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let hard = rest
            .char_indices()
            .nth(max)
            .map_or(rest.len(), |(at, _)| at);
        let cut = rest[..hard]
            .rfind(['\n', ' '])
            .map(|at| at + 1)
            .filter(|at| *at > 0 && *at < hard)
            .unwrap_or(hard);
        pieces.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// A JSON object from pairs, skipping `None`s.
pub(crate) fn params<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v)))
        .collect()
}
