//! Channels end to end over real sockets (issue 17): a real `serve` and the local provider
//! servers of `switchboard_tests::providers`. An admin connects a channel (the provider sees its
//! webhook set with our secret), a verified webhook records a message once however often it
//! is redelivered, a wrong proof stores nothing, an operator's reply goes out through the
//! delivery worker `serve` runs and its statuses come back to the timeline. No secret reaches
//! the log, `serve`'s output or an answer.

use crate::common::*;
use crate::operator_api::{Api, exchange};
use serde_json::{Value, json};

use std::path::Path;
use std::time::Instant;
use switchboard_tests::providers::{FakeProvider, Provider};

pub(crate) const ROOT: &str = "root-token-of-the-channels-test";
pub(crate) const PASSWORD: &str = "a long enough password";

/// A `serve` with a project and its admin signed in.
pub(crate) struct World {
    _dir: tempfile::TempDir,
    pub(crate) data: std::path::PathBuf,
    server: Running,
    pub(crate) api: Api,
    pub(crate) admin: String,
    runtime: tokio::runtime::Runtime,
}

impl World {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (server, addr) = start_server_as_root(dir.path(), ROOT);
        let api = Api { addr };
        let project = json!({"name": "Shop", "admin": {"name": "Ada", "email": "ada@shop.test", "password": PASSWORD}});
        api.ok(ROOT, "POST", "/v1/projects", Some(project));
        let admin = api.login("ada@shop.test", PASSWORD)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            _dir: dir,
            data,
            server,
            api,
            admin,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    pub(crate) fn fake(&self, provider: Provider, token: &str) -> FakeProvider {
        self.block_on(FakeProvider::start(provider, token))
    }

    /// Runs `future` (a local provider's start) on the world's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub(crate) fn connect(&self, body: Value) -> Value {
        self.api.ok(&self.admin, "POST", "/v1/channels", Some(body))
    }

    /// Posts a webhook body with extra headers: status and answer.
    pub(crate) fn webhook(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Value) {
        let (status, _, answer) = exchange(self.api.addr, "POST", path, headers, Some(body));
        (status, answer)
    }

    pub(crate) fn dialogs(&self) -> Vec<Value> {
        let page = self.api.ok(&self.admin, "GET", "/v1/dialogs", None);
        page["items"].as_array().unwrap().clone()
    }

    pub(crate) fn timeline(&self, dialog: &str) -> Vec<Value> {
        let path = format!("/v1/dialogs/{dialog}/timeline");
        let page = self.api.ok(&self.admin, "GET", &path, None);
        page["items"].as_array().unwrap().clone()
    }

    /// Waits until the timeline of `dialog` holds an item `matches` accepts.
    pub(crate) fn timeline_until(
        &self,
        dialog: &str,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        eventually(what, || {
            let items = self.timeline(dialog);
            items.iter().any(&matches).then_some(items)
        })
    }

    /// Stops `serve` and checks that none of `secrets` is in the log file or its output.
    pub(crate) fn stop_and_check_secrets(self, secrets: &[&str]) {
        let answered = self
            .api
            .ok(&self.admin, "GET", "/v1/channels", None)
            .to_string();
        let stderr_path = self.server.stderr_path.clone();
        crate::health::stop(self.server);
        let stderr = std::fs::read_to_string(stderr_path).unwrap();
        for secret in secrets {
            assert!(!answered.contains(secret), "a secret in GET /v1/channels");
            assert!(!stderr.contains(secret), "a secret in serve's output");
            // The log always; its WAL when a stop left one.
            let wal = self.data.join("log.sqlite-wal");
            for file in
                std::iter::once(self.data.join("log.sqlite")).chain(wal.exists().then_some(wal))
            {
                assert!(
                    !contains_bytes(&file, secret.as_bytes()),
                    "a secret in {}",
                    file.display()
                );
            }
        }
    }
}

fn contains_bytes(path: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < PATIENCE, "waited too long for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub(crate) fn messages<'a>(items: &'a [Value], direction: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|i| i["kind"] == "message" && i["direction"] == direction)
        .collect()
}

pub(crate) const BOT_TOKEN: &str = "123456:AAE-bot-token-of-the-channels-test";

pub(crate) fn telegram_update(update_id: u64, message_id: u64, text: &str) -> Value {
    telegram_update_from(555_001, update_id, message_id, text)
}

