//! The command service over both real backends: optimistic concurrency across independent
//! services (as across processes), idempotent command ids, identity claims racing, refusals that
//! write nothing, and state that survives cache eviction.

use std::sync::Arc;
use switchboard_core::domain::Refusal;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::{EventLog, Subject, SubjectFilter};
use switchboard_core::service::{CommandError, CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::{
    Actor, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, Event, MessageId,
    NoteId, OperatorId, ProjectId, Role, Source, Timestamp, decode_batch,
};

struct World {
    project: ProjectId,
    channel: ChannelId,
    admin: OperatorId,
}

fn service<L: EventLog>(log: &L) -> CommandService<L> {
    CommandService::new(log.clone(), ServiceOptions::default())
}

async fn world<L: EventLog>(log: &L) -> World {
    let service = service(log);
    let world = World {
        project: ProjectId::new(),
        channel: ChannelId::new(),
        admin: OperatorId::new(),
    };
    let system = || CommandMeta::new(Actor::System);
    for command in [
        ProjectCommand::Create {
            name: "shop".into(),
        },
        ProjectCommand::ConnectChannel {
            channel: world.channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
        ProjectCommand::AddOperator {
            operator: world.admin,
            name: "Admin".into(),
            email: "admin@example.com".into(),
            role: Role::Admin,
            can_delete: true,
        },
    ] {
        service
            .project(world.project, command, system())
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

async fn new_dialog<L: EventLog>(
    service: &CommandService<L>,
    world: &World,
    external: &str,
) -> DialogId {
    let dialog = DialogId::new();
    service
        .dialog(
            world.project,
            dialog,
            DialogCommand::Register {
                profile: ClientProfile::default(),
                source: Source::default(),
                identity: Some(identity(world, external)),
            },
            CommandMeta::new(Actor::Connector(world.channel)),
        )
        .await
        .expect("register");
    dialog
}

fn inbound(world: &World, external_id: String) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: MessageId::new(),
        channel: world.channel,
        external_id,
        text: "привет".into(),
        attachments: vec![],
        reply_to: None,
        sent_at: Timestamp::now(),
    }
}

async fn dialog_events<L: EventLog>(log: &L, world: &World, dialog: DialogId) -> Vec<Event> {
    let filter = SubjectFilter::exact(&Subject::dialog(world.project, dialog));
    let mut events = Vec::new();
    let mut from = 1;
    loop {
        let records = log.read(from, &filter, 1000).await.expect("read");
        let Some(last) = records.last() else { break };
        from = last.seq + 1;
        for record in &records {
            events.extend(
                decode_batch(&record.batch)
                    .expect("decode")
                    .into_iter()
                    .map(|e| e.payload),
            );
        }
    }
    events
}

/// 16 independent services (no shared cache, like 16 processes) race on one dialog: every
/// message lands once, and toggles are decided on fresh state (pins and unpins alternate).
async fn racing_services_converge<L: EventLog>(log: L) {
    let world = Arc::new(world(&log).await);
    let dialog = new_dialog(&service(&log), &world, "racer").await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let service = service(&log);
        let world = Arc::clone(&world);
        tasks.push(tokio::spawn(async move {
            let connector = CommandMeta::new(Actor::Connector(world.channel));
            for i in 0..10 {
                let command = inbound(&world, format!("t{task}-m{i}"));
                service
                    .dialog(
                        world.project,
                        dialog,
                        command,
                        CommandMeta::new(connector.actor),
                    )
                    .await
                    .expect("receive");
                let toggle = if (task + i) % 2 == 0 {
                    DialogCommand::Pin
                } else {
                    DialogCommand::Unpin
                };
                service
                    .dialog(
                        world.project,
                        dialog,
                        toggle,
                        CommandMeta::new(Actor::Operator(world.admin)),
                    )
                    .await
                    .expect("toggle");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let events = dialog_events(&log, &world, dialog).await;
    let received: std::collections::HashSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some(m.external_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 160, "every message exactly once");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::MessageReceived(_)))
            .count(),
        160
    );
    let mut pinned = false;
    for event in &events {
        match event {
            Event::DialogPinned(_) => {
                assert!(!pinned, "pinned twice in a row: a decision on stale state");
                pinned = true;
            }
            Event::DialogUnpinned(_) => {
                assert!(
                    pinned,
                    "unpinned while not pinned: a decision on stale state"
                );
                pinned = false;
            }
            _ => {}
        }
    }
}

/// The same command id twice: answered with the original sequence, applied once.
async fn duplicate_command_id_is_applied_once<L: EventLog>(log: L) {
    let world = world(&log).await;
    let service_a = service(&log);
    let dialog = new_dialog(&service_a, &world, "dup").await;
    let meta = CommandMeta::new(Actor::Operator(world.admin));
    let note = DialogCommand::AddNote {
        note: NoteId::new(),
        text: "VIP".into(),
    };
    let first = service_a
        .dialog(world.project, dialog, note.clone(), meta)
        .await
        .expect("first");
    assert_eq!(first.events, 1);
    assert!(!first.duplicate);
    // A retry through another service (as after a lost answer), same command id.
    let second = service(&log)
        .dialog(world.project, dialog, note, meta)
        .await
        .expect("second");
    assert!(second.duplicate);
    assert_eq!(second.seq, first.seq);
    let notes = dialog_events(&log, &world, dialog)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::NoteAdded(_)))
        .count();
    assert_eq!(notes, 1);
}

/// Eight connectors see the same new identity at once: one dialog, one registration.
async fn identity_race_ends_in_one_dialog<L: EventLog>(log: L) {
    let world = Arc::new(world(&log).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let service = service(&log);
        let world = Arc::clone(&world);
        tasks.push(tokio::spawn(async move {
            service
                .dialog_for_identity(
                    world.project,
                    &identity(&world, "+79990001122"),
                    ClientProfile::default(),
                    Source::default(),
                    CommandMeta::new(Actor::Connector(world.channel)),
                )
                .await
                .expect("dialog for identity")
        }));
    }
    let mut dialogs = Vec::new();
    for task in tasks {
        dialogs.push(task.await.expect("task"));
    }
    dialogs.dedup();
    assert_eq!(
        dialogs.len(),
        1,
        "all connectors end in one dialog: {dialogs:?}"
    );
    let registrations = dialog_events(&log, &world, dialogs[0])
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::DialogRegistered(_)))
        .count();
    assert_eq!(registrations, 1);
}

