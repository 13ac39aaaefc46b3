//! Telegram Bot API webhooks: [`verify`] (the `X-Telegram-Bot-Api-Secret-Token` header equals
//! the secret set with `setWebhook`) and [`parse`] (one `Update` into [`Inbound`]s).
//!
//! A message's external id is `chat_id:message_id` (Telegram numbers messages per chat); the
//! client's id is the user id (`from.id`; the chat id when there is no `from`). Updates that are
//! not messages, edits or reactions (`inline_query`, `callback_query`, `my_chat_member`, …)
//! become [`Inbound::Unsupported`] keyed by the update id.
//!
//! Submodules: `update` (the tolerant wire structs), `outbound` (Bot API calls for our
//! messages, their answers and errors).

pub mod outbound;
mod update;

use crate::de::{full_name, non_blank, unix_seconds};
use crate::error::WebhookError;
use crate::inbound::*;
use crate::secret::Secret;
use switchboard_schemas::AttachmentKind;
use update::{Chat, File, Message, ReactionUpdated, Update, User};

/// The header Telegram sends the webhook's secret token in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Checks the secret token header (`None` when the request has none).
pub fn verify(header: Option<&str>, secret: &Secret) -> Result<(), WebhookError> {
    match header {
        None => Err(WebhookError::Unauthenticated(SECRET_HEADER)),
        Some(value) if secret.matches(value) => Ok(()),
        Some(_) => Err(WebhookError::Forbidden(SECRET_HEADER)),
    }
}

/// A webhook request: verified first (nothing is read from a request that fails), then parsed.
pub fn webhook(
    secret_header: Option<&str>,
    body: &[u8],
    secret: &Secret,
) -> Result<Vec<Inbound>, WebhookError> {
    verify(secret_header, secret)?;
    parse(body)
}

/// One webhook body (one `Update`) into what it reports.
pub fn parse(body: &[u8]) -> Result<Vec<Inbound>, WebhookError> {
    let update: Update = serde_json::from_slice(body).map_err(WebhookError::json)?;
    let update_id = update.update_id;
    if let Some(message) = update.message.or(update.business_message) {
        return Ok(vec![message_or_unsupported(message, update_id)?]);
    }
    if let Some(message) = update.edited_message.or(update.edited_business_message) {
        return Ok(vec![edit(message)?]);
    }
    if let Some(reaction) = update.message_reaction {
        return Ok(vec![reaction_update(reaction)?]);
    }
    let unsupported = |kind: &str, from: &User, summary: String| Unsupported {
        kind: kind.to_owned(),
        external_id: format!("update:{update_id}"),
        sender: user_sender(from, None),
        summary: truncate_chars(&summary, SUMMARY_MAX),
        // These updates carry no time of their own.
        at: None,
    };
    if let Some(query) = update.callback_query {
        let summary = format!(
            "button pressed: {}",
            query.data.as_deref().unwrap_or_default()
        );
        let mut item = unsupported("callback_query", &query.from, summary);
        item.external_id = format!("callback_query:{}", query.id.0);
        return Ok(vec![Inbound::Unsupported(item)]);
    }
    if let Some(query) = update.inline_query {
        let summary = format!(
            "inline query: {}",
            query.query.as_deref().unwrap_or_default()
        );
        let mut item = unsupported("inline_query", &query.from, summary);
        item.external_id = format!("inline_query:{}", query.id.0);
        return Ok(vec![Inbound::Unsupported(item)]);
    }
    if let Some(chosen) = update.chosen_inline_result {
        let summary = format!(
            "inline result {} chosen for: {}",
            chosen.result_id.0,
            chosen.query.as_deref().unwrap_or_default()
        );
        return Ok(vec![Inbound::Unsupported(unsupported(
            "chosen_inline_result",
            &chosen.from,
            summary,
        ))]);
    }
    let kind = update
        .other
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "empty".to_owned());
    Ok(vec![Inbound::Unsupported(Unsupported {
        summary: format!("telegram update of kind {kind}"),
        kind,
        external_id: format!("update:{update_id}"),
        sender: None,
        at: None,
    })])
}

