//! A received mail as the connectors' provider-neutral [`Inbound`], its attachments in the
//! [`AttachmentStore`], and its recording into the dialog of its thread or of its sender.
//!
//! Decisions:
//! - **Identity = address** (F11.2): the lower-cased `From` address is the client's email
//!   identity; an unknown one creates the client and dialog (F5.2, through [`record::dialog_of`]).
//! - **Threading joins the dialog of the referenced message when known**: the first of the mail's
//!   thread keys (In-Reply-To, then References newest first) that the channel's
//!   [`ConnectorState`] knows (a mail we received, or one we sent: the outbound side records our
//!   Message-ID) names the dialog, whoever the sender is. The sender's address is *not* claimed for
//!   that dialog: a colleague answering in the thread is another person, and claiming would send
//!   their own later mail into this client's dialog. Without a known key, the sender's dialog.
//!   A thread's dialog merged into another (F4.9) is followed to the survivor; one deleted or not
//!   on this channel gives way to the sender's dialog.
//! - **A mail with no text**: the subject becomes the text, else `(no text)`. The domain refuses a
//!   message with neither text nor attachments, and nothing a provider sends is dropped; the
//!   subject is what the client wrote, so it is the most faithful stand-in.
//! - **A mail over the fetcher's size limit** (its header only) reads `[mail of N bytes not
//!   downloaded: over the limit]` and the subject: the operator sees that it came.
//! - **Attachments** go into the store ([`ATTACHMENT_MAX_BYTES`] each) and the event's
//!   `storage_ref` is the hash (`sha256:<hex>`); the type is the sniffed one when the bytes show
//!   one, else the mail's declared type. One over the cap is not stored and the text says so.

use super::InboundMail;
use super::imap::FetchedMail;
use crate::attachments::{AttachmentError, AttachmentStore};
use crate::inbound::{Inbound, InboundAttachment, InboundMessage, Sender};
use crate::ingest::{self, ChannelRef};
use crate::record::{self, Recorded};
use crate::state::{ConnectorState, StateError, ThreadEntry};
use switchboard_core::domain::Refusal;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::log::EventLog;
use switchboard_core::service::{CommandError, CommandMeta, CommandService};
use switchboard_schemas::{Actor, AttachmentKind, DialogId, MessageId, ProjectId, Timestamp};

/// The largest mail attachment kept, 25 MiB (what the large mail providers accept per mail).
/// Mails are fetched whole up to the settings' `message_max_bytes` (50 MiB by default), so an
/// attachment in memory is at most that, decoded once.
pub const ATTACHMENT_MAX_BYTES: u64 = 25 * 1024 * 1024;

/// How many merges (F4.9) a mail follows to the dialog that has its thread now.
const MERGE_HOPS: usize = 8;

/// Why a mail could not be recorded now (retry the batch later: nothing of it is lost).
#[derive(Debug, thiserror::Error)]
pub enum RecordMailError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
}

/// What the provider-neutral form needs beyond the parsed mail.
#[derive(Debug, Clone, Default)]
pub struct MailExtras {
    /// The attachments as stored: `provider_ref` is the blob's `sha256:<hex>`.
    pub attachments: Vec<InboundAttachment>,
    /// Lines about what was not kept (an attachment over the cap).
    pub notes: Vec<String>,
    /// The whole mail's size when only its header was fetched.
    pub body_skipped: Option<u64>,
    /// INTERNALDATE (Unix seconds), used when the mail has no `Date`.
    pub received_at: Option<i64>,
}

/// The mail as an [`Inbound::Message`]; `None` when it names no sender address (no identity to
/// file it under).
pub fn to_inbound(mail: &InboundMail, extras: MailExtras) -> Option<Inbound> {
    let address = mail.identity_key()?;
    let sender = Sender {
        ids: vec![address],
        name: mail.from.as_ref().and_then(|from| from.name.clone()),
        ..Sender::default()
    };
    let seconds = mail.sent_at.or(extras.received_at);
    let sent_at = seconds
        .and_then(|s| s.checked_mul(1_000_000))
        .map_or_else(Timestamp::now, Timestamp::from_micros);
    Some(Inbound::Message(InboundMessage {
        external_id: mail.external_id.clone(),
        sender,
        text: mail_text(mail, &extras),
        attachments: extras.attachments,
        location: None,
        contacts: Vec::new(),
        reply_to: None,
        forwarded_from: None,
        sent_at,
    }))
}

