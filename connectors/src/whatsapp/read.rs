//! One `messages` change into items: every message type Meta documents, statuses with their
//! errors classified, and the sender's phone and user id matched from `contacts[]`.

use super::WhatsappItem;
use super::wire::{self, Contact, Media, Message, Status};
use crate::de::{full_name, non_blank, unix_seconds_text};
use crate::error::WebhookError;
use crate::inbound::*;
use crate::outcome::{ProviderError, whatsapp_class};
use std::str::FromStr;
use switchboard_schemas::{AttachmentKind, MessageId};

pub(super) fn value(value: &wire::Value, out: &mut Vec<WhatsappItem>) -> Result<(), WebhookError> {
    let phone_number_id = value
        .metadata
        .as_ref()
        .and_then(|m| m.phone_number_id.clone());
    for message in &value.messages {
        let inbound = read_message(message, &value.contacts)?;
        out.push(WhatsappItem {
            phone_number_id: phone_number_id.clone(),
            inbound,
        });
    }
    for status in &value.statuses {
        let inbound = read_status(status)?;
        out.push(WhatsappItem {
            phone_number_id: phone_number_id.clone(),
            inbound,
        });
    }
    Ok(())
}

/// Whether an id is a phone number (digits only) rather than a user id (`US.1349…`).
fn is_phone(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// The sender: the phone and the user id from the message and its entry in `contacts[]`.
fn sender(message: &Message, contacts: &[Contact]) -> Result<Sender, WebhookError> {
    let from = message.from.as_deref().filter(|f| !f.is_empty());
    let mut phone = from.filter(|f| is_phone(f)).map(str::to_owned);
    let mut user_id = message
        .from_user_id
        .clone()
        .or_else(|| from.filter(|f| !is_phone(f)).map(str::to_owned));
    let contact = contacts.iter().find(|c| {
        let same_phone = phone.is_some() && c.wa_id == phone;
        let same_user = user_id.is_some() && c.user_id == user_id;
        same_phone || same_user
    });
    // One contact and one message: they are the same person even when no id says so.
    let contact = contact.or(match contacts {
        [only] if phone.is_none() && user_id.is_none() => Some(only),
        _ => None,
    });
    if let Some(contact) = contact {
        phone = phone.or_else(|| contact.wa_id.clone().filter(|p| is_phone(p)));
        user_id = user_id.or_else(|| non_blank(contact.user_id.as_deref()));
    }
    let ids: Vec<String> = phone.iter().chain(user_id.iter()).cloned().collect();
    if ids.is_empty() {
        return Err(WebhookError::Malformed(format!(
            "message {}: no phone (from, wa_id) and no user id",
            message.id
        )));
    }
    let profile = contact.and_then(|c| c.profile.as_ref());
    Ok(Sender {
        ids,
        name: profile.and_then(|p| non_blank(p.name.as_deref())),
        username: profile
            .and_then(|p| p.username.as_deref())
            .and_then(|u| non_blank(Some(u.trim_start_matches('@')))),
        phone,
        ..Sender::default()
    })
}

fn media(
    kind: AttachmentKind,
    provider_kind: &str,
    media: Option<&Media>,
) -> Option<InboundAttachment> {
    let media = media?;
    Some(InboundAttachment {
        kind,
        provider_ref: media.id.clone()?,
        mime_type: non_blank(media.mime_type.as_deref()),
        size_bytes: None,
        file_name: non_blank(media.filename.as_deref()),
        provider_kind: provider_kind.to_owned(),
    })
}

/// The text and files of a message's content (also of the new content of an edit).
fn content(message: &Message) -> (String, Vec<InboundAttachment>) {
    let caption = |m: &Option<Media>| {
        m.as_ref()
            .and_then(|m| m.caption.clone())
            .unwrap_or_default()
    };
    let voice = message
        .audio
        .as_ref()
        .is_some_and(|a| a.voice == Some(true));
    let files: Vec<InboundAttachment> = [
        media(AttachmentKind::Image, "image", message.image.as_ref()),
        media(AttachmentKind::Video, "video", message.video.as_ref()),
        media(
            if voice {
                AttachmentKind::Voice
            } else {
                AttachmentKind::Audio
            },
            "audio",
            message.audio.as_ref(),
        ),
        media(AttachmentKind::Voice, "voice", message.voice.as_ref()),
        media(AttachmentKind::File, "document", message.document.as_ref()),
        media(AttachmentKind::Image, "sticker", message.sticker.as_ref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let text = match message.kind.as_str() {
        "text" => message
            .text
            .as_ref()
            .map(|t| t.body.clone())
            .unwrap_or_default(),
        "image" => caption(&message.image),
        "video" => caption(&message.video),
        "document" => caption(&message.document),
        "button" => message
            .button
            .as_ref()
            .and_then(|b| b.text.clone().or(b.payload.clone()))
            .unwrap_or_default(),
        "interactive" => message
            .interactive
            .as_ref()
            .and_then(|i| i.button_reply.as_ref().or(i.list_reply.as_ref()))
            .and_then(|r| r.title.clone().or(r.id.clone()))
            .unwrap_or_default(),
        _ => message
            .text
            .as_ref()
            .map(|t| t.body.clone())
            .unwrap_or_default(),
    };
    (text, files)
}

fn read_message(message: &Message, contacts: &[Contact]) -> Result<Inbound, WebhookError> {
    let sent_at = unix_seconds_text(&message.timestamp, "messages.timestamp")?;
    let sender = sender(message, contacts)?;
    if message.kind == "reaction"
        && let Some(reaction) = &message.reaction
    {
        return Ok(Inbound::Reaction(InboundReaction {
            target_external_id: reaction.message_id.clone(),
            sender,
            reaction: reaction.emoji.clone().unwrap_or_default(),
            reacted_at: Some(sent_at),
            delivery_id: Some(message.id.clone()),
        }));
    }
    if message.kind == "edit"
        && let Some(edit) = &message.edit
        && let (Some(original), Some(new)) = (&edit.original_message_id, &edit.message)
    {
        let (text, attachments) = content(new);
        return Ok(Inbound::Edit(InboundEdit {
            external_id: original.clone(),
            sender,
            text,
            attachments,
            edited_at: sent_at,
        }));
    }
    let (text, attachments) = content(message);
    let location = message.location.as_ref().map(|l| Location {
        latitude: l.latitude,
        longitude: l.longitude,
        name: non_blank(l.name.as_deref()),
        address: non_blank(l.address.as_deref()),
    });
    let shared: Vec<ContactCard> = message
        .contacts
        .iter()
        .flatten()
        .map(|c| ContactCard {
            name: c
                .name
                .as_ref()
                .and_then(|n| {
                    non_blank(n.formatted_name.as_deref())
                        .or_else(|| full_name(n.first_name.as_deref(), n.last_name.as_deref()))
                })
                .unwrap_or_default(),
            phones: c
                .phones
                .iter()
                .filter_map(|p| p.phone.clone().or(p.wa_id.clone()))
                .collect(),
        })
        .collect();
    if text.trim().is_empty() && attachments.is_empty() && location.is_none() && shared.is_empty() {
        // `unsupported`, `unknown`, `order`, `system`, a reaction without its body, …
        let reason = message
            .errors
            .iter()
            .filter_map(|e| e.title.as_deref().or(e.message.as_deref()))
            .collect::<Vec<_>>()
            .join("; ");
        let kind = if message.kind.is_empty() {
            "message"
        } else {
            &message.kind
        };
        return Ok(Inbound::Unsupported(Unsupported {
            kind: kind.to_owned(),
            external_id: message.id.clone(),
            sender: Some(sender),
            summary: truncate_chars(
                &format!("whatsapp message of type {kind} {reason}"),
                SUMMARY_MAX,
            ),
            at: Some(sent_at),
        }));
    }
    let forwarded = message
        .context
        .as_ref()
        .is_some_and(|c| c.forwarded == Some(true) || c.frequently_forwarded == Some(true));
    Ok(Inbound::Message(InboundMessage {
        external_id: message.id.clone(),
        reply_to: message
            .context
            .as_ref()
            .filter(|_| !forwarded)
            .and_then(|c| c.id.clone()),
        forwarded_from: forwarded.then(|| "another chat".to_owned()),
        sender,
        text,
        attachments,
        location,
        contacts: shared,
        sent_at,
    }))
}

fn read_status(status: &Status) -> Result<Inbound, WebhookError> {
    let state = match status.status.as_str() {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" | "played" => DeliveryState::Read,
        "failed" => DeliveryState::Failed,
        other => {
            return Ok(Inbound::Unsupported(Unsupported {
                kind: format!("status:{other}"),
                external_id: format!("{}:{other}", status.id),
                sender: None,
                summary: truncate_chars(&format!("whatsapp status {other}"), SUMMARY_MAX),
                at: None,
            }));
        }
    };
    let at = status
        .timestamp
        .as_deref()
        .map(|t| unix_seconds_text(t, "statuses.timestamp"))
        .transpose()?;
    let failure = (state == DeliveryState::Failed).then(|| {
        let first = status.errors.first();
        let code = first.and_then(|e| e.code).unwrap_or(0);
        let detail = first
            .map(|e| {
                [
                    e.title.as_deref(),
                    e.message.as_deref(),
                    e.error_data.as_ref().and_then(|d| d.details.as_deref()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ")
            })
            .unwrap_or_else(|| "failed without an error".to_owned());
        ProviderError::new(whatsapp_class(code), code, &detail).failure()
    });
    Ok(Inbound::Status(InboundStatus {
        external_id: status.id.clone(),
        message: status
            .biz_opaque_callback_data
            .as_deref()
            .and_then(|data| MessageId::from_str(data).ok()),
        state,
        failure,
        recipient: status
            .recipient_id
            .clone()
            .or(status.recipient_user_id.clone()),
        at,
    }))
}
