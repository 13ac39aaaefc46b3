//! Bot API calls for one of our messages (`sendMessage`, `sendPhoto`, `sendVideo`, `sendAudio`,
//! `sendVoice`, `sendDocument`, `sendMediaGroup`), the message id of a successful answer, and
//! error answers classified (429 with `parameters.retry_after`; 403 "bot was blocked by the
//! user").

use crate::outbound::{
    BuildError, FilePart, FileSource, Outgoing, OutgoingFile, ProviderRequest, params, split_text,
};
use crate::outcome::{ErrorClass, ProviderError};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_schemas::AttachmentKind;

/// `sendMessage`'s limit, in characters.
pub const TEXT_MAX: usize = 4096;
/// A caption's limit, in characters.
pub const CAPTION_MAX: usize = 1024;
/// How many files one `sendMediaGroup` takes.
pub const GROUP_MAX: usize = 10;

fn chat_id(to: &str) -> Result<Value, BuildError> {
    let to = to.trim();
    if let Ok(id) = to.parse::<i64>() {
        return Ok(json!(id));
    }
    match to.strip_prefix('@') {
        Some(name) if !name.is_empty() => Ok(json!(to)),
        _ => Err(BuildError::BadRecipient(to.to_owned())),
    }
}

/// `reply_parameters` from the quoted message's external id (`chat:message`).
fn reply(reply_to: Option<&str>) -> Option<Value> {
    let (_, message_id) = reply_to?.rsplit_once(':')?;
    let message_id: i64 = message_id.parse().ok()?;
    Some(json!({"message_id": message_id, "allow_sending_without_reply": true}))
}

/// A file's value for the parameter `name`: the provider's id or a URL as it is; a file of
/// ours as a multipart part (added to `parts`), referred to by `reference` (the parameter's
/// own part for one file, `attach://<name>` in a media group).
fn media(
    file: &OutgoingFile,
    name: &str,
    reference: bool,
    parts: &mut Vec<FilePart>,
) -> Option<Value> {
    match &file.source {
        FileSource::ProviderId(id) => Some(json!(id)),
        FileSource::Url(url) => Some(json!(url)),
        FileSource::Stored { .. } => {
            parts.extend(file.part(name));
            reference.then(|| json!(format!("attach://{name}")))
        }
    }
}

/// The method and its file parameter for one file.
fn single(kind: AttachmentKind) -> (&'static str, &'static str) {
    match kind {
        AttachmentKind::Image => ("sendPhoto", "photo"),
        AttachmentKind::Video => ("sendVideo", "video"),
        AttachmentKind::Audio => ("sendAudio", "audio"),
        AttachmentKind::Voice => ("sendVoice", "voice"),
        AttachmentKind::File => ("sendDocument", "document"),
    }
}

/// The `InputMedia` type of a file in a group, and the group it may share (photos and videos
/// mix; documents and audio go only with their own kind).
fn group_type(kind: AttachmentKind) -> (&'static str, u8) {
    match kind {
        AttachmentKind::Image => ("photo", 0),
        AttachmentKind::Video => ("video", 0),
        AttachmentKind::Audio | AttachmentKind::Voice => ("audio", 1),
        AttachmentKind::File => ("document", 2),
    }
}

fn request(
    operation: &'static str,
    params: serde_json::Map<String, Value>,
    files: Vec<FilePart>,
) -> ProviderRequest {
    ProviderRequest {
        operation,
        path: operation.to_owned(),
        params,
        files,
    }
}

