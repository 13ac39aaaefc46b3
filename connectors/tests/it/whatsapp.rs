//! WhatsApp Cloud API: the signature, the verification GET, every message type of Meta's
//! webhook reference, statuses with errors, and both identity shapes (phone, user id, both).

use serde_json::{Value, json};
use switchboard_connectors::inbound::*;
use switchboard_connectors::ingest::{self, ChannelRef};
use switchboard_connectors::whatsapp::{self, WhatsappItem};
use switchboard_connectors::{Secret, WebhookError};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_schemas::{AttachmentKind, ChannelId, ChannelKind, FailureReason, MessageId};

const PHONE: &str = "79991234567";
const USER: &str = "RU.13491208655302741918";

/// A notification of one `messages` change with `value`'s fields.
fn notification(value: Value) -> Value {
    let mut full = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"}});
    for (key, v) in value.as_object().expect("fields") {
        full[key] = v.clone();
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"value": full, "field": "messages"}]}]})
}

fn contact() -> Value {
    json!([{"profile": {"name": "Мария"}, "wa_id": PHONE, "user_id": USER}])
}

/// One inbound message of the phone-and-user-id contact.
fn message(body: Value) -> Value {
    let mut message = json!({"from": PHONE, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "timestamp": "1749416383"});
    for (key, v) in body.as_object().expect("fields") {
        message[key] = v.clone();
    }
    notification(json!({"contacts": contact(), "messages": [message]}))
}

fn items(body: &Value) -> Vec<WhatsappItem> {
    whatsapp::parse(body.to_string().as_bytes()).expect("accepted")
}

fn one(body: &Value) -> Inbound {
    let mut all = items(body);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].phone_number_id.as_deref(), Some("106540352242922"));
    all.remove(0).inbound
}

fn one_message(body: Value) -> InboundMessage {
    match one(&message(body)) {
        Inbound::Message(m) => m,
        other => panic!("a message, got {other:?}"),
    }
}

#[test]
fn the_signature_is_an_hmac_of_the_raw_body() {
    let secret = Secret::new("app-secret-123");
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    // Computed apart from this code (Python's hmac module).
    let header = "sha256=20e391a99a86fc5adf7e3a453236d20c906360291977896cf2f671e03bb95703";
    assert_eq!(
        whatsapp::signature_header(body, &secret).expect("signs"),
        header
    );
    assert_eq!(
        whatsapp::verify_signature(Some(header), body, &secret),
        Ok(())
    );
    assert_eq!(
        whatsapp::verify_signature(
            Some(&header.to_uppercase().replace("SHA256=", "sha256=")),
            body,
            &secret
        ),
        Ok(()),
        "hex digits in either case"
    );
    let forbidden = Err(WebhookError::Forbidden(whatsapp::SIGNATURE_HEADER));
    let mut changed = body.to_vec();
    changed[3] ^= 1;
    assert_eq!(
        whatsapp::verify_signature(Some(header), &changed, &secret),
        forbidden
    );
    for wrong in [
        "sha256=20e391a99a86fc5adf7e3a453236d20c906360291977896cf2f671e03bb95704",
        "sha256=20e391",
        "sha1=20e391a99a86fc5adf7e3a453236d20c906360291977896cf2f671e03bb95703",
        "sha256=zz",
        "",
    ] {
        assert_eq!(
            whatsapp::verify_signature(Some(wrong), body, &secret),
            forbidden,
            "{wrong}"
        );
    }
    assert_eq!(
        whatsapp::verify_signature(None, body, &secret),
        Err(WebhookError::Unauthenticated(whatsapp::SIGNATURE_HEADER))
    );
    let other = Secret::new("another-secret");
    assert_eq!(
        whatsapp::verify_signature(Some(header), body, &other),
        forbidden
    );
}