/// [`telegram_update`] from the client of `chat`.
pub(crate) fn telegram_update_from(
    chat: u64,
    update_id: u64,
    message_id: u64,
    text: &str,
) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": 1_765_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Ivan"},
            "from": {"id": chat, "is_bot": false, "first_name": "Ivan", "language_code": "ru"},
            "text": text,
        }
    })
}

#[test]
fn a_telegram_channel_takes_webhooks_once_and_delivers_replies() {
    let world = World::start();
    let fake = world.fake(Provider::Telegram, BOT_TOKEN);

    // A token the provider refuses connects nothing.
    let (status, refused) = world.api.call(
        &world.admin,
        "POST",
        "/v1/channels",
        Some(json!({"kind": "telegram", "name": "Bot", "bot_token": "999:wrong-token", "api_base": fake.base_url()})),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "provider_refused");
    assert_eq!(refused["error"]["field"], "bot_token");

    let connected = world.connect(json!({
        "kind": "telegram", "name": "Support bot", "bot_token": BOT_TOKEN, "api_base": fake.base_url(),
    }));
    assert_eq!(connected["state"], "connected", "{connected}");
    assert_eq!(connected["account"], "fake_bot");
    assert_eq!(connected["secrets"]["bot_token"], "…test");
    assert!(!connected.to_string().contains(BOT_TOKEN));
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/telegram/{channel}");

    // The provider was told where to post, with a secret token of ours.
    let webhook = fake.webhook().expect("setWebhook was called");
    assert_eq!(webhook["url"], format!("http://{}{path}", world.api.addr));
    let secret = webhook["secret_token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "{secret}");

    // Wrong or missing proof: refused, nothing recorded.
    let update = telegram_update(1001, 7, "Здравствуйте, где мой заказ?");
    let header = "X-Telegram-Bot-Api-Secret-Token";
    let (status, _) = world.webhook(&path, &[(header, "not-the-secret")], &update);
    assert_eq!(status, 403);
    let (status, _) = world.webhook(&path, &[], &update);
    assert_eq!(status, 401);
    assert!(world.dialogs().is_empty());

    // The right secret: recorded; the same update again: taken, nothing new.
    let (status, answer) = world.webhook(&path, &[(header, &secret)], &update);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"], 1);
    let (status, again) = world.webhook(&path, &[(header, &secret)], &update);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["recorded"], 0);

    let dialogs = eventually("the dialog", || {
        let dialogs = world.dialogs();
        (!dialogs.is_empty()).then_some(dialogs)
    });
    assert_eq!(dialogs.len(), 1, "{dialogs:?}");
    let dialog = dialogs[0]["dialog"].as_str().unwrap().to_owned();
    let items = world.timeline_until(&dialog, "the inbound message", |i| {
        i["direction"] == "inbound"
    });
    let inbound = messages(&items, "inbound");
    assert_eq!(inbound.len(), 1, "{items:?}");
    assert_eq!(inbound[0]["text"], "Здравствуйте, где мой заказ?");

    // A body that is not an update: 400, nothing stored, kept for the admin.
    let (status, bad) = world.webhook(&path, &[(header, &secret)], &json!({"nonsense": true}));
    assert_eq!(status, 400, "{bad}");
    let listed = world.api.ok(&world.admin, "GET", "/v1/channels", None);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        listed[0]["rejected"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert!(
        listed[0]["rejected"][0]["body"]
            .as_str()
            .unwrap()
            .contains("nonsense")
    );

    // The operator's reply goes out through the worker `serve` runs.
    let reply = json!({"action": "send_message", "channel": channel, "text": "Заказ в пути"});
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(reply),
    );
    let sent = eventually("the reply at the provider", || {
        let received = fake.received();
        (!received.is_empty()).then_some(received)
    });
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "sendMessage");
    assert_eq!(sent[0].chat, "555001");
    assert_eq!(sent[0].text, "Заказ в пути");
    world.timeline_until(&dialog, "the reply marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });
    assert_eq!(fake.received().len(), 1, "sent once");

    // The bot's token is revoked: the next reply fails, and the channel shows failing with
    // Telegram's reason.
    fake.revoke();
    let reply = json!({"action": "send_message", "channel": channel, "text": "Ещё вопрос?"});
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(reply),
    );
    world.timeline_until(&dialog, "the second reply failed", |i| {
        i["direction"] == "outbound" && i["delivery"] == "failed"
    });
    let listed = world.api.ok(&world.admin, "GET", "/v1/channels", None);
    assert_eq!(listed[0]["state"], "failing", "{listed}");
    assert!(
        listed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("Unauthorized"),
        "{listed}"
    );

    world.stop_and_check_secrets(&[BOT_TOKEN, &secret]);
}

