//! Outbound mail through a real SMTP receiver (aiosmtpd on loopback): our Message-ID, and a
//! reply's In-Reply-To / References; the client's answer to it, delivered into Dovecot and
//! fetched by IMAP, names our Message-ID first among its thread keys.

use std::time::Duration;
use switchboard_connectors::email::imap::{ImapCursor, ImapFetcher};
use switchboard_connectors::email::smtp::{OutboundMail, SmtpError, SmtpSender};
use switchboard_connectors::email::{
    EmailSettings, ImapSettings, InboundMail, Secret, Security, SmtpSettings, parse,
};
use switchboard_tests::mail::{DovecotServer, IMAP_PASSWORD, SmtpReceiver};

const OUR_ADDRESS: &str = "support@shop.example";
const CLIENT: &str = "ivan.petrov@client.example";

fn settings(smtp_port: u16, imap_port: u16) -> EmailSettings {
    EmailSettings {
        address: OUR_ADDRESS.to_owned(),
        display_name: Some("Shop support".to_owned()),
        imap: ImapSettings::new(
            "127.0.0.1",
            imap_port,
            Security::Plain,
            OUR_ADDRESS,
            Secret::new(IMAP_PASSWORD),
        ),
        smtp: SmtpSettings {
            host: "127.0.0.1".to_owned(),
            port: smtp_port,
            security: Security::Plain,
            credentials: None,
            timeout: Duration::from_secs(10),
        },
    }
}

/// The client's first mail, itself an answer in an older thread.
fn client_mail() -> InboundMail {
    let raw = format!(
        "From: =?utf-8?B?0JjQstCw0L0=?= <{CLIENT}>\r\nTo: {OUR_ADDRESS}\r\n\
         Subject: =?utf-8?B?0JfQsNC60LDQtw==?= 42\r\nMessage-ID: <c1@client.example>\r\n\
         References: <c0@client.example>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0300\r\n\r\n\
         where is my order?\r\n"
    );
    parse(raw.as_bytes()).expect("the client's mail parses")
}

fn header_line<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|line| line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name))
        .map(|line| line[name.len()..].trim_start_matches(':').trim())
}

#[tokio::test]
async fn a_reply_reaches_the_receiver_with_threading_headers() {
    let receiver = SmtpReceiver::start();
    let sender = SmtpSender::new(&settings(receiver.port(), 1)).expect("a sender");
    let inbound = client_mail();
    assert_eq!(inbound.subject.as_deref(), Some("Заказ 42"));
    let reply = OutboundMail::reply_to(&inbound, "Ваш заказ отправлен, трек 123.").expect("reply");
    let sent = sender.send(&reply).await.expect("sent");
    assert!(
        sent.message_id.ends_with("@shop.example"),
        "{}",
        sent.message_id
    );

    let received = receiver.wait_for(1);
    assert_eq!(
        received.len(),
        1,
        "the receiver got {} mails",
        received.len()
    );
    let raw = String::from_utf8_lossy(&received[0]).into_owned();
    assert_eq!(header_line(&raw, "X-RcptTo"), Some(CLIENT), "{raw}");
    let got = parse(&received[0]).expect("the sent mail parses");
    assert_eq!(got.message_id.as_deref(), Some(sent.message_id.as_str()));
    assert_eq!(got.in_reply_to, ["c1@client.example"]);
    assert_eq!(got.references, ["c0@client.example", "c1@client.example"]);
    assert_eq!(got.subject.as_deref(), Some("Re: Заказ 42"));
    assert_eq!(got.text.trim_end(), "Ваш заказ отправлен, трек 123.");
    assert_eq!(got.identity_key().as_deref(), Some(OUR_ADDRESS));
}

#[tokio::test]
async fn a_first_mail_carries_no_thread_headers() {
    let receiver = SmtpReceiver::start();
    let sender = SmtpSender::new(&settings(receiver.port(), 1)).expect("a sender");
    let mail = OutboundMail {
        to_address: CLIENT.to_owned(),
        to_name: None,
        subject: "Hello".to_owned(),
        text: "first".to_owned(),
        parent: None,
    };
    let first = sender.send(&mail).await.expect("sent");
    let second = sender.send(&mail).await.expect("sent");
    assert_ne!(first.message_id, second.message_id, "a new id per mail");
    let received = receiver.wait_for(2);
    assert_eq!(received.len(), 2);
    for raw in &received {
        let got = parse(raw).expect("parses");
        assert!(
            got.in_reply_to.is_empty() && got.references.is_empty(),
            "{got:?}"
        );
    }
}

#[tokio::test]
async fn the_clients_answer_to_our_reply_threads_back_by_our_message_id() {
    let receiver = SmtpReceiver::start();
    let imap = DovecotServer::start();
    let settings = settings(receiver.port(), imap.port());
    let sender = SmtpSender::new(&settings).expect("a sender");
    let reply = OutboundMail::reply_to(&client_mail(), "Which order?").expect("reply");
    let sent = sender.send(&reply).await.expect("sent");
    assert_eq!(receiver.wait_for(1).len(), 1);

    // The client's program answers our mail: In-Reply-To ours, References the whole thread.
    let answer = format!(
        "From: {CLIENT}\r\nTo: {OUR_ADDRESS}\r\nSubject: Re: Re: order\r\n\
         Message-ID: <c2@client.example>\r\nIn-Reply-To: <{id}>\r\n\
         References: <c0@client.example> <c1@client.example> <{id}>\r\n\r\nnumber 42\r\n",
        id = sent.message_id
    );
    imap.deliver(OUR_ADDRESS, answer.as_bytes());
    let mut fetcher = ImapFetcher::connect(&settings.imap).await.expect("connect");
    let batch = fetcher
        .fetch_new(&ImapCursor::default())
        .await
        .expect("fetch");
    assert_eq!(batch.mails.len(), 1);
    let mail = batch.mails[0].mail.as_ref().expect("parses");
    assert_eq!(mail.thread_keys()[0], sent.message_id);
    assert_eq!(mail.identity_key().as_deref(), Some(CLIENT));
}

#[tokio::test]
async fn a_bad_recipient_is_a_permanent_error_and_a_dead_server_a_transient_one() {
    let receiver = SmtpReceiver::start();
    let sender = SmtpSender::new(&settings(receiver.port(), 1)).expect("a sender");
    let mail = OutboundMail {
        to_address: "not an address".to_owned(),
        to_name: None,
        subject: "x".to_owned(),
        text: "x".to_owned(),
        parent: None,
    };
    let error = sender.send(&mail).await.expect_err("refused");
    assert!(matches!(error, SmtpError::Address { .. }), "{error:?}");
    assert!(error.is_permanent());

    let port = receiver.port();
    drop(receiver);
    let sender = SmtpSender::new(&settings(port, 1)).expect("a sender");
    let mail = OutboundMail {
        to_address: CLIENT.to_owned(),
        ..mail
    };
    let error = sender.send(&mail).await.expect_err("nobody listens");
    assert!(matches!(error, SmtpError::Transport(_)), "{error:?}");
    assert!(!error.is_permanent(), "{error}");
}
