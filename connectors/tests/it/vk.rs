//! VK Callback API: the 5.131 capture, events shaped by the 5.199 schema, confirmation, the
//! secret and the community id.

use crate::fixtures;
use serde_json::{Value, json};
use switchboard_connectors::inbound::*;
use switchboard_connectors::vk::{self, Callback, VkConfig};
use switchboard_connectors::{Secret, WebhookError};
use switchboard_schemas::{AttachmentKind, MessageId, Timestamp};

const GROUP: i64 = 214_167_102;

fn config() -> VkConfig {
    VkConfig {
        group_id: GROUP,
        secret: Secret::new("vk-secret-key"),
        confirmation: "1a2b3c4d".into(),
    }
}

/// An event of `kind` with `object`, signed with the right secret.
fn event(kind: &str, object: Value) -> Value {
    json!({"group_id": GROUP, "type": kind, "event_id": format!("ev-{kind}"), "v": "5.199",
        "object": object, "secret": "vk-secret-key"})
}

fn items(body: &Value) -> Vec<Inbound> {
    match vk::handle(body.to_string().as_bytes(), &config()) {
        Ok(Callback::Events { event_id, items }) => {
            assert_eq!(Some(event_id.as_str()), body["event_id"].as_str());
            items
        }
        other => panic!("expected events, got {other:?}"),
    }
}

fn one(body: &Value) -> Inbound {
    let mut all = items(body);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// A 5.199 `messages_message` with every field the schema marks required.
fn schema_message(extra: Value) -> Value {
    let mut message = json!({"date": 1_700_000_000, "from_id": 5001, "id": 0, "out": 0,
        "version": 10_000_123, "attachments": [], "conversation_message_id": 77,
        "fwd_messages": [], "important": false, "is_hidden": false, "peer_id": 5001,
        "random_id": 0, "text": "Здравствуйте"});
    for (key, value) in extra.as_object().expect("fields") {
        message[key] = value.clone();
    }
    message
}

#[test]
fn the_5_131_capture_is_accepted() {
    let mut body = fixtures::json("vk/callback-message_new-v5.131.json");
    assert!(
        body["object"]["message"].get("version").is_none(),
        "the capture lacks message.version"
    );
    // A capture keeps no secret; the community's secret is added as VK would send it.
    body["secret"] = json!("vk-secret-key");
    let Inbound::Message(message) = one(&body) else {
        panic!("a message")
    };
    assert_eq!(message.external_id, "2000000066_2169");
    assert_eq!(message.sender.ids, ["612444319"]);
    assert_eq!(message.text, "Ок");
    assert_eq!(
        message.sent_at,
        Timestamp::from_micros(1_683_278_670_000_000)
    );
    assert!(message.attachments.is_empty() && message.reply_to.is_none());
}

#[test]
fn schema_shaped_message_events_are_read() {
    let new = event(
        "message_new",
        json!({"message": schema_message(json!({
            "reply_message": {"conversation_message_id": 70, "date": 1, "from_id": -GROUP, "text": "?"},
            "attachments": [
                {"type": "photo", "photo": {"id": 1, "owner_id": 5001, "date": 1, "sizes": [
                    {"type": "s", "url": "https://vk.example/s.jpg", "width": 75, "height": 50},
                    {"type": "x", "url": "https://vk.example/x.jpg", "width": 604, "height": 403}]}},
                {"type": "audio_message", "audio_message": {"id": 2, "owner_id": 5001, "duration": 3,
                    "link_ogg": "https://vk.example/a.ogg", "link_mp3": "https://vk.example/a.mp3", "waveform": []}},
                {"type": "doc", "doc": {"id": 3, "owner_id": 5001, "title": "счёт.pdf", "size": 2048,
                    "ext": "pdf", "url": "https://vk.example/d", "date": 1, "type": 1}},
                {"type": "wall", "wall": {"id": 4}}
            ],
            "geo": {"type": "point", "coordinates": {"latitude": 59.93, "longitude": 30.31},
                "place": {"title": "Эрмитаж"}}
        })), "client_info": {"button_actions": ["text"], "keyboard": true, "inline_keyboard": true,
            "carousel": true, "lang_id": 0}}),
    );
    let Inbound::Message(message) = one(&new) else {
        panic!("a message")
    };
    assert_eq!(message.external_id, "5001_77");
    assert_eq!(message.reply_to.as_deref(), Some("5001_70"));
    let kinds: Vec<_> = message.attachments.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AttachmentKind::Image,
            AttachmentKind::Voice,
            AttachmentKind::File
        ]
    );
    assert_eq!(
        message.attachments[0].provider_ref,
        "https://vk.example/x.jpg"
    );
    assert_eq!(
        message.attachments[2].file_name.as_deref(),
        Some("счёт.pdf")
    );
    assert_eq!(message.attachments[2].size_bytes, Some(2048));
    assert!(
        message.text.contains("[vk attachment: wall]"),
        "{}",
        message.text
    );
    assert_eq!(
        message.location.as_ref().and_then(|l| l.name.as_deref()),
        Some("Эрмитаж")
    );

    let edited = event(
        "message_edit",
        schema_message(json!({"text": "Здравствуйте!", "update_time": 1_700_000_060})),
    );
    let Inbound::Edit(edit) = one(&edited) else {
        panic!("an edit")
    };
    assert_eq!(edit.external_id, "5001_77");
    assert_eq!(edit.text, "Здравствуйте!");
    assert_eq!(
        edit.edited_at,
        Timestamp::from_micros(1_700_000_060_000_000)
    );

    let reply = event(
        "message_reply",
        schema_message(json!({"out": 1, "from_id": -GROUP, "conversation_message_id": 78})),
    );
    let Inbound::Status(sent) = one(&reply) else {
        panic!("a status")
    };
    assert_eq!(
        (sent.external_id.as_str(), sent.state),
        ("5001_78", DeliveryState::Sent)
    );

    let read = event(
        "message_read",
        json!({"from_id": 5001, "peer_id": 5001, "read_message_id": 0, "conversation_message_id": 78}),
    );
    let Inbound::Status(read) = one(&read) else {
        panic!("a status")
    };
    assert_eq!(
        (read.external_id.as_str(), read.state),
        ("5001_78", DeliveryState::Read)
    );
    assert_eq!(read.recipient.as_deref(), Some("5001"));

    let reaction = event(
        "message_reaction_event",
        json!({"reacted_id": 5001, "peer_id": 5001, "cmid": 78, "reaction_id": 3}),
    );
    let Inbound::Reaction(reaction) = one(&reaction) else {
        panic!("a reaction")
    };
    assert_eq!(reaction.target_external_id, "5001_78");
    assert_eq!(reaction.reaction, "3");
}

