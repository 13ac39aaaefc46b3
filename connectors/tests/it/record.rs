//! Recording through the real command service over the embedded log: a provider's retries
//! append nothing new, a sender's dialog is found by any of its identities, edits, reactions
//! and statuses reach the dialog of their message.

use crate::fixtures;
use serde_json::json;
use switchboard_connectors::inbound::*;
use switchboard_connectors::ingest::ChannelRef;
use switchboard_connectors::record::{self, Recorded};
use switchboard_connectors::{telegram, whatsapp};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{EventLog, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

struct World {
    _dir: tempfile::TempDir,
    service: CommandService<EmbeddedLog>,
    project: ProjectId,
}

async fn world(channels: &[ChannelRef]) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let service = CommandService::new(log, ServiceOptions::default());
    let project = ProjectId::new();
    let system = || CommandMeta::new(Actor::System);
    let create = ProjectCommand::Create {
        name: "shop".into(),
    };
    service
        .project(project, create, system())
        .await
        .expect("project");
    for channel in channels {
        let connect = ProjectCommand::ConnectChannel {
            channel: channel.channel,
            kind: channel.kind,
            name: "bot".into(),
        };
        service
            .project(project, connect, system())
            .await
            .expect("channel");
    }
    World {
        _dir: dir,
        service,
        project,
    }
}

/// Every event of the log, in order.
async fn events(world: &World) -> Vec<Event> {
    let records = world
        .service
        .log()
        .read(1, &SubjectFilter::all(), 10_000)
        .await
        .expect("read");
    records
        .iter()
        .flat_map(|r| decode_batch(&r.batch).expect("decodes"))
        .map(|e| e.payload)
        .collect()
}

fn no_lookup(_: &InboundStatus) -> Option<(DialogId, MessageId)> {
    None
}

async fn record_all(world: &World, channel: ChannelRef, items: &[Inbound]) -> Vec<Recorded> {
    let mut out = Vec::new();
    for item in items {
        let recorded = record::record(&world.service, world.project, channel, item, &no_lookup)
            .await
            .expect("recorded");
        out.push(recorded);
    }
    out
}

fn dialog_of(recorded: &Recorded) -> DialogId {
    match recorded {
        Recorded::Done { dialog, .. } => *dialog,
        other => panic!("recorded in a dialog, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retried_telegram_update_is_recorded_once() {
    let channel = ChannelRef {
        channel: ChannelId::new(),
        kind: ChannelKind::Telegram,
    };
    let world = world(&[channel]).await;
    let examples = fixtures::json("telegram/webhook-examples.json");
    let body = examples["reply"].to_string();
    let mut dialogs = Vec::new();
    for _ in 0..3 {
        let items = telegram::parse(body.as_bytes()).expect("accepted");
        for recorded in record_all(&world, channel, &items).await {
            dialogs.push(dialog_of(&recorded));
        }
    }
    assert!(dialogs.windows(2).all(|w| w[0] == w[1]), "one dialog");
    let received: Vec<MessageReceived> = events(&world)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1, "three deliveries, one message");
    assert_eq!(received[0].external_id, "1111111:1365");
    assert_eq!(received[0].text, "/start");

    // The edit and a reaction of the same message reach it.
    let edit = telegram::parse(examples["edited"].to_string().as_bytes()).expect("accepted");
    let reaction = json!({"update_id": 10001, "message_reaction": {"chat": {"id": 1111111},
        "message_id": 1365, "user": {"id": 1111111, "first_name": "Test"}, "date": 1441646700,
        "new_reaction": [{"type": "emoji", "emoji": "👍"}]}});
    let reaction = telegram::parse(reaction.to_string().as_bytes()).expect("accepted");
    record_all(&world, channel, &edit).await;
    record_all(&world, channel, &reaction).await;
    record_all(&world, channel, &reaction).await;
    let all = events(&world).await;
    let edited: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Event::MessageEdited(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(edited.len(), 1);
    assert_eq!(edited[0].message, received[0].message);
    assert_eq!(edited[0].text, "Edited text");
    let reactions: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Event::ReactionSet(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(reactions.len(), 1, "the retried reaction is recorded once");
    assert_eq!(reactions[0].message, Some(received[0].message));
    assert_eq!(
        all.iter()
            .filter(|e| matches!(e, Event::DialogRegistered(_)))
            .count(),
        1
    );
}

fn whatsapp_text(id: &str, contact: serde_json::Value, from: serde_json::Value) -> Vec<Inbound> {
    let mut message = json!({"id": id, "timestamp": "1775000000", "type": "text",
        "text": {"body": id}});
    for (key, value) in from.as_object().expect("fields") {
        message[key] = value.clone();
    }
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"metadata": {"phone_number_id": "1"},
        "contacts": [contact], "messages": [message]}}]}]});
    whatsapp::parse(body.to_string().as_bytes())
        .expect("accepted")
        .into_iter()
        .map(|item| item.inbound)
        .collect()
}

