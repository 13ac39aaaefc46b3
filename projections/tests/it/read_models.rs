//! The read models over both real backends (embedded log, real nats-server): realistic
//! commands through the command service, the projection runner consuming the log, list rows and
//! counters checked against the FEATURES rules; restarts that neither skip nor repeat; records
//! at or below the checkpoint offered again change nothing; undecodable records are skipped.

use rusqlite::Connection;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::log::{AppendRequest, EventLog, Expected, MsgId, Subject, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_projections::card::{CardProjection, card};
use switchboard_projections::dialogs::{
    self, AuthorKind, Condition, DialogStatus, DialogsProjection, Expr, Filter, Folder, LastAuthor,
    ListQuery, Order, Tab, Viewer, all_counters, dialog_row, folder_badge, is_unread, recount,
    unanswered_dialogs, unread_dialogs,
};
use switchboard_projections::timeline::{Delivery, ItemId, ItemKind, TimelineProjection, timeline};
use switchboard_projections::{
    ProjectionRunner, ProjectionStore, RunnerOptions, Until, open_reader, open_reader_for, rebuild,
};
use switchboard_schemas::{
    Actor, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, EncodedBatch,
    FailureReason, FolderId, ListId, MessageId, NoteId, OperatorId, PipelineId, ProjectId, Role,
    Source, Stage, StageId, TagId, TaskId, Timestamp,
};
use switchboard_tests::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

struct World {
    project: ProjectId,
    channel: ChannelId,
    admin: OperatorId,
    op1: OperatorId,
    op2: OperatorId,
    folder: FolderId,
    tag: TagId,
}

impl World {
    fn admin(&self) -> Viewer {
        Viewer {
            operator: self.admin,
            admin: true,
        }
    }
    fn op1(&self) -> Viewer {
        Viewer {
            operator: self.op1,
            admin: false,
        }
    }
    fn op2(&self) -> Viewer {
        Viewer {
            operator: self.op2,
            admin: false,
        }
    }
}

async fn world<L: EventLog>(service: &CommandService<L>) -> World {
    let world = World {
        project: ProjectId::new(),
        channel: ChannelId::new(),
        admin: OperatorId::new(),
        op1: OperatorId::new(),
        op2: OperatorId::new(),
        folder: FolderId::new(),
        tag: TagId::new(),
    };
    let operator = |operator, name: &str, role| ProjectCommand::AddOperator {
        operator,
        name: name.into(),
        email: format!("{name}@example.com"),
        role,
        can_delete: role == Role::Admin,
    };
    for command in [
        ProjectCommand::Create {
            name: "shop".into(),
        },
        ProjectCommand::ConnectChannel {
            channel: world.channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
        operator(world.admin, "admin", Role::Admin),
        operator(world.op1, "olga", Role::Operator),
        operator(world.op2, "pavel", Role::Operator),
        ProjectCommand::CreateFolder {
            folder: world.folder,
            name: "VIP".into(),
        },
        ProjectCommand::DefineTag {
            tag: world.tag,
            name: "lead".into(),
            color: "#ff0000".into(),
        },
    ] {
        service
            .project(world.project, command, CommandMeta::new(Actor::System))
            .await
            .expect("project setup");
    }
    world
}

fn identity(world: &World, external: &str) -> ChannelIdentity {
    ChannelIdentity {
        channel: world.channel,
        kind: ChannelKind::Telegram,
        external_id: external.into(),
    }
}

async fn register<L: EventLog>(
    service: &CommandService<L>,
    world: &World,
    external: &str,
    name: Option<&str>,
) -> DialogId {
    let dialog = DialogId::new();
    service
        .dialog(
            world.project,
            dialog,
            DialogCommand::Register {
                profile: ClientProfile {
                    name: name.map(Into::into),
                    ..ClientProfile::default()
                },
                source: Source::default(),
                identity: Some(identity(world, external)),
            },
            CommandMeta::new(Actor::Connector(world.channel)),
        )
        .await
        .expect("register");
    dialog
}

/// Runs a command and returns the sequence to wait for.
async fn command<L: EventLog>(
    service: &CommandService<L>,
    world: &World,
    dialog: DialogId,
    actor: Actor,
    command: DialogCommand,
) -> u64 {
    let ack = service
        .dialog(world.project, dialog, command, CommandMeta::new(actor))
        .await
        .unwrap_or_else(|e| panic!("command refused: {e}"));
    assert!(
        ack.events > 0,
        "the command was expected to change something"
    );
    ack.seq
}

async fn inbound<L: EventLog>(
    service: &CommandService<L>,
    world: &World,
    dialog: DialogId,
    text: &str,
) -> u64 {
    let message = DialogCommand::ReceiveMessage {
        message: MessageId::new(),
        channel: world.channel,
        external_id: MessageId::new().token(),
        text: text.into(),
        attachments: vec![],
        reply_to: None,
        sent_at: Timestamp::now(),
    };
    command(
        service,
        world,
        dialog,
        Actor::Connector(world.channel),
        message,
    )
    .await
}

async fn reply<L: EventLog>(
    service: &CommandService<L>,
    world: &World,
    dialog: DialogId,
    operator: OperatorId,
    text: &str,
) -> u64 {
    let message = DialogCommand::SendMessage {
        message: MessageId::new(),
        channel: world.channel,
        text: text.into(),
        attachments: vec![],
        reply_to: None,
        template: None,
    };
    command(service, world, dialog, Actor::Operator(operator), message).await
}

async fn start<L: EventLog>(log: &L, path: &Path) -> ProjectionRunner<L> {
    let options = RunnerOptions {
        // Small batches, so that a scenario spans many transactions.
        max_batch: 3,
        ..RunnerOptions::default()
    };
    ProjectionRunner::start(log.clone(), path, DialogsProjection::default(), options)
        .await
        .expect("start the projection")
}

/// Counts as one viewer sees them: (header unread, *Unanswered*, badge of *All chats*, badge of
/// the custom folder, badge of *With operator*).
fn counts(conn: &Connection, world: &World, viewer: Viewer) -> (u64, u64, u64, u64, u64) {
    let project = world.project;
    (
        unread_dialogs(conn, project, viewer).expect("unread"),
        unanswered_dialogs(conn, project, viewer).expect("unanswered"),
        folder_badge(conn, project, viewer, Folder::All).expect("badge"),
        folder_badge(conn, project, viewer, Folder::Custom(world.folder)).expect("badge"),
        folder_badge(conn, project, viewer, Folder::WithOperator).expect("badge"),
    )
}

fn assert_counters_exact(conn: &Connection) {
    assert_eq!(
        all_counters(conn).expect("counters"),
        recount(conn).expect("recount"),
        "incremental counters differ from a recount"
    );
}

fn row(conn: &Connection, dialog: DialogId) -> dialogs::DialogRow {
    dialog_row(conn, dialog)
        .expect("query")
        .expect("the dialog has a row")
}

/// The F1/F4.3/F9 rules step by step, with a restart of the runner in the middle and commands
/// appended while it is down.
async fn list_rows_and_counters_follow_the_rules<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let mut runner = start(&log, &path).await;

    let anna = register(&service, &w, "1001", Some("Anna")).await;
    let boris = register(&service, &w, "2002", None).await;
    let silent = register(&service, &w, "3003", Some("Silent")).await;
    inbound(&service, &w, anna, "hello").await;
    runner
        .wait_for(log.last_seq().await.expect("last seq"), WAIT)
        .await
        .expect("applied");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let first_wait = row(&conn, anna).sla_wait_since.expect("the client waits");
    assert_eq!(Some(first_wait), row(&conn, anna).last_message_at);

    inbound(&service, &w, anna, "is anybody there?").await;
    let seq = inbound(&service, &w, boris, "Сколько стоит «Ёлка»?").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(
        row(&conn, boris).last_message_preview.as_deref(),
        Some("Сколько стоит «Ёлка»?"),
        "kept in the compact form, read back whole"
    );
    let r = row(&conn, anna);
    assert_eq!(r.title(), Some("Anna"));
    assert_eq!(r.last_message_preview.as_deref(), Some("is anybody there?"));
    assert_eq!(r.last_message_author, Some(LastAuthor::Client));
    assert_eq!(r.inbound_count, 2);
    assert!(r.unanswered);
    assert_eq!(
        r.sla_wait_since,
        Some(first_wait),
        "the wait starts at the first message"
    );
    assert_eq!(
        row(&conn, boris).title(),
        Some("2002"),
        "no name: the channel id"
    );
    assert_eq!(
        row(&conn, silent).last_message_preview,
        None,
        "F1.8 placeholders"
    );
    // Both dialogs with client messages are unread for everyone; nobody has any assigned.
    assert_eq!(counts(&conn, &w, w.admin()), (2, 2, 2, 0, 0));
    assert_eq!(counts(&conn, &w, w.op1()), (0, 2, 2, 0, 0));
    assert_counters_exact(&conn);

    // F4.1: anna goes to op1; op2 no longer sees her.
    let seq = command(
        &service,
        &w,
        anna,
        Actor::Operator(w.admin),
        DialogCommand::Assign { operator: w.op1 },
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(row(&conn, anna).assignee, Some(w.op1));
    assert_eq!(counts(&conn, &w, w.op1()), (1, 2, 2, 0, 0));
    assert_eq!(counts(&conn, &w, w.op2()), (0, 1, 1, 0, 0));

    // An operator's answer reads the dialog for them and ends the wait (F4.3, F1.4, F9).
    let seq = reply(&service, &w, anna, w.op1, "here I am").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let r = row(&conn, anna);
    assert_eq!(r.last_message_author, Some(LastAuthor::Operator(w.op1)));
    assert!(!r.unanswered);
    assert_eq!(r.sla_wait_since, None);
    assert!(!is_unread(&conn, anna, w.op1).expect("unread"));
    assert!(
        is_unread(&conn, anna, w.admin).expect("unread"),
        "read marks are per operator"
    );
    assert_eq!(counts(&conn, &w, w.op1()), (0, 1, 1, 0, 0));
    assert_eq!(counts(&conn, &w, w.admin()), (2, 1, 2, 0, 0));

    // The admin opens boris: read for the admin only, and no longer *Unanswered*.
    let seq = command(
        &service,
        &w,
        boris,
        Actor::Operator(w.admin),
        DialogCommand::MarkRead,
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(counts(&conn, &w, w.admin()), (1, 0, 1, 0, 0));
    assert_eq!(counts(&conn, &w, w.op2()), (0, 0, 1, 0, 0));
    assert_counters_exact(&conn);

    // Restart: the runner goes away, commands keep coming.
    let before = runner.shutdown().await;
    assert!(before.failed.is_none());
    drop(conn);
    command(
        &service,
        &w,
        anna,
        Actor::Operator(w.op1),
        DialogCommand::MarkUnread,
    )
    .await;
    command(
        &service,
        &w,
        anna,
        Actor::Operator(w.admin),
        DialogCommand::JoinFolders {
            folders: vec![w.folder],
        },
    )
    .await;
    command(
        &service,
        &w,
        anna,
        Actor::Operator(w.admin),
        DialogCommand::AddTags { tags: vec![w.tag] },
    )
    .await;
    let last = log.last_seq().await.expect("last seq");
    assert!(last > before.checkpoint.seq);

    let stored: i64 = Connection::open(&path)
        .expect("open")
        .query_row("SELECT seq FROM checkpoint", [], |r| r.get(0))
        .expect("checkpoint");
    assert_eq!(
        u64::try_from(stored).expect("non-negative"),
        before.checkpoint.seq,
        "the stopped runner's checkpoint"
    );
    runner = start(&log, &path).await;
    // It resumes from there (it may have applied more already: it starts right away).
    assert!(runner.applied_seq() >= before.checkpoint.seq);
    runner.wait_for(last, WAIT).await.expect("caught up");
    assert_eq!(runner.status().checkpoint.seq, last);
    assert_eq!(runner.lag().await.expect("lag"), 0);
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    // Marked unread by op1 only (F4.3); the folder badge counts it for op1 and the admin.
    assert!(is_unread(&conn, anna, w.op1).expect("unread"));
    // op1 sees anna (theirs, marked unread) and boris (free, never opened by op1).
    assert_eq!(counts(&conn, &w, w.op1()), (1, 0, 2, 1, 0));
    assert_eq!(counts(&conn, &w, w.admin()), (1, 0, 1, 1, 0));
    assert_eq!(
        counts(&conn, &w, w.op2()),
        (0, 0, 1, 0, 0),
        "anna is not op2's to see"
    );
    assert_eq!(
        dialogs::dialog_tags(&conn, anna).expect("tags"),
        vec![w.tag]
    );
    assert_eq!(
        dialogs::tag_usage(&conn, w.project).expect("tags"),
        vec![(w.tag, 1)]
    );
    assert_eq!(
        dialogs::dialog_folders(&conn, anna).expect("folders"),
        vec![w.folder]
    );
    assert_counters_exact(&conn);

    // Reassigned to op2, who never opened it: unread for op2, gone from op1's counts.
    let seq = command(
        &service,
        &w,
        anna,
        Actor::Operator(w.admin),
        DialogCommand::Assign { operator: w.op2 },
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(
        counts(&conn, &w, w.op1()),
        (0, 0, 1, 0, 0),
        "only boris is left to op1"
    );
    assert_eq!(counts(&conn, &w, w.op2()), (1, 0, 2, 1, 0));

    // Close, then a client message reopens it and starts a new wait (F4.2, F9).
    let seq = command(
        &service,
        &w,
        anna,
        Actor::Operator(w.admin),
        DialogCommand::Close,
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert!(row(&conn, anna).closed);
    let seq = inbound(&service, &w, anna, "one more thing").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let r = row(&conn, anna);
    assert!(!r.closed);
    assert!(r.sla_wait_since.is_some_and(|at| at > first_wait));
    assert!(r.unanswered);

    // *With operator* (F1.5, F4.7), and boris is unread again for the admin after a new message.
    command(
        &service,
        &w,
        boris,
        Actor::Operator(w.admin),
        DialogCommand::PauseBot,
    )
    .await;
    let seq = inbound(&service, &w, boris, "hello?").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert!(row(&conn, boris).bot_paused);
    assert_eq!(counts(&conn, &w, w.admin()), (2, 2, 2, 1, 1));
    assert_eq!(counts(&conn, &w, w.op1()), (0, 1, 1, 0, 1));

    // F4.8: the deleted client leaves every list and counter, and their data is erased.
    let seq = inbound(&service, &w, silent, "my phone is +7 900 000").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(counts(&conn, &w, w.admin()), (3, 3, 3, 1, 1));
    let seq = command(
        &service,
        &w,
        silent,
        Actor::Operator(w.admin),
        DialogCommand::Delete,
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let r = row(&conn, silent);
    assert!(r.deleted);
    assert_eq!((r.client_name, r.last_message_preview), (None, None));
    assert_eq!(counts(&conn, &w, w.admin()), (2, 2, 2, 1, 1));
    assert_counters_exact(&conn);

    // A deleted folder takes its memberships and badges with it; other counts stay.
    let ack = service
        .project(
            w.project,
            ProjectCommand::DeleteFolder { folder: w.folder },
            CommandMeta::new(Actor::Operator(w.admin)),
        )
        .await
        .expect("delete the folder");
    runner.wait_for(ack.seq, WAIT).await.expect("applied");
    assert_eq!(
        dialogs::dialog_folders(&conn, anna).expect("folders"),
        vec![]
    );
    assert_eq!(counts(&conn, &w, w.admin()), (2, 2, 2, 0, 1));
    assert_counters_exact(&conn);

    // F2.5: a tag counts the dialogs carrying it; a deleted tag leaves with its memberships.
    let add_tag = DialogCommand::AddTags { tags: vec![w.tag] };
    let seq = command(&service, &w, boris, Actor::Operator(w.admin), add_tag).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(
        dialogs::tag_usage(&conn, w.project).expect("tags"),
        vec![(w.tag, 2)]
    );
    let ack = service
        .project(
            w.project,
            ProjectCommand::DeleteTag { tag: w.tag },
            CommandMeta::new(Actor::Operator(w.admin)),
        )
        .await
        .expect("delete the tag");
    runner.wait_for(ack.seq, WAIT).await.expect("applied");
    assert_eq!(dialogs::tag_usage(&conn, w.project).expect("tags"), vec![]);
    assert_eq!(dialogs::dialog_tags(&conn, boris).expect("tags"), vec![]);
    assert_counters_exact(&conn);
    assert_eq!(runner.status().checkpoint.undecodable, 0);
    runner.shutdown().await;
}

/// Records at or below the checkpoint offered again change nothing, and a rebuild from the log
/// gives the same model.
async fn replayed_records_change_nothing<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let mut dialogs = Vec::new();
    for n in 0..5 {
        let dialog = register(&service, &w, &format!("{n}"), None).await;
        for _ in 0..=n {
            inbound(&service, &w, dialog, "hi").await;
        }
        if n % 2 == 0 {
            reply(&service, &w, dialog, w.op1, "hello").await;
        }
        dialogs.push(dialog);
    }
    let runner = start(&log, &path).await;
    let last = log.last_seq().await.expect("last seq");
    runner.wait_for(last, WAIT).await.expect("applied");
    let status = runner.shutdown().await;
    assert_eq!(status.checkpoint.seq, last);

    let snapshot = |conn: &Connection| {
        let rows: Vec<_> = dialogs.iter().map(|d| row(conn, *d)).collect();
        (rows, all_counters(conn).expect("counters"))
    };
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let before = snapshot(&conn);
    // op1 answered dialogs 0, 2, 4; the other two (1 and 2 messages) are unread for op1.
    assert_eq!(
        unread_dialogs(&conn, w.project, w.admin()).expect("unread"),
        5
    );
    assert_eq!(
        folder_badge(&conn, w.project, w.op1(), Folder::All).expect("badge"),
        2
    );

    let everything = log
        .read(1, &SubjectFilter::all(), 10_000)
        .await
        .expect("read");
    assert_eq!(everything.last().map(|r| r.seq), Some(last));
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    let checkpoint = store.apply(everything.clone()).expect("apply");
    assert_eq!(
        checkpoint, status.checkpoint,
        "nothing newer than the checkpoint"
    );
    let tail = everything[everything.len() - 3..].to_vec();
    assert_eq!(store.apply(tail).expect("apply"), status.checkpoint);
    assert_eq!(
        snapshot(&conn),
        before,
        "replayed records changed the model"
    );
    drop(store);

    // Rebuilt from scratch into a new file: the same model.
    let rebuilt_path = dir.path().join("rebuilt.sqlite");
    let mut rebuilt =
        ProjectionStore::open(&rebuilt_path, DialogsProjection::default()).expect("open");
    for chunk in everything.chunks(7) {
        rebuilt.apply(chunk.to_vec()).expect("apply");
    }
    assert_eq!(rebuilt.checkpoint().seq, last);
    drop(rebuilt);
    let rebuilt_conn = open_reader_for::<DialogsProjection>(&rebuilt_path).expect("reader");
    assert_eq!(snapshot(&rebuilt_conn), before);
}

/// `rebuild` gives the live model again (and swaps it in so that the runner resumes from it), and
/// a rebuild up to a sequence equals the model as it was then.
async fn rebuild_equals_the_live_model<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner = start(&log, &path).await;
    let mut dialogs = Vec::new();
    let mut halfway = 0;
    for n in 0..4 {
        let dialog = register(&service, &w, &format!("7{n}"), Some("Client")).await;
        inbound(&service, &w, dialog, "hi").await;
        let assign = DialogCommand::Assign { operator: w.op1 };
        command(&service, &w, dialog, Actor::Operator(w.admin), assign).await;
        let seq = reply(&service, &w, dialog, w.op1, "hello").await;
        dialogs.push(dialog);
        if n == 1 {
            runner.wait_for(seq, WAIT).await.expect("applied");
            halfway = seq;
        }
    }
    let last = log.last_seq().await.expect("last seq");
    runner.wait_for(last, WAIT).await.expect("applied");
    let live = runner.shutdown().await;
    let snapshot = |path: &Path| {
        let conn = open_reader_for::<DialogsProjection>(path).expect("reader");
        let rows: Vec<_> = dialogs
            .iter()
            .map(|d| dialog_row(&conn, *d).expect("query"))
            .collect();
        (rows, all_counters(&conn).expect("counters"))
    };
    let before = snapshot(&path);

    let mut reported = Vec::new();
    let rebuilt = rebuild(
        &log,
        &path,
        DialogsProjection::default(),
        Until::End,
        5,
        |p| reported.push(p.applied_seq),
    )
    .await
    .expect("rebuild");
    assert_eq!(rebuilt, live.checkpoint);
    assert!(
        reported.windows(2).all(|w| w[0] < w[1]),
        "progress moves forward"
    );
    assert_eq!(reported.last(), Some(&last));
    assert_eq!(
        snapshot(&path),
        before,
        "the rebuilt model differs from the live one"
    );

    // As of a past sequence: the same as the live model was then.
    let past = dir.path().join("past.sqlite");
    let checkpoint = rebuild(
        &log,
        &past,
        DialogsProjection::default(),
        Until::Seq(halfway),
        5,
        |_| {},
    )
    .await
    .expect("rebuild");
    assert_eq!(checkpoint.seq, halfway);
    let conn = open_reader_for::<DialogsProjection>(&past).expect("reader");
    assert!(dialog_row(&conn, dialogs[1]).expect("query").is_some());
    assert!(dialog_row(&conn, dialogs[2]).expect("query").is_none());
    assert_eq!(
        unread_dialogs(&conn, w.project, w.admin()).expect("unread"),
        2
    );

    // As of a past moment: the same cut, by the time the log stored the halfway record.
    let stored = log
        .read(halfway, &SubjectFilter::all(), 1)
        .await
        .expect("read");
    let at = stored.first().expect("the halfway record").appended_at;
    let moment = dir.path().join("moment.sqlite");
    let checkpoint = rebuild(
        &log,
        &moment,
        DialogsProjection::default(),
        Until::Time(at),
        5,
        |_| {},
    )
    .await
    .expect("rebuild");
    assert_eq!(checkpoint.seq, halfway);

    // The runner resumes from the swapped-in file.
    let runner = start(&log, &path).await;
    assert_eq!(runner.applied_seq(), last);
    let seq = inbound(&service, &w, dialogs[0], "again").await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    assert_eq!(
        dialog_row(&conn, dialogs[0])
            .expect("query")
            .expect("row")
            .inbound_count,
        2
    );
    runner.shutdown().await;
}

/// Two projections on their own files follow the same log: the timeline shows both directions,
/// notes and delivery statuses reported by the connector.
async fn timeline_follows_the_conversation<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let list = start(&log, &dir.path().join("dialogs.sqlite")).await;
    let path = dir.path().join("timeline.sqlite");
    let runner = ProjectionRunner::start(
        log.clone(),
        &path,
        TimelineProjection::default(),
        RunnerOptions::default(),
    )
    .await
    .expect("start the timeline");
    let dialog = register(&service, &w, "555", Some("Dina")).await;
    inbound(&service, &w, dialog, "where is my order?").await;
    let answer = MessageId::new();
    let send = DialogCommand::SendMessage {
        message: answer,
        channel: w.channel,
        text: "on its way".into(),
        attachments: vec![],
        reply_to: None,
        template: None,
    };
    command(&service, &w, dialog, Actor::Operator(w.op1), send).await;
    let connector = Actor::Connector(w.channel);
    let sent = DialogCommand::MarkSent {
        message: answer,
        external_id: "tg-1".into(),
    };
    command(&service, &w, dialog, connector, sent).await;
    let delivered = DialogCommand::MarkDelivered { message: answer };
    command(&service, &w, dialog, connector, delivered).await;
    let note = NoteId::new();
    let add_note = DialogCommand::AddNote {
        note,
        text: "asked twice".into(),
    };
    let seq = command(&service, &w, dialog, Actor::Operator(w.op1), add_note).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    list.wait_for(seq, WAIT).await.expect("applied");

    let conn = open_reader(&path).expect("reader");
    let page = timeline(&conn, dialog, None, 10).expect("timeline");
    let summary: Vec<_> = page
        .items
        .iter()
        .map(|i| (i.kind, i.delivery, i.text.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (ItemKind::Note(Some(w.op1)), None, "asked twice"),
            (
                ItemKind::Outbound(Some(w.op1)),
                Some(Delivery::Delivered),
                "on its way"
            ),
            (ItemKind::Inbound, None, "where is my order?"),
        ]
    );
    assert_eq!(page.items[0].id, ItemId::Note(note));
    assert_eq!(page.items[1].id, ItemId::Message(answer));
    assert!(page.next.is_none());
    // The list row shows the note as the last thing that happened (F1.2 *Comment*).
    let list_conn = open_reader_for::<DialogsProjection>(list.path()).expect("reader");
    let r = row(&list_conn, dialog);
    assert_eq!(r.last_message_author, Some(LastAuthor::Note(Some(w.op1))));
    assert_eq!(r.last_message_preview.as_deref(), Some("asked twice"));
    runner.shutdown().await;
    list.shutdown().await;
}

/// The client card through the runner: profile edits and tasks show, deletion erases.
async fn card_follows_the_client<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("card.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner =
        ProjectionRunner::start(log.clone(), &path, CardProjection, RunnerOptions::default())
            .await
            .expect("start the card");
    let dialog = register(&service, &w, "808", Some("Roman")).await;
    let admin = Actor::Operator(w.admin);
    let profile = ClientProfile {
        name: Some("Roman K.".into()),
        email: Some("roman@example.com".into()),
        ..ClientProfile::default()
    };
    let update = DialogCommand::UpdateProfile {
        profile: profile.clone(),
    };
    command(&service, &w, dialog, admin, update).await;
    let task = TaskId::new();
    let create = DialogCommand::CreateTask {
        task,
        text: "send the invoice".into(),
        due: None,
    };
    command(&service, &w, dialog, admin, create).await;
    let seq = command(
        &service,
        &w,
        dialog,
        admin,
        DialogCommand::CompleteTask { task },
    )
    .await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let readers = switchboard_projections::Readers::new(&path, 1);
    let shown = readers
        .query(move |conn| card(conn, dialog))
        .await
        .expect("query")
        .expect("a card");
    assert_eq!(shown.profile, profile);
    assert_eq!(shown.number, 1, "the project's first client");
    assert_eq!(shown.identities.len(), 1);
    assert_eq!(shown.tasks.len(), 1);
    assert!(shown.tasks[0].done);

    let seq = command(&service, &w, dialog, admin, DialogCommand::Delete).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let shown = readers
        .query(move |conn| card(conn, dialog))
        .await
        .expect("query")
        .expect("a tombstone");
    assert!(shown.deleted);
    assert_eq!(shown.profile, ClientProfile::default());
    assert!(shown.identities.is_empty() && shown.tasks.is_empty());
    runner.shutdown().await;
}

/// A record that does not decode is counted and skipped, and what follows is applied.
async fn undecodable_records_are_skipped<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner = start(&log, &path).await;
    let dialog = register(&service, &w, "42", Some("Vera")).await;
    let garbage = log
        .append(AppendRequest {
            subject: Subject::dialog(w.project, dialog),
            expected: Expected::Any,
            msg_id: MsgId::new("garbage-1").expect("msg id"),
            batch: EncodedBatch {
                types: "message.received".into(),
                versions: "1".into(),
                body: vec![3, 0xff, 0xff, 0xff].into(),
            },
        })
        .await
        .expect("append")
        .seq;
    // The command service would refuse to decode the dialog now, so write the next message to
    // another dialog.
    let other = register(&service, &w, "43", Some("Gleb")).await;
    let seq = inbound(&service, &w, other, "after the garbage").await;
    assert!(seq > garbage);
    runner
        .wait_for(seq, WAIT)
        .await
        .expect("applied past the garbage");
    let status = runner.status();
    assert_eq!(status.checkpoint.undecodable, 1);
    assert_eq!(status.checkpoint.last_undecodable_seq, Some(garbage));
    assert!(status.failed.is_none());
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    assert_eq!(row(&conn, dialog).title(), Some("Vera"));
    assert_eq!(row(&conn, other).inbound_count, 1);
    runner.shutdown().await;
}

/// Every dialog of the list, page by page (2 a page), as `viewer` sees it.
fn list(
    conn: &Connection,
    w: &World,
    viewer: Viewer,
    tab: Tab,
    order: Order,
    include_closed: bool,
) -> Vec<DialogId> {
    let mut query = ListQuery {
        project: w.project,
        viewer,
        tab,
        folder: Folder::All,
        include_closed,
        order,
        filter: Filter::default(),
        after: None,
        limit: 2,
    };
    let mut seen = Vec::new();
    loop {
        let page = dialogs::list_dialogs(conn, &query).expect("list");
        assert!(page.rows.len() <= 2);
        seen.extend(page.rows.iter().map(|r| r.row.dialog));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    seen
}

/// F1.3, F1.4, F1.6, F12.1: orders, tabs, the archive switch and what operators see, page by
/// page with keyset cursors.
async fn list_pages_follow_the_order<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner = start(&log, &path).await;
    let mut d = Vec::new();
    for n in 0..5 {
        d.push(register(&service, &w, &format!("1{n}"), None).await);
    }
    for (n, dialog) in d.iter().enumerate() {
        inbound(&service, &w, *dialog, &format!("message {n}")).await;
    }
    reply(&service, &w, d[1], w.op1, "answered").await;
    let admin = Actor::Operator(w.admin);
    command(&service, &w, d[0], admin, DialogCommand::Pin).await;
    command(&service, &w, d[3], admin, DialogCommand::Close).await;
    let assign = DialogCommand::Assign { operator: w.op2 };
    command(&service, &w, d[2], admin, assign).await;
    let draft = DialogCommand::SaveDraft {
        text: "let me check".into(),
    };
    let seq = command(&service, &w, d[4], Actor::Operator(w.op1), draft).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");

    let all = |viewer, order| list(&conn, &w, viewer, Tab::All, order, false);
    assert_eq!(
        all(w.admin(), Order::Activity),
        vec![d[0], d[1], d[4], d[2]]
    );
    assert_eq!(
        list(&conn, &w, w.admin(), Tab::All, Order::Activity, true),
        vec![d[0], d[1], d[4], d[3], d[2]],
        "the archive switch shows closed dialogs"
    );
    assert_eq!(
        all(w.admin(), Order::Processing),
        vec![d[0], d[2], d[4], d[1]],
        "longest wait first, then those who wait for nobody"
    );
    assert_eq!(all(w.admin(), Order::Created), vec![d[0], d[4], d[2], d[1]]);
    assert_eq!(
        all(w.op1(), Order::Activity),
        vec![d[0], d[1], d[4]],
        "not op2's dialog"
    );
    assert_eq!(
        list(
            &conn,
            &w,
            w.admin(),
            Tab::Unanswered,
            Order::Activity,
            false
        ),
        vec![d[0], d[4], d[2]]
    );
    assert_eq!(
        list(&conn, &w, w.admin(), Tab::Others, Order::Activity, false),
        vec![d[2]]
    );
    assert_eq!(
        list(&conn, &w, w.op1(), Tab::Others, Order::Activity, false),
        vec![]
    );
    assert_eq!(
        list(&conn, &w, w.op2(), Tab::Mine, Order::Activity, false),
        vec![d[2]]
    );
    assert_eq!(
        list(&conn, &w, w.admin(), Tab::Free, Order::Activity, false),
        vec![d[0], d[1], d[4]]
    );

    let page = dialogs::list_dialogs(
        &conn,
        &ListQuery {
            project: w.project,
            viewer: w.op1(),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: false,
            order: Order::Activity,
            filter: Filter::default(),
            after: None,
            limit: 10,
        },
    )
    .expect("list");
    let flags: Vec<_> = page
        .rows
        .iter()
        .map(|r| {
            (
                r.row.dialog,
                r.unread,
                r.unread_messages,
                r.draft.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            (d[0], true, 1, None),
            (d[1], false, 0, None),
            (d[4], true, 1, Some("let me check")),
        ],
        "read state and drafts are the viewer's own"
    );
    assert!(page.next.is_none());
    let page = dialogs::list_dialogs(
        &conn,
        &ListQuery {
            project: w.project,
            viewer: w.admin(),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: false,
            order: Order::Activity,
            filter: Filter::default(),
            after: None,
            limit: 10,
        },
    )
    .expect("list");
    assert_eq!(page.rows.len(), 4);
    assert!(
        page.rows.iter().all(|r| r.draft.is_none()),
        "op1's draft is not the admin's"
    );

    // F2.3 filters, combined with AND.
    for dialog in [d[0], d[4]] {
        let tag = DialogCommand::AddTags { tags: vec![w.tag] };
        command(&service, &w, dialog, admin, tag).await;
    }
    runner
        .wait_for(log.last_seq().await.expect("last seq"), WAIT)
        .await
        .expect("applied");
    let created = row(&conn, d[2]).client_created_at;
    let filtered = |conditions: Vec<Condition>| {
        let query = ListQuery {
            project: w.project,
            viewer: w.admin(),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: false,
            order: Order::Activity,
            filter: Filter::new(Expr::all(conditions)).expect("a valid filter"),
            after: None,
            limit: 10,
        };
        let page = dialogs::list_dialogs(&conn, &query).expect("list");
        page.rows.iter().map(|r| r.row.dialog).collect::<Vec<_>>()
    };
    assert_eq!(
        filtered(vec![Condition::TagsAll(vec![w.tag])]),
        vec![d[0], d[4]]
    );
    assert_eq!(
        filtered(vec![Condition::TagsNone(vec![w.tag])]),
        vec![d[1], d[2]]
    );
    assert_eq!(filtered(vec![Condition::NoTags]), vec![d[1], d[2]]);
    assert_eq!(
        filtered(vec![Condition::LastAuthor(AuthorKind::Operator)]),
        vec![d[1]]
    );
    assert_eq!(filtered(vec![Condition::Assignee(Some(w.op2))]), vec![d[2]]);
    assert_eq!(
        filtered(vec![Condition::RegisteredBefore(created)]),
        vec![d[0], d[1]]
    );
    assert_eq!(
        filtered(vec![
            Condition::RegisteredFrom(created),
            Condition::TagsAll(vec![w.tag])
        ]),
        vec![d[4]]
    );
    runner.shutdown().await;
}

/// The dialogs of the list under a filter, as a set (the orders are tested above).
fn matching(
    conn: &Connection,
    w: &World,
    viewer: Viewer,
    include_closed: bool,
    expr: Expr,
) -> BTreeSet<DialogId> {
    let query = ListQuery {
        project: w.project,
        viewer,
        tab: Tab::All,
        folder: Folder::All,
        include_closed,
        order: Order::Activity,
        filter: Filter::new(expr).expect("a valid filter"),
        after: None,
        limit: 100,
    };
    let page = dialogs::list_dialogs(conn, &query).expect("list");
    assert!(page.next.is_none());
    page.rows.iter().map(|r| r.row.dialog).collect()
}

/// F2.2–F2.4: every filter kind, answered by the dialogs read model from the events, and
/// groups joined by AND / OR; the client number is the card's too.
async fn filters_answer_every_kind<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let card_path = dir.path().join("card.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let (second_bot, list_a, list_b, tag2) =
        (ChannelId::new(), ListId::new(), ListId::new(), TagId::new());
    let (pipeline, s1, s2) = (PipelineId::new(), StageId::new(), StageId::new());
    for setup in [
        ProjectCommand::ConnectChannel {
            channel: second_bot,
            kind: ChannelKind::Telegram,
            name: "second bot".into(),
        },
        ProjectCommand::DefineList {
            list: list_a,
            name: "news".into(),
        },
        ProjectCommand::DefineList {
            list: list_b,
            name: "promo".into(),
        },
        ProjectCommand::DefineTag {
            tag: tag2,
            name: "vip".into(),
            color: "#00ff00".into(),
        },
        ProjectCommand::DefinePipeline {
            pipeline,
            name: "sales".into(),
            stages: vec![
                Stage {
                    stage: s1,
                    name: "new".into(),
                },
                Stage {
                    stage: s2,
                    name: "won".into(),
                },
            ],
        },
    ] {
        service
            .project(w.project, setup, CommandMeta::new(Actor::System))
            .await
            .expect("project setup");
    }
    let runner = start(&log, &path).await;
    let cards = ProjectionRunner::start(
        log.clone(),
        &card_path,
        CardProjection,
        RunnerOptions::default(),
    )
    .await
    .expect("start the card");
    let started = Timestamp::now();
    let a = register(&service, &w, "1", Some("Anna")).await;
    let b = register(&service, &w, "2", Some("Boris")).await;
    let c = register(&service, &w, "3", Some("Cyril")).await;
    let admin = Actor::Operator(w.admin);
    let on_second_bot = ChannelIdentity {
        channel: second_bot,
        kind: ChannelKind::Telegram,
        external_id: "c-2".into(),
    };
    let steps = vec![
        (
            a,
            DialogCommand::JoinLists {
                lists: vec![list_a],
            },
        ),
        (
            a,
            DialogCommand::AddTags {
                tags: vec![w.tag, tag2],
            },
        ),
        (
            a,
            DialogCommand::SetVariable {
                name: "city".into(),
                value: "Kazan".into(),
            },
        ),
        (
            a,
            DialogCommand::ChangeDealStage {
                pipeline,
                stage: s1,
            },
        ),
        (
            a,
            DialogCommand::EnterFunnelBlock {
                block: "b1".into(),
                block_name: "Greeting".into(),
            },
        ),
        (
            b,
            DialogCommand::JoinLists {
                lists: vec![list_b],
            },
        ),
        (b, DialogCommand::AddTags { tags: vec![w.tag] }),
        (
            b,
            DialogCommand::SetVariable {
                name: "size".into(),
                value: "M".into(),
            },
        ),
        (b, DialogCommand::Assign { operator: w.op1 }),
        (
            c,
            DialogCommand::LinkIdentity {
                identity: on_second_bot.clone(),
                display_name: None,
                avatar_url: None,
            },
        ),
        (
            c,
            DialogCommand::SetVariable {
                name: "city".into(),
                value: "Moscow".into(),
            },
        ),
        (
            c,
            DialogCommand::ChangeDealStage {
                pipeline,
                stage: s2,
            },
        ),
    ];
    for (dialog, step) in steps {
        command(&service, &w, dialog, admin, step).await;
    }
    inbound(&service, &w, a, "hello").await;
    inbound(&service, &w, b, "price?").await;
    reply(&service, &w, b, w.op1, "10 euro").await;
    let bot_says = DialogCommand::SendMessage {
        message: MessageId::new(),
        channel: second_bot,
        text: "welcome".into(),
        attachments: vec![],
        reply_to: None,
        template: None,
    };
    command(&service, &w, c, Actor::Bot, bot_says).await;
    // A note after the client's message: the last *message* is still the client's.
    let note = DialogCommand::AddNote {
        note: NoteId::new(),
        text: "vip".into(),
    };
    command(&service, &w, a, admin, note).await;
    let seq = command(&service, &w, c, admin, DialogCommand::Close).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    cards.wait_for(seq, WAIT).await.expect("applied");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let card_conn = open_reader(&card_path).expect("reader");

    // F2.2: numbers in the order of registration, the same on the card.
    for (dialog, number) in [(a, 1), (b, 2), (c, 3)] {
        assert_eq!(row(&conn, dialog).client_number, number);
        let shown = card(&card_conn, dialog).expect("card").expect("a card");
        assert_eq!(shown.number, number, "the card shows the list's number");
    }

    let set = |dialogs: &[DialogId]| dialogs.iter().copied().collect::<BTreeSet<_>>();
    let all =
        |conditions: Vec<Condition>| matching(&conn, &w, w.admin(), true, Expr::all(conditions));
    let one = |condition: Condition| all(vec![condition]);
    assert_eq!(one(Condition::ClientNumber("2".into())), set(&[b]));
    assert_eq!(one(Condition::ClientNumber("4".into())), set(&[]));
    assert_eq!(one(Condition::FunnelBlock(vec!["b1".into()])), set(&[a]));
    assert_eq!(one(Condition::FunnelBlock(vec!["b9".into()])), set(&[]));
    assert_eq!(one(Condition::ListsAny(vec![list_a, list_b])), set(&[a, b]));
    assert_eq!(one(Condition::ListsNone(vec![list_a])), set(&[b, c]));
    assert_eq!(one(Condition::TagsAll(vec![w.tag, tag2])), set(&[a]));
    assert_eq!(one(Condition::TagsAll(vec![w.tag])), set(&[a, b]));
    assert_eq!(one(Condition::TagsNone(vec![tag2])), set(&[b, c]));
    assert_eq!(one(Condition::NoTags), set(&[c]));
    assert_eq!(one(Condition::AnyTag), set(&[a, b]));
    assert_eq!(one(Condition::Channels(vec![second_bot])), set(&[c]));
    assert_eq!(one(Condition::Channels(vec![w.channel])), set(&[a, b, c]));
    assert_eq!(one(Condition::Assignee(Some(w.op1))), set(&[b]));
    assert_eq!(one(Condition::Assignee(None)), set(&[a, c]));
    assert_eq!(one(Condition::Status(DialogStatus::Open)), set(&[a, b]));
    assert_eq!(one(Condition::Status(DialogStatus::Closed)), set(&[c]));
    assert_eq!(
        matching(
            &conn,
            &w,
            w.admin(),
            false,
            Expr::all([Condition::Status(DialogStatus::Closed)])
        ),
        set(&[]),
        "closed dialogs need the archive switch"
    );
    assert_eq!(one(Condition::LastAuthor(AuthorKind::Client)), set(&[a]));
    assert_eq!(one(Condition::LastAuthor(AuthorKind::Operator)), set(&[b]));
    assert_eq!(one(Condition::LastAuthor(AuthorKind::Bot)), set(&[c]));
    assert_eq!(one(Condition::DealStages(vec![s1])), set(&[a]));
    assert_eq!(one(Condition::DealStages(vec![s1, s2])), set(&[a, c]));
    let created_b = row(&conn, b).client_created_at;
    assert_eq!(one(Condition::RegisteredBefore(created_b)), set(&[a]));
    assert_eq!(one(Condition::RegisteredFrom(created_b)), set(&[b, c]));
    let quarter = dialogs::ACTIVITY_BUCKET_MICROS;
    let from = started.as_micros().div_euclid(quarter) * quarter;
    let today = Condition::ActiveBetween {
        from: Timestamp::from_micros(from),
        to: Timestamp::from_micros(from + 96 * quarter),
    };
    assert_eq!(one(today), set(&[a, b, c]));
    let yesterday = Condition::ActiveBetween {
        from: Timestamp::from_micros(from - 96 * quarter),
        to: Timestamp::from_micros(from),
    };
    assert_eq!(one(yesterday), set(&[]));
    assert_eq!(one(Condition::Unanswered), set(&[a]));
    let variable = |name: Option<&str>, value: Option<&str>| Condition::Variable {
        name: name.map(Into::into),
        value: value.map(Into::into),
    };
    assert_eq!(one(variable(Some("city"), None)), set(&[a, c]));
    assert_eq!(one(variable(None, Some("M"))), set(&[b]));
    assert_eq!(one(variable(Some("city"), Some("Kazan"))), set(&[a]));
    assert_eq!(one(variable(Some("size"), Some("Kazan"))), set(&[]));
    assert_eq!(
        one(variable(Some("cit"), None)),
        set(&[]),
        "exact names only"
    );
    // F2.4: AND by default, groups joined by OR.
    assert_eq!(
        all(vec![Condition::AnyTag, Condition::Unanswered]),
        set(&[a])
    );
    let either = Expr::Any(vec![
        Expr::all([
            Condition::TagsAll(vec![w.tag]),
            Condition::LastAuthor(AuthorKind::Operator),
        ]),
        Expr::Is(Condition::Status(DialogStatus::Closed)),
    ]);
    assert_eq!(
        Filter::new(either.clone())
            .expect("valid")
            .active_conditions(),
        3
    );
    assert_eq!(matching(&conn, &w, w.admin(), true, either), set(&[b, c]));
    let nested = Expr::All(vec![
        Expr::Is(Condition::ListsNone(vec![list_b])),
        Expr::Any(vec![
            Expr::Is(Condition::Unanswered),
            Expr::Is(Condition::Channels(vec![second_bot])),
        ]),
    ]);
    assert_eq!(matching(&conn, &w, w.admin(), true, nested), set(&[a, c]));
    // F12.1 still applies under a filter: b is op1's, so op2 sees only a of the tagged.
    assert_eq!(
        matching(&conn, &w, w.op2(), true, Expr::all([Condition::AnyTag])),
        set(&[a])
    );

    // Unlinking c's identity on the second bot keeps the channel: the bot wrote through it.
    let unlink = DialogCommand::UnlinkIdentity {
        identity: on_second_bot,
    };
    command(&service, &w, c, admin, unlink).await;
    // Leaving lists, clearing variables, moving the deal and the funnel change the answers.
    let leave = DialogCommand::LeaveLists {
        lists: vec![list_a],
    };
    command(&service, &w, a, admin, leave).await;
    let clear = DialogCommand::ClearVariable {
        name: "city".into(),
    };
    command(&service, &w, a, admin, clear).await;
    let stage = DialogCommand::ChangeDealStage {
        pipeline,
        stage: s2,
    };
    command(&service, &w, a, admin, stage).await;
    let block = DialogCommand::EnterFunnelBlock {
        block: "b2".into(),
        block_name: "Offer".into(),
    };
    let seq = command(&service, &w, a, Actor::Bot, block).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(one(Condition::Channels(vec![second_bot])), set(&[c]));
    assert_eq!(one(Condition::ListsAny(vec![list_a])), set(&[]));
    assert_eq!(one(variable(Some("city"), None)), set(&[c]));
    assert_eq!(one(Condition::DealStages(vec![s2])), set(&[a, c]));
    assert_eq!(one(Condition::FunnelBlock(vec!["b2".into()])), set(&[a]));

    // F4.8: a deleted client matches nothing, and keeps its number (never given again).
    let seq = command(&service, &w, b, admin, DialogCommand::Delete).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(one(Condition::ListsAny(vec![list_b])), set(&[]));
    assert_eq!(one(variable(None, Some("M"))), set(&[]));
    let d = register(&service, &w, "4", None).await;
    runner
        .wait_for(log.last_seq().await.expect("last seq"), WAIT)
        .await
        .expect("applied");
    assert_eq!(row(&conn, d).client_number, 4);
    assert_eq!(row(&conn, b).client_number, 2);
    assert_counters_exact(&conn);
    runner.shutdown().await;
    cards.shutdown().await;
}

/// F6.5, F6.6: the filter leaves the bulk actions select by follow each dialog's last outbound
/// message: failed (not rate limited), since when, through which channel; blocked by the client
/// or by us; a resend or a later message clears it.
async fn delivery_failures_select_resend_and_unsubscribed<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner = start(&log, &path).await;
    let connector = Actor::Connector(w.channel);
    let admin = Actor::Operator(w.admin);
    let fail = |message, reason| DialogCommand::MarkFailed {
        message,
        reason,
        detail: "no".into(),
        retry_after_secs: None,
    };
    // Each dialog: a client message, the operator's answer, then what happens to the answer.
    let mut answers = Vec::new();
    for n in 0..6 {
        let dialog = register(&service, &w, &format!("c{n}"), None).await;
        inbound(&service, &w, dialog, "hi").await;
        let message = MessageId::new();
        let answer = DialogCommand::SendMessage {
            message,
            channel: w.channel,
            text: "hello".into(),
            attachments: vec![],
            reply_to: None,
            template: None,
        };
        command(&service, &w, dialog, admin, answer).await;
        answers.push((dialog, message));
    }
    let [
        failed,
        blocked_bot,
        rate_limited,
        resent,
        answered_again,
        we_blocked,
    ] = <[(DialogId, MessageId); 6]>::try_from(answers).expect("six");
    command(
        &service,
        &w,
        failed.0,
        connector,
        fail(failed.1, FailureReason::ChannelError),
    )
    .await;
    let reason = FailureReason::BlockedByClient;
    command(
        &service,
        &w,
        blocked_bot.0,
        connector,
        fail(blocked_bot.1, reason),
    )
    .await;
    let reason = FailureReason::RateLimited;
    command(
        &service,
        &w,
        rate_limited.0,
        connector,
        fail(rate_limited.1, reason),
    )
    .await;
    let reason = FailureReason::ChannelError;
    command(&service, &w, resent.0, connector, fail(resent.1, reason)).await;
    let again = DialogCommand::ResendMessage { message: resent.1 };
    command(&service, &w, resent.0, admin, again).await;
    let reason = FailureReason::TooLarge;
    command(
        &service,
        &w,
        answered_again.0,
        connector,
        fail(answered_again.1, reason),
    )
    .await;
    reply(&service, &w, answered_again.0, w.admin, "one more").await;
    let seq = command(&service, &w, we_blocked.0, admin, DialogCommand::Block).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let one = |condition| matching(&conn, &w, w.admin(), true, Expr::all([condition]));
    let set = |dialogs: &[DialogId]| dialogs.iter().copied().collect::<BTreeSet<_>>();
    let failed_since = |since, channel| Condition::OutboundFailed { since, channel };
    assert_eq!(
        one(failed_since(None, None)),
        set(&[failed.0, blocked_bot.0])
    );
    assert_eq!(
        one(failed_since(None, Some(w.channel))),
        set(&[failed.0, blocked_bot.0])
    );
    assert_eq!(one(failed_since(None, Some(ChannelId::new()))), set(&[]));
    let later = Timestamp::from_micros(Timestamp::now().as_micros() + 60_000_000);
    assert_eq!(one(failed_since(Some(later), None)), set(&[]));
    let earlier = Timestamp::from_micros(Timestamp::now().as_micros() - 60_000_000);
    assert_eq!(
        one(failed_since(Some(earlier), None)),
        set(&[failed.0, blocked_bot.0])
    );
    assert_eq!(
        one(Condition::Unsubscribed),
        set(&[blocked_bot.0, we_blocked.0])
    );
    // The failed message goes out on a retry: no longer selected.
    let sent = DialogCommand::MarkSent {
        message: failed.1,
        external_id: "x-1".into(),
    };
    let seq = command(&service, &w, failed.0, connector, sent).await;
    runner.wait_for(seq, WAIT).await.expect("applied");
    assert_eq!(one(failed_since(None, None)), set(&[blocked_bot.0]));
    runner.shutdown().await;
}

switchboard_tests::both_backends!(
    list_rows_and_counters_follow_the_rules,
    delivery_failures_select_resend_and_unsubscribed,
    replayed_records_change_nothing,
    undecodable_records_are_skipped,
    list_pages_follow_the_order,
    rebuild_equals_the_live_model,
    timeline_follows_the_conversation,
    card_follows_the_client,
    filters_answer_every_kind,
);

/// The server restarts under a running projection: its tail fails, it resubscribes from what it
/// handed over, and nothing is skipped or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_survives_a_server_restart() {
    let mut server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .expect("connect");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let w = world(&service).await;
    let runner = start(&log, &path).await;
    let dialog = register(&service, &w, "900", Some("Yana")).await;
    for n in 0..3 {
        inbound(&service, &w, dialog, &format!("before {n}")).await;
    }
    runner
        .wait_for(log.last_seq().await.expect("last seq"), WAIT)
        .await
        .expect("applied");

    tokio::task::block_in_place(|| server.restart());
    let mut sent = 0;
    let mut attempts = 0;
    while sent < 3 {
        let message = DialogCommand::ReceiveMessage {
            message: MessageId::new(),
            channel: w.channel,
            external_id: format!("after-{sent}"),
            text: format!("after {sent}"),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::now(),
        };
        let meta = CommandMeta::new(Actor::Connector(w.channel));
        match service.dialog(w.project, dialog, message, meta).await {
            Ok(_) => sent += 1,
            Err(e) => {
                // The client is still reconnecting: back off and send again (the domain
                // recognises a repeated external id, so a lost ack cannot double a message).
                attempts += 1;
                assert!(attempts < 100, "the log did not come back: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let last = log.last_seq().await.expect("last seq");
    runner
        .wait_for(last, WAIT)
        .await
        .expect("applied after the restart");
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let r = row(&conn, dialog);
    assert_eq!(r.inbound_count, 6, "every message once");
    assert_eq!(r.last_message_preview.as_deref(), Some("after 2"));
    assert_eq!(runner.status().checkpoint.seq, last);
    assert_eq!(
        unread_dialogs(&conn, w.project, w.admin()).expect("unread"),
        1
    );
    assert_counters_exact(&conn);
    runner.shutdown().await;
}
