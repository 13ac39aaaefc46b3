//! Fuzz targets, one per parser and verifier: arbitrary bytes, and real payloads (the fixtures
//! and Meta's documented shapes) with fields replaced, removed, added or the bytes cut and
//! flipped. Each must answer `Ok` or `Err`, never panic, and what it accepts must map onto
//! commands without panicking either. A bounded number of cases each, so the test command
//! stays quick.

use crate::{fixtures, spec};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_connectors::ingest::{self, ChannelRef};
use switchboard_connectors::outbound::{FileSource, Outgoing, OutgoingFile};
use switchboard_connectors::vk::{self, Callback, VkConfig};
use switchboard_connectors::{Inbound, Secret, telegram, whatsapp};
use switchboard_schemas::{AttachmentKind, ChannelId, ChannelKind, MessageId, Timestamp};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1024,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Everything accepted maps onto commands (and its key) without panicking.
fn map_all(kind: ChannelKind, items: &[Inbound]) {
    let channel = ChannelRef {
        channel: ChannelId::from_u128(1),
        kind,
    };
    for item in items {
        let _ = ingest::command_id(channel.channel, item);
        match item {
            Inbound::Message(m) => {
                let _ = ingest::receive_command(channel, m);
                let _ = m.sender.identities(channel);
                let _ = m.sender.profile();
            }
            Inbound::Status(s) => {
                let _ = ingest::status_command(MessageId::from_u128(2), s);
            }
            Inbound::Unsupported(u) => {
                let _ = ingest::unsupported_command(channel, u, Timestamp::from_micros(0));
            }
            Inbound::Edit(_) | Inbound::Reaction(_) => {}
        }
    }
}

fn telegram_seeds() -> Vec<Value> {
    let examples = fixtures::json("telegram/webhook-examples.json");
    let mut seeds: Vec<Value> = examples
        .as_object()
        .expect("examples")
        .iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(_, v)| v.clone())
        .collect();
    seeds.push(
        json!({"update_id": 9, "message_reaction": {"chat": {"id": 42}, "message_id": 7,
        "user": {"id": 42, "first_name": "A"}, "date": 1_700_000_100,
        "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}),
    );
    seeds.push(
        json!({"update_id": 5, "message": {"message_id": 7, "date": 1_700_000_000,
        "chat": {"id": 42}, "photo": [{"file_id": "a", "width": 1, "height": 1}],
        "sticker": {"file_id": "s", "is_video": true}, "venue": {"location": {"latitude": 1.0,
        "longitude": 2.0}}, "contact": {"phone_number": "1"}, "forward_origin": {"type": "user"}}}),
    );
    seeds
}

fn vk_seeds() -> Vec<Value> {
    let mut capture = fixtures::json("vk/callback-message_new-v5.131.json");
    capture["secret"] = json!("k");
    let message = json!({"date": 1, "from_id": 5, "peer_id": 5, "conversation_message_id": 2,
        "text": "t", "out": 0, "attachments": [{"type": "photo", "photo": {"sizes": [{"url": "u",
        "width": 1, "height": 1}]}}, {"type": "doc", "doc": {"url": "d"}}], "reply_message":
        {"conversation_message_id": 1}, "geo": {"coordinates": {"latitude": 1.0, "longitude": 2.0}}});
    let event = |kind: &str, object: Value| json!({"type": kind, "group_id": 214_167_102, "event_id": "e", "secret": "k", "object": object});
    vec![
        capture,
        event("message_edit", message.clone()),
        event("message_reply", message),
        event(
            "message_read",
            json!({"from_id": 5, "peer_id": 5, "conversation_message_id": 2}),
        ),
        event(
            "message_reaction_event",
            json!({"reacted_id": 5, "peer_id": 5, "cmid": 2, "reaction_id": 1}),
        ),
        event("group_join", json!({"user_id": 5})),
        json!({"type": "confirmation", "group_id": 214_167_102}),
    ]
}

fn whatsapp_seeds() -> Vec<Value> {
    let wrap = |value: Value| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": value}]}]})
    };
    vec![
        wrap(json!({"metadata": {"phone_number_id": "1"},
        "contacts": [{"profile": {"name": "M", "username": "@m"}, "wa_id": "7999", "user_id": "RU.1"}],
        "messages": [
            {"from": "7999", "id": "w1", "timestamp": "1749416383", "type": "text", "text": {"body": "hi"},
             "context": {"id": "w0"}},
            {"from": "7999", "id": "w2", "timestamp": "1749416383", "type": "image",
             "image": {"id": "m", "mime_type": "image/jpeg", "caption": "c"}},
            {"from_user_id": "RU.1", "id": "w3", "timestamp": "1", "type": "reaction",
             "reaction": {"message_id": "w1", "emoji": "x"}},
            {"from": "7999", "id": "w4", "timestamp": "1", "type": "edit", "edit":
             {"original_message_id": "w1", "message": {"id": "w1", "timestamp": "1", "type": "text", "text": {"body": "e"}}}},
            {"from": "7999", "id": "w5", "timestamp": "1", "type": "contacts", "contacts":
             [{"name": {"formatted_name": "n"}, "phones": [{"phone": "1"}]}]},
            {"from": "7999", "id": "w6", "timestamp": "1", "type": "unsupported", "errors": [{"code": 131051}]}
        ]})),
        wrap(json!({"statuses": [
            {"id": "w", "status": "failed", "timestamp": "1", "recipient_id": "7999",
             "biz_opaque_callback_data": "0194b3c0-0000-7000-8000-000000000001",
             "errors": [{"code": 131047, "title": "t", "error_data": {"details": "d"}}]},
            {"id": "w", "status": "read", "timestamp": "1"}]})),
    ]
}

/// Keys of the providers' payloads, so that added fields reach the code that reads them.
const KEYS: &[&str] = &[
    "message",
    "edited_message",
    "message_reaction",
    "text",
    "caption",
    "photo",
    "sticker",
    "date",
    "chat",
    "from",
    "id",
    "type",
    "object",
    "messages",
    "statuses",
    "contacts",
    "value",
    "timestamp",
    "reaction",
    "edit",
    "errors",
    "attachments",
    "peer_id",
    "location",
    "venue",
    "reply_to_message",
    "reply_message",
    "fwd_messages",
    "geo",
    "secret",
    "event_id",
    "out",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{"file_id": 1}])),
    ]
}