/// The calls that send `message`, in order: the text first when it does not fit a caption,
/// then the files (a group when they can share one), the text as the first file's caption when
/// it fits.
pub fn build(message: &Outgoing) -> Result<Vec<ProviderRequest>, BuildError> {
    let chat = chat_id(&message.to)?;
    if message.text.trim().is_empty() && message.files.is_empty() {
        return Err(BuildError::Empty);
    }
    let mut reply = reply(message.reply_to.as_deref());
    let mut requests = Vec::new();
    let caption_fits = !message.files.is_empty() && message.text.chars().count() <= CAPTION_MAX;
    let mut caption = caption_fits
        .then(|| message.text.clone())
        .filter(|t| !t.is_empty());
    if !caption_fits {
        for piece in split_text(&message.text, TEXT_MAX) {
            requests.push(request(
                "sendMessage",
                params([
                    ("chat_id", Some(chat.clone())),
                    ("text", Some(json!(piece))),
                    ("reply_parameters", reply.take()),
                ]),
                Vec::new(),
            ));
        }
    }
    let groupable = message.files.len() > 1
        && message.files.len() <= GROUP_MAX
        && message
            .files
            .windows(2)
            .all(|w| group_type(w[0].kind).1 == group_type(w[1].kind).1);
    if groupable {
        let mut parts = Vec::new();
        let media: Vec<Value> = message
            .files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                let value = media(file, &format!("file{index}"), true, &mut parts);
                let mut item = json!({"type": group_type(file.kind).0, "media": value});
                if let Some(text) = caption.take() {
                    item["caption"] = json!(text);
                }
                item
            })
            .collect();
        requests.push(request(
            "sendMediaGroup",
            params([
                ("chat_id", Some(chat)),
                ("media", Some(Value::Array(media))),
                ("reply_parameters", reply.take()),
            ]),
            parts,
        ));
        return Ok(requests);
    }
    for file in &message.files {
        let (operation, field) = single(file.kind);
        let mut parts = Vec::new();
        let value = media(file, field, false, &mut parts);
        requests.push(request(
            operation,
            params([
                ("chat_id", Some(chat.clone())),
                (field, value),
                ("caption", caption.take().map(Value::from)),
                ("reply_parameters", reply.take()),
            ]),
            parts,
        ));
    }
    Ok(requests)
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u32>,
}

#[derive(Deserialize)]
struct Sent {
    message_id: i64,
    chat: SentChat,
}

#[derive(Deserialize)]
struct SentChat {
    id: i64,
}

/// The external ids (`chat:message`) of what a successful call sent: one message, or one per
/// file of a group.
pub fn sent(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
    })?;
    if !answer.ok {
        return Err(classify_answer(200, &answer));
    }
    let result = answer.result.unwrap_or(Value::Null);
    let messages: Vec<Sent> = match result {
        Value::Array(_) => serde_json::from_value(result),
        other => serde_json::from_value(other).map(|one| vec![one]),
    }
    .map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable result: {e}"))
    })?;
    Ok(messages
        .iter()
        .map(|m| format!("{}:{}", m.chat.id, m.message_id))
        .collect())
}

fn classify_answer(status: u16, answer: &Answer) -> ProviderError {
    let code = answer.error_code.unwrap_or(i64::from(status));
    let description = answer.description.as_deref().unwrap_or("");
    let lower = description.to_lowercase();
    let class = match code {
        429 => ErrorClass::RateLimited {
            retry_after_secs: answer.parameters.as_ref().and_then(|p| p.retry_after),
        },
        403 if lower.contains("blocked")
            || lower.contains("deactivated")
            || lower.contains("kicked")
            || lower.contains("can't initiate") =>
        {
            ErrorClass::Blocked
        }
        403 | 401 | 404 => ErrorClass::NoRights,
        413 => ErrorClass::TooLarge,
        400 if lower.contains("too long") || lower.contains("too big") => ErrorClass::TooLarge,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    ProviderError::new(class, code, description)
}

/// An error answer (any status but 2xx, or `ok: false`) classified.
pub fn classify(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => classify_answer(status, &answer),
        Err(_) => {
            let class = match status {
                429 => ErrorClass::RateLimited {
                    retry_after_secs: None,
                },
                500..=599 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            };
            let text = String::from_utf8_lossy(body);
            ProviderError::new(class, i64::from(status), &text)
        }
    }
}
