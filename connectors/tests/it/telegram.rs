//! Telegram: the 13 official example updates, the secret header, and the kinds the examples
//! lack (photos, stickers, places, contacts, reactions, unknown updates).

use crate::fixtures;
use serde_json::json;
use switchboard_connectors::inbound::*;
use switchboard_connectors::ingest::{self, ChannelRef};
use switchboard_connectors::{Secret, WebhookError, telegram};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_schemas::{AttachmentKind, ChannelId, ChannelKind, Timestamp};

fn one(body: &serde_json::Value) -> Inbound {
    let mut items = telegram::parse(body.to_string().as_bytes()).expect("accepted");
    assert_eq!(items.len(), 1, "one update gives one item");
    items.remove(0)
}

fn message(body: &serde_json::Value) -> InboundMessage {
    match one(body) {
        Inbound::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

const AT: Timestamp = Timestamp::from_micros(1_441_645_532_000_000);

#[test]
fn every_official_example_update_is_accepted() {
    let examples = fixtures::json("telegram/webhook-examples.json");
    let examples = examples.as_object().expect("an object of examples");
    let mut checked = 0;
    for (name, update) in examples {
        if name.starts_with('_') {
            continue;
        }
        let item = one(update);
        checked += 1;
        let tester = |m: &InboundMessage| {
            assert_eq!(m.external_id, "1111111:1365", "{name}");
            assert_eq!(m.sender.ids, ["1111111"], "{name}");
            assert_eq!(m.sent_at, AT, "{name}");
        };
        match (name.as_str(), item) {
            ("text_min", Inbound::Message(m)) => {
                tester(&m);
                assert_eq!(m.text, "/start");
                assert_eq!(m.sender.name.as_deref(), Some("Test Test Lastname"));
                assert_eq!(m.sender.username.as_deref(), Some("Test"));
            }
            ("text" | "entities", Inbound::Message(m)) => {
                tester(&m);
                assert!(m.text == "/start" || m.text == "Bold and italics", "{name}");
                assert_eq!(
                    m.sender.name.as_deref(),
                    Some("Test Firstname Test Lastname")
                );
                assert!(m.reply_to.is_none() && m.attachments.is_empty());
            }
            ("forwarded", Inbound::Message(m)) => {
                tester(&m);
                assert_eq!(
                    m.forwarded_from.as_deref(),
                    Some("Forward Firstname Forward Lastname")
                );
            }
            ("forwarded_channel", Inbound::Message(m)) => {
                tester(&m);
                assert_eq!(m.forwarded_from.as_deref(), Some("Test channel"));
            }
            ("reply", Inbound::Message(m)) => {
                tester(&m);
                assert_eq!(m.reply_to.as_deref(), Some("1111111:1334"));
            }
            ("edited", Inbound::Edit(e)) => {
                assert_eq!(e.external_id, "1111111:1365");
                assert_eq!(e.text, "Edited text");
                assert_eq!(e.edited_at, Timestamp::from_micros(1_441_646_600_000_000));
            }
            ("audio" | "voice" | "document", Inbound::Message(m)) => {
                tester(&m);
                assert_eq!(m.text, "");
                let [file] = m.attachments.as_slice() else {
                    panic!("{name}: one attachment, got {:?}", m.attachments)
                };
                assert_eq!(file.provider_ref, "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX");
                let (kind, mime, size) = match name.as_str() {
                    "audio" => (AttachmentKind::Audio, "audio/mpeg", 3_897_500),
                    "voice" => (AttachmentKind::Voice, "audio/ogg", 23_000),
                    _ => (AttachmentKind::File, "application/pdf", 536_392),
                };
                assert_eq!(file.kind, kind, "{name}");
                assert_eq!(file.mime_type.as_deref(), Some(mime));
                assert_eq!(file.size_bytes, Some(size));
                if name == "document" {
                    assert_eq!(file.file_name.as_deref(), Some("Testfile.pdf"));
                }
            }
            (
                "inline_query" | "chosen_inline_result" | "callback_query",
                Inbound::Unsupported(u),
            ) => {
                assert_eq!(u.kind, name.as_str());
                let sender = u.sender.expect("the user is named");
                assert_eq!(sender.ids, ["1111111"]);
                assert!(!u.summary.is_empty());
            }
            (name, other) => panic!("{name}: unexpected {other:?}"),
        }
    }
    assert_eq!(checked, 13, "the 13 examples of the official page");
}

#[test]
fn the_secret_header_is_required_and_compared() {
    let secret = Secret::new("s3cr3t-token_1");
    assert_eq!(telegram::verify(Some("s3cr3t-token_1"), &secret), Ok(()));
    assert_eq!(
        telegram::verify(None, &secret),
        Err(WebhookError::Unauthenticated(telegram::SECRET_HEADER))
    );
    for wrong in ["s3cr3t-token_2", "", "s3cr3t-token_1 ", "S3CR3T-TOKEN_1"] {
        assert_eq!(
            telegram::verify(Some(wrong), &secret),
            Err(WebhookError::Forbidden(telegram::SECRET_HEADER)),
            "{wrong:?}"
        );
    }
    assert!(!format!("{secret:?}").contains("s3cr3t"));
}

fn update(message: serde_json::Value) -> serde_json::Value {
    let mut base = json!({
        "message_id": 7, "date": 1_700_000_000,
        "chat": {"id": 42, "type": "private", "first_name": "Анна"},
        "from": {"id": 42, "is_bot": false, "first_name": "Анна", "language_code": "ru"}
    });
    for (key, value) in message.as_object().expect("fields") {
        base[key] = value.clone();
    }
    json!({"update_id": 5, "message": base})
}

#[test]
fn photos_stickers_videos_places_and_contacts_are_normalised() {
    let photo = message(&update(json!({"caption": "чек", "photo": [
        {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 1000},
        {"file_id": "large", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 90000},
        {"file_id": "mid", "file_unique_id": "c", "width": 320, "height": 240}
    ]})));
    assert_eq!(photo.text, "чек");
    assert_eq!(photo.sender.language.as_deref(), Some("ru"));
    assert_eq!(photo.attachments.len(), 1, "one photo, its largest size");
    assert_eq!(photo.attachments[0].provider_ref, "large");
    assert_eq!(photo.attachments[0].kind, AttachmentKind::Image);

    let sticker = message(&update(
        json!({"sticker": {"file_id": "st", "file_unique_id": "u",
        "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": true,
        "emoji": "😀"}}),
    ));
    assert_eq!(sticker.text, "😀");
    assert_eq!(sticker.attachments[0].provider_kind, "sticker");
    assert_eq!(
        sticker.attachments[0].mime_type.as_deref(),
        Some("video/webm")
    );

    let note = message(&update(
        json!({"video_note": {"file_id": "vn", "file_unique_id": "u",
        "length": 240, "duration": 3}}),
    ));
    assert_eq!(note.attachments[0].kind, AttachmentKind::Video);

    let venue = message(&update(
        json!({"location": {"latitude": 55.7558, "longitude": 37.6173},
        "venue": {"location": {"latitude": 55.7558, "longitude": 37.6173},
        "title": "Красная площадь", "address": "Москва"}}),
    ));
    let place = venue.location.clone().expect("a place");
    assert_eq!(place.name.as_deref(), Some("Красная площадь"));
    assert!(ingest::rendered_text(&venue).contains("55.755800, 37.617300"));

    let contact = message(&update(json!({"contact": {"phone_number": "+79990001122",
        "first_name": "Иван", "last_name": "Петров"}})));
    assert_eq!(contact.contacts[0].name, "Иван Петров");
    assert_eq!(contact.contacts[0].phones, ["+79990001122"]);
    assert!(ingest::rendered_text(&contact).contains("+79990001122"));
}

#[test]
fn reactions_and_unknown_updates_are_kept() {
    let reaction = one(&json!({"update_id": 9, "message_reaction": {
        "chat": {"id": 42, "type": "private"}, "message_id": 7,
        "user": {"id": 42, "is_bot": false, "first_name": "Анна"}, "date": 1_700_000_100,
        "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}));
    let Inbound::Reaction(reaction) = reaction else {
        panic!("a reaction, got {reaction:?}")
    };
    assert_eq!(reaction.target_external_id, "42:7");
    assert_eq!(reaction.reaction, "👍");
    assert_eq!(reaction.sender.ids, ["42"]);

    let removed = one(&json!({"update_id": 10, "message_reaction": {
        "chat": {"id": 42}, "message_id": 7, "user": {"id": 42, "first_name": "A"},
        "date": 1_700_000_200, "old_reaction": [{"type": "emoji", "emoji": "👍"}], "new_reaction": []}}));
    assert!(matches!(removed, Inbound::Reaction(r) if r.reaction.is_empty()));

    let member = one(&json!({"update_id": 11, "my_chat_member": {"chat": {"id": 42}}}));
    assert!(matches!(&member, Inbound::Unsupported(u)
        if u.kind == "my_chat_member" && u.external_id == "update:11" && u.sender.is_none()));

    let poll = one(&update(
        json!({"poll": {"id": "p", "question": "?", "options": []}}),
    ));
    let Inbound::Unsupported(poll) = poll else {
        panic!("a poll is unsupported, got {poll:?}")
    };
    assert_eq!(poll.kind, "poll");
    let channel = ChannelRef {
        channel: ChannelId::from_u128(1),
        kind: ChannelKind::Telegram,
    };
    let Some(DialogCommand::ReceiveMessage { text, .. }) =
        ingest::unsupported_command(channel, &poll, AT)
    else {
        panic!("an unsupported item with a sender is kept as a message")
    };
    assert!(text.starts_with("[unsupported poll]"), "{text}");
}

#[test]
fn bodies_that_are_not_updates_are_refused_with_a_reason() {
    for (body, needle) in [
        (&b"not json"[..], "expected"),
        (br#"{"edited": {"message_id": 1}}"#, "update_id"),
        (
            br#"{"update_id": 1, "message": {"message_id": 1, "date": 5}}"#,
            "chat",
        ),
        (
            br#"{"update_id": 1, "message": {"message_id": 1, "date": -5, "chat": {"id": 1}, "text": "x"}}"#,
            "message.date",
        ),
        (br#"[1, 2]"#, "invalid type"),
    ] {
        match telegram::parse(body) {
            Err(WebhookError::Malformed(reason)) => {
                assert!(reason.contains(needle), "{reason:?} should name {needle}")
            }
            other => panic!("{:?}: expected a refusal, got {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn the_same_update_gives_the_same_ids() {
    let examples = fixtures::json("telegram/webhook-examples.json");
    let body = examples["reply"].to_string();
    let channel = ChannelRef {
        channel: ChannelId::from_u128(7),
        kind: ChannelKind::Telegram,
    };
    let first = telegram::parse(body.as_bytes()).expect("accepted");
    let again = telegram::parse(body.as_bytes()).expect("accepted");
    assert_eq!(first, again);
    let Inbound::Message(m) = &first[0] else {
        panic!("a message")
    };
    let command = ingest::receive_command(channel, m);
    let DialogCommand::ReceiveMessage {
        message, reply_to, ..
    } = &command
    else {
        panic!("receive")
    };
    assert_eq!(
        *message,
        ingest::message_id(channel.channel, "1111111:1365")
    );
    assert_eq!(
        *reply_to,
        Some(ingest::message_id(channel.channel, "1111111:1334"))
    );
    assert_eq!(
        ingest::command_id(channel.channel, &first[0]),
        ingest::command_id(channel.channel, &again[0])
    );
    let other_channel = ChannelId::from_u128(8);
    assert_ne!(
        ingest::message_id(other_channel, "1111111:1365"),
        *message,
        "another bot's chat numbers are its own"
    );
}

#[test]
fn a_request_failing_verification_is_not_read() {
    let secret = Secret::new("s3cr3t");
    // Unparseable, but the secret is checked first: 403, not 400.
    assert_eq!(
        telegram::webhook(Some("wrong"), b"not json", &secret),
        Err(WebhookError::Forbidden(telegram::SECRET_HEADER))
    );
    assert_eq!(
        telegram::webhook(None, b"not json", &secret),
        Err(WebhookError::Unauthenticated(telegram::SECRET_HEADER))
    );
    assert!(matches!(
        telegram::webhook(Some("s3cr3t"), b"not json", &secret),
        Err(WebhookError::Malformed(_))
    ));
    let examples = fixtures::json("telegram/webhook-examples.json");
    let body = examples["text"].to_string();
    assert_eq!(
        telegram::webhook(Some("s3cr3t"), body.as_bytes(), &secret).map(|items| items.len()),
        Ok(1)
    );
}
