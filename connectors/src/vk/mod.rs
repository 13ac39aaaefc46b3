//! VK Callback API: [`handle`] checks an event (the community's id, the `secret` field in the
//! body) and reads it; a `confirmation` event is answered with the community's confirmation
//! string, every other with `ok` ([`OK`]).
//!
//! A message's external id is `peer_cmid` (`peer_id` and `conversation_message_id`: bots get
//! `id` 0 in group chats, as in the 5.131 capture); the client's id is the author's `from_id`.
//! `message_new` is a message (5.103+ wraps it in `{message, client_info}`; older versions
//! send the message itself), `message_edit` an edit, `message_reaction_event` a reaction,
//! `message_reply` (our message went out) and `message_read` statuses; every other event is
//! [`Inbound::Unsupported`] keyed by its `event_id` (VK may deliver an event more than once).
//!
//! Submodules: `wire` (the tolerant wire structs), `outbound` (`messages.send` for our
//! messages, its answers and errors).

pub mod outbound;
mod wire;

use crate::de::{non_blank, unix_seconds};
use crate::error::WebhookError;
use crate::inbound::*;
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use switchboard_schemas::AttachmentKind;
use wire::{Base, Message, MessageNew, Reaction, Read, Someone};

/// The answer VK expects to every event but `confirmation`.
pub const OK: &str = "ok";

/// One VK community's Callback API settings.
#[derive(Debug, Clone)]
pub struct VkConfig {
    pub group_id: i64,
    /// The "secret key" set in the community's Callback API settings.
    pub secret: Secret,
    /// The string a `confirmation` event is answered with.
    pub confirmation: String,
}

/// What an accepted event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    /// Answer with this string (the confirmation code); nothing to record.
    Confirm(String),
    /// Answer [`OK`] and record the items.
    Events {
        /// VK's id of the event: the same event delivered again has the same id.
        event_id: String,
        items: Vec<Inbound>,
    },
}

/// Verifies and reads one Callback API body.
pub fn handle(body: &[u8], config: &VkConfig) -> Result<Callback, WebhookError> {
    let base: Base = serde_json::from_slice(body).map_err(WebhookError::json)?;
    if base.group_id != config.group_id {
        return Err(WebhookError::Forbidden("group_id"));
    }
    if base.kind == "confirmation" {
        // VK asks for confirmation before a secret may be set; a secret it sends must be right.
        if base
            .secret
            .as_deref()
            .is_some_and(|s| !config.secret.matches(s))
        {
            return Err(WebhookError::Forbidden("secret"));
        }
        return Ok(Callback::Confirm(config.confirmation.clone()));
    }
    match base.secret.as_deref() {
        None => return Err(WebhookError::Unauthenticated("secret")),
        Some(secret) if !config.secret.matches(secret) => {
            return Err(WebhookError::Forbidden("secret"));
        }
        Some(_) => {}
    }
    let event_id = base
        .event_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| WebhookError::Malformed("missing field `event_id`".into()))?;
    let item = read_event(&base, &event_id)?;
    Ok(Callback::Events {
        event_id,
        items: vec![item],
    })
}

fn object<T: DeserializeOwned>(base: &Base) -> Result<T, WebhookError> {
    let value = base
        .object
        .clone()
        .ok_or_else(|| WebhookError::Malformed(format!("{}: missing field `object`", base.kind)))?;
    serde_json::from_value(value)
        .map_err(|e| WebhookError::Malformed(format!("{}: {e}", base.kind)))
}

