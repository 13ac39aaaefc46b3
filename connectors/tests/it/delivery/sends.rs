//! One worker in the test's process against the local provider servers.

use super::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use switchboard_connectors::delivery::{POSSIBLY_TWICE, SentIndex};
use switchboard_connectors::ingest::ChannelRef;
use switchboard_connectors::{record, whatsapp};
use switchboard_core::log::{AppendRequest, Expected, MsgId, Subject};

#[tokio::test]
async fn each_queued_message_reaches_its_provider_once_in_order() {
    let world = World::new().await;
    let lines = [
        world.line(ChannelKind::Telegram).await,
        world.line(ChannelKind::WhatsappCloud).await,
        world.line(ChannelKind::Vk).await,
    ];
    let chats = [
        ["1001", "1002", "1003"],
        ["79990000001", "79990000002", "79990000003"],
        ["2000001", "2000002", "2000003"],
    ];
    let mut expected: HashMap<MessageId, (usize, String, String)> = HashMap::new();
    for (index, line) in lines.iter().enumerate() {
        for chat in chats[index] {
            let dialog = world.client(line, chat).await;
            for n in 0..4 {
                let text = format!("hello {chat} #{n}");
                let message = world.queue(line, dialog, &text).await;
                expected.insert(message, (index, chat.to_owned(), text));
            }
        }
    }
    let worker = world
        .worker(&[&lines[0], &lines[1], &lines[2]], |_| {})
        .await;
    let events = world
        .wait_for("36 messages sent", |events| sent(events).len() == 36)
        .await;
    let marked = sent(&events);
    for (index, line) in lines.iter().enumerate() {
        let received = line.provider.received();
        assert_eq!(received.len(), 12, "{:?}: {received:#?}", line.kind);
        for chat in chats[index] {
            let texts: Vec<&str> = received
                .iter()
                .filter(|r| r.chat == chat)
                .map(|r| r.text.as_str())
                .collect();
            let want: Vec<String> = (0..4).map(|n| format!("hello {chat} #{n}")).collect();
            assert_eq!(texts, want, "{chat}: once each, in the order queued");
        }
    }
    for (message, (index, _, text)) in &expected {
        let received = lines[*index].provider.received();
        let taken = received.iter().find(|r| &r.text == text).expect("taken");
        assert_eq!(
            marked.get(message),
            Some(&taken.id),
            "{text}: the provider's id"
        );
    }
    assert_eq!(worker.counters.sent.load(Ordering::Relaxed), 36);
    assert!(
        failures_any(&events).is_empty(),
        "no failures: {:?}",
        failures_any(&events)
    );
    worker.stop();
}

fn failures_any(events: &[Event]) -> Vec<MessageFailed> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageFailed(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_rate_limited_chat_waits_the_named_time_and_the_others_go_on() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    let whatsapp = world.line(ChannelKind::WhatsappCloud).await;
    let vk = world.line(ChannelKind::Vk).await;
    telegram.provider.rate_limit("4001", 1, 2);
    whatsapp.provider.rate_limit("79990004001", 1, 0);
    vk.provider.rate_limit("4000001", 1, 0);
    let a = world.client(&telegram, "4001").await;
    let parked = world.queue(&telegram, a, "parked").await;
    for chat in ["4002", "4003"] {
        let dialog = world.client(&telegram, chat).await;
        world
            .queue(&telegram, dialog, &format!("free {chat}"))
            .await;
    }
    let wa = world.client(&whatsapp, "79990004001").await;
    let wa_message = world.queue(&whatsapp, wa, "wa parked").await;
    let vk_dialog = world.client(&vk, "4000001").await;
    let vk_message = world.queue(&vk, vk_dialog, "vk parked").await;
    let worker = world
        .worker(&[&telegram, &whatsapp, &vk], |o| {
            o.default_retry_after = Duration::from_millis(300);
        })
        .await;
    let events = world
        .wait_for("5 messages sent", |events| sent(events).len() == 5)
        .await;

    let refused = telegram.provider.refused();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].1.as_str(), refused[0].2), ("4001", 429));
    let received = telegram.provider.received();
    let at = |text: &str| received.iter().find(|r| r.text == text).expect(text).at;
    let waited = at("parked") - refused[0].0;
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, not the 2 s named"
    );
    assert!(at("free 4002") < at("parked") && at("free 4003") < at("parked"));
    let failed = failures(&events, parked);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].reason, FailureReason::RateLimited);
    assert_eq!(failed[0].retry_after_secs, Some(2));
    for (line, message) in [(&whatsapp, wa_message), (&vk, vk_message)] {
        assert_eq!(
            line.provider.received().len(),
            1,
            "{:?}: sent once",
            line.kind
        );
        assert_eq!(line.provider.refused().len(), 1);
        let failed = failures(&events, message);
        assert_eq!(failed.len(), 1, "{:?}: {failed:?}", line.kind);
        assert_eq!(failed[0].reason, FailureReason::RateLimited);
    }
    assert_eq!(
        failures(&events, vk_message)[0].retry_after_secs,
        Some(1),
        "VK 6: a second"
    );
    worker.stop();
}