/// The text a mail shows (see the module's decisions).
pub fn mail_text(mail: &InboundMail, extras: &MailExtras) -> String {
    let subject = mail.subject.as_deref().map(str::trim).unwrap_or("");
    let mut lines = Vec::new();
    if let Some(size) = extras.body_skipped {
        lines.push(format!(
            "[mail of {size} bytes not downloaded: over the limit]"
        ));
        if !subject.is_empty() {
            lines.push(subject.to_owned());
        }
    } else if !mail.text.trim().is_empty() {
        lines.push(mail.text.clone());
    } else if extras.attachments.is_empty() {
        lines.push(if subject.is_empty() {
            "(no text)".to_owned()
        } else {
            subject.to_owned()
        });
    }
    lines.extend(extras.notes.iter().cloned());
    let text = lines.join("\n");
    crate::inbound::truncate_chars(&text, super::parse::TEXT_MAX_CHARS)
}

/// The catalog's kind of a file of type `mime`.
pub fn attachment_kind(mime: &str) -> AttachmentKind {
    match mime.split('/').next().unwrap_or("") {
        "image" => AttachmentKind::Image,
        "audio" => AttachmentKind::Audio,
        "video" => AttachmentKind::Video,
        _ => AttachmentKind::File,
    }
}

/// Moves the mail's attachments into `store` (each freed once written) and answers the stored
/// ones and the notes about those over the cap.
pub async fn store_attachments(
    store: &AttachmentStore,
    mail: &mut InboundMail,
    max: u64,
) -> Result<(Vec<InboundAttachment>, Vec<String>), AttachmentError> {
    let mut stored = Vec::new();
    let mut notes = Vec::new();
    for part in std::mem::take(&mut mail.attachments) {
        let name = part.file_name.clone();
        if part.size_bytes > max {
            notes.push(format!(
                "[attachment {} of {} bytes not kept: over the {max} byte limit]",
                name.as_deref().unwrap_or("(unnamed)"),
                part.size_bytes,
            ));
            continue;
        }
        let put = store.put_bytes(&part.bytes, max).await?;
        let mime = put.sniffed_mime.map_or(part.mime_type, str::to_owned);
        stored.push(InboundAttachment {
            kind: attachment_kind(&mime),
            provider_ref: put.hash.storage_ref(),
            mime_type: Some(mime),
            size_bytes: Some(put.size),
            file_name: name,
            provider_kind: "mail_part".to_owned(),
        });
    }
    Ok((stored, notes))
}

/// Everything one channel's mail is recorded with.
#[derive(Debug)]
pub struct MailSink<L: EventLog> {
    pub service: CommandService<L>,
    pub project: ProjectId,
    pub channel: ChannelRef,
    pub state: ConnectorState,
    pub store: AttachmentStore,
    /// The largest attachment kept ([`ATTACHMENT_MAX_BYTES`] unless the channel says less).
    pub attachment_max: u64,
}

/// Records one fetched mail: attachments into the store, the dialog of its thread or sender,
/// `ReceiveMessage` with the deterministic command id (a redo appends nothing), and its
/// Message-ID remembered for the replies to come. A mail the domain refuses (a blocked client)
/// or that names no sender is logged and passed over: asking again would not change the answer.
pub async fn record_mail<L: EventLog>(
    sink: &MailSink<L>,
    fetched: FetchedMail,
) -> Result<Option<Recorded>, RecordMailError> {
    let uid = fetched.uid;
    let Ok(mut mail) = fetched.mail else {
        tracing::warn!(uid, "imap mail with no header: not recorded");
        return Ok(None);
    };
    let (attachments, notes) =
        store_attachments(&sink.store, &mut mail, sink.attachment_max).await?;
    let extras = MailExtras {
        attachments,
        notes,
        body_skipped: fetched.body_skipped.then_some(fetched.size.unwrap_or(0)),
        received_at: fetched.internal_date,
    };
    let Some(inbound) = to_inbound(&mail, extras) else {
        tracing::warn!(uid, "imap mail without a sender address: not recorded");
        return Ok(Some(Recorded::NoDialog));
    };
    let Inbound::Message(message) = &inbound else {
        return Ok(None);
    };
    let thread = sink.state.find_thread(&mail.thread_keys()).await?;
    let mut target = thread.map(|entry| entry.dialog);
    let mut hops = 0;
    let recorded = loop {
        let reply_to = target.and(thread.map(|entry| entry.message));
        match receive(sink, &inbound, message, target, reply_to).await {
            // Merged (F4.9): the survivor has the conversation now.
            Err(CommandError::Refused(Refusal::MergedInto(survivor))) if hops < MERGE_HOPS => {
                hops += 1;
                target = Some(survivor);
            }
            // The thread's dialog cannot take it (deleted, or not on this channel): the
            // sender's dialog.
            Err(CommandError::Refused(
                Refusal::ChannelUnavailable(_) | Refusal::Deleted | Refusal::NoSuchDialog,
            )) if target.is_some() => target = None,
            other => break other,
        }
    };
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(CommandError::Refused(Refusal::Blocked)) => {
            tracing::info!(uid, "imap mail of a blocked client: not recorded");
            return Ok(None);
        }
        Err(CommandError::Refused(refusal)) => {
            tracing::warn!(uid, %refusal, "imap mail refused by the dialog: not recorded");
            return Ok(None);
        }
        Err(other) => return Err(other.into()),
    };
    if let (Some(message_id), Recorded::Done { dialog, .. }) = (&mail.message_id, recorded) {
        let entry = ThreadEntry {
            dialog,
            message: ingest::message_id(sink.channel.channel, &message.external_id),
        };
        sink.state.remember_thread(message_id, entry).await?;
    }
    Ok(Some(recorded))
}