#[test]
fn other_events_are_kept_as_unsupported() {
    for (kind, object, person) in [
        (
            "message_allow",
            json!({"user_id": 5001, "key": "k"}),
            Some("5001"),
        ),
        (
            "message_typing_state",
            json!({"from_id": 5001, "to_id": -GROUP, "state": "typing"}),
            Some("5001"),
        ),
        (
            "group_join",
            json!({"user_id": 5002, "join_type": "join"}),
            Some("5002"),
        ),
        ("wall_post_new", json!({"id": 1, "owner_id": -GROUP}), None),
    ] {
        let Inbound::Unsupported(item) = one(&event(kind, object)) else {
            panic!("{kind}: unsupported")
        };
        assert_eq!(item.kind, kind);
        assert_eq!(item.external_id, format!("ev-{kind}"));
        assert_eq!(
            item.sender.map(|s| s.ids),
            person.map(|p| vec![p.to_owned()]),
            "{kind}"
        );
    }
}

#[test]
fn confirmation_is_answered_with_the_community_string() {
    let body = json!({"type": "confirmation", "group_id": GROUP});
    assert_eq!(
        vk::handle(body.to_string().as_bytes(), &config()),
        Ok(Callback::Confirm("1a2b3c4d".into()))
    );
    let wrong_group = json!({"type": "confirmation", "group_id": GROUP + 1});
    assert_eq!(
        vk::handle(wrong_group.to_string().as_bytes(), &config()),
        Err(WebhookError::Forbidden("group_id"))
    );
}

#[test]
fn the_secret_and_the_event_id_are_required() {
    let mut body = event("message_new", json!({"message": schema_message(json!({}))}));
    body["secret"] = json!("not-it");
    assert_eq!(
        vk::handle(body.to_string().as_bytes(), &config()),
        Err(WebhookError::Forbidden("secret"))
    );
    body.as_object_mut().expect("object").remove("secret");
    assert_eq!(
        vk::handle(body.to_string().as_bytes(), &config()),
        Err(WebhookError::Unauthenticated("secret"))
    );
    let mut no_id = event("message_new", json!({"message": schema_message(json!({}))}));
    no_id.as_object_mut().expect("object").remove("event_id");
    assert!(matches!(
        vk::handle(no_id.to_string().as_bytes(), &config()),
        Err(WebhookError::Malformed(reason)) if reason.contains("event_id")
    ));
    let broken = event("message_new", json!({"message": {"text": 5}}));
    assert!(matches!(
        vk::handle(broken.to_string().as_bytes(), &config()),
        Err(WebhookError::Malformed(reason)) if reason.starts_with("malformed") || reason.contains("message_new")
    ));
    assert!(!format!("{:?}", config()).contains("vk-secret-key"));
}

#[test]
fn random_ids_are_stable_and_never_zero() {
    for n in [
        0u128,
        1,
        u128::MAX,
        0x0194_0000_0000_7000_8000_0000_0000_0006,
    ] {
        let id = MessageId::from_u128(n);
        assert_eq!(vk::random_id(id), vk::random_id(id));
        assert!(vk::random_id(id) > 0);
    }
    assert_ne!(
        vk::random_id(MessageId::from_u128(1 << 20)),
        vk::random_id(MessageId::from_u128(2 << 20))
    );
}
