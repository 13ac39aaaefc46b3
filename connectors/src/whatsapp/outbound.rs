//! Cloud API calls for one of our messages (`POST /{Version}/{Phone-Number-ID}/messages`, one
//! per text piece and per file), the `wamid` of a successful answer, and error answers
//! classified by Meta's codes (130429/131056/131048 rate limits, 131047 outside the 24-hour
//! window, 131026 undeliverable).
//!
//! A recipient with a phone is sent `to`; one known only by a business-scoped user id is sent
//! `recipient` (Meta's 2026 field: the v23.0 description predates it).

use crate::outbound::{
    BuildError, FilePart, FileSource, Outgoing, ProviderRequest, params, split_text,
};
use crate::outcome::{ErrorClass, ProviderError, whatsapp_class};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_schemas::AttachmentKind;

/// The API version of the paths built here (the OpenAPI description's).
pub const API_VERSION: &str = "v23.0";
/// A text message's limit, in characters.
pub const TEXT_MAX: usize = 4096;
/// A caption's limit, in characters.
pub const CAPTION_MAX: usize = 1024;
/// The operation as the OpenAPI description names its path.
pub const SEND_OPERATION: &str = "/{Version}/{Phone-Number-ID}/messages";

/// The media upload's file part (`POST /{Version}/{Phone-Number-ID}/media`).
pub const MEDIA_PART: &str = "file";
/// What a message's media `id` holds until the upload answered the real one.
pub const MEDIA_REFERENCE: &str = "attach://file";

/// The media id of a successful `/media` upload's answer.
pub fn uploaded(body: &[u8]) -> Result<String, ProviderError> {
    #[derive(Deserialize)]
    struct Uploaded {
        id: String,
    }
    serde_json::from_slice::<Uploaded>(body)
        .map(|u| u.id)
        .map_err(|e| {
            ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
        })
}

/// A message request with the media id of its uploaded file in place of the reference.
pub fn with_media_id(request: &ProviderRequest, media_id: &str) -> ProviderRequest {
    let mut request = request.clone();
    for value in request.params.values_mut() {
        if let Some(id) = value.get_mut("id")
            && *id == MEDIA_REFERENCE
        {
            *id = json!(media_id);
        }
    }
    request.files.clear();
    request
}

fn media_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Video => "video",
        AttachmentKind::Audio | AttachmentKind::Voice => "audio",
        AttachmentKind::File => "document",
    }
}

/// The calls that send `message` from the business number `phone_number_id`.
pub fn build(
    phone_number_id: &str,
    message: &Outgoing,
) -> Result<Vec<ProviderRequest>, BuildError> {
    if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BuildError::BadRecipient(phone_number_id.to_owned()));
    }
    let to = message.to.trim().trim_start_matches('+');
    let recipient = if !to.is_empty() && to.bytes().all(|b| b.is_ascii_digit()) {
        ("to", json!(to))
    } else if !to.is_empty() && !to.contains(char::is_whitespace) {
        ("recipient", json!(to))
    } else {
        return Err(BuildError::BadRecipient(message.to.clone()));
    };
    if message.text.trim().is_empty() && message.files.is_empty() {
        return Err(BuildError::Empty);
    }
    let path = format!("/{API_VERSION}/{phone_number_id}/messages");
    let mut context = message
        .reply_to
        .as_ref()
        .map(|id| json!({"message_id": id}));
    let mut requests = Vec::new();
    let mut push = |kind: &str, body: Value, context: Option<Value>, files: Vec<FilePart>| {
        let mut p = params([
            ("messaging_product", Some(json!("whatsapp"))),
            ("recipient_type", Some(json!("individual"))),
            (recipient.0, Some(recipient.1.clone())),
            ("type", Some(json!(kind))),
            ("context", context),
        ]);
        p.insert(kind.to_owned(), body);
        requests.push(ProviderRequest {
            operation: SEND_OPERATION,
            path: path.clone(),
            params: p,
            files,
        });
    };
    let caption_fits = !message.files.is_empty() && message.text.chars().count() <= CAPTION_MAX;
    let mut caption = caption_fits
        .then(|| message.text.clone())
        .filter(|t| !t.is_empty());
    if !caption_fits {
        for piece in split_text(&message.text, TEXT_MAX) {
            push(
                "text",
                json!({"body": piece, "preview_url": false}),
                context.take(),
                Vec::new(),
            );
        }
    }
    for file in &message.files {
        let kind = media_type(file.kind);
        let mut parts = Vec::new();
        let mut body = match &file.source {
            FileSource::ProviderId(id) => json!({"id": id}),
            FileSource::Url(url) => json!({"link": url}),
            // Uploaded first (`/{Phone-Number-ID}/media`); its media id replaces the reference.
            FileSource::Stored { .. } => {
                parts.extend(file.part(MEDIA_PART));
                json!({"id": MEDIA_REFERENCE})
            }
        };
        // Audio takes no caption: the text then goes as a message of its own, after.
        if kind != "audio"
            && let Some(text) = caption.take()
        {
            body["caption"] = json!(text);
        }
        if kind == "document"
            && let Some(name) = &file.file_name
        {
            body["filename"] = json!(name);
        }
        push(kind, body, context.take(), parts);
    }
    if let Some(text) = caption {
        push(
            "text",
            json!({"body": text, "preview_url": false}),
            None,
            Vec::new(),
        );
    }
    Ok(requests)
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<SentMessage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// The `wamid` of a successful send.
pub fn sent(body: &[u8]) -> Result<String, ProviderError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorClass::Transient, 0, &format!("unreadable answer: {e}"))
    })?;
    if let Some(error) = &answer.error {
        return Err(error_of(error));
    }
    answer
        .messages
        .into_iter()
        .next()
        .map(|m| m.id)
        .ok_or_else(|| ProviderError::new(ErrorClass::Transient, 0, "no message id in the answer"))
}

fn error_of(error: &ErrorBody) -> ProviderError {
    let code = error.code.unwrap_or(0);
    let detail = [
        error.message.as_deref(),
        error.error_data.as_ref().and_then(|d| d.details.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ");
    ProviderError::new(whatsapp_class(code), code, &detail)
}

/// An error answer classified by Meta's code (the HTTP status when the body has none).
pub fn classify(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            error: Some(error), ..
        }) => error_of(&error),
        _ => {
            let class = match status {
                429 => ErrorClass::RateLimited {
                    retry_after_secs: None,
                },
                500..=599 => ErrorClass::Transient,
                401 | 403 => ErrorClass::NoRights,
                _ => ErrorClass::Permanent,
            };
            ProviderError::new(class, i64::from(status), &String::from_utf8_lossy(body))
        }
    }
}
