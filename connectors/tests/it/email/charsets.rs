//! Mails as Russian clients' programs write them: koi8-r and windows-1251 bodies (8bit,
//! quoted-printable, base64), RFC 2047 encoded-word subjects and names, RFC 2231 file names,
//! an HTML-only mail. The bytes are produced here with encoding_rs and base64, independently of
//! the parser; one of them also goes through Dovecot and IMAP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use encoding_rs::{Encoding, KOI8_R, WINDOWS_1251};
use switchboard_connectors::email::imap::{ImapCursor, ImapFetcher};
use switchboard_connectors::email::{ImapSettings, InboundMail, Secret, Security, parse};
use switchboard_tests::mail::{DovecotServer, IMAP_PASSWORD};

const TEXT: &str = "Здравствуйте! Ёлка, щука и съешь же ещё этих мягких французских булок.";
const SUBJECT: &str = "Вопрос по заказу 42: ёж";
const NAME: &str = "Пётр Иванов";

fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{text} is not all in {}", encoding.name());
    bytes.into_owned()
}

/// RFC 2047 B-encoding of `text` in `encoding`.
fn word_b(encoding: &'static Encoding, text: &str) -> String {
    format!(
        "=?{}?B?{}?=",
        encoding.name(),
        BASE64.encode(encode(encoding, text))
    )
}

/// RFC 2047 Q-encoding of `text` in `encoding`.
fn word_q(encoding: &'static Encoding, text: &str) -> String {
    let mut encoded = String::new();
    for byte in encode(encoding, text) {
        match byte {
            b' ' => encoded.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => encoded.push(byte as char),
            _ => encoded.push_str(&format!("={byte:02X}")),
        }
    }
    format!("=?{}?Q?{encoded}?=", encoding.name())
}

