//! The IMAP fetcher against a real Dovecot on loopback: each delivered message is yielded once,
//! across a restart with a persisted cursor and across a UIDVALIDITY change; IDLE where the
//! server offers it, polling where it does not.

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_connectors::email::imap::{
    BATCH_MAX, FetchBatch, ImapCursor, ImapError, ImapFetcher, Wakeup,
};
use switchboard_connectors::email::{ImapSettings, Secret, Security};
use switchboard_tests::mail::{Capabilities, DovecotServer, IMAP_PASSWORD};

const USER: &str = "support@example.test";

fn settings(server: &DovecotServer) -> ImapSettings {
    let mut settings = ImapSettings::new(
        "127.0.0.1",
        server.port(),
        Security::Plain,
        USER,
        Secret::new(IMAP_PASSWORD),
    );
    settings.poll_interval = Duration::from_millis(300);
    settings.idle_timeout = Duration::from_secs(20);
    settings
}

fn mail(id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Client <client@example.org>\r\nTo: {USER}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

fn subjects(batch: &FetchBatch) -> Vec<String> {
    batch
        .mails
        .iter()
        .map(|m| {
            let mail = m.mail.as_ref().expect("a parsed mail");
            mail.subject.clone().unwrap_or_default()
        })
        .collect()
}

/// Fetches until nothing more is waiting; answers every mail's subject and the last cursor.
async fn fetch_all(fetcher: &mut ImapFetcher, cursor: &ImapCursor) -> (Vec<String>, ImapCursor) {
    let mut cursor = cursor.clone();
    let mut all = Vec::new();
    loop {
        let batch = fetcher.fetch_new(&cursor).await.expect("fetch");
        all.extend(subjects(&batch));
        cursor = batch.cursor;
        if !batch.more {
            return (all, cursor);
        }
    }
}

fn persist(path: &std::path::Path, cursor: &ImapCursor) {
    std::fs::write(path, serde_json::to_vec(cursor).expect("json")).expect("write cursor");
}

fn load(path: &std::path::Path) -> ImapCursor {
    serde_json::from_slice(&std::fs::read(path).expect("read cursor")).expect("a cursor")
}

#[tokio::test]
async fn a_delivered_message_is_ingested_once_across_a_restart() {
    let server = DovecotServer::start();
    let state = tempfile::tempdir().expect("temp dir");
    let cursor_file = state.path().join("cursor.json");
    server.deliver(USER, &mail("one@example.org", "one"));
    server.deliver(USER, &mail("two@example.org", "two"));

    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let shown = format!("{fetcher:?}");
    assert!(
        !shown.contains(IMAP_PASSWORD),
        "the password in Debug: {shown}"
    );
    let batch = fetcher
        .fetch_new(&ImapCursor::default())
        .await
        .expect("fetch");
    assert_eq!(subjects(&batch), ["one", "two"]);
    assert_eq!(batch.mails[0].external_id(), "one@example.org");
    assert!(batch.cursor.uidvalidity.is_some());
    assert_eq!(batch.cursor.last_uid, batch.mails[1].uid);
    persist(&cursor_file, &batch.cursor);
    let again = fetcher.fetch_new(&batch.cursor).await.expect("fetch");
    assert!(again.mails.is_empty(), "nothing new: {again:?}");
    fetcher.logout().await.expect("logout");

    // A restart: a new session, the cursor read back from disk.
    server.deliver(USER, &mail("three@example.org", "three"));
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let cursor = load(&cursor_file);
    let batch = fetcher.fetch_new(&cursor).await.expect("fetch");
    assert_eq!(subjects(&batch), ["three"]);
    persist(&cursor_file, &batch.cursor);
    let again = fetcher.fetch_new(&load(&cursor_file)).await.expect("fetch");
    assert!(again.mails.is_empty(), "nothing new: {again:?}");
}

#[tokio::test]
async fn a_uidvalidity_change_ingests_nothing_twice_and_misses_nothing() {
    let mut server = DovecotServer::start();
    for i in 0..3 {
        server.deliver(
            USER,
            &mail(&format!("old-{i}@example.org"), &format!("old {i}")),
        );
    }
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let (seen, cursor) = fetch_all(&mut fetcher, &ImapCursor::default()).await;
    assert_eq!(seen, ["old 0", "old 1", "old 2"]);
    drop(fetcher);

    server.reset_uidvalidity(USER);
    server.deliver(USER, &mail("new@example.org", "new"));
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let (seen, after) = fetch_all(&mut fetcher, &cursor).await;
    assert_ne!(
        after.uidvalidity, cursor.uidvalidity,
        "the server kept its UIDVALIDITY: the test proves nothing"
    );
    assert_eq!(seen, ["new"]);
    let (seen, _) = fetch_all(&mut fetcher, &after).await;
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn a_cursor_at_the_end_takes_only_mail_arriving_later() {
    let server = DovecotServer::start();
    server.deliver(USER, &mail("before@example.org", "before"));
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let cursor = fetcher.cursor_at_end().await.expect("cursor");
    server.deliver(USER, &mail("after@example.org", "after"));
    let (seen, _) = fetch_all(&mut fetcher, &cursor).await;
    assert_eq!(seen, ["after"]);
}

#[tokio::test]
async fn a_large_backlog_comes_in_bounded_batches() {
    let server = DovecotServer::start();
    let total = BATCH_MAX + 5;
    for i in 0..total {
        server.deliver(USER, &mail(&format!("m{i}@example.org"), &format!("m{i}")));
    }
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    let first = fetcher
        .fetch_new(&ImapCursor::default())
        .await
        .expect("fetch");
    assert_eq!(first.mails.len(), BATCH_MAX);
    assert!(first.more);
    let second = fetcher.fetch_new(&first.cursor).await.expect("fetch");
    assert_eq!(second.mails.len(), 5);
    assert!(!second.more);
    let mut ids: Vec<String> = first
        .mails
        .iter()
        .chain(&second.mails)
        .map(|m| m.external_id())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "every mail once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_wakes_up_when_mail_arrives() {
    let server = Arc::new(DovecotServer::start());
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    assert!(fetcher.supports_idle(), "dovecot announces IDLE");
    let cursor = fetcher.cursor_at_end().await.expect("cursor");

    let delivering = Arc::clone(&server);
    let delivery = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        delivering.deliver(USER, &mail("idle@example.org", "while idle"));
    });
    let started = Instant::now();
    let wakeup = fetcher.wait_for_mail().await.expect("idle");
    let waited = started.elapsed();
    delivery.join().expect("delivered");
    assert_eq!(wakeup, Wakeup::Changed);
    assert!(
        waited < Duration::from_secs(10),
        "IDLE took {waited:?}: the 20 s timeout, not the mail, ended it"
    );
    let batch = fetcher.fetch_new(&cursor).await.expect("fetch after idle");
    assert_eq!(subjects(&batch), ["while idle"]);

    // A mail that arrives between a fetch and the next IDLE does not wait for the IDLE timeout.
    server.deliver(USER, &mail("between@example.org", "between"));
    let started = Instant::now();
    assert_eq!(
        fetcher.wait_for_mail().await.expect("idle"),
        Wakeup::Changed
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(10), "IDLE took {waited:?}");
    let batch = fetcher.fetch_new(&batch.cursor).await.expect("fetch");
    assert_eq!(subjects(&batch), ["between"]);
}

