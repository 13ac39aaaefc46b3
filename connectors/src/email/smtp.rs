//! Outbound mail by SMTP (lettre on tokio): a message or a reply, with our own Message-ID.
//!
//! Every mail we send gets `Message-ID: <uuid@our-domain>`; [`SentMail::message_id`] is recorded
//! (the message's external id) so that a client's answer, whose In-Reply-To / References name it,
//! threads back into the same dialog. A reply carries `In-Reply-To` (the client's Message-ID) and
//! `References` (the client's References plus that id), so the client's mail program threads it.

use super::InboundMail;
use super::parse::THREAD_KEYS_MAX;
use super::settings::{EmailSettings, Security};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// What the client's mail names, for a reply to thread under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadParent {
    /// The Message-ID answered (without angle brackets).
    pub message_id: String,
    /// The answered mail's References, oldest first.
    pub references: Vec<String>,
}

/// A file attached to a mail.
#[derive(Clone, PartialEq, Eq)]
pub struct MailFile {
    pub file_name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for MailFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailFile")
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A mail to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundMail {
    pub to_address: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    /// `Some` for a reply.
    pub parent: Option<ThreadParent>,
}

impl std::fmt::Debug for OutboundMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMail")
            .field("text_chars", &self.text.chars().count())
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl OutboundMail {
    /// A reply to `mail`: to its sender, `Re: ` its subject (once), threaded under it when it
    /// has a Message-ID. `None` when the mail has no sender address.
    pub fn reply_to(mail: &InboundMail, text: impl Into<String>) -> Option<Self> {
        let from = mail.from.as_ref()?;
        let to_address = from.address.clone()?;
        let subject = match mail.subject.as_deref().map(str::trim) {
            // `get`, not a slice: the subject may start with a multi-byte character.
            Some(s) if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) => s.to_owned(),
            Some(s) if !s.is_empty() => format!("Re: {s}"),
            _ => "Re:".to_owned(),
        };
        let parent = mail.message_id.clone().map(|message_id| ThreadParent {
            message_id,
            references: mail.references.clone(),
        });
        Some(Self {
            to_address,
            to_name: from.name.clone(),
            subject,
            text: text.into(),
            parent,
        })
    }
}

/// A mail the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// Our Message-ID (without angle brackets): the external id of the sent message.
    pub message_id: String,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("{field} is not a valid address: {source}")]
    Address {
        field: &'static str,
        source: lettre::address::AddressError,
    },
    #[error("the mail cannot be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("smtp: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

impl SmtpError {
    /// The server refused for good (5xx) or the mail itself is wrong: retrying will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            SmtpError::Address { .. } | SmtpError::Build(_) => true,
            SmtpError::Transport(e) => e.is_permanent(),
        }
    }
}

/// Sends a channel's mail through its SMTP server.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for the channel `settings` (no connection is made until the first send).
    pub fn new(settings: &EmailSettings) -> Result<Self, SmtpError> {
        let smtp = &settings.smtp;
        let builder = match smtp.security {
            Security::ImplicitTls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        };
        let domain = settings.domain().to_owned();
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(smtp.timeout))
            .hello_name(ClientId::Domain(domain.clone()));
        if let Some((user, password)) = &smtp.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let address = settings
            .address
            .parse()
            .map_err(|source| SmtpError::Address {
                field: "the channel address",
                source,
            })?;
        Ok(Self {
            transport: builder.build(),
            from: Mailbox::new(settings.display_name.clone(), address),
            domain,
        })
    }

    /// Sends `mail` with a new Message-ID of ours.
    pub async fn send(&self, mail: &OutboundMail) -> Result<SentMail, SmtpError> {
        self.send_with(mail, Vec::new()).await
    }

    /// Sends `mail` with `files` attached (`multipart/mixed`: the text, then each file).
    pub async fn send_with(
        &self,
        mail: &OutboundMail,
        files: Vec<MailFile>,
    ) -> Result<SentMail, SmtpError> {
        let message_id = format!("{}@{}", uuid::Uuid::new_v4(), self.domain);
        let message = self.build(mail, &message_id, files)?;
        self.transport.send(message).await?;
        tracing::debug!(message_id = %message_id, "smtp mail accepted");
        Ok(SentMail { message_id })
    }

    fn build(
        &self,
        mail: &OutboundMail,
        message_id: &str,
        files: Vec<MailFile>,
    ) -> Result<Message, SmtpError> {
        let to_address = mail
            .to_address
            .parse()
            .map_err(|source| SmtpError::Address {
                field: "the recipient",
                source,
            })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(mail.to_name.clone(), to_address))
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{message_id}>")))
            .date_now();
        if let Some(parent) = &mail.parent {
            builder = builder
                .in_reply_to(format!("<{}>", parent.message_id))
                .references(references_header(parent));
        }
        if files.is_empty() {
            return Ok(builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone())?);
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone()));
        for file in files {
            let content_type = ContentType::parse(&file.mime_type)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .unwrap_or(ContentType::TEXT_PLAIN);
            parts =
                parts.singlepart(Attachment::new(file.file_name).body(file.bytes, content_type));
        }
        Ok(builder.multipart(parts)?)
    }
}

/// The parent's References then its own id, each once, the last [`THREAD_KEYS_MAX`], in angle
/// brackets separated by spaces.
fn references_header(parent: &ThreadParent) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for id in parent
        .references
        .iter()
        .map(String::as_str)
        .chain([parent.message_id.as_str()])
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let excess = ids.len().saturating_sub(THREAD_KEYS_MAX);
    ids[excess..]
        .iter()
        .map(|id| format!("<{id}>"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_end_with_the_parent_and_hold_each_id_once() {
        let parent = ThreadParent {
            message_id: "c@x".to_owned(),
            references: vec!["a@x".to_owned(), "b@x".to_owned(), "c@x".to_owned()],
        };
        assert_eq!(references_header(&parent), "<a@x> <b@x> <c@x>");
    }

    #[test]
    fn a_reply_subject_gets_one_re() {
        let mail =
            crate::email::parse(b"From: a@b.c\r\nSubject: RE: hello\r\n\r\nx\r\n").expect("parses");
        let reply = OutboundMail::reply_to(&mail, "ok").expect("a reply");
        assert_eq!(reply.subject, "RE: hello");
        let mail =
            crate::email::parse(b"From: a@b.c\r\nSubject: hello\r\n\r\nx\r\n").expect("parses");
        let reply = OutboundMail::reply_to(&mail, "ok").expect("a reply");
        assert_eq!(reply.subject, "Re: hello");
        assert_eq!(reply.parent, None, "no Message-ID, nothing to thread under");
        let mail = crate::email::parse("From: a@b.c\r\nSubject: Заказ\r\n\r\nx\r\n".as_bytes())
            .expect("parses");
        let reply = OutboundMail::reply_to(&mail, "ok").expect("a reply");
        assert_eq!(reply.subject, "Re: Заказ");
    }
}