/// A Telegram channel served by `fake`, connected by `admin`: its id and the webhook's secret.
pub(crate) fn telegram_channel(api: &Api, admin: &str, fake: &FakeProvider) -> (String, String) {
    let body = json!({
        "kind": "telegram", "name": "Support bot", "bot_token": BOT_TOKEN, "api_base": fake.base_url(),
    });
    let connected = api.ok(admin, "POST", "/v1/channels", Some(body));
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let secret = fake.webhook().expect("setWebhook was called")["secret_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (channel, secret)
}

/// The dialog of the client of Telegram `chat`, who wrote "hi" (update `n`), as `admin` lists it.
pub(crate) fn telegram_client(
    api: &Api,
    admin: &str,
    (channel, secret): (&str, &str),
    chat: u64,
    n: u64,
) -> String {
    let path = format!("/v1/webhooks/telegram/{channel}");
    let header = [("X-Telegram-Bot-Api-Secret-Token", secret)];
    let update = telegram_update_from(chat, n, n, "hi");
    let (status, _, answer) = exchange(api.addr, "POST", &path, &header, Some(&update));
    assert_eq!(status, 200, "{answer}");
    // The row names the client by their id on the channel (no name or phone yet).
    let id = format!("\"external_id\":\"{chat}\"");
    eventually("the client's dialog", || {
        let page = api.ok(admin, "GET", "/v1/dialogs?archived=true", None);
        page["items"].as_array().unwrap().iter().find_map(|row| {
            let dialog = row["dialog"].as_str()?;
            row.to_string().contains(&id).then(|| dialog.to_owned())
        })
    })
}

/// F3.6: a reply that failed (the client had blocked the bot) is sent again by the operator
/// whose dialog it is, through the same channel, once the client unblocked the bot: the same
/// message ends sent, the provider was called once per attempt, and nobody else may resend it.
#[test]
fn a_failed_reply_is_resent_by_its_operator_and_goes_out_on_the_second_try() {
    let world = World::start();
    let fake = world.fake(Provider::Telegram, BOT_TOKEN);
    let (channel, secret) = telegram_channel(&world.api, &world.admin, &fake);
    let dialog = telegram_client(&world.api, &world.admin, (&channel, &secret), 555_001, 1);
    let operator = |name: &str, email: &str| {
        let body = json!({"name": name, "email": email, "password": PASSWORD});
        let created = world
            .api
            .ok(&world.admin, "POST", "/v1/operators", Some(body));
        let token = world.api.login(email, PASSWORD)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (created["operator"].as_str().unwrap().to_owned(), token)
    };
    let (oleg_id, oleg) = operator("Oleg", "oleg@shop.test");
    let (_, olga) = operator("Olga", "olga@shop.test");
    let actions = format!("/v1/dialogs/{dialog}/actions");
    let assign = json!({"action": "assign", "operator": oleg_id});
    world.api.ok(&world.admin, "POST", &actions, Some(assign));

    fake.block("555001");
    let reply = json!({"action": "send_message", "channel": channel, "text": "Заказ в пути"});
    world.api.ok(&oleg, "POST", &actions, Some(reply));
    let items = world.timeline_until(&dialog, "the reply failed", |i| {
        i["direction"] == "outbound" && i["delivery"] == "failed"
    });
    let failed = messages(&items, "outbound")[0].clone();
    assert!(
        failed["failure"].as_str().unwrap().contains("blocked"),
        "{failed}"
    );
    let message = failed["id"].as_str().unwrap().to_owned();
    assert_eq!(fake.refused().len(), 1, "the first attempt");
    assert!(fake.received().is_empty());

    // Not Olga's dialog; not a message that failed: refused, naming the field.
    let resend = json!({"action": "resend_message", "message": message});
    let (status, answer) = world
        .api
        .call(&olga, "POST", &actions, Some(resend.clone()));
    assert_eq!(status, 403, "{answer}");
    let inbound = messages(&items, "inbound")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = json!({"action": "resend_message", "message": inbound});
    let (status, answer) = world.api.call(&oleg, "POST", &actions, Some(wrong));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "message", "{answer}");

    // The client unblocked the bot: Oleg resends, the same message goes out.
    fake.unblock("555001");
    let answer = world.api.ok(&oleg, "POST", &actions, Some(resend.clone()));
    assert_eq!(answer["events"], 1, "{answer}");
    let items = world.timeline_until(&dialog, "the resent reply sent", |i| {
        i["id"] == message.as_str() && i["delivery"] == "sent"
    });
    let outbound = messages(&items, "outbound");
    assert_eq!(
        outbound.len(),
        1,
        "one message, resent in its place: {items:?}"
    );
    assert_eq!(outbound[0]["failure"], Value::Null);
    let received = fake.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        (received[0].chat.as_str(), received[0].text.as_str()),
        ("555001", "Заказ в пути")
    );
    assert_eq!(fake.refused().len(), 1, "one call per attempt");
    let events = world.api.ok(
        &world.admin,
        "GET",
        &format!("/v1/dialogs/{dialog}/events"),
        None,
    );
    let events = events["events"].as_array().unwrap();
    let resent: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "message.resent")
        .collect();
    assert_eq!(resent.len(), 1, "{events:?}");
    assert_eq!(resent[0]["message"], message.as_str());
    assert_eq!(resent[0]["actor"]["operator"], oleg_id.as_str());

    // Sent now: nothing more to resend.
    let (status, answer) = world.api.call(&oleg, "POST", &actions, Some(resend));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "message");
    world.stop_and_check_secrets(&[BOT_TOKEN, &secret]);
}