#[test]
fn the_verification_get_answers_the_challenge() {
    let ours = Secret::new("verify-me");
    assert_eq!(
        whatsapp::verify_subscription(
            Some("subscribe"),
            Some("verify-me"),
            Some("1158201444"),
            &ours
        ),
        Ok("1158201444".into())
    );
    assert_eq!(
        whatsapp::verify_subscription(Some("subscribe"), Some("nope"), Some("1"), &ours),
        Err(WebhookError::Forbidden("hub.verify_token"))
    );
    assert_eq!(
        whatsapp::verify_subscription(Some("subscribe"), None, Some("1"), &ours),
        Err(WebhookError::Unauthenticated("hub.verify_token"))
    );
    assert!(
        whatsapp::verify_subscription(Some("unsubscribe"), Some("verify-me"), Some("1"), &ours)
            .is_err()
    );
    assert!(
        whatsapp::verify_subscription(Some("subscribe"), Some("verify-me"), None, &ours).is_err()
    );
}

#[test]
fn text_and_media_messages_are_normalised() {
    let text = one_message(json!({"type": "text", "text": {"body": "Привет"},
        "context": {"from": "15550001111", "id": "wamid.quoted"}}));
    assert_eq!(text.text, "Привет");
    assert_eq!(
        text.sender.ids,
        [PHONE, USER],
        "phone first, then the user id"
    );
    assert_eq!(text.sender.name.as_deref(), Some("Мария"));
    assert_eq!(text.sender.phone.as_deref(), Some(PHONE));
    assert_eq!(text.reply_to.as_deref(), Some("wamid.quoted"));

    for (kind, body, attachment_kind, expected_text) in [
        (
            "image",
            json!({"caption": "фото", "mime_type": "image/jpeg", "sha256": "x", "id": "m1"}),
            AttachmentKind::Image,
            "фото",
        ),
        (
            "video",
            json!({"mime_type": "video/mp4", "id": "m2"}),
            AttachmentKind::Video,
            "",
        ),
        (
            "audio",
            json!({"mime_type": "audio/ogg; codecs=opus", "id": "m3", "voice": true}),
            AttachmentKind::Voice,
            "",
        ),
        (
            "document",
            json!({"filename": "invoice.pdf", "mime_type": "application/pdf", "id": "m4", "caption": "счёт"}),
            AttachmentKind::File,
            "счёт",
        ),
        (
            "sticker",
            json!({"mime_type": "image/webp", "id": "m5", "animated": false}),
            AttachmentKind::Image,
            "",
        ),
    ] {
        let m = one_message(json!({"type": kind, kind: body}));
        assert_eq!(m.text, expected_text, "{kind}");
        let [file] = m.attachments.as_slice() else {
            panic!("{kind}: one file")
        };
        assert_eq!(file.kind, attachment_kind, "{kind}");
        assert_eq!(file.provider_ref, body["id"].as_str().expect("id"));
        assert_eq!(file.mime_type.as_deref(), body["mime_type"].as_str());
        if kind == "document" {
            assert_eq!(file.file_name.as_deref(), Some("invoice.pdf"));
        }
    }

    let place = one_message(json!({"type": "location", "location": {"latitude": 55.75,
        "longitude": 37.61, "name": "Офис", "address": "Тверская, 1"}}));
    assert_eq!(
        place.location.as_ref().and_then(|l| l.address.as_deref()),
        Some("Тверская, 1")
    );

    let card = one_message(
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Иван Петров",
        "first_name": "Иван"}, "phones": [{"phone": "+7 999 000-11-22", "wa_id": "79990001122", "type": "CELL"}]}]}),
    );
    assert_eq!(
        card.contacts,
        [ContactCard {
            name: "Иван Петров".into(),
            phones: vec!["+7 999 000-11-22".into()]
        }]
    );

    let button = one_message(
        json!({"type": "interactive", "interactive": {"type": "button_reply",
        "button_reply": {"id": "yes", "title": "Да"}}}),
    );
    assert_eq!(button.text, "Да");

    let forwarded = one_message(json!({"type": "text", "text": {"body": "fw"},
        "context": {"forwarded": true}}));
    assert!(forwarded.forwarded_from.is_some() && forwarded.reply_to.is_none());
}

