//! The ingest loop end to end: a real Dovecot, the real command service on a real embedded log,
//! the channel's SQLite state and a real attachment directory. Mails become dialogs and messages
//! once, across a restart of the loop and across a redo of a batch whose events were stored but
//! whose cursor was not (counted in log records); replies thread into their dialog.

use base64::Engine;
use std::time::{Duration, Instant};
use switchboard_connectors::attachments::{AttachmentStore, BlobHash, ByteRange, DirStore};
use switchboard_connectors::email::imap::ImapCursor;
use switchboard_connectors::email::inbound::{ATTACHMENT_MAX_BYTES, MailSink};
use switchboard_connectors::email::mailbox::{self, CURSOR_KEY, MailboxOptions, MailboxReport};
use switchboard_connectors::email::{ImapSettings, Secret, Security};
use switchboard_connectors::ingest::ChannelRef;
use switchboard_connectors::state::{ConnectorState, ThreadEntry};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{EventLog, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use switchboard_tests::mail::{DovecotServer, IMAP_PASSWORD};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const USER: &str = "support@example.test";

struct World {
    dir: tempfile::TempDir,
    server: DovecotServer,
    service: CommandService<EmbeddedLog>,
    project: ProjectId,
    channel: ChannelRef,
    state: ConnectorState,
    store: AttachmentStore,
}

async fn world() -> World {
    let server = DovecotServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let service = CommandService::new(log, ServiceOptions::default());
    let project = ProjectId::new();
    let channel = ChannelRef {
        channel: ChannelId::new(),
        kind: ChannelKind::Email,
    };
    let system = || CommandMeta::new(Actor::System);
    let create = ProjectCommand::Create {
        name: "shop".into(),
    };
    service
        .project(project, create, system())
        .await
        .expect("project");
    let connect = ProjectCommand::ConnectChannel {
        channel: channel.channel,
        kind: channel.kind,
        name: "support mail".into(),
    };
    service
        .project(project, connect, system())
        .await
        .expect("channel");
    let state = ConnectorState::open(dir.path().join("email-state.sqlite"))
        .await
        .expect("state");
    let store = AttachmentStore::Directory(
        DirStore::open(dir.path().join("attachments"))
            .await
            .expect("store"),
    );
    World {
        dir,
        server,
        service,
        project,
        channel,
        state,
        store,
    }
}

/// What a killed and restarted process has: the log and the state file opened again (the
/// service's caches and the log's in-memory dedup index rebuilt from the files).
async fn reopen(world: World) -> World {
    let World {
        dir,
        server,
        service,
        project,
        channel,
        state,
        store,
    } = world;
    // The last handle of the log closes its file as it drops.
    drop(service);
    drop(state);
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let service = CommandService::new(log, ServiceOptions::default());
    let state = ConnectorState::open(dir.path().join("email-state.sqlite"))
        .await
        .expect("state");
    World {
        dir,
        server,
        service,
        project,
        channel,
        state,
        store,
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<MailboxReport>,
}

fn start(world: &World) -> Running {
    start_with(world, ATTACHMENT_MAX_BYTES)
}

fn start_with(world: &World, attachment_max: u64) -> Running {
    let mut settings = ImapSettings::new(
        "127.0.0.1",
        world.server.port(),
        Security::Plain,
        USER,
        Secret::new(IMAP_PASSWORD),
    );
    settings.poll_interval = Duration::from_millis(300);
    settings.idle_timeout = Duration::from_secs(20);
    let sink = MailSink {
        service: world.service.clone(),
        project: world.project,
        channel: world.channel,
        state: world.state.clone(),
        store: world.store.clone(),
        attachment_max,
    };
    let options = MailboxOptions {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        start_at_end: false,
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(mailbox::run(settings, sink, options, stopped));
    Running { stop, task }
}

async fn finish(running: Running) -> MailboxReport {
    running.stop.send(true).expect("the loop listens");
    tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .expect("the loop stops promptly")
        .expect("the loop's task")
}

async fn records(world: &World) -> Vec<switchboard_core::log::LogRecord> {
    world
        .service
        .log()
        .read(1, &SubjectFilter::all(), 100_000)
        .await
        .expect("read")
}

/// Every received message with its dialog's subject.
async fn received(world: &World) -> Vec<(String, MessageReceived)> {
    let mut out = Vec::new();
    for record in records(world).await {
        for event in decode_batch(&record.batch).expect("decodes") {
            if let Event::MessageReceived(message) = event.payload {
                out.push((record.subject.as_str().to_owned(), message));
            }
        }
    }
    out
}

async fn registrations(world: &World) -> usize {
    let mut count = 0;
    for record in records(world).await {
        for event in decode_batch(&record.batch).expect("decodes") {
            count += usize::from(matches!(event.payload, Event::DialogRegistered(_)));
        }
    }
    count
}

async fn wait_for_messages(world: &World, count: usize) -> Vec<(String, MessageReceived)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = received(world).await;
        if got.len() >= count {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} messages, have {}: {}",
            got.len(),
            world.server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_cursor(world: &World, last_uid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cursor: Option<ImapCursor> = world.state.load(CURSOR_KEY).await.expect("load");
        if cursor.is_some_and(|c| c.last_uid >= last_uid) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cursor never reached {last_uid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mail(from: &str, id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {USER}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n{extra_headers}\r\n{body}"
    )
    .into_bytes()
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 1, 2, 3,
];

fn mail_with_png(from: &str, id: &str) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
    let body = format!(
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhere is the photo\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"receipt.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b1--\r\n"
    );
    mail(
        from,
        id,
        "photo",
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n",
        &body,
    )
}

#[tokio::test]
async fn mails_are_recorded_once_across_a_restart_and_a_redo_of_the_batch() {
    let world = world().await;
    world.server.deliver(
        USER,
        &mail_with_png("Alice <Alice@Client.example>", "a1@client"),
    );
    world.server.deliver(
        USER,
        &mail("bob@client.example", "b1@client", "hello", "", "hi\r\n"),
    );
    world.server.deliver(
        USER,
        &mail("alice@client.example", "a2@client", "again", "", "more\r\n"),
    );

    let running = start(&world);
    let got = wait_for_messages(&world, 3).await;
    wait_for_cursor(&world, 3).await;
    let report = finish(running).await;
    assert_eq!(
        (report.recorded, report.already_there),
        (3, 0),
        "{report:?}"
    );
    assert_eq!(registrations(&world).await, 2, "alice and bob");
    let alice = &got[0].0;
    assert_eq!(&got[2].0, alice, "one address, one dialog");
    assert_ne!(&got[1].0, alice);
    let photo = &got[0].1;
    assert_eq!(photo.text, "here is the photo");
    assert_eq!(photo.external_id, "a1@client");
    let [attachment] = photo.attachments.as_slice() else {
        panic!("one attachment: {:?}", photo.attachments);
    };
    let hash = BlobHash::of(PNG);
    assert_eq!(attachment.storage_ref, hash.storage_ref());
    assert_eq!(
        attachment.mime_type, "image/png",
        "sniffed, not the declared octet-stream"
    );
    assert_eq!(attachment.kind, AttachmentKind::Image);
    assert_eq!(attachment.file_name, "receipt.png");
    assert_eq!(attachment.size_bytes, PNG.len() as u64);
    let mut blob = world
        .store
        .get(&hash, ByteRange::ALL)
        .await
        .expect("get")
        .expect("the attachment is in the store");
    let mut bytes = Vec::new();
    blob.reader.read_to_end(&mut bytes).await.expect("read");
    assert_eq!(bytes, PNG);

    // A restart goes on from the saved cursor: only the new mail, one record for it.
    let before = records(&world).await.len();
    world.server.deliver(
        USER,
        &mail("bob@client.example", "b2@client", "later", "", "x\r\n"),
    );
    let running = start(&world);
    wait_for_messages(&world, 4).await;
    wait_for_cursor(&world, 4).await;
    let report = finish(running).await;
    assert_eq!(
        (report.recorded, report.already_there),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(records(&world).await.len(), before + 1);

    // A kill after the events were stored and before the cursor was saved: the saved cursor is
    // the one before the batch, and the process starts afresh. The redo fetches all four again
    // and appends nothing.
    let before = records(&world).await.len();
    world
        .state
        .save(CURSOR_KEY, &ImapCursor::default())
        .await
        .expect("rewind");
    let world = reopen(world).await;
    let running = start(&world);
    wait_for_cursor(&world, 4).await;
    let report = finish(running).await;
    assert_eq!(
        (report.recorded, report.already_there),
        (0, 4),
        "{report:?}"
    );
    assert_eq!(
        records(&world).await.len(),
        before,
        "the redo appended nothing"
    );
    assert_eq!(received(&world).await.len(), 4);
    assert_eq!(registrations(&world).await, 2);
}

#[tokio::test]
async fn replies_thread_into_the_dialog_of_the_mail_they_answer() {
    let world = world().await;
    world.server.deliver(
        USER,
        &mail(
            "alice@client.example",
            "orig@client",
            "order 7",
            "",
            "where is it?\r\n",
        ),
    );
    let running = start(&world);
    let got = wait_for_messages(&world, 1).await;
    let alice = got[0].0.clone();

    // Someone else answers in alice's thread: alice's dialog, and no dialog of their own.
    let reply = mail(
        "carol@client.example",
        "c1@client",
        "Re: order 7",
        "In-Reply-To: <orig@client>\r\nReferences: <orig@client>\r\n",
        "I am her colleague\r\n",
    );
    world.server.deliver(USER, &reply);
    let got = wait_for_messages(&world, 2).await;
    assert_eq!(got[1].0, alice);
    assert_eq!(
        got[1].1.reply_to,
        Some(switchboard_connectors::ingest::message_id(
            world.channel.channel,
            "orig@client"
        ))
    );
    assert_eq!(registrations(&world).await, 1);

    // A mail we sent: the outbound side remembers our Message-ID with the dialog; an answer to
    // it that names it only in References lands there too.
    let dialog_hex = alice
        .rsplit('.')
        .next()
        .expect("a dialog subject")
        .to_owned();
    let dialog = DialogId::from_uuid(uuid::Uuid::parse_str(&dialog_hex).expect("a dialog id"));
    let ours = MessageId::new();
    world
        .state
        .remember_thread(
            "0b1c@switchboard.example",
            ThreadEntry {
                dialog,
                message: ours,
            },
        )
        .await
        .expect("remember");
    let answer = mail(
        "alice.private@home.example",
        "a3@home",
        "Re: your order",
        "References: <unknown@elsewhere> <0b1c@switchboard.example>\r\n",
        "",
    );
    world.server.deliver(USER, &answer);
    let got = wait_for_messages(&world, 3).await;
    assert_eq!(got[2].0, alice);
    assert_eq!(got[2].1.reply_to, Some(ours));
    assert_eq!(
        got[2].1.text, "Re: your order",
        "an empty mail shows its subject"
    );

    // Alice's new address writes without threading headers: a dialog of its own (identity =
    // address; merging is the operator's, F4.9).
    world.server.deliver(
        USER,
        &mail("alice.private@home.example", "a4@home", "new", "", "hi\r\n"),
    );
    let got = wait_for_messages(&world, 4).await;
    assert_ne!(got[3].0, alice);
    assert_eq!(registrations(&world).await, 2);

    // That second dialog is merged into alice's (F4.9): an answer to its mail follows the merge.
    let second = dialog_of_subject(&got[3].0);
    let merge = DialogCommand::MergeInto { survivor: dialog };
    let meta = || CommandMeta::new(Actor::System);
    world
        .service
        .dialog(world.project, second, merge, meta())
        .await
        .expect("merge");
    let accept = DialogCommand::AcceptMerge {
        absorbed: second,
        identities: vec![],
    };
    world
        .service
        .dialog(world.project, dialog, accept, meta())
        .await
        .expect("accept");
    let answer = mail(
        "someone@client.example",
        "s1@client",
        "Re: new",
        "In-Reply-To: <a4@home>\r\n",
        "following the merge\r\n",
    );
    world.server.deliver(USER, &answer);
    let got = wait_for_messages(&world, 5).await;
    assert_eq!(got[4].0, alice);
    assert_eq!(got[4].1.text, "following the merge\r\n");
    assert_eq!(registrations(&world).await, 2);
    finish(running).await;
}

fn dialog_of_subject(subject: &str) -> DialogId {
    let hex = subject.rsplit('.').next().expect("a dialog subject");
    DialogId::from_uuid(uuid::Uuid::parse_str(hex).expect("a dialog id"))
}

#[tokio::test]
async fn the_loop_reconnects_after_the_server_went_away_and_appends_nothing_twice() {
    let mut world = world().await;
    world.server.deliver(
        USER,
        &mail("ann@client.example", "n1@client", "one", "", "1\r\n"),
    );
    world.server.deliver(
        USER,
        &mail("ann@client.example", "n2@client", "two", "", "2\r\n"),
    );
    // Attachments over 10 bytes are not kept here.
    let running = start_with(&world, 10);
    wait_for_messages(&world, 2).await;
    wait_for_cursor(&world, 2).await;

    // The server stops under the loop's IDLE and comes back with a new UIDVALIDITY.
    world.server.reset_uidvalidity(USER);
    world
        .server
        .deliver(USER, &mail_with_png("ann@client.example", "n3@client"));
    let got = wait_for_messages(&world, 3).await;
    let report = finish(running).await;
    assert!(report.reconnects >= 1, "{report:?}");
    assert_eq!(report.recorded, 3, "{report:?}");
    assert_eq!(got.len(), 3);
    let big = &got[2].1;
    assert!(big.attachments.is_empty(), "{:?}", big.attachments);
    assert_eq!(
        big.text,
        format!(
            "here is the photo\n[attachment receipt.png of {} bytes not kept: over the 10 byte limit]",
            PNG.len()
        )
    );
    assert_eq!(
        world
            .store
            .exists(&BlobHash::of(PNG))
            .await
            .expect("exists"),
        None
    );
    assert_eq!(registrations(&world).await, 1);
}

/// A small deterministic generator of pauses.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[tokio::test]
async fn a_loop_aborted_anywhere_records_every_mail_exactly_once() {
    const ROUNDS: u32 = 16;
    let world = world().await;
    let senders = 5;
    let (mut delivered, mut redo_states) = (0u32, 0);
    let mut seed = 0x5eed_u64;
    for _round in 0..ROUNDS {
        // The task is dropped at whichever await it is in: between a mail's events and the
        // cursor's save, inside a command, in IDLE, while connecting.
        let running = start(&world);
        for _ in 0..4 {
            let from = format!("client{}@client.example", delivered % senders);
            let id = format!("k{delivered}@client");
            let raw = if delivered % 3 == 0 {
                mail_with_png(&from, &id)
            } else {
                mail(&from, &id, "note", "", &format!("text {delivered}\r\n"))
            };
            world.server.deliver(USER, &raw);
            delivered += 1;
        }
        tokio::time::sleep(Duration::from_millis(next(&mut seed) % 120)).await;
        running.task.abort();
        let _ = running.task.await;
        let cursor: Option<ImapCursor> = world.state.load(CURSOR_KEY).await.expect("load");
        let saved = cursor.map_or(0, |c| c.last_uid) as usize;
        if received(&world).await.len() > saved {
            redo_states += 1; // events stored past the saved cursor: the next run redoes them
        }
    }
    let running = start(&world);
    wait_for_cursor(&world, delivered).await;
    let report = finish(running).await;

    let got = received(&world).await;
    let mut ids: Vec<&str> = got.iter().map(|(_, m)| m.external_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), delivered as usize, "every mail once");
    assert_eq!(got.len(), delivered as usize, "no mail twice");
    assert_eq!(registrations(&world).await, senders as usize);
    // The project and its channel, a claim and a registration per sender, one per mail.
    let expected = 2 + 2 * senders as usize + delivered as usize;
    assert_eq!(records(&world).await.len(), expected);
    println!(
        "{delivered} mails, {ROUNDS} aborts, {redo_states} left events past the saved cursor; \
         the last run: {report:?}"
    );
}

#[tokio::test]
async fn a_blocked_clients_mail_is_passed_over_and_the_loop_goes_on() {
    let world = world().await;
    world.server.deliver(
        USER,
        &mail("spam@client.example", "p1@client", "buy", "", "1\r\n"),
    );
    let running = start(&world);
    let got = wait_for_messages(&world, 1).await;
    let spammer = dialog_of_subject(&got[0].0);
    let block = DialogCommand::Block;
    let meta = CommandMeta::new(Actor::System);
    world
        .service
        .dialog(world.project, spammer, block, meta)
        .await
        .expect("block");

    world.server.deliver(
        USER,
        &mail("spam@client.example", "p2@client", "buy", "", "2\r\n"),
    );
    world.server.deliver(
        USER,
        &mail("fine@client.example", "f1@client", "hello", "", "3\r\n"),
    );
    let got = wait_for_messages(&world, 2).await;
    wait_for_cursor(&world, 3).await;
    let report = finish(running).await;
    assert_eq!(
        got.len(),
        2,
        "the blocked client's second mail is not recorded"
    );
    assert_eq!(got[1].1.external_id, "f1@client");
    assert_eq!((report.recorded, report.passed_over), (2, 1), "{report:?}");
}