#[tokio::test]
async fn a_client_who_blocked_the_bot_fails_with_blocked_by_client() {
    let world = World::new().await;
    let lines = [
        (world.line(ChannelKind::Telegram).await, "5001"),
        (world.line(ChannelKind::WhatsappCloud).await, "79990005001"),
        (world.line(ChannelKind::Vk).await, "5000001"),
    ];
    let mut messages = Vec::new();
    for (line, chat) in &lines {
        line.provider.block(chat);
        let dialog = world.client(line, chat).await;
        messages.push(world.queue(line, dialog, "are you there?").await);
    }
    let worker = world
        .worker(&[&lines[0].0, &lines[1].0, &lines[2].0], |_| {})
        .await;
    let events = world
        .wait_for("3 failures", |events| failures_any(events).len() == 3)
        .await;
    for (message, (line, _)) in messages.iter().zip(&lines) {
        let failed = failures(&events, *message);
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].reason,
            FailureReason::BlockedByClient,
            "{:?}",
            line.kind
        );
        assert!(line.provider.received().is_empty());
    }
    assert!(
        failures(&events, messages[0])[0]
            .detail
            .contains("bot was blocked by the user")
    );
    assert!(
        failures(&events, messages[1])[0]
            .detail
            .starts_with("131026")
    );
    assert!(sent(&events).is_empty());
    worker.stop();
}

/// F3.6, F6.5: a failed message an operator resends goes out again through its channel with
/// its text, its outcome is appended as a new command (not the log's duplicate of the first
/// attempt's), and a worker started again on the same state sends it no third time.
#[tokio::test]
async fn a_resent_message_goes_out_again_once_with_outcomes_of_its_own() {
    let world = World::new().await;
    let line = world.line(ChannelKind::Telegram).await;
    let operator = world.admin().await;
    line.provider.block("5001");
    let dialog = world.client(&line, "5001").await;
    let message = world.queue(&line, dialog, "are you there?").await;
    let worker = world.worker(&[&line], |_| {}).await;
    world
        .wait_for("the failure", |events| failures(events, message).len() == 1)
        .await;

    line.provider.unblock("5001");
    world.resend(operator, dialog, message).await;
    let events = world
        .wait_for("the resend sent", |events| {
            sent(events).contains_key(&message)
        })
        .await;
    let received = line.provider.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        (received[0].chat.as_str(), received[0].text.as_str()),
        ("5001", "are you there?")
    );
    assert_eq!(line.provider.refused().len(), 1, "one call per attempt");
    assert_eq!(sent(&events)[&message], received[0].id);
    assert_eq!(failures(&events, message).len(), 1);

    // A worker started again on the same state sends nothing more.
    worker.stop();
    let again = world.worker(&[&line], |_| {}).await;
    let queued_after = world.queue(&line, dialog, "and now?").await;
    world
        .wait_for("the next message sent", |events| {
            sent(events).contains_key(&queued_after)
        })
        .await;
    let texts: Vec<_> = line
        .provider
        .received()
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(texts, ["are you there?", "and now?"]);
    again.stop();
}