fn read_event(base: &Base, event_id: &str) -> Result<Inbound, WebhookError> {
    match base.kind.as_str() {
        "message_new" => {
            let wrapped = base
                .object
                .as_ref()
                .is_some_and(|o| o.get("message").is_some());
            let message: Message = if wrapped {
                object::<MessageNew>(base)?.message
            } else {
                object(base)?
            };
            if message.out == 1 {
                return sent_status(message);
            }
            new_message(message)
        }
        "message_reply" => sent_status(object(base)?),
        "message_edit" => {
            let message: Message = object(base)?;
            if message.out == 1 {
                return Ok(unsupported(
                    base,
                    event_id,
                    None,
                    "our own message was edited",
                ));
            }
            edit(message)
        }
        "message_read" => {
            let read: Read = object(base)?;
            Ok(Inbound::Status(InboundStatus {
                external_id: external_id(read.peer_id, read.conversation_message_id),
                message: None,
                state: DeliveryState::Read,
                failure: None,
                recipient: Some(read.from_id.to_string()),
                at: None,
            }))
        }
        "message_reaction_event" => {
            let reaction: Reaction = object(base)?;
            Ok(Inbound::Reaction(InboundReaction {
                target_external_id: external_id(reaction.peer_id, reaction.cmid),
                sender: sender(reaction.reacted_id),
                reaction: reaction
                    .reaction_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                // VK gives no time.
                reacted_at: None,
                delivery_id: Some(event_id.to_owned()),
            }))
        }
        _ => {
            let someone: Option<Someone> = base
                .object
                .clone()
                .and_then(|o| serde_json::from_value(o).ok());
            let person = someone
                .and_then(|s| s.user_id.or(s.from_id))
                .filter(|id| *id > 0)
                .map(sender);
            let summary = format!("vk event {}", base.kind);
            Ok(unsupported(base, event_id, person, &summary))
        }
    }
}

fn unsupported(base: &Base, event_id: &str, person: Option<Sender>, summary: &str) -> Inbound {
    Inbound::Unsupported(Unsupported {
        kind: base.kind.clone(),
        external_id: event_id.to_owned(),
        sender: person,
        summary: truncate_chars(summary, SUMMARY_MAX),
        at: None,
    })
}

fn external_id(peer_id: i64, conversation_message_id: i64) -> String {
    format!("{peer_id}_{conversation_message_id}")
}

fn sender(id: i64) -> Sender {
    Sender {
        ids: vec![id.to_string()],
        ..Sender::default()
    }
}

fn sent_status(message: Message) -> Result<Inbound, WebhookError> {
    Ok(Inbound::Status(InboundStatus {
        external_id: external_id(message.peer_id, message.conversation_message_id),
        message: None,
        state: DeliveryState::Sent,
        failure: None,
        recipient: Some(message.peer_id.to_string()),
        at: Some(unix_seconds(message.date, "message.date")?),
    }))
}

/// The largest of several sizes that have a URL.
fn largest_url(sizes: &[wire::Size]) -> Option<String> {
    sizes
        .iter()
        .filter(|s| s.url.is_some())
        .max_by_key(|s| s.width.saturating_mul(s.height))
        .and_then(|s| s.url.clone())
}