/// One change to a payload: which node (by index among all nodes), what to do, with what.
#[derive(Debug, Clone)]
enum Change {
    Replace(usize, Value),
    Remove(usize),
    Add(usize, &'static str, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), leaf()).prop_map(|(at, v)| Change::Replace(at, v)),
        any::<usize>().prop_map(Change::Remove),
        (any::<usize>(), prop::sample::select(KEYS), leaf())
            .prop_map(|(at, key, v)| Change::Add(at, key, v)),
    ]
}

/// JSON pointers of every node.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            let escaped = k.replace('~', "~0").replace('/', "~1");
            pointers(v, format!("{at}/{escaped}"), out)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

fn apply(mut value: Value, changes: &[Change]) -> Value {
    for change in changes {
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        let pick = |at: usize| all[at % all.len()].clone();
        match change {
            Change::Replace(at, v) => {
                if let Some(node) = value.pointer_mut(&pick(*at)) {
                    *node = v.clone();
                }
            }
            Change::Remove(at) => {
                let path = pick(*at);
                if let Some((parent, key)) = path.rsplit_once('/')
                    && let Some(node) = value.pointer_mut(parent)
                {
                    match node {
                        Value::Object(map) => {
                            map.remove(&key.replace("~1", "/").replace("~0", "~"));
                        }
                        Value::Array(items) => {
                            if let Ok(i) = key.parse::<usize>()
                                && i < items.len()
                            {
                                items.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Change::Add(at, key, v) => {
                if let Some(Value::Object(map)) = value.pointer_mut(&pick(*at)) {
                    map.insert((*key).to_owned(), v.clone());
                }
            }
        }
    }
    value
}

/// A seed's bytes, cut at `cut` and with `flips` bytes changed.
fn damaged(seed: &Value, cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes = seed.to_string().into_bytes();
    for (at, byte) in flips {
        let len = bytes.len();
        bytes[at % len] ^= byte;
    }
    bytes.truncate(cut % (bytes.len() + 1));
    bytes
}

fn run_telegram(body: &[u8]) {
    if let Ok(items) = telegram::parse(body) {
        map_all(ChannelKind::Telegram, &items);
    }
}

fn run_vk(body: &[u8]) {
    let config = VkConfig {
        group_id: 214_167_102,
        secret: Secret::new("k"),
        confirmation: "c".into(),
    };
    if let Ok(Callback::Events { items, .. }) = vk::handle(body, &config) {
        map_all(ChannelKind::Vk, &items);
    }
}

fn run_whatsapp(body: &[u8]) {
    if let Ok(items) = whatsapp::parse(body) {
        let items: Vec<Inbound> = items.into_iter().map(|i| i.inbound).collect();
        map_all(ChannelKind::WhatsappCloud, &items);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_take_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        run_telegram(&bytes);
        run_vk(&bytes);
        run_whatsapp(&bytes);
    }

    #[test]
    fn verifiers_take_arbitrary_input(
        header in prop::option::of(".{0,80}"),
        body in prop::collection::vec(any::<u8>(), 0..128),
        mode in prop::option::of(".{0,12}"),
    ) {
        let secret = Secret::new("app-secret");
        prop_assert!(telegram::verify(header.as_deref(), &secret).is_err());
        prop_assert!(whatsapp::verify_signature(header.as_deref(), &body, &secret).is_err());
        let _ = whatsapp::verify_subscription(mode.as_deref(), header.as_deref(), Some("c"), &secret);
    }

    #[test]
    fn telegram_takes_changed_updates(
        seed in prop::sample::select(telegram_seeds()),
        changes in prop::collection::vec(change(), 1..5),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), 1..=255u8), 0..3),
    ) {
        run_telegram(apply(seed.clone(), &changes).to_string().as_bytes());
        run_telegram(&damaged(&seed, cut, &flips));
    }

    #[test]
    fn vk_takes_changed_events(
        seed in prop::sample::select(vk_seeds()),
        changes in prop::collection::vec(change(), 1..5),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), 1..=255u8), 0..3),
    ) {
        run_vk(apply(seed.clone(), &changes).to_string().as_bytes());
        run_vk(&damaged(&seed, cut, &flips));
    }

    #[test]
    fn whatsapp_takes_changed_notifications(
        seed in prop::sample::select(whatsapp_seeds()),
        changes in prop::collection::vec(change(), 1..5),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), 1..=255u8), 0..3),
    ) {
        run_whatsapp(apply(seed.clone(), &changes).to_string().as_bytes());
        run_whatsapp(&damaged(&seed, cut, &flips));
    }
}