fn image(size_bytes: u64, storage_ref: &str) -> Attachment {
    Attachment {
        kind: AttachmentKind::Image,
        file_name: "photo.jpg".into(),
        mime_type: "image/jpeg".into(),
        size_bytes,
        storage_ref: storage_ref.into(),
    }
}

#[tokio::test]
async fn an_attachment_over_the_channels_limit_fails_before_anything_is_sent() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    let dialog = world.client(&telegram, "6001").await;
    // Queued under a larger limit (the domain refuses it today): appended to the log as such.
    let big = MessageId::new();
    let envelope = Envelope {
        event_id: EventId::new(),
        project: world.project,
        aggregate: AggregateId::Dialog(dialog),
        occurred_at: Timestamp::now(),
        actor: Actor::Bot,
        causation_id: None,
        correlation_id: None,
        payload: Event::MessageQueued(MessageQueued {
            message: big,
            channel: telegram.channel,
            author: MessageAuthor::Bot,
            text: "the big one".into(),
            attachments: vec![image(11 * 1024 * 1024, "AgACAgIAAxkBAAIBig")],
            reply_to: None,
            template: None,
            reply_to_external_id: None,
        }),
    };
    let request = AppendRequest {
        subject: Subject::dialog(world.project, dialog),
        expected: Expected::Any,
        msg_id: MsgId::new(uuid::Uuid::now_v7().to_string()).expect("id"),
        batch: encode_batch(&[envelope]).expect("encodes"),
    };
    world.service.log().append(request).await.expect("appended");
    let small = MessageId::new();
    let send = DialogCommand::SendMessage {
        message: small,
        channel: telegram.channel,
        text: "the small one".into(),
        attachments: vec![image(1024 * 1024, "AgACAgIAAxkBAAIBiw")],
        reply_to: None,
        template: None,
    };
    world
        .service
        .dialog(world.project, dialog, send, CommandMeta::new(Actor::Bot))
        .await
        .expect("queued");
    let worker = world.worker(&[&telegram], |_| {}).await;
    let events = world
        .wait_for("both outcomes", |events| {
            sent(events).contains_key(&small) && !failures(events, big).is_empty()
        })
        .await;
    let failed = failures(&events, big);
    assert_eq!(failed[0].reason, FailureReason::TooLarge);
    let received = telegram.provider.received();
    assert_eq!(received.len(), 1, "only the small one: {received:#?}");
    assert_eq!(received[0].method, "sendPhoto");
    assert_eq!(received[0].params["photo"], "AgACAgIAAxkBAAIBiw");
    assert_eq!(received[0].text, "the small one");
    worker.stop();
}