#[tokio::test]
async fn a_whatsapp_client_is_one_dialog_by_phone_user_id_or_both() {
    let channel = ChannelRef {
        channel: ChannelId::new(),
        kind: ChannelKind::WhatsappCloud,
    };
    let world = world(&[channel]).await;
    // First by phone only (before 2026), then with both ids.
    let by_phone = whatsapp_text(
        "wamid.1",
        json!({"wa_id": "79990000001", "profile": {"name": "Анна"}}),
        json!({"from": "79990000001"}),
    );
    let both = whatsapp_text(
        "wamid.2",
        json!({"wa_id": "79990000001", "user_id": "RU.111", "profile": {"name": "Анна"}}),
        json!({"from": "79990000001"}),
    );
    // Then by user id only (the client hid the number).
    let by_user = whatsapp_text(
        "wamid.3",
        json!({"user_id": "RU.111", "profile": {"name": "Анна", "username": "anna"}}),
        json!({"from_user_id": "RU.111"}),
    );
    let first = dialog_of(&record_all(&world, channel, &by_phone).await[0]);
    let second = dialog_of(&record_all(&world, channel, &both).await[0]);
    let third = dialog_of(&record_all(&world, channel, &by_user).await[0]);
    assert_eq!((first, second), (first, first));
    assert_eq!(third, first);

    // Someone new, first by user id only, later with the phone too: still one dialog.
    let new_user = whatsapp_text(
        "wamid.4",
        json!({"user_id": "RU.222"}),
        json!({"from_user_id": "RU.222"}),
    );
    let new_both = whatsapp_text(
        "wamid.5",
        json!({"wa_id": "79990000002", "user_id": "RU.222"}),
        json!({"from": "79990000002"}),
    );
    let fourth = dialog_of(&record_all(&world, channel, &new_user).await[0]);
    let fifth = dialog_of(&record_all(&world, channel, &new_both).await[0]);
    assert_eq!(fourth, fifth);
    assert_ne!(fourth, first);

    let all = events(&world).await;
    let registered = all
        .iter()
        .filter(|e| matches!(e, Event::DialogRegistered(_)))
        .count();
    assert_eq!(registered, 2, "two clients");
    let linked: Vec<&str> = all
        .iter()
        .filter_map(|e| match e {
            Event::IdentityLinked(l) => Some(l.identity.external_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(linked, ["RU.111", "79990000002"]);
    let received = all
        .iter()
        .filter(|e| matches!(e, Event::MessageReceived(_)))
        .count();
    assert_eq!(received, 5);
}

#[tokio::test]
async fn statuses_reach_the_message_the_lookup_names() {
    let channel = ChannelRef {
        channel: ChannelId::new(),
        kind: ChannelKind::WhatsappCloud,
    };
    let world = world(&[channel]).await;
    let hello = whatsapp_text(
        "wamid.in",
        json!({"wa_id": "79990000003"}),
        json!({"from": "79990000003"}),
    );
    let dialog = dialog_of(&record_all(&world, channel, &hello).await[0]);
    let ours = MessageId::new();
    let send = DialogCommand::SendMessage {
        message: ours,
        channel: channel.channel,
        text: "Здравствуйте".into(),
        attachments: vec![],
        reply_to: None,
        template: None,
    };
    world
        .service
        .dialog(world.project, dialog, send, CommandMeta::new(Actor::Bot))
        .await
        .expect("queued");
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"statuses": [
            {"id": "wamid.out", "status": "sent", "timestamp": "1775000001", "recipient_id": "79990000003",
             "biz_opaque_callback_data": ours.to_string()},
            {"id": "wamid.out", "status": "read", "timestamp": "1775000002", "recipient_id": "79990000003"},
            {"id": "wamid.other", "status": "delivered", "timestamp": "1775000003"}]}}]}]});
    let items: Vec<Inbound> = whatsapp::parse(body.to_string().as_bytes())
        .expect("accepted")
        .into_iter()
        .map(|item| item.inbound)
        .collect();
    // The outbound side's record: the echo names ours, the external id does after "sent".
    let lookup = |status: &InboundStatus| {
        (status.message == Some(ours) || status.external_id == "wamid.out")
            .then_some((dialog, ours))
    };
    let mut outcomes = Vec::new();
    for item in &items {
        outcomes.push(
            record::record(&world.service, world.project, channel, item, &lookup)
                .await
                .expect("recorded"),
        );
    }
    assert!(matches!(outcomes[0], Recorded::Done { ack, .. } if ack.events == 1));
    assert!(matches!(outcomes[1], Recorded::Done { ack, .. } if ack.events == 1));
    assert_eq!(outcomes[2], Recorded::UnknownMessage);
    let all = events(&world).await;
    assert!(all.contains(&Event::MessageSent(MessageSent {
        message: ours,
        external_id: "wamid.out".into()
    })));
    assert!(all.contains(&Event::MessageRead(MessageRead { message: ours })));
}