pub(crate) const WA_TOKEN: &str = "EAAG-access-token-of-the-channels-test";
pub(crate) const WA_APP_SECRET: &str = "app-secret-of-the-channels-test";
pub(crate) const WA_NUMBER: &str = "106540352242922";

pub(crate) fn whatsapp_message(wamid: &str, from: &str, text: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100", "phone_number_id": WA_NUMBER},
            "contacts": [{"profile": {"name": "Maria"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": "1765000000", "type": "text", "text": {"body": text}}]
        }}]}]
    })
}

pub(crate) fn hub_signature(body: &Value) -> String {
    let secret = switchboard_connectors::Secret::new(WA_APP_SECRET);
    switchboard_connectors::whatsapp::signature_header(body.to_string().as_bytes(), &secret)
        .unwrap()
}

#[test]
fn a_whatsapp_channel_verifies_its_endpoint_takes_signed_webhooks_and_gets_statuses_back() {
    let world = World::start();
    let fake = world.fake(Provider::Whatsapp, WA_TOKEN);
    let connected = world.connect(json!({
        "kind": "whatsapp", "name": "WhatsApp", "phone_number_id": WA_NUMBER,
        "access_token": WA_TOKEN, "app_secret": WA_APP_SECRET, "verify_token": "verify-me-please",
        "api_base": fake.base_url(),
    }));
    assert_eq!(connected["state"], "connected", "{connected}");
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/whatsapp/{channel}");

    // Meta's endpoint verification.
    let verify = |token: &str| {
        let query =
            format!("{path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444");
        let (status, _, body) = exchange(world.api.addr, "GET", &query, &[], None);
        (status, body)
    };
    assert_eq!(verify("verify-me-please"), (200, json!("1158201444")));
    assert_eq!(verify("wrong").0, 403);

    // A wrong signature stores nothing; the right one records the message once.
    let body = whatsapp_message("wamid.IN-1", "79990001122", "Hola");
    let header = "X-Hub-Signature-256";
    let (status, _) = world.webhook(&path, &[(header, "sha256=00ff")], &body);
    assert_eq!(status, 403);
    assert!(world.dialogs().is_empty());
    let signature = hub_signature(&body);
    for expected in [1, 0] {
        let (status, answer) = world.webhook(&path, &[(header, &signature)], &body);
        assert_eq!(
            (status, answer["recorded"].clone()),
            (200, json!(expected)),
            "{answer}"
        );
    }
    let dialogs = eventually("the dialog", || {
        let dialogs = world.dialogs();
        (!dialogs.is_empty()).then_some(dialogs)
    });
    assert_eq!(dialogs.len(), 1);
    let dialog = dialogs[0]["dialog"].as_str().unwrap().to_owned();
    world.timeline_until(&dialog, "the inbound message", |i| i["text"] == "Hola");

    // The reply goes out, and the provider's delivery status comes back by webhook.
    let reply = json!({"action": "send_message", "channel": channel, "text": "¡Hola, Maria!"});
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(reply),
    );
    let sent = eventually("the reply at the provider", || {
        fake.received().first().cloned()
    });
    assert_eq!(sent.chat, "79990001122");
    assert_eq!(sent.text, "¡Hola, Maria!");
    world.timeline_until(&dialog, "the reply marked sent", |i| {
        i["delivery"] == "sent"
    });
    let url = format!("http://{}{path}", world.api.addr);
    let status = world.runtime.block_on(FakeProvider::post_whatsapp_status(
        &url,
        WA_APP_SECRET,
        WA_NUMBER,
        &sent.id,
        "79990001122",
        "delivered",
    ));
    assert_eq!(status, 200);
    world.timeline_until(&dialog, "the reply marked delivered", |i| {
        i["direction"] == "outbound" && i["delivery"] == "delivered"
    });

    // Disconnected: its webhooks are no longer taken, and the list read after it (its
    // `min_seq`) no longer has it.
    let gone = world.api.ok(
        &world.admin,
        "DELETE",
        &format!("/v1/channels/{channel}"),
        None,
    );
    let (status, _) = world.webhook(&path, &[(header, &signature)], &body);
    assert_eq!(status, 404);
    let listed = world.api.ok(
        &world.admin,
        "GET",
        &format!("/v1/channels?min_seq={}", gone["seq"]),
        None,
    );
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");

    world.stop_and_check_secrets(&[WA_TOKEN, WA_APP_SECRET, "verify-me-please"]);
}