/// A reply to a client's message quotes it on the provider (Telegram `reply_parameters`,
/// WhatsApp `context`, VK `forward`) by the channel's id the domain put in the queued event;
/// a reply to a message of another channel goes without a quote.
#[tokio::test]
async fn a_reply_quotes_the_clients_message_on_its_channel() {
    let world = World::new().await;
    let lines = [
        (world.line(ChannelKind::Telegram).await, "7001", "7001:55"),
        (
            world.line(ChannelKind::WhatsappCloud).await,
            "79990007001",
            "wamid.HBgLNzk5OTAwMDcwMDE",
        ),
        (world.line(ChannelKind::Vk).await, "2000701", "2000701_12"),
    ];
    let mut replies = Vec::new();
    for (line, chat, external_id) in &lines {
        let dialog = world.client(line, chat).await;
        let quoted = MessageId::new();
        let receive = DialogCommand::ReceiveMessage {
            message: quoted,
            channel: line.channel,
            external_id: (*external_id).to_owned(),
            text: "where is my order?".into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::now(),
        };
        world
            .service
            .dialog(
                world.project,
                dialog,
                receive,
                CommandMeta::new(Actor::Connector(line.channel)),
            )
            .await
            .expect("received");
        let reply = MessageId::new();
        let send = DialogCommand::SendMessage {
            message: reply,
            channel: line.channel,
            text: format!("on its way, {chat}"),
            attachments: vec![],
            reply_to: Some(quoted),
            template: None,
        };
        world
            .service
            .dialog(world.project, dialog, send, CommandMeta::new(Actor::Bot))
            .await
            .expect("queued");
        replies.push(reply);
    }
    // Quoting a message the dialog does not know on the channel: no quote, still sent.
    let (telegram, ..) = &lines[0];
    let other = world.client(telegram, "7002").await;
    let unquoted = MessageId::new();
    let send = DialogCommand::SendMessage {
        message: unquoted,
        channel: telegram.channel,
        text: "no quote".into(),
        attachments: vec![],
        reply_to: Some(MessageId::new()),
        template: None,
    };
    world
        .service
        .dialog(world.project, other, send, CommandMeta::new(Actor::Bot))
        .await
        .expect("queued");
    let worker = world
        .worker(&[&lines[0].0, &lines[1].0, &lines[2].0], |_| {})
        .await;
    let events = world
        .wait_for("4 sent", |events| sent(events).len() == 4)
        .await;
    let queued: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match e {
            Event::MessageQueued(q) => Some(q.reply_to_external_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        queued,
        [
            Some("7001:55".to_owned()),
            Some("wamid.HBgLNzk5OTAwMDcwMDE".to_owned()),
            Some("2000701_12".to_owned()),
            None,
        ]
    );
    let taken = |line: &Line, chat: &str| {
        line.provider
            .received()
            .into_iter()
            .find(|r| r.chat == chat)
            .unwrap_or_else(|| panic!("{chat}: nothing sent"))
    };
    let telegram_call = taken(&lines[0].0, "7001");
    assert_eq!(telegram_call.params["reply_parameters"]["message_id"], 55);
    let whatsapp_call = taken(&lines[1].0, "79990007001");
    assert_eq!(
        whatsapp_call.params["context"]["message_id"],
        "wamid.HBgLNzk5OTAwMDcwMDE"
    );
    let vk_call = taken(&lines[2].0, "2000701");
    let forward: serde_json::Value = serde_json::from_str(
        vk_call.params["forward"]
            .as_str()
            .expect("VK's forward is a JSON string"),
    )
    .expect("JSON");
    assert_eq!(forward["conversation_message_ids"], serde_json::json!([12]));
    assert_eq!(forward["is_reply"], true);
    let plain = taken(telegram, "7002");
    assert!(plain.params.get("reply_parameters").is_none(), "{plain:?}");
    assert_eq!(replies.len(), 3);
    worker.stop();
}

#[tokio::test]
async fn per_chat_and_per_channel_rates_are_kept() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    let busy = world.client(&telegram, "7001").await;
    for n in 0..4 {
        world.queue(&telegram, busy, &format!("busy {n}")).await;
    }
    for chat in 7101..7111 {
        let dialog = world.client(&telegram, &chat.to_string()).await;
        world.queue(&telegram, dialog, &format!("one {chat}")).await;
    }
    let worker = world
        .worker(&[&telegram], |o| {
            o.rates = vec![(ChannelKind::Telegram, Rate::new(1, 5).expect("rate"))];
        })
        .await;
    world
        .wait_for("14 messages sent", |events| sent(events).len() == 14)
        .await;
    let received = telegram.provider.received();
    assert_eq!(received.len(), 14);
    let busy_at: Vec<Instant> = received
        .iter()
        .filter(|r| r.chat == "7001")
        .map(|r| r.at)
        .collect();
    // 1/s per chat as the provider sees it: the next call goes a second after the last one
    // was answered, so no allowance for the way there is needed.
    for pair in busy_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(1),
            "1/s per chat, got a gap of {gap:?}"
        );
    }
    for (index, first) in received.iter().enumerate() {
        let within = received[index..]
            .iter()
            .filter(|r| r.at - first.at < Duration::from_secs(1))
            .count();
        assert!(within <= 6, "{within} calls within a second, 5/s per bot");
    }
    worker.stop();
}