/// A refused command appends nothing; an idempotent one answers the current sequence.
async fn refusals_write_nothing<L: EventLog>(log: L) {
    let world = world(&log).await;
    let service = service(&log);
    let dialog = new_dialog(&service, &world, "refuse").await;
    let before = log.last_seq().await.expect("last seq");
    let stranger = CommandMeta::new(Actor::Operator(OperatorId::new()));
    let refused = service
        .dialog(world.project, dialog, DialogCommand::Pin, stranger)
        .await;
    assert!(
        matches!(refused, Err(CommandError::Refused(Refusal::Forbidden(_)))),
        "{refused:?}"
    );
    let blocked = service
        .dialog(
            world.project,
            dialog,
            DialogCommand::Block,
            CommandMeta::new(Actor::Operator(world.admin)),
        )
        .await
        .expect("block");
    let refused = service
        .dialog(
            world.project,
            dialog,
            inbound(&world, "x".into()),
            CommandMeta::new(Actor::Connector(world.channel)),
        )
        .await;
    assert!(
        matches!(refused, Err(CommandError::Refused(Refusal::Blocked))),
        "{refused:?}"
    );
    let again = service
        .dialog(
            world.project,
            dialog,
            DialogCommand::Block,
            CommandMeta::new(Actor::Operator(world.admin)),
        )
        .await
        .expect("block again");
    assert_eq!(again.events, 0);
    assert_eq!(again.seq, blocked.seq);
    assert_eq!(log.last_seq().await.expect("last seq"), before + 1);
}

/// With a cache of one dialog, state is reloaded from the log and decisions stay right.
async fn decisions_survive_cache_eviction<L: EventLog>(log: L) {
    let world = world(&log).await;
    let service = CommandService::new(
        log.clone(),
        ServiceOptions {
            dialog_cache: 1,
            ..ServiceOptions::default()
        },
    );
    let dialogs = [
        new_dialog(&service, &world, "e1").await,
        new_dialog(&service, &world, "e2").await,
        new_dialog(&service, &world, "e3").await,
    ];
    let admin = || CommandMeta::new(Actor::Operator(world.admin));
    for dialog in dialogs {
        let ack = service
            .dialog(world.project, dialog, DialogCommand::Close, admin())
            .await
            .expect("close");
        assert_eq!(ack.events, 1);
    }
    for dialog in dialogs {
        let ack = service
            .dialog(world.project, dialog, DialogCommand::Close, admin())
            .await
            .expect("close again");
        assert_eq!(ack.events, 0, "already closed, known after eviction");
        let reopened = service
            .dialog(
                world.project,
                dialog,
                inbound(&world, format!("{dialog}")),
                CommandMeta::new(Actor::Connector(world.channel)),
            )
            .await
            .expect("inbound");
        assert_eq!(reopened.events, 2, "reopened and received");
    }
}

/// Two services on one log (as two processes): a refusal decided from one's cached state is
/// checked against the log before it is answered. Here A has the client blocked in its cache,
/// B unblocks it, and A's next inbound message must be accepted, not refused as blocked.
async fn a_refusal_from_a_stale_cache_is_checked_against_the_log<L: EventLog>(log: L) {
    let world = world(&log).await;
    let (a, b) = (service(&log), service(&log));
    let dialog = new_dialog(&a, &world, "stale").await;
    let admin = || CommandMeta::new(Actor::Operator(world.admin));
    a.dialog(world.project, dialog, DialogCommand::Block, admin())
        .await
        .expect("block through A");
    let refused = a
        .dialog(
            world.project,
            dialog,
            inbound(&world, "while-blocked".into()),
            CommandMeta::new(Actor::Connector(world.channel)),
        )
        .await;
    assert!(
        matches!(refused, Err(CommandError::Refused(Refusal::Blocked))),
        "{refused:?}"
    );
    let unblocked = b
        .dialog(world.project, dialog, DialogCommand::Unblock, admin())
        .await
        .expect("unblock through B");
    assert_eq!(unblocked.events, 1);
    let accepted = a
        .dialog(
            world.project,
            dialog,
            inbound(&world, "after-unblock".into()),
            CommandMeta::new(Actor::Connector(world.channel)),
        )
        .await
        .expect("A sees B's unblock before refusing");
    assert_eq!(accepted.events, 1);
    assert!(
        accepted.seq > unblocked.seq,
        "{accepted:?} after {unblocked:?}"
    );
}

switchboard_tests::both_backends!(
    racing_services_converge,
    duplicate_command_id_is_applied_once,
    identity_race_ends_in_one_dialog,
    refusals_write_nothing,
    decisions_survive_cache_eviction,
    a_refusal_from_a_stale_cache_is_checked_against_the_log,
);
