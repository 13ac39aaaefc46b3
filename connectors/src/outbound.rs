//! What goes out: one of our messages as the provider's API calls, without credentials (the
//! bot token, the access token are the transport's), so a request can be logged, compared and
//! checked against the provider's own description (the tests do, for every builder).
//!
//! Each provider's module has a `build` (message → requests, in the order they must go), a
//! `sent` (the answer of a successful call → the channel's id of what was sent) and a
//! `classify` (an error answer → [`crate::outcome::ProviderError`]).

use crate::attachments::BlobHash;
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
    /// Files of ours sent with the call as `multipart/form-data` parts (Telegram), read from
    /// the attachment store when the call is made; empty for a JSON or form call.
    pub files: Vec<FilePart>,
}

/// One file part of a multipart call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The part's name: the file parameter (`photo`, `document`) or the name an
    /// `attach://<name>` of a media group refers to.
    pub name: String,
    pub hash: BlobHash,
    pub file_name: String,
    pub mime_type: String,
}

/// Where the bytes of a file to send are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// The provider's own id of a file it has (Telegram `file_id`, WhatsApp media id, VK
    /// `photo<owner>_<id>`).
    ProviderId(String),
    /// A URL the provider fetches (Telegram and WhatsApp; VK needs an upload first).
    Url(String),
    /// A file an operator uploaded to Switchboard (`POST /v1/attachments`): its blob in the
    /// attachment store, uploaded to the provider with the call.
    Stored { hash: BlobHash, mime_type: String },
}

impl FileSource {
    /// Where an event's `Attachment::storage_ref` points: our blob (`sha256:<hex>`), a URL,
    /// or else the provider's own id.
    pub fn of(storage_ref: &str, mime_type: &str) -> Self {
        if let Some(hash) = storage_ref
            .starts_with("sha256:")
            .then(|| BlobHash::parse(storage_ref))
            .flatten()
        {
            return Self::Stored {
                hash,
                mime_type: mime_type.to_owned(),
            };
        }
        if storage_ref.starts_with("https://") || storage_ref.starts_with("http://") {
            Self::Url(storage_ref.to_owned())
        } else {
            Self::ProviderId(storage_ref.to_owned())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    pub kind: AttachmentKind,
    pub source: FileSource,
    pub file_name: Option<String>,
}

impl OutgoingFile {
    /// The multipart part named `name` that carries a file of ours; `None` for a provider's id
    /// or a URL (nothing to upload).
    pub fn part(&self, name: &str) -> Option<FilePart> {
        match &self.source {
            FileSource::Stored { hash, mime_type } => Some(FilePart {
                name: name.to_owned(),
                hash: *hash,
                file_name: self.file_name.clone().unwrap_or_else(|| hash.hex()),
                mime_type: mime_type.clone(),
            }),
            FileSource::ProviderId(_) | FileSource::Url(_) => None,
        }
    }
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