#[tokio::test]
async fn a_flapping_provider_is_retried_until_the_message_goes() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    telegram.provider.flap(3);
    let dialog = world.client(&telegram, "8001").await;
    let message = world.queue(&telegram, dialog, "through the flaps").await;
    let worker = world.worker(&[&telegram], |_| {}).await;
    let events = world
        .wait_for("sent", |events| sent(events).contains_key(&message))
        .await;
    assert_eq!(telegram.provider.refused().len(), 3);
    assert_eq!(telegram.provider.received().len(), 1);
    assert!(failures(&events, message).is_empty());
    assert!(worker.counters.retried.load(Ordering::Relaxed) >= 3);
    worker.stop();
}

#[tokio::test]
async fn a_slow_answer_is_an_unknown_outcome_marked_possibly_twice_except_on_vk() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    let vk = world.line(ChannelKind::Vk).await;
    telegram.provider.slow(1, Duration::from_millis(1500));
    vk.provider.slow(1, Duration::from_millis(1500));
    let dialog = world.client(&telegram, "9001").await;
    let tg_message = world.queue(&telegram, dialog, "slow").await;
    let dialog = world.client(&vk, "9000001").await;
    let vk_message = world.queue(&vk, dialog, "slow on vk").await;
    let worker = world
        .worker(&[&telegram, &vk], |o| {
            o.call_timeout = Duration::from_millis(300)
        })
        .await;
    let events = world
        .wait_for("both sent", |events| sent(events).len() == 2)
        .await;
    assert_eq!(
        telegram.provider.received().len(),
        2,
        "sent again after the timeout"
    );
    let marked = failures(&events, tg_message);
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].detail, POSSIBLY_TWICE);
    assert_eq!(vk.provider.received().len(), 1, "VK dropped the repeat");
    assert_eq!(vk.provider.vk_repeats(), 1);
    assert!(failures(&events, vk_message).is_empty());
    worker.stop();
}