/// The files of a message, and a note in the text for each attachment that is not a file
/// (a wall post, a link, a poll…), so nothing is silently left out.
fn attachments(message: &Message) -> (Vec<InboundAttachment>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for attachment in &message.attachments {
        let file = |kind, reference: Option<String>, mime: Option<&str>| {
            reference.map(|provider_ref| InboundAttachment {
                kind,
                provider_ref,
                mime_type: mime.map(str::to_owned),
                size_bytes: None,
                file_name: None,
                provider_kind: attachment.kind.clone(),
            })
        };
        let found = match attachment.kind.as_str() {
            "photo" => attachment.photo.as_ref().and_then(|p| {
                file(
                    AttachmentKind::Image,
                    largest_url(&p.sizes),
                    Some("image/jpeg"),
                )
            }),
            "doc" => attachment.doc.as_ref().and_then(|d| {
                file(AttachmentKind::File, d.url.clone(), None).map(|mut f| {
                    f.size_bytes = d.size;
                    f.file_name =
                        non_blank(d.title.as_deref()).or_else(|| non_blank(d.ext.as_deref()));
                    f
                })
            }),
            "audio_message" => attachment.audio_message.as_ref().and_then(|a| {
                let (url, mime) = match (&a.link_ogg, &a.link_mp3) {
                    (Some(ogg), _) => (Some(ogg.clone()), "audio/ogg"),
                    (None, mp3) => (mp3.clone(), "audio/mpeg"),
                };
                file(AttachmentKind::Voice, url, Some(mime))
            }),
            "audio" => attachment.audio.as_ref().and_then(|a| {
                file(AttachmentKind::Audio, a.url.clone(), Some("audio/mpeg")).map(|mut f| {
                    f.file_name = non_blank(a.title.as_deref()).map(|title| {
                        match non_blank(a.artist.as_deref()) {
                            Some(artist) => format!("{artist} — {title}"),
                            None => title,
                        }
                    });
                    f
                })
            }),
            "video" => attachment.video.as_ref().and_then(|v| {
                let reference =
                    v.id.zip(v.owner_id)
                        .map(|(id, owner)| format!("video{owner}_{id}"));
                file(AttachmentKind::Video, reference, None).map(|mut f| {
                    f.file_name = non_blank(v.title.as_deref());
                    f
                })
            }),
            "sticker" => attachment.sticker.as_ref().and_then(|s| {
                let reference = largest_url(&s.images)
                    .or_else(|| s.sticker_id.map(|id| format!("sticker{id}")));
                file(AttachmentKind::Image, reference, Some("image/png"))
            }),
            _ => None,
        };
        match found {
            Some(f) => files.push(f),
            None => notes.push(format!("[vk attachment: {}]", attachment.kind)),
        }
    }
    (files, notes)
}

/// The message's text with the notes of unreadable attachments and forwarded texts after it.
fn text_with(message: &Message, notes: Vec<String>) -> String {
    let mut parts = Vec::new();
    if !message.text.is_empty() {
        parts.push(message.text.clone());
    }
    for forwarded in &message.fwd_messages {
        let from = forwarded
            .from_id
            .map(|id| format!(" from id{id}"))
            .unwrap_or_default();
        parts.push(format!("[forwarded{from}] {}", forwarded.text));
    }
    parts.extend(notes);
    parts.join("\n")
}

fn new_message(message: Message) -> Result<Inbound, WebhookError> {
    let sent_at = unix_seconds(message.date, "message.date")?;
    let (files, notes) = attachments(&message);
    let location = message.geo.as_ref().and_then(|geo| {
        geo.coordinates.as_ref().map(|c| Location {
            latitude: c.latitude,
            longitude: c.longitude,
            name: geo
                .place
                .as_ref()
                .and_then(|p| non_blank(p.title.as_deref())),
            address: geo
                .place
                .as_ref()
                .and_then(|p| non_blank(p.address.as_deref())),
        })
    });
    let text = text_with(&message, notes);
    Ok(Inbound::Message(InboundMessage {
        external_id: external_id(message.peer_id, message.conversation_message_id),
        sender: sender(message.from_id),
        reply_to: message
            .reply_message
            .as_ref()
            .and_then(|q| q.conversation_message_id)
            .map(|cmid| external_id(message.peer_id, cmid)),
        forwarded_from: None,
        text,
        attachments: files,
        location,
        contacts: vec![],
        sent_at,
    }))
}

fn edit(message: Message) -> Result<Inbound, WebhookError> {
    let edited_at = unix_seconds(
        message.update_time.unwrap_or(message.date),
        "message.update_time",
    )?;
    let (files, notes) = attachments(&message);
    Ok(Inbound::Edit(InboundEdit {
        external_id: external_id(message.peer_id, message.conversation_message_id),
        sender: sender(message.from_id),
        text: text_with(&message, notes),
        attachments: files,
        edited_at,
    }))
}

/// The `random_id` of `messages.send` for one of our messages: VK drops a second send with the
/// same `random_id`, so a retried delivery is not sent twice. Never 0 (0 means "no dedup").
pub fn random_id(message: switchboard_schemas::MessageId) -> i32 {
    let bytes = message.as_uuid().as_bytes();
    let value = i32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) & i32::MAX;
    value.max(1)
}