/// Providers' answers to our calls: successes and errors of each.
fn answer_seeds() -> Vec<Value> {
    vec![
        json!({"ok": true, "result": {"message_id": 5, "chat": {"id": 42}}}),
        json!({"ok": true, "result": [{"message_id": 5, "chat": {"id": 42}}]}),
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7}}),
        json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.x"}]}),
        json!({"error": {"message": "m", "code": 131047, "error_data": {"details": "d"}}}),
        json!({"response": [{"peer_id": 1, "message_id": 0, "conversation_message_id": 2}]}),
        json!({"error": {"error_code": 6, "error_msg": "Too many requests per second"}}),
    ]
}

fn run_answers(status: u16, body: &[u8]) {
    let _ = telegram::outbound::sent(body);
    let _ = telegram::outbound::classify(status, body).failure();
    let _ = whatsapp::outbound::sent(body);
    let _ = whatsapp::outbound::classify(status, body).failure();
    let _ = vk::outbound::sent(body);
    let _ = vk::outbound::classify(status, body).failure();
}

fn outgoing_file() -> impl Strategy<Value = OutgoingFile> {
    (0..5u8, any::<bool>(), ".{0,12}").prop_map(|(kind, by_url, reference)| OutgoingFile {
        kind: [
            AttachmentKind::Image,
            AttachmentKind::Audio,
            AttachmentKind::Voice,
            AttachmentKind::Video,
            AttachmentKind::File,
        ][usize::from(kind)],
        source: if by_url {
            FileSource::Url(reference)
        } else {
            FileSource::ProviderId(reference)
        },
        file_name: Some("f".into()),
    })
}