#[tokio::test]
async fn a_server_without_idle_is_polled() {
    let server = DovecotServer::start_with(Capabilities::WithoutIdle);
    let mut fetcher = ImapFetcher::connect(&settings(&server))
        .await
        .expect("connect");
    assert!(!fetcher.supports_idle(), "the server announces no IDLE");
    let cursor = fetcher.cursor_at_end().await.expect("cursor");
    server.deliver(USER, &mail("polled@example.org", "polled"));
    let started = Instant::now();
    assert_eq!(fetcher.wait_for_mail().await.expect("poll"), Wakeup::Polled);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let batch = fetcher.fetch_new(&cursor).await.expect("fetch");
    assert_eq!(subjects(&batch), ["polled"]);
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_showing_it() {
    let server = DovecotServer::start_with(Capabilities::WithoutIdle);
    let mut settings = settings(&server);
    // Dovecot's static passdb takes any user with the one password: a wrong one is refused.
    settings.password = Secret::new("not-the-password-x9");
    let error = ImapFetcher::connect(&settings)
        .await
        .expect_err("a wrong password");
    assert!(matches!(error, ImapError::Login { .. }), "{error:?}");
    let shown = format!("{error} {error:?} {settings:?}");
    assert!(!shown.contains("not-the-password-x9"), "{shown}");
}

#[tokio::test]
async fn an_oversized_mail_comes_as_its_header_only() {
    let server = DovecotServer::start();
    let mut big = mail("big@example.org", "big");
    big.extend(std::iter::repeat_n(b'x', 20_000));
    big.extend(b"\r\n");
    server.deliver(USER, &big);
    server.deliver(USER, &mail("small@example.org", "small"));
    let mut settings = settings(&server);
    settings.message_max_bytes = 10_000;
    let mut fetcher = ImapFetcher::connect(&settings).await.expect("connect");
    let batch = fetcher
        .fetch_new(&ImapCursor::default())
        .await
        .expect("fetch");
    assert_eq!(subjects(&batch), ["big", "small"]);
    let (big_mail, small_mail) = (&batch.mails[0], &batch.mails[1]);
    assert!(big_mail.body_skipped);
    assert_eq!(big_mail.size, Some(big.len() as u64));
    assert!(
        big_mail.raw.len() < 1_000,
        "{} bytes fetched",
        big_mail.raw.len()
    );
    assert_eq!(big_mail.external_id(), "big@example.org");
    assert_eq!(big_mail.mail.as_ref().expect("parses").text, "");
    assert!(!small_mail.body_skipped);
    assert_eq!(
        small_mail.raw.len() as u64,
        small_mail.size.expect("a size")
    );
}

#[tokio::test]
async fn batches_are_cut_by_bytes_one_mail_at_least() {
    let server = DovecotServer::start();
    for i in 0..3 {
        let mut raw = mail(&format!("b{i}@example.org"), &format!("b{i}"));
        raw.extend(std::iter::repeat_n(b'y', 3_000));
        raw.extend(b"\r\n");
        server.deliver(USER, &raw);
    }
    let mut settings = settings(&server);
    settings.batch_max_bytes = 5_000;
    let mut fetcher = ImapFetcher::connect(&settings).await.expect("connect");
    let mut cursor = ImapCursor::default();
    let mut seen = Vec::new();
    for round in 0..3 {
        let batch = fetcher.fetch_new(&cursor).await.expect("fetch");
        assert_eq!(batch.mails.len(), 1, "round {round}: {batch:?}");
        assert_eq!(batch.more, round < 2, "round {round}");
        seen.extend(subjects(&batch));
        cursor = batch.cursor;
    }
    assert_eq!(seen, ["b0", "b1", "b2"]);
}