/// Quoted-printable body: lines of at most 76 characters with soft breaks.
fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &byte in bytes {
        let piece = match byte {
            b'!'..=b'<' | b'>'..=b'~' | b' ' => (byte as char).to_string(),
            _ => format!("={byte:02X}"),
        };
        if line + piece.len() > 75 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = BASE64.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn headers(from_name: &str, subject: &str, content_type: &str, cte: &str) -> Vec<u8> {
    format!(
        "From: {from_name} <Petr.Ivanov@Client.Example>\r\nTo: support@shop.example\r\n\
         Subject: {subject}\r\nMessage-ID: <charset-test@client.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes()
}

fn assert_russian(mail: &InboundMail) {
    assert_eq!(mail.subject.as_deref(), Some(SUBJECT));
    assert_eq!(mail.text.trim_end(), TEXT);
    let from = mail.from.as_ref().expect("a sender");
    assert_eq!(from.name.as_deref(), Some(NAME));
    assert_eq!(
        mail.identity_key().as_deref(),
        Some("petr.ivanov@client.example")
    );
}

fn koi8r_8bit_mail() -> Vec<u8> {
    let mut raw = headers(
        &word_b(KOI8_R, NAME),
        &word_b(KOI8_R, SUBJECT),
        "text/plain; charset=koi8-r",
        "8bit",
    );
    raw.extend(encode(KOI8_R, TEXT));
    raw.extend(b"\r\n");
    raw
}

#[test]
fn koi8r_8bit_body_and_base64_encoded_words() {
    assert_russian(&parse(&koi8r_8bit_mail()).expect("parses"));
}

#[test]
fn windows1251_quoted_printable_body_and_q_encoded_words() {
    let mut raw = headers(
        &word_q(WINDOWS_1251, NAME),
        &word_q(WINDOWS_1251, SUBJECT),
        "text/plain; charset=\"windows-1251\"",
        "quoted-printable",
    );
    raw.extend(quoted_printable(&encode(WINDOWS_1251, TEXT)).into_bytes());
    raw.extend(b"\r\n");
    assert_russian(&parse(&raw).expect("parses"));
}

#[test]
fn koi8r_base64_body_with_a_subject_split_over_two_encoded_words() {
    let (first, second) = SUBJECT.split_at(SUBJECT.find(' ').expect("a space"));
    let subject = format!(
        "{}\r\n {}",
        word_b(KOI8_R, first),
        word_q(WINDOWS_1251, second)
    );
    let mut raw = headers(
        &word_b(KOI8_R, NAME),
        &subject,
        "text/plain; charset=KOI8-R",
        "base64",
    );
    raw.extend(base64_lines(&encode(KOI8_R, TEXT)).into_bytes());
    raw.extend(b"\r\n");
    assert_russian(&parse(&raw).expect("parses"));
}

#[test]
fn an_html_only_windows1251_mail_falls_back_to_its_text() {
    let html = format!("<html><body><p><b>{TEXT}</b></p></body></html>");
    let mut raw = headers(
        &word_b(WINDOWS_1251, NAME),
        &word_b(WINDOWS_1251, SUBJECT),
        "text/html; charset=windows-1251",
        "quoted-printable",
    );
    raw.extend(quoted_printable(&encode(WINDOWS_1251, &html)).into_bytes());
    raw.extend(b"\r\n");
    let mail = parse(&raw).expect("parses");
    assert_eq!(mail.text.trim(), TEXT);
    assert!(!mail.text.contains('<'), "{}", mail.text);
}

#[test]
fn attachments_keep_their_decoded_name_type_and_bytes() {
    let file_bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let file_name = "счёт.pdf";
    let rfc2231_name: String = encode(WINDOWS_1251, file_name)
        .iter()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let mut raw = headers(
        &word_b(KOI8_R, NAME),
        &word_b(KOI8_R, SUBJECT),
        "multipart/mixed; boundary=\"=_sep\"",
        "7bit",
    );
    raw.extend(b"--=_sep\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n");
    raw.extend(encode(KOI8_R, TEXT));
    raw.extend(b"\r\n--=_sep\r\nContent-Type: application/pdf\r\n");
    raw.extend(
        format!("Content-Disposition: attachment; filename*=windows-1251''{rfc2231_name}\r\n")
            .into_bytes(),
    );
    raw.extend(b"Content-Transfer-Encoding: base64\r\n\r\n");
    raw.extend(base64_lines(&file_bytes).into_bytes());
    raw.extend(b"\r\n--=_sep\r\nContent-Type: image/PNG; name=\"");
    raw.extend(word_b(KOI8_R, "фото.png").into_bytes());
    raw.extend(b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--=_sep--\r\n");

    let mail = parse(&raw).expect("parses");
    assert_russian(&mail);
    assert_eq!(mail.attachments.len(), 2, "{mail:?}");
    let pdf = &mail.attachments[0];
    assert_eq!(pdf.file_name.as_deref(), Some(file_name));
    assert_eq!(pdf.mime_type, "application/pdf");
    assert_eq!(pdf.size_bytes, 3000);
    assert_eq!(pdf.bytes, file_bytes);
    let png = &mail.attachments[1];
    assert_eq!(png.file_name.as_deref(), Some("фото.png"));
    assert_eq!(png.mime_type, "image/png");
    assert_eq!(png.bytes, b"\x89PNG\r\n\x1a\n");
}

#[tokio::test]
async fn a_koi8r_mail_fetched_over_imap_decodes_the_same() {
    let server = DovecotServer::start();
    let user = "support@shop.example";
    server.deliver(user, &koi8r_8bit_mail());
    let settings = ImapSettings::new(
        "127.0.0.1",
        server.port(),
        Security::Plain,
        user,
        Secret::new(IMAP_PASSWORD),
    );
    let mut fetcher = ImapFetcher::connect(&settings).await.expect("connect");
    let batch = fetcher
        .fetch_new(&ImapCursor::default())
        .await
        .expect("fetch");
    assert_eq!(batch.mails.len(), 1);
    assert_eq!(
        batch.mails[0].raw,
        koi8r_8bit_mail(),
        "the bytes as delivered"
    );
    assert_russian(batch.mails[0].mail.as_ref().expect("parses"));
}
