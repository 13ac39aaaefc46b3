//! `messages.send` for one of our messages (with a `random_id` derived from our message id, so
//! VK drops a repeated send), the `peer_cmid` of a successful answer, and error answers
//! classified (6 too many requests, 9 flood control, 29 rate limit; 900–902 the user does not
//! take our messages; 914 too long).

use super::random_id;
use crate::outbound::{BuildError, FileSource, Outgoing, ProviderRequest, params, split_text};
use crate::outcome::{ErrorClass, ProviderError};
use serde::Deserialize;
use serde_json::{Value, json};

/// The VK API version our requests and the answers read are of.
pub const API_VERSION: &str = "5.199";

/// `message`'s limit in `messages.send`, in characters.
pub const TEXT_MAX: usize = 9000;
/// How many attachments one message takes.
pub const ATTACHMENTS_MAX: usize = 10;

/// The calls that send `message`: the text in pieces of [`TEXT_MAX`], the attachments (VK's own
/// ids of uploaded files) with the first piece.
pub fn build(message: &Outgoing) -> Result<Vec<ProviderRequest>, BuildError> {
    let peer: i64 = message
        .to
        .trim()
        .parse()
        .map_err(|_| BuildError::BadRecipient(message.to.clone()))?;
    if message.text.trim().is_empty() && message.files.is_empty() {
        return Err(BuildError::Empty);
    }
    let mut attachments = Vec::new();
    let mut parts = Vec::new();
    for (index, file) in message.files.iter().enumerate() {
        match &file.source {
            FileSource::ProviderId(id) => attachments.push(id.clone()),
            FileSource::Url(_) => {
                return Err(BuildError::Unsupported(
                    "VK sends only uploaded files (photo<owner>_<id>), not URLs",
                ));
            }
            // Uploaded as a document first; its `doc<owner>_<id>` replaces the reference.
            FileSource::Stored { .. } => {
                let name = format!("file{index}");
                attachments.push(format!("attach://{name}"));
                parts.extend(file.part(&name));
            }
        }
    }
    let mut pieces = split_text(&message.text, TEXT_MAX);
    let chunks: Vec<&[String]> = attachments.chunks(ATTACHMENTS_MAX).collect();
    // One request per text piece or attachment chunk, whichever are more.
    let count = pieces.len().max(chunks.len()).max(1);
    pieces.resize(count, String::new());
    let mut forward = message.reply_to.as_deref().and_then(|id| {
        let (reply_peer, cmid) = id.split_once('_')?;
        let reply_peer: i64 = reply_peer.parse().ok()?;
        let cmid: i64 = cmid.parse().ok()?;
        Some(
            json!({"peer_id": reply_peer, "conversation_message_ids": [cmid], "is_reply": true})
                .to_string(),
        )
    });
    let base = random_id(message.message);
    let requests = pieces
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            // Each piece its own random id, the same for every try of that piece.
            let offset = i32::try_from(index).unwrap_or(i32::MAX);
            let random = (base.wrapping_add(offset) & i32::MAX).max(1);
            let attachment = chunks.get(index).map(|chunk| json!(chunk.join(",")));
            let files = chunks
                .get(index)
                .map(|chunk| {
                    parts
                        .iter()
                        .filter(|p| chunk.contains(&format!("attach://{}", p.name)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ProviderRequest {
                operation: "messages.send",
                path: "messages.send".into(),
                params: params([
                    ("peer_ids", Some(json!([peer]))),
                    ("random_id", Some(json!(random))),
                    ("message", (!text.is_empty()).then(|| json!(text))),
                    ("attachment", attachment),
                    ("forward", forward.take().map(Value::from)),
                ]),
                files,
            }
        })
        .collect();
    Ok(requests)
}

/// The `response` of a successful call, or its error classified.
fn response(body: &[u8]) -> Result<Value, ProviderError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
    })?;
    if let Some(error) = &answer.error {
        return Err(error_of(error));
    }
    answer
        .response
        .ok_or_else(|| ProviderError::new(ErrorClass::Transient, 0, "an answer without response"))
}