fn user_sender(user: &User, chat: Option<&Chat>) -> Option<Sender> {
    let id = user.id.or(chat.map(|c| c.id))?;
    Some(Sender {
        ids: vec![id.to_string()],
        name: full_name(user.first_name.as_deref(), user.last_name.as_deref())
            .or_else(|| non_blank(user.title.as_deref())),
        username: non_blank(user.username.as_deref()),
        language: non_blank(user.language_code.as_deref()),
        ..Sender::default()
    })
}

fn chat_sender(chat: &Chat) -> Sender {
    Sender {
        ids: vec![chat.id.to_string()],
        name: full_name(chat.first_name.as_deref(), chat.last_name.as_deref())
            .or_else(|| non_blank(chat.title.as_deref())),
        username: non_blank(chat.username.as_deref()),
        ..Sender::default()
    }
}

fn sender_of(message: &Message) -> Sender {
    message
        .from
        .as_ref()
        .and_then(|from| user_sender(from, Some(&message.chat)))
        .unwrap_or_else(|| chat_sender(&message.chat))
}

fn external_id(chat: &Chat, message_id: i64) -> String {
    format!("{}:{}", chat.id, message_id)
}

fn file(kind: AttachmentKind, provider_kind: &str, file: &File) -> InboundAttachment {
    InboundAttachment {
        kind,
        provider_ref: file.file_id.clone(),
        mime_type: non_blank(file.mime_type.as_deref()),
        size_bytes: file.file_size,
        file_name: non_blank(file.file_name.as_deref())
            .or_else(|| non_blank(file.title.as_deref())),
        provider_kind: provider_kind.to_owned(),
    }
}

/// The files of a message: the largest size of a photo, every other kind as it is.
fn attachments(message: &Message) -> Vec<InboundAttachment> {
    let mut out = Vec::new();
    if let Some(largest) = message.photo.as_ref().and_then(|sizes| {
        sizes.iter().max_by_key(|s| {
            (
                s.width.unwrap_or(0).saturating_mul(s.height.unwrap_or(0)),
                s.file_size.unwrap_or(0),
            )
        })
    }) {
        out.push(InboundAttachment {
            kind: AttachmentKind::Image,
            provider_ref: largest.file_id.clone(),
            mime_type: Some("image/jpeg".into()),
            size_bytes: largest.file_size,
            file_name: None,
            provider_kind: "photo".into(),
        });
    }
    let files = [
        (&message.voice, AttachmentKind::Voice, "voice"),
        (&message.audio, AttachmentKind::Audio, "audio"),
        (&message.video, AttachmentKind::Video, "video"),
        (&message.video_note, AttachmentKind::Video, "video_note"),
        (&message.animation, AttachmentKind::Video, "animation"),
        // An animation also comes as a document for old clients: keep one of them.
        (
            if message.animation.is_some() {
                &None
            } else {
                &message.document
            },
            AttachmentKind::File,
            "document",
        ),
    ];
    for (present, kind, name) in files {
        if let Some(f) = present {
            out.push(file(kind, name, f));
        }
    }
    if let Some(sticker) = &message.sticker {
        let mime = match (sticker.is_animated, sticker.is_video) {
            (Some(true), _) => "application/x-tgsticker",
            (_, Some(true)) => "video/webm",
            _ => "image/webp",
        };
        out.push(InboundAttachment {
            kind: AttachmentKind::Image,
            provider_ref: sticker.file_id.clone(),
            mime_type: Some(mime.into()),
            size_bytes: sticker.file_size,
            file_name: None,
            provider_kind: "sticker".into(),
        });
    }
    out
}

fn text_of(message: &Message) -> String {
    let text = message.text.as_deref().or(message.caption.as_deref());
    match (text, &message.sticker) {
        (Some(text), _) => text.to_owned(),
        (None, Some(sticker)) => sticker.emoji.clone().unwrap_or_default(),
        (None, None) => String::new(),
    }
}

fn forwarded_from(message: &Message) -> Option<String> {
    let user_name = |u: &User| {
        full_name(u.first_name.as_deref(), u.last_name.as_deref())
            .or_else(|| non_blank(u.title.as_deref()))
    };
    let chat_name = |c: &Chat| {
        non_blank(c.title.as_deref())
            .or_else(|| full_name(c.first_name.as_deref(), c.last_name.as_deref()))
    };
    if let Some(origin) = &message.forward_origin {
        return origin
            .sender_user
            .as_ref()
            .and_then(user_name)
            .or_else(|| non_blank(origin.sender_user_name.as_deref()))
            .or_else(|| origin.chat.as_ref().and_then(chat_name));
    }
    message
        .forward_from
        .as_ref()
        .and_then(user_name)
        .or_else(|| message.forward_from_chat.as_ref().and_then(chat_name))
        .or_else(|| non_blank(message.forward_sender_name.as_deref()))
}