#[test]
fn reactions_edits_and_unsupported_types_are_kept() {
    let reaction = one(&message(json!({"type": "reaction",
        "reaction": {"message_id": "wamid.ours", "emoji": "❤️"}})));
    let Inbound::Reaction(reaction) = reaction else {
        panic!("a reaction")
    };
    assert_eq!(
        (
            reaction.target_external_id.as_str(),
            reaction.reaction.as_str()
        ),
        ("wamid.ours", "❤️")
    );

    let removed = one(&message(
        json!({"type": "reaction", "reaction": {"message_id": "wamid.ours"}}),
    ));
    assert!(matches!(removed, Inbound::Reaction(r) if r.reaction.is_empty()));

    let edit = one(&message(
        json!({"type": "edit", "edit": {"original_message_id": "wamid.first",
        "message": {"id": "wamid.first", "timestamp": "1749416383", "type": "text", "text": {"body": "исправлено"}}}}),
    ));
    let Inbound::Edit(edit) = edit else {
        panic!("an edit")
    };
    assert_eq!(
        (edit.external_id.as_str(), edit.text.as_str()),
        ("wamid.first", "исправлено")
    );

    let unsupported = one(&message(
        json!({"type": "unsupported", "errors": [{"code": 131051,
        "title": "Message type unknown", "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."}}]}),
    ));
    let Inbound::Unsupported(item) = unsupported else {
        panic!("unsupported")
    };
    assert_eq!(item.kind, "unsupported");
    assert!(
        item.summary.contains("Message type unknown"),
        "{}",
        item.summary
    );
    assert_eq!(
        item.sender.map(|s| s.ids),
        Some(vec![PHONE.to_owned(), USER.to_owned()])
    );

    let order = one(&message(
        json!({"type": "order", "order": {"catalog_id": "1", "product_items": []}}),
    ));
    assert!(matches!(order, Inbound::Unsupported(u) if u.kind == "order"));
}

#[test]
fn a_user_with_a_user_id_and_no_phone_is_accepted() {
    // 2026: a user with a username may come without `wa_id` and without `from`.
    let body = notification(json!({
        "contacts": [{"profile": {"name": "Аноним", "username": "@anon"}, "user_id": USER}],
        "messages": [{"from_user_id": USER, "id": "wamid.u1", "timestamp": "1775000000",
            "type": "text", "text": {"body": "без номера"}}]}));
    let Inbound::Message(m) = one(&body) else {
        panic!("a message")
    };
    assert_eq!(m.sender.ids, [USER]);
    assert_eq!(m.sender.phone, None);
    assert_eq!(m.sender.username.as_deref(), Some("anon"));
    let channel = ChannelRef {
        channel: ChannelId::from_u128(3),
        kind: ChannelKind::WhatsappCloud,
    };
    let identities = m.sender.identities(channel);
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].external_id, USER);
    assert_eq!(m.sender.profile().phone, None);

    // The older shape: `from` is the phone, the contact has only `wa_id`.
    let old = notification(
        json!({"contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551234"}],
        "messages": [{"from": "16315551234", "id": "wamid.o1", "timestamp": "1603059201",
            "type": "text", "text": {"body": "hi"}}]}),
    );
    let Inbound::Message(m) = one(&old) else {
        panic!("a message")
    };
    assert_eq!(m.sender.ids, ["16315551234"]);
    assert_eq!(m.sender.profile().phone.as_deref(), Some("+16315551234"));

    // `from` carrying the user id itself.
    let by_user = notification(json!({"contacts": [{"user_id": USER}],
        "messages": [{"from": USER, "id": "wamid.u2", "timestamp": "1775000000", "type": "text", "text": {"body": "x"}}]}));
    let Inbound::Message(m) = one(&by_user) else {
        panic!("a message")
    };
    assert_eq!(m.sender.ids, [USER]);

    let nobody = notification(
        json!({"messages": [{"id": "wamid.n", "timestamp": "1", "type": "text", "text": {"body": "x"}}]}),
    );
    assert!(matches!(whatsapp::parse(nobody.to_string().as_bytes()),
        Err(WebhookError::Malformed(reason)) if reason.contains("no phone")));
}