fn outgoing() -> impl Strategy<Value = Outgoing> {
    (
        prop_oneof![".{0,16}", "[0-9]{1,12}", "-?[0-9]{1,20}"],
        ".{0,24}",
        0..700usize,
        prop::collection::vec(outgoing_file(), 0..13),
        prop::option::of(prop_oneof![".{0,12}", "[0-9]{1,5}[:_][0-9]{1,5}"]),
    )
        .prop_map(|(to, text, repeat, files, reply_to)| Outgoing {
            message: MessageId::new(),
            to,
            text: text.repeat(repeat / 24 + 1),
            files,
            reply_to,
        })
}

/// The text of every request, whatever the parameter is called.
fn texts(params: &serde_json::Map<String, Value>, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .filter_map(|k| params.get(*k))
        .filter_map(|v| {
            v.as_str()
                .or_else(|| v["body"].as_str())
                .or_else(|| v["caption"].as_str())
        })
        .map(|t| t.chars().count())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn answer_parsers_take_arbitrary_and_changed_answers(
        status in 100u16..600,
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        seed in prop::sample::select(answer_seeds()),
        changes in prop::collection::vec(change(), 1..4),
    ) {
        run_answers(status, &bytes);
        run_answers(status, apply(seed, &changes).to_string().as_bytes());
    }

    #[test]
    fn builders_keep_every_request_within_the_limits(message in outgoing()) {
        if let Ok(requests) = telegram::outbound::build(&message) {
            for r in &requests {
                for n in texts(&r.params, &["text"]) { prop_assert!(n <= telegram::outbound::TEXT_MAX); }
                for n in texts(&r.params, &["caption"]) { prop_assert!(n <= telegram::outbound::CAPTION_MAX); }
                let problems = spec::telegram(r);
                prop_assert!(problems.is_empty(), "{:?}", problems);
            }
        }
        if let Ok(requests) = whatsapp::outbound::build("1", &message) {
            for r in &requests {
                for n in texts(&r.params, &["text"]) { prop_assert!(n <= whatsapp::outbound::TEXT_MAX); }
                for n in texts(&r.params, &["image", "video", "document"]) {
                    prop_assert!(n <= whatsapp::outbound::CAPTION_MAX);
                }
                // A user id goes as `recipient`, which the v23.0 description predates.
                if r.params.contains_key("to") {
                    let problems = spec::whatsapp(r);
                    prop_assert!(problems.is_empty(), "{:?}", problems);
                }
            }
        }
        if let Ok(requests) = vk::outbound::build(&message) {
            for r in &requests {
                for n in texts(&r.params, &["message"]) { prop_assert!(n <= vk::outbound::TEXT_MAX); }
                prop_assert!(r.params["random_id"].as_i64().is_some_and(|id| id > 0));
                let problems = spec::vk(r);
                prop_assert!(problems.is_empty(), "{:?}", problems);
            }
        }
    }
}

#[test]
fn the_seeds_themselves_are_accepted() {
    // The mutations start from payloads that parse, so they reach past the first check.
    for seed in telegram_seeds() {
        assert!(
            telegram::parse(seed.to_string().as_bytes()).is_ok(),
            "{seed}"
        );
    }
    let config = VkConfig {
        group_id: 214_167_102,
        secret: Secret::new("k"),
        confirmation: "c".into(),
    };
    for seed in vk_seeds() {
        assert!(
            vk::handle(seed.to_string().as_bytes(), &config).is_ok(),
            "{seed}"
        );
    }
    for seed in whatsapp_seeds() {
        let items = whatsapp::parse(seed.to_string().as_bytes()).expect("accepted");
        assert!(!items.is_empty(), "{seed}");
    }
}