#[tokio::test]
async fn a_redelivered_vk_event_is_recorded_once_and_unsupported_ones_are_kept() {
    use switchboard_connectors::vk::{self, Callback, VkConfig};
    let channel = ChannelRef {
        channel: ChannelId::new(),
        kind: ChannelKind::Vk,
    };
    let world = world(&[channel]).await;
    let config = VkConfig {
        group_id: 214_167_102,
        secret: switchboard_connectors::Secret::new("k"),
        confirmation: "c".into(),
    };
    let mut capture = fixtures::json("vk/callback-message_new-v5.131.json");
    capture["secret"] = json!("k");
    let join = json!({"type": "group_join", "group_id": 214_167_102, "event_id": "join-1",
        "v": "5.199", "secret": "k", "object": {"user_id": 612444319, "join_type": "join"}});
    let wall = json!({"type": "wall_post_new", "group_id": 214_167_102, "event_id": "wall-1",
        "v": "5.199", "secret": "k", "object": {"id": 1, "owner_id": -214167102}});
    let mut outcomes = Vec::new();
    for body in [&capture, &capture, &join, &join, &wall] {
        let Ok(Callback::Events { items, .. }) = vk::handle(body.to_string().as_bytes(), &config)
        else {
            panic!("accepted: {body}")
        };
        outcomes.extend(record_all(&world, channel, &items).await);
    }
    let dialog = dialog_of(&outcomes[0]);
    assert!(
        outcomes[..4].iter().all(|o| dialog_of(o) == dialog),
        "one person"
    );
    assert_eq!(outcomes[4], Recorded::NoDialog, "a wall post names nobody");
    let texts: Vec<String> = events(&world)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some(m.text),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        ["Ок", "[unsupported group_join] vk event group_join"]
    );
}