pub(crate) const VK_TOKEN: &str = "vk1.a.access-token-of-the-channels-test";
pub(crate) const VK_SECRET: &str = "callback-secret-of-the-channels-test";

/// The VK 5.131 capture of `shared/fixtures/` (beside the repository) with our secret.
pub(crate) fn vk_capture(secret: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/vk/callback-message_new-v5.131.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the shared fixture {}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["secret"] = json!(secret);
    event
}

#[test]
fn a_vk_channel_confirms_its_server_and_replies_with_a_random_id() {
    let world = World::start();
    let fake = world.fake(Provider::Vk, VK_TOKEN);
    let capture = vk_capture(VK_SECRET);
    let group_id = capture["group_id"].as_i64().unwrap();
    let connected = world.connect(json!({
        "kind": "vk", "name": "Community", "group_id": group_id, "access_token": VK_TOKEN,
        "secret": VK_SECRET, "confirmation": "a1b2c3d4", "api_base": fake.base_url(),
    }));
    assert_eq!(connected["account"], "Fake community", "{connected}");
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/vk/{channel}");
    let post = |body: &Value| {
        let (status, head, answer) = exchange(world.api.addr, "POST", &path, &[], Some(body));
        (status, head, answer)
    };

    // VK's confirmation is answered with the community's string (as text, not JSON).
    let confirmation = json!({"type": "confirmation", "group_id": group_id});
    let (status, head, answer) = post(&confirmation);
    assert_eq!((status, answer), (200, json!("a1b2c3d4")));
    assert!(head.contains("content-type: text/plain"), "{head}");

    // A wrong secret or community stores nothing; the capture, twice, is recorded once.
    assert_eq!(post(&vk_capture("not-the-secret")).0, 403);
    let mut other_group = capture.clone();
    other_group["group_id"] = json!(group_id + 1);
    assert_eq!(post(&other_group).0, 403);
    assert!(world.dialogs().is_empty());
    for _ in 0..2 {
        let (status, _, answer) = post(&capture);
        assert_eq!((status, answer), (200, json!("ok")));
    }
    let dialogs = eventually("the dialog", || {
        let dialogs = world.dialogs();
        (!dialogs.is_empty()).then_some(dialogs)
    });
    assert_eq!(dialogs.len(), 1);
    let dialog = dialogs[0]["dialog"].as_str().unwrap().to_owned();
    let items = world.timeline_until(&dialog, "the inbound message", |i| i["text"] == "Ок");
    assert_eq!(messages(&items, "inbound").len(), 1, "{items:?}");

    // The reply goes out by messages.send with a random_id, to the chat it came from.
    let reply = json!({"action": "send_message", "channel": channel, "text": "Принято"});
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(reply),
    );
    let sent = eventually("the reply at the provider", || {
        fake.received().first().cloned()
    });
    assert_eq!(sent.method, "messages.send");
    assert_eq!(sent.text, "Принято");
    assert!(
        sent.params["random_id"].as_str().is_some_and(|r| r != "0"),
        "{:?}",
        sent.params
    );
    world.timeline_until(&dialog, "the reply marked sent", |i| {
        i["delivery"] == "sent"
    });

    world.stop_and_check_secrets(&[VK_TOKEN, VK_SECRET]);
}