/// `docs.getMessagesUploadServer`'s `upload_url`.
pub fn upload_url(body: &[u8]) -> Result<String, ProviderError> {
    response(body)?["upload_url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::new(ErrorClass::Transient, 0, "no upload_url"))
}

/// The upload server's `file` (what `docs.save` takes); its `error` is a refusal.
pub fn uploaded_file(body: &[u8]) -> Result<String, ProviderError> {
    let answer: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
    })?;
    if let Some(file) = answer["file"].as_str() {
        return Ok(file.to_owned());
    }
    let error = answer["error"].as_str().unwrap_or("no file in the answer");
    Err(ProviderError::new(ErrorClass::Permanent, 0, error))
}

/// `docs.save`'s document as an attachment of `messages.send`: `doc<owner_id>_<id>`.
pub fn saved_doc(body: &[u8]) -> Result<String, ProviderError> {
    let response = response(body)?;
    let doc = &response["doc"];
    match (doc["owner_id"].as_i64(), doc["id"].as_i64()) {
        (Some(owner), Some(id)) => Ok(format!("doc{owner}_{id}")),
        _ => Err(ProviderError::new(
            ErrorClass::Transient,
            0,
            "no doc in the answer",
        )),
    }
}

/// A `messages.send` with the VK attachment of an uploaded part in place of its reference.
pub fn with_attachment(request: &ProviderRequest, part: &str, attachment: &str) -> ProviderRequest {
    let mut request = request.clone();
    if let Some(Value::String(list)) = request.params.get_mut("attachment") {
        *list = list
            .split(',')
            .map(|item| {
                if item == format!("attach://{part}") {
                    attachment
                } else {
                    item
                }
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    request.files.retain(|f| f.name != part);
    request
}

#[derive(Deserialize)]
struct Answer {
    response: Option<Value>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<i64>,
    error_msg: Option<String>,
}

#[derive(Deserialize)]
struct SentItem {
    peer_id: i64,
    conversation_message_id: Option<i64>,
    error: Option<ErrorBody>,
}

/// The external id (`peer_cmid`) of what a successful `messages.send` with `peer_ids` sent.
pub fn sent(body: &[u8]) -> Result<String, ProviderError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
    })?;
    if let Some(error) = &answer.error {
        return Err(error_of(error));
    }
    let items: Vec<SentItem> = answer
        .response
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            ProviderError::new(
                ErrorClass::Transient,
                0,
                &format!("unreadable response: {e}"),
            )
        })?
        .unwrap_or_default();
    let item = items
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::new(ErrorClass::Transient, 0, "empty response"))?;
    if let Some(error) = &item.error {
        return Err(error_of(error));
    }
    let cmid = item.conversation_message_id.ok_or_else(|| {
        ProviderError::new(ErrorClass::Transient, 0, "no conversation_message_id")
    })?;
    Ok(format!("{}_{cmid}", item.peer_id))
}

fn error_of(error: &ErrorBody) -> ProviderError {
    let code = error.error_code.unwrap_or(0);
    let class = match code {
        // Too many requests per second: VK's limit is per second.
        6 => ErrorClass::RateLimited {
            retry_after_secs: Some(1),
        },
        9 | 29 => ErrorClass::RateLimited {
            retry_after_secs: None,
        },
        18 | 30 | 900 | 901 | 902 => ErrorClass::Blocked,
        950 => ErrorClass::OutsideWindow,
        913 | 914 => ErrorClass::TooLarge,
        5 | 7 | 15 | 27 | 28 | 917 => ErrorClass::NoRights,
        1 | 10 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    ProviderError::new(class, code, error.error_msg.as_deref().unwrap_or(""))
}

/// An error answer classified (VK answers errors with HTTP 200 and an `error` object).
pub fn classify(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            error: Some(error), ..
        }) => error_of(&error),
        _ => {
            let class = if (500..=599).contains(&status) {
                ErrorClass::Transient
            } else {
                ErrorClass::Permanent
            };
            ProviderError::new(class, i64::from(status), &String::from_utf8_lossy(body))
        }
    }
}