/// A receiver of WhatsApp webhooks as the gateway's route is: the signature checked, the body
/// parsed, each item recorded with the worker's lookup of what it sent.
async fn webhook_receiver(
    world: &World,
    channel: ChannelRef,
    app_secret: &'static str,
    sent: Arc<SentIndex>,
) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let service = world.service.clone();
    let project = world.project;
    let route = move |headers: HeaderMap, body: Bytes| {
        let service = service.clone();
        let sent = Arc::clone(&sent);
        async move {
            let signature = headers
                .get(whatsapp::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok());
            let Ok(items) = whatsapp::webhook(signature, &body, &Secret::new(app_secret)) else {
                return StatusCode::FORBIDDEN;
            };
            for item in items {
                let lookup =
                    |status: &switchboard_connectors::inbound::InboundStatus| sent.lookup(status);
                if record::record(&service, project, channel, &item.inbound, &lookup)
                    .await
                    .is_err()
                {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
            StatusCode::OK
        }
    };
    let router = axum::Router::new().route("/whatsapp", axum::routing::post(route));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/whatsapp")
}

#[tokio::test]
async fn delivery_and_read_receipts_arrive_by_webhook() {
    let world = World::new().await;
    let line = world.line(ChannelKind::WhatsappCloud).await;
    let dialog = world.client(&line, "79990010001").await;
    let message = world.queue(&line, dialog, "did you get it?").await;
    let worker = world.worker(&[&line], |_| {}).await;
    let events = world
        .wait_for("sent", |events| sent(events).contains_key(&message))
        .await;
    let wamid = sent(&events)[&message].clone();
    let channel = ChannelRef {
        channel: line.channel,
        kind: line.kind,
    };
    let url = webhook_receiver(&world, channel, "app-secret", Arc::clone(&worker.sent)).await;
    for status in ["delivered", "read"] {
        let answer = FakeProvider::post_whatsapp_status(
            &url,
            "app-secret",
            PHONE_NUMBER_ID,
            &wamid,
            "79990010001",
            status,
        )
        .await;
        assert_eq!(answer, 200, "{status}");
    }
    let forged = FakeProvider::post_whatsapp_status(
        &url,
        "not-the-secret",
        PHONE_NUMBER_ID,
        &wamid,
        "79990010001",
        "read",
    )
    .await;
    assert_eq!(forged, 403);
    let events = world.events().await;
    let statuses: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(e, Event::MessageDelivered(m) if m.message == message)
                || matches!(e, Event::MessageRead(m) if m.message == message)
        })
        .collect();
    assert!(
        matches!(
            statuses.as_slice(),
            [Event::MessageDelivered(_), Event::MessageRead(_)]
        ),
        "{statuses:?}"
    );
    worker.stop();
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_fails_the_message_without_showing_the_token() {
    let world = World::new().await;
    let telegram = world.line(ChannelKind::Telegram).await;
    // A port nobody listens on: every call is refused before it leaves.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dialog = world.client(&telegram, "12001").await;
    let message = world.queue(&telegram, dialog, "anyone?").await;
    let directory = ChannelDirectory::new();
    let mut config = telegram.config();
    config.api_base = format!("http://127.0.0.1:{port}");
    directory.insert(telegram.channel, config);
    assert!(
        !format!("{directory:?}").contains(TOKEN),
        "the token in Debug"
    );
    let mut options = DeliveryOptions::new(world.dir.path().join("delivery.sqlite"));
    options.transient_attempts = 2;
    options.transient_backoff = Duration::from_millis(10);
    let worker = DeliveryWorker::start(world.service.clone(), directory, options)
        .await
        .expect("worker");
    let events = world
        .wait_for("the failure", |events| {
            !failures(events, message).is_empty()
        })
        .await;
    let failed = failures(&events, message);
    assert_eq!(failed[0].reason, FailureReason::ChannelError);
    assert!(!failed[0].detail.contains(TOKEN), "{}", failed[0].detail);
    assert!(!failed[0].detail.contains("/bot"), "{}", failed[0].detail);
    assert!(telegram.provider.received().is_empty());
    worker.stop();
}

#[tokio::test]
async fn a_worker_started_at_the_end_leaves_history_and_unknown_channels_queued() {
    let world = World::new().await;
    let line = world.line(ChannelKind::Telegram).await;
    let unknown = world.line(ChannelKind::Telegram).await;
    let dialog = world.client(&line, "1001").await;
    let elsewhere = world.client(&unknown, "1002").await;
    world.queue(&line, dialog, "from the history").await;
    // `serve`'s settings: a new state file starts at the log's end; a channel without
    // settings keeps its messages queued.
    let end = world.service.log().last_seq().await.expect("the log's end");
    let worker = world
        .worker(&[&line], |options| {
            options.start_after = Some(end);
            options.leave_unknown_channels = true;
        })
        .await;
    let fresh = world.queue(&line, dialog, "after the start").await;
    world
        .queue(&unknown, elsewhere, "through a channel without settings")
        .await;
    let events = world
        .wait_for("the new message sent", |events| {
            sent(events).contains_key(&fresh)
        })
        .await;
    // A last message on the known line: once it is sent, the one before it was handled too.
    let last = world.queue(&line, dialog, "the last").await;
    let events_after = world
        .wait_for("the last message sent", |events| {
            sent(events).contains_key(&last)
        })
        .await;
    assert_eq!(sent(&events).len(), 1);
    assert_eq!(
        sent(&events_after).len(),
        2,
        "only the messages queued after the start"
    );
    let texts: Vec<String> = line
        .provider
        .received()
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(texts, ["after the start", "the last"]);
    assert!(unknown.provider.received().is_empty());
    assert!(
        !events_after
            .iter()
            .any(|e| matches!(e, Event::MessageFailed(_))),
        "nothing failed"
    );
    worker.stop();
}