fn message_or_unsupported(message: Message, update_id: i64) -> Result<Inbound, WebhookError> {
    let sent_at = unix_seconds(message.date, "message.date")?;
    let attachments = attachments(&message);
    let location = message
        .venue
        .as_ref()
        .map(|venue| Location {
            latitude: venue.location.latitude,
            longitude: venue.location.longitude,
            name: non_blank(venue.title.as_deref()),
            address: non_blank(venue.address.as_deref()),
        })
        .or_else(|| {
            message.location.as_ref().map(|l| Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: None,
                address: None,
            })
        });
    let contacts: Vec<ContactCard> = message
        .contact
        .iter()
        .map(|c| ContactCard {
            name: full_name(c.first_name.as_deref(), c.last_name.as_deref()).unwrap_or_default(),
            phones: vec![c.phone_number.clone()],
        })
        .collect();
    let text = text_of(&message);
    let sender = sender_of(&message);
    if text.trim().is_empty() && attachments.is_empty() && location.is_none() && contacts.is_empty()
    {
        // A poll, a dice, a game, a service message (someone joined, a pinned message, …).
        let kind = message
            .other
            .keys()
            .find(|key| !IGNORED_MESSAGE_FIELDS.contains(&key.as_str()))
            .cloned()
            .unwrap_or_else(|| "message".to_owned());
        return Ok(Inbound::Unsupported(Unsupported {
            summary: format!("telegram message of kind {kind}"),
            kind,
            external_id: format!(
                "{}:update:{update_id}",
                external_id(&message.chat, message.message_id)
            ),
            sender: Some(sender),
            at: Some(sent_at),
        }));
    }
    Ok(Inbound::Message(InboundMessage {
        external_id: external_id(&message.chat, message.message_id),
        forwarded_from: forwarded_from(&message),
        reply_to: message
            .reply_to_message
            .as_ref()
            .map(|quoted| external_id(&message.chat, quoted.message_id)),
        sender,
        text,
        attachments,
        location,
        contacts,
        sent_at,
    }))
}

/// Fields of a message that say nothing about its kind.
const IGNORED_MESSAGE_FIELDS: &[&str] = &[
    "entities",
    "caption_entities",
    "forward_date",
    "is_topic_message",
    "message_thread_id",
    "has_protected_content",
    "author_signature",
    "via_bot",
    "link_preview_options",
    "reply_markup",
    "sender_chat",
    "sender_boost_count",
    "business_connection_id",
    "quote",
    "external_reply",
    "media_group_id",
    "is_automatic_forward",
    "is_from_offline",
    "effect_id",
];

fn edit(message: Message) -> Result<Inbound, WebhookError> {
    let edited_at = match message.edit_date {
        Some(at) => unix_seconds(at, "edited_message.edit_date")?,
        None => unix_seconds(message.date, "edited_message.date")?,
    };
    Ok(Inbound::Edit(InboundEdit {
        external_id: external_id(&message.chat, message.message_id),
        sender: sender_of(&message),
        text: text_of(&message),
        attachments: attachments(&message),
        edited_at,
    }))
}

fn reaction_update(update: ReactionUpdated) -> Result<Inbound, WebhookError> {
    let reacted_at = unix_seconds(update.date, "message_reaction.date")?;
    let sender = update
        .user
        .as_ref()
        .and_then(|user| user_sender(user, Some(&update.chat)))
        .unwrap_or_else(|| chat_sender(&update.chat));
    let reaction = update
        .new_reaction
        .iter()
        .map(|r| match r.kind.as_str() {
            "emoji" => r.emoji.clone().unwrap_or_default(),
            "custom_emoji" => format!("custom:{}", r.custom_emoji_id.as_deref().unwrap_or("")),
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("");
    Ok(Inbound::Reaction(InboundReaction {
        target_external_id: external_id(&update.chat, update.message_id),
        sender,
        reaction,
        reacted_at: Some(reacted_at),
        delivery_id: None,
    }))
}