#[test]
fn an_email_channel_reads_its_mailbox_by_imap_and_replies_by_smtp_from_serve() {
    let dovecot = switchboard_tests::mail::DovecotServer::start();
    let smtp = switchboard_tests::mail::SmtpReceiver::start();
    let smtp_server = json!({"host": "127.0.0.1", "port": smtp.port(), "security": "plain",
                             "username": "", "password": ""});
    let world = World::start();
    let user = "support";
    let mail_server = |port: u16| {
        json!({"host": "127.0.0.1", "port": port, "security": "plain", "username": user,
               "password": switchboard_tests::mail::IMAP_PASSWORD})
    };
    // A wrong password connects nothing.
    let mut wrong = mail_server(dovecot.port());
    wrong["password"] = json!("not-the-password");
    let (status, refused) = world.api.call(
        &world.admin,
        "POST",
        "/v1/channels",
        Some(
            json!({"kind": "email", "name": "Mail", "address": "support@shop.test",
                    "imap": wrong, "smtp": mail_server(2525)}),
        ),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "imap");

    // Mail already in the mailbox when it is connected is not imported.
    let raw = |id: &str, subject: &str, body: &str| {
        format!(
            "From: Petr <petr@client.test>\r\nTo: support@shop.test\r\nSubject: {subject}\r\n\
             Message-ID: <{id}>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    };
    dovecot.deliver(user, &raw("old@client.test", "Old", "from before"));
    let connected = world.connect(json!({
        "kind": "email", "name": "Mail", "address": "support@shop.test",
        "imap": mail_server(dovecot.port()), "smtp": smtp_server,
    }));
    assert_eq!(connected["state"], "connected", "{connected}");
    assert_eq!(connected["secrets"]["imap.password"], "…word");
    dovecot.deliver(user, &raw("new@client.test", "Заказ 42", "Где мой заказ?"));

    let dialogs = eventually("the mail's dialog", || {
        let dialogs = world.dialogs();
        (!dialogs.is_empty()).then_some(dialogs)
    });
    assert_eq!(dialogs.len(), 1, "{dialogs:?}");
    let dialog = dialogs[0]["dialog"].as_str().unwrap().to_owned();
    let items = world.timeline_until(&dialog, "the mail", |i| i["direction"] == "inbound");
    let inbound = messages(&items, "inbound");
    assert_eq!(inbound.len(), 1, "{items:?}");
    assert!(
        inbound[0]["text"]
            .as_str()
            .unwrap()
            .contains("Где мой заказ?"),
        "{items:?}"
    );

    // The operator's answer goes out through the channel's SMTP server.
    let channel = connected["channel"].as_str().unwrap();
    let reply = json!({"action": "send_message", "channel": channel, "text": "Заказ 42 в пути\nДо встречи"});
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(reply),
    );
    let received = smtp.wait_for(1);
    assert_eq!(received.len(), 1);
    let mail = switchboard_connectors::email::parse(&received[0]).unwrap();
    assert_eq!(
        mail.from.as_ref().and_then(|f| f.address.as_deref()),
        Some("support@shop.test")
    );
    let raw_mail = String::from_utf8_lossy(&received[0]).to_lowercase();
    assert!(
        raw_mail.contains("x-rcptto: petr@client.test"),
        "{raw_mail}"
    );
    assert!(mail.text.contains("До встречи"), "{}", mail.text);
    assert_eq!(mail.subject.as_deref(), Some("Заказ 42 в пути"));
    world.timeline_until(&dialog, "the answer marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });

    world.stop_and_check_secrets(&[switchboard_tests::mail::IMAP_PASSWORD]);
}