#[test]
fn statuses_map_to_delivery_commands_with_classified_failures() {
    let ours = MessageId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0042);
    let body = notification(json!({"statuses": [
        {"id": "wamid.s", "status": "sent", "timestamp": "1750000000", "recipient_id": PHONE,
            "biz_opaque_callback_data": ours.to_string()},
        {"id": "wamid.s", "status": "delivered", "timestamp": "1750000001", "recipient_id": PHONE},
        {"id": "wamid.s", "status": "read", "timestamp": "1750000002", "recipient_user_id": USER},
        {"id": "wamid.f", "status": "failed", "timestamp": "1750000003", "recipient_id": PHONE,
            "errors": [{"code": 131047, "title": "Re-engagement message",
                "message": "Re-engagement message", "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]},
        {"id": "wamid.r", "status": "failed", "timestamp": "1750000004", "recipient_id": PHONE,
            "errors": [{"code": 131056, "title": "(Business Account, Consumer Account) pair rate limit hit"}]},
        {"id": "wamid.b", "status": "failed", "timestamp": "1750000005", "recipient_id": PHONE,
            "errors": [{"code": 131026, "title": "Message Undeliverable"}]}
    ]}));
    let statuses: Vec<InboundStatus> = items(&body)
        .into_iter()
        .map(|item| match item.inbound {
            Inbound::Status(s) => s,
            other => panic!("a status, got {other:?}"),
        })
        .collect();
    let states: Vec<_> = statuses.iter().map(|s| s.state).collect();
    use DeliveryState::*;
    assert_eq!(states, [Sent, Delivered, Read, Failed, Failed, Failed]);
    assert_eq!(statuses[0].message, Some(ours), "our id echoed back");
    assert_eq!(statuses[1].message, None);
    assert_eq!(statuses[2].recipient.as_deref(), Some(USER));
    let reasons: Vec<_> = statuses[3..]
        .iter()
        .map(|s| s.failure.as_ref().expect("a failure").reason)
        .collect();
    assert_eq!(
        reasons,
        [
            FailureReason::OutsideWindow,
            FailureReason::RateLimited,
            FailureReason::BlockedByClient
        ]
    );
    let command = ingest::status_command(ours, &statuses[3]);
    let DialogCommand::MarkFailed { reason, detail, .. } = command else {
        panic!("MarkFailed")
    };
    assert_eq!(reason, FailureReason::OutsideWindow);
    assert!(
        detail.starts_with("131047: Re-engagement message"),
        "{detail}"
    );
    assert!(matches!(ingest::status_command(ours, &statuses[0]),
        DialogCommand::MarkSent { external_id, .. } if external_id == "wamid.s"));
    assert!(matches!(
        ingest::status_command(ours, &statuses[2]),
        DialogCommand::MarkReadByClient { .. }
    ));
}

#[test]
fn bodies_that_are_not_notifications_are_refused() {
    for body in [
        json!({"object": "page", "entry": []}),
        json!({"entry": []}),
        notification(
            json!({"messages": [{"from": PHONE, "id": "w", "timestamp": "soon", "type": "text"}]}),
        ),
        notification(json!({"messages": [{"from": PHONE, "timestamp": "1", "type": "text"}]})),
        notification(
            json!({"statuses": [{"id": "w", "status": "sent", "timestamp": "99999999999999"}]}),
        ),
    ] {
        assert!(
            matches!(
                whatsapp::parse(body.to_string().as_bytes()),
                Err(WebhookError::Malformed(_))
            ),
            "{body}"
        );
    }
    // Other fields of the account are not about dialogs: accepted, nothing in them.
    let other = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]});
    assert_eq!(items(&other), []);
}

#[test]
fn a_request_failing_the_signature_is_not_read() {
    let secret = Secret::new("app-secret-123");
    let body = message(json!({"type": "text", "text": {"body": "hi"}})).to_string();
    let header = whatsapp::signature_header(body.as_bytes(), &secret).expect("signs");
    assert_eq!(
        whatsapp::webhook(Some(&header), body.as_bytes(), &secret).map(|items| items.len()),
        Ok(1)
    );
    // A garbage body with a wrong signature is refused for the signature, before any parse.
    assert_eq!(
        whatsapp::webhook(Some(&header), b"garbage", &secret),
        Err(WebhookError::Forbidden(whatsapp::SIGNATURE_HEADER))
    );
    let garbage_header = whatsapp::signature_header(b"garbage", &secret).expect("signs");
    assert!(matches!(
        whatsapp::webhook(Some(&garbage_header), b"garbage", &secret),
        Err(WebhookError::Malformed(_))
    ));
}
