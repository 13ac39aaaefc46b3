//! The email channel: inbound by IMAP, outbound by SMTP.
//!
//! - [`parse`]: raw bytes → [`InboundMail`] (mail-parser; never panics on input).
//! - [`imap`]: [`imap::ImapFetcher`] yields each new message of a mailbox once, driven by an
//!   [`imap::ImapCursor`] (UIDVALIDITY + last UID + the recent external ids) that the caller
//!   persists; IDLE when the server offers it, polling otherwise. `tls` is its connection.
//! - [`smtp`]: [`smtp::SmtpSender`] sends a mail or a reply with our own Message-ID and the
//!   In-Reply-To / References that thread it into the client's conversation.
//! - [`settings`]: what an admin enters to connect an `email` channel; passwords are
//!   [`settings::Secret`]s, which no `Debug` or log shows.
//!
//! - [`inbound`]: an [`InboundMail`] as the provider-neutral `Inbound`, its attachments into the
//!   attachment store, and its recording into the dialog of its thread or of its sender.
//! - [`mailbox`]: the ingest loop: fetch, record, save the cursor, wait; reconnect with backoff.
//!
//! [`InboundMail`] is this module's own normalised form of a received mail: the client's identity
//! ([`InboundMail::channel_identity`], the lower-cased address), the external id (the Message-ID,
//! or the hash of the raw bytes) and the thread keys.

pub mod imap;
pub mod inbound;
pub mod mailbox;
pub mod parse;
pub mod settings;
pub mod smtp;
mod tls;

pub use parse::{ParseError, parse};
pub use settings::{EmailSettings, ImapSettings, Secret, Security, SmtpSettings};

use switchboard_schemas::{ChannelId, ChannelIdentity, ChannelKind};

/// A received mail, normalised.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// The Message-ID without angle brackets, or `sha256:<hex>` of the raw bytes when the mail has
    /// none (or one the domain would refuse: longer than
    /// [`parse::EXTERNAL_ID_MAX_CHARS`], or with control characters).
    pub external_id: String,
    /// The Message-ID as the mail gave it (without angle brackets), if any.
    pub message_id: Option<String>,
    /// The first address of `From`.
    pub from: Option<MailAddress>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The first text part, decoded; an HTML part converted to text when the mail has no plain
    /// text body. Empty when the mail has no text at all. At most [`parse::TEXT_MAX_CHARS`].
    pub text: String,
    /// Whether `text` was cut at [`parse::TEXT_MAX_CHARS`].
    pub text_truncated: bool,
    pub attachments: Vec<MailAttachment>,
    /// Ids of `In-Reply-To`, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// Ids of `References`, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// The `Date` header as Unix seconds.
    pub sent_at: Option<i64>,
}

impl InboundMail {
    /// The sender's address lower-cased: the key of the client's email identity.
    pub fn identity_key(&self) -> Option<String> {
        let address = self.from.as_ref()?.address.as_deref()?.trim();
        (!address.is_empty()).then(|| address.to_lowercase())
    }

    /// The client's identity on the email channel `channel`.
    pub fn channel_identity(&self, channel: ChannelId) -> Option<ChannelIdentity> {
        Some(ChannelIdentity {
            channel,
            kind: ChannelKind::Email,
            external_id: self.identity_key()?,
        })
    }

    /// Every id this mail refers to, most recent first: In-Reply-To, then References from the
    /// newest. The first one that names a message we know is the dialog the mail belongs to.
    pub fn thread_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.in_reply_to.iter().map(String::as_str).collect();
        for id in self.references.iter().rev() {
            if !keys.contains(&id.as_str()) {
                keys.push(id);
            }
        }
        keys
    }
}

/// Mails carry personal data: `Debug` shows the ids and sizes only.
impl std::fmt::Debug for InboundMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMail")
            .field("external_id", &self.external_id)
            .field("text_chars", &self.text.chars().count())
            .field("attachments", &self.attachments.len())
            .field("in_reply_to", &self.in_reply_to)
            .field("references", &self.references.len())
            .finish_non_exhaustive()
    }
}

/// A mailbox: display name and address, as the header gave them (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// An attachment with its decoded bytes; blob storage and the domain's `Attachment` reference
/// are the caller's.
#[derive(Clone, PartialEq, Eq)]
pub struct MailAttachment {
    pub file_name: Option<String>,
    /// Lower-cased `type/subtype`.
    pub mime_type: String,
    pub size_bytes: u64,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for MailAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailAttachment")
            .field("file_name", &self.file_name)
            .field("mime_type", &self.mime_type)
            .field("size_bytes", &self.size_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_lower_cased_address() {
        let mail = parse(b"From: Ivan <Ivan.Petrov@Example.COM>\r\nSubject: x\r\n\r\nhi\r\n")
            .expect("parses");
        assert_eq!(
            mail.identity_key().as_deref(),
            Some("ivan.petrov@example.com")
        );
        let channel = ChannelId::from_uuid(uuid::Uuid::nil());
        let identity = mail.channel_identity(channel).expect("an identity");
        assert_eq!(identity.kind, ChannelKind::Email);
        assert_eq!(identity.external_id, "ivan.petrov@example.com");
    }

    #[test]
    fn thread_keys_put_in_reply_to_first_then_references_newest_first() {
        let raw =
            b"From: a@b.c\r\nIn-Reply-To: <3@x>\r\nReferences: <1@x> <2@x> <3@x>\r\n\r\nhi\r\n";
        let mail = parse(raw).expect("parses");
        assert_eq!(mail.thread_keys(), vec!["3@x", "2@x", "1@x"]);
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let mail = parse(b"From: secret@person.example\r\nSubject: private\r\n\r\nmy text\r\n")
            .expect("parses");
        let shown = format!("{mail:?}");
        assert!(!shown.contains("secret@person"), "{shown}");
        assert!(!shown.contains("private"), "{shown}");
        assert!(!shown.contains("my text"), "{shown}");
    }
}