/// `ReceiveMessage` on `dialog`, or on the sender's dialog when `None`.
async fn receive<L: EventLog>(
    sink: &MailSink<L>,
    inbound: &Inbound,
    message: &InboundMessage,
    dialog: Option<DialogId>,
    thread_message: Option<MessageId>,
) -> Result<Recorded, CommandError> {
    let dialog = match dialog {
        Some(dialog) => dialog,
        None => {
            record::dialog_of(&sink.service, sink.project, sink.channel, &message.sender).await?
        }
    };
    let mut command = ingest::receive_command(sink.channel, message);
    if let DialogCommand::ReceiveMessage {
        attachments,
        reply_to,
        ..
    } = &mut command
    {
        // Stored blobs: the reference is the hash itself, not a provider's file id.
        for (attachment, file) in attachments.iter_mut().zip(&message.attachments) {
            attachment.storage_ref = file.provider_ref.clone();
        }
        *reply_to = thread_message;
    }
    let meta = CommandMeta {
        command_id: ingest::command_id(sink.channel.channel, inbound),
        actor: Actor::Connector(sink.channel.channel),
        correlation_id: None,
    };
    let ack = sink
        .service
        .dialog(sink.project, dialog, command, meta)
        .await?;
    Ok(Recorded::Done { dialog, ack })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::parse;

    fn text_of(raw: &str, extras: &MailExtras) -> String {
        mail_text(&parse(raw.as_bytes()).expect("parses"), extras)
    }

    #[test]
    fn a_mail_without_text_shows_its_subject_or_says_so() {
        let none = MailExtras::default();
        assert_eq!(
            text_of("From: a@b.c\r\nSubject: Invoice\r\n\r\n", &none),
            "Invoice"
        );
        assert_eq!(
            text_of("From: a@b.c\r\nSubject:  \r\n\r\n  \r\n", &none),
            "(no text)"
        );
        assert_eq!(
            text_of("From: a@b.c\r\nSubject: s\r\n\r\nbody\r\n", &none),
            "body\r\n"
        );
    }

    #[test]
    fn a_mail_with_only_a_file_has_no_stand_in_text_and_notes_are_added() {
        let file = InboundAttachment {
            kind: AttachmentKind::File,
            provider_ref: "sha256:00".into(),
            mime_type: None,
            size_bytes: Some(1),
            file_name: None,
            provider_kind: "mail_part".into(),
        };
        let extras = MailExtras {
            attachments: vec![file],
            notes: vec!["[attachment x not kept]".into()],
            ..MailExtras::default()
        };
        let raw = "From: a@b.c\r\nSubject: s\r\n\r\n";
        assert_eq!(text_of(raw, &extras), "[attachment x not kept]");
        let skipped = MailExtras {
            body_skipped: Some(60_000_000),
            ..MailExtras::default()
        };
        assert_eq!(
            text_of("From: a@b.c\r\nSubject: big\r\n\r\n", &skipped),
            "[mail of 60000000 bytes not downloaded: over the limit]\nbig"
        );
    }

    #[test]
    fn the_sender_is_the_lower_cased_address_and_no_address_is_no_item() {
        let mail =
            parse(b"From: Ann <Ann@X.Example>\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n").expect("parses");
        let Some(Inbound::Message(message)) = to_inbound(&mail, MailExtras::default()) else {
            panic!("a message");
        };
        assert_eq!(message.sender.ids, vec!["ann@x.example".to_owned()]);
        assert_eq!(message.sender.name.as_deref(), Some("Ann"));
        assert_eq!(message.external_id, "m@x");
        let nameless = parse(b"From: Nobody\r\nSubject: s\r\n\r\nhi\r\n").expect("parses");
        assert_eq!(to_inbound(&nameless, MailExtras::default()), None);
    }

    #[test]
    fn kinds_follow_the_type() {
        assert_eq!(attachment_kind("image/jpeg"), AttachmentKind::Image);
        assert_eq!(attachment_kind("audio/ogg"), AttachmentKind::Audio);
        assert_eq!(attachment_kind("video/mp4"), AttachmentKind::Video);
        assert_eq!(attachment_kind("application/pdf"), AttachmentKind::File);
        assert_eq!(attachment_kind(""), AttachmentKind::File);
    }
}
