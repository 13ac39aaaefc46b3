//! Raw RFC 5322 bytes → [`InboundMail`], through stalwartlabs' `mail-parser`.
//!
//! Never panics on any input (a proptest in `tests/it/email/fuzz.rs` feeds it arbitrary and
//! MIME-shaped bytes); charsets (utf-8, koi8-r, windows-1251, …), quoted-printable, base64 and
//! RFC 2047 encoded-words are decoded by `mail-parser`. What the parser yields is normalised here:
//! the external id, the sender, the first text part (an HTML part turned into text when there is
//! no plain one), the attachments and the thread keys.

use super::{InboundMail, MailAddress, MailAttachment};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// The longest external id the domain accepts (`DialogCommand::ReceiveMessage` refuses longer
/// ones); a longer Message-ID is replaced by the hash of the raw bytes.
pub const EXTERNAL_ID_MAX_CHARS: usize = 200;
/// The longest inbound text the domain accepts; longer text is cut at this many characters and
/// [`InboundMail::text_truncated`] is set.
pub const TEXT_MAX_CHARS: usize = 100_000;
/// At most this many thread keys (In-Reply-To + References) are kept, the most recent ones.
pub const THREAD_KEYS_MAX: usize = 64;

/// Why bytes are not a mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty input")]
    Empty,
    #[error("no header could be parsed")]
    NoHeaders,
    /// `mail-parser` itself failed on the input (0.11.9 panics on some malformed nested
    /// `message/rfc822` parts): refused like any other malformed mail, never a crash.
    #[error("the MIME structure could not be parsed")]
    ParserFailed,
}

/// Parses one message. Refuses only input in which `mail-parser` finds no message at all, or
/// on which it fails.
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    // The parser is third-party code: a panic inside it must not take the ingest loop (or the
    // server) down with one bad mail.
    std::panic::catch_unwind(|| parse_unguarded(raw)).unwrap_or(Err(ParseError::ParserFailed))
}

fn parse_unguarded(raw: &[u8]) -> Result<InboundMail, ParseError> {
    let mut message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NoHeaders)?;

    let message_id = message
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let external_id = match &message_id {
        Some(id) if is_usable_id(id) => id.clone(),
        _ => raw_hash_id(raw),
    };
    let from = message.from().and_then(first_address);
    let subject = message.subject().map(str::to_owned);
    let (text, text_truncated) = match message.body_text(0) {
        Some(text) => truncate_chars(&text, TEXT_MAX_CHARS),
        None => (String::new(), false),
    };
    let in_reply_to = id_list(message.in_reply_to());
    let references = id_list(message.references());
    let sent_at = message.date().map(|d| d.to_timestamp());
    let attachments = take_attachments(&mut message);
    Ok(InboundMail {
        external_id,
        message_id,
        from,
        subject,
        text,
        text_truncated,
        attachments,
        in_reply_to,
        references,
        sent_at,
    })
}

/// The attachments, their decoded bytes moved out of the parsed message: a base64 or
/// quoted-printable part is decoded once and not copied again (an 8bit or binary part borrows the
/// raw mail, and is copied once).
fn take_attachments(message: &mut Message<'_>) -> Vec<MailAttachment> {
    let ids = message.attachments.clone();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(part) = message.parts.get_mut(id as usize) else {
            continue;
        };
        let mime_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| default_mime(&part.body).to_owned())
            .to_ascii_lowercase();
        let file_name = part.attachment_name().map(str::to_owned);
        let bytes = match std::mem::take(&mut part.body) {
            PartType::Text(text) | PartType::Html(text) => text.into_owned().into_bytes(),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.into_owned(),
            PartType::Message(inner) => inner.raw_message.into_owned(),
            PartType::Multipart(_) => Vec::new(),
        };
        out.push(MailAttachment {
            file_name,
            mime_type,
            size_bytes: bytes.len() as u64,
            bytes,
        });
    }
    out
}

/// `sha256:<hex>` of the raw bytes: the external id of a mail without a usable Message-ID. The
/// same bytes fetched twice give the same id.
pub fn raw_hash_id(raw: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw)))
}

fn is_usable_id(id: &str) -> bool {
    id.chars().count() <= EXTERNAL_ID_MAX_CHARS && !id.chars().any(char::is_control)
}

fn first_address(address: &Address<'_>) -> Option<MailAddress> {
    let addr = address.first()?;
    let name = addr
        .name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let address = addr
        .address()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if name.is_none() && address.is_none() {
        return None;
    }
    Some(MailAddress { name, address })
}

/// The ids of an In-Reply-To or References header, in header order, without angle brackets,
/// the last [`THREAD_KEYS_MAX`] of them.
fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let mut ids: Vec<String> = match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    };
    ids.retain(|id| !id.trim().is_empty() && is_usable_id(id));
    let excess = ids.len().saturating_sub(THREAD_KEYS_MAX);
    ids.drain(..excess);
    ids
}

fn default_mime(body: &PartType<'_>) -> &'static str {
    match body {
        PartType::Text(_) => "text/plain",
        PartType::Html(_) => "text/html",
        PartType::Message(_) => "message/rfc822",
        PartType::Multipart(_) => "multipart/mixed",
        PartType::Binary(_) | PartType::InlineBinary(_) => "application/octet-stream",
    }
}

/// `text` cut to at most `max` characters, and whether it was cut.
fn truncate_chars(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((end, _)) => (text[..end].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("жжж", 2), ("жж".to_owned(), true));
        assert_eq!(truncate_chars("жж", 2), ("жж".to_owned(), false));
        assert_eq!(truncate_chars("", 0), (String::new(), false));
    }

    #[test]
    fn a_missing_message_id_gives_the_hash_of_the_bytes() {
        let raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
        let mail = parse(raw).expect("parses");
        assert_eq!(mail.message_id, None);
        assert_eq!(mail.external_id, raw_hash_id(raw));
        assert!(mail.external_id.starts_with("sha256:"));
        assert_eq!(mail.external_id.len(), "sha256:".len() + 64);
    }

    #[test]
    fn whitespace_only_input_is_refused() {
        assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
        assert_eq!(parse(b" \r\n\t").unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn an_over_long_message_id_is_replaced_by_the_hash() {
        let id = "x".repeat(EXTERNAL_ID_MAX_CHARS + 1);
        let raw = format!("Message-ID: <{id}@example.com>\r\nSubject: s\r\n\r\nb\r\n");
        let mail = parse(raw.as_bytes()).expect("parses");
        assert!(mail.external_id.starts_with("sha256:"));
    }

    #[test]
    fn a_nested_message_that_makes_the_mime_parser_panic_is_refused_not_a_crash() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n\r\n--b1--\r\n";
        assert_eq!(parse(raw).unwrap_err(), ParseError::ParserFailed);
    }
}
