//! F3.8 end to end over real sockets: a real `serve`, a Telegram channel (the local Bot API)
//! bringing a client's message in Russian, and the local language provider of
//! `switchboard_tests::providers::language` speaking LibreTranslate's and the chat completions
//! wire formats. Off by default (409 naming why); once an admin sets the providers, a message
//! is translated into the operator's language (once: a second look is answered from the
//! cache), a draft into the client's (the card's language), a reply suggested from the
//! dialog; a provider's failure is a 502 saying so; the key never reaches an answer, the log or
//! `serve`'s output.

use crate::channels::{BOT_TOKEN, World, eventually, messages, telegram_update};
use serde_json::{Value, json};
use switchboard_tests::providers::language::FakeLanguage;
use switchboard_tests::providers::{FakeProvider, Provider};

const KEY: &str = "lt-key-of-the-language-test-0042";
const CLIENT_TEXT: &str = "Здравствуйте, где мой заказ?";

/// Connects a Telegram channel and lets the client (language `ru`) write once: the dialog's id,
/// the message's id and the webhook's secret.
fn dialog_with_a_message(world: &World, telegram: &FakeProvider) -> (String, String, String) {
    let connected = world.connect(json!({
        "kind": "telegram", "name": "Support bot", "bot_token": BOT_TOKEN, "api_base": telegram.base_url(),
    }));
    let path = format!(
        "/v1/webhooks/telegram/{}",
        connected["channel"].as_str().unwrap()
    );
    let webhook = telegram.webhook().expect("setWebhook was called");
    let secret = webhook["secret_token"].as_str().unwrap().to_owned();
    let header = "X-Telegram-Bot-Api-Secret-Token";
    let update = telegram_update(2001, 9, CLIENT_TEXT);
    let (status, answer) = world.webhook(&path, &[(header, &secret)], &update);
    assert_eq!(status, 200, "{answer}");
    let dialog = eventually("the dialog", || {
        world
            .dialogs()
            .first()
            .map(|d| d["dialog"].as_str().unwrap().to_owned())
    });
    let items = world.timeline_until(&dialog, "the inbound message", |i| {
        i["direction"] == "inbound"
    });
    let message = messages(&items, "inbound")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (dialog, message, secret)
}

/// Calls as the admin, keeping every answer to search for the key at the end.
fn call(
    world: &World,
    answers: &mut Vec<String>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, answer) = world.api.call(&world.admin, method, path, body);
    answers.push(answer.to_string());
    (status, answer)
}

fn assert_error(status: u16, answer: &Value, want: u16, code: &str, field: Option<&str>) {
    assert_eq!(status, want, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    if let Some(field) = field {
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
}

#[test]
fn messages_and_drafts_are_translated_and_replies_suggested_through_the_projects_providers() {
    let world = World::start();
    let telegram = world.fake(Provider::Telegram, BOT_TOKEN);
    let provider = world.block_on(FakeLanguage::start(KEY));
    let (dialog, message, webhook_secret) = dialog_with_a_message(&world, &telegram);
    let translate = format!("/v1/dialogs/{dialog}/translate");
    let translate_reply = format!("/v1/dialogs/{dialog}/translate-reply");
    let suggest = format!("/v1/dialogs/{dialog}/suggest-reply");
    let mut answers = Vec::new();
    let answers = &mut answers;

    // Off by default: each tool says so (409), nothing reaches a provider.
    let tools = world
        .api
        .ok(&world.admin, "GET", "/v1/project/translation", None);
    assert_eq!(tools, json!({"translation": false, "suggestions": false}));
    let (status, off) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message, "to": "en"})),
    );
    assert_error(status, &off, 409, "translation_off", None);
    let (status, off) = call(
        &world,
        answers,
        "POST",
        &translate_reply,
        Some(json!({"text": "Hello"})),
    );
    assert_error(status, &off, 409, "translation_off", None);
    let (status, off) = call(&world, answers, "POST", &suggest, None);
    assert_error(status, &off, 409, "suggestions_off", None);

    // Bad input names its field, before any provider is asked.
    let (status, bad) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message, "to": "english"})),
    );
    assert_error(status, &bad, 400, "bad_request", Some("to"));
    let (status, bad) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": "nope"})),
    );
    assert_error(status, &bad, 400, "bad_request", Some("message"));
    let long = "a".repeat(10_001);
    let (status, bad) = call(
        &world,
        answers,
        "POST",
        &translate_reply,
        Some(json!({"text": long})),
    );
    assert_error(status, &bad, 400, "bad_request", Some("text"));
    let settings = "/v1/project/translation/settings";
    let (status, bad) = call(
        &world,
        answers,
        "PUT",
        settings,
        Some(json!({"translation": {"api_base": "ftp://x"}})),
    );
    assert_error(
        status,
        &bad,
        400,
        "bad_request",
        Some("translation.api_base"),
    );
    let (status, bad) = call(
        &world,
        answers,
        "PUT",
        settings,
        Some(json!({"suggestions": {"api_base": provider.base_url(), "model": " "}})),
    );
    assert_error(status, &bad, 400, "bad_request", Some("suggestions.model"));

    // The admin sets both providers: the answer shows the key masked only.
    let (status, set) = call(
        &world,
        answers,
        "PUT",
        settings,
        Some(json!({
            "translation": {"api_base": provider.base_url(), "api_key": KEY},
            "suggestions": {"api_base": format!("{}/", provider.base_url()), "api_key": KEY, "model": "small-model"},
        })),
    );
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["translation"]["api_key"], "…0042");
    assert_eq!(set["suggestions"]["api_key"], "…0042");
    assert_eq!(set["suggestions"]["api_base"], provider.base_url());
    assert_eq!(set["suggestions"]["model"], "small-model");
    let read = world.api.ok(&world.admin, "GET", settings, None);
    assert_eq!(read, set);
    answers.push(read.to_string());
    let tools = world
        .api
        .ok(&world.admin, "GET", "/v1/project/translation", None);
    assert_eq!(tools, json!({"translation": true, "suggestions": true}));

    // The client's message into the operator's language: no profile language, so `to` is
    // needed; once the profile says `en`, it is the default.
    let (status, bad) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message})),
    );
    assert_error(status, &bad, 400, "bad_request", Some("to"));
    world.api.ok(
        &world.admin,
        "PATCH",
        "/v1/profile",
        Some(json!({"language": "en"})),
    );
    let (status, translated) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message})),
    );
    assert_eq!(status, 200, "{translated}");
    assert_eq!(
        translated,
        json!({"text": format!("[en] {CLIENT_TEXT}"), "source_language": "ru", "target_language": "en"})
    );
    let calls = provider.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, "/translate");
    assert_eq!(
        calls[0].body,
        json!({"q": CLIENT_TEXT, "source": "auto", "target": "en", "format": "text", "api_key": KEY})
    );
    // Reopened: the same answer, from the cache.
    let (status, again) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message, "to": "en"})),
    );
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, translated);
    assert_eq!(provider.calls().len(), 1, "the provider was asked again");
    // A message of no dialog of the caller's: 404.
    let unknown = "0194ffff-0000-7000-8000-000000000001";
    let (status, missing) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": unknown})),
    );
    assert_error(status, &missing, 404, "not_found", None);

    // A draft into the client's language: the card's (Telegram said `ru`).
    let (status, draft) = call(
        &world,
        answers,
        "POST",
        &translate_reply,
        Some(json!({"text": "Your order ships today"})),
    );
    assert_eq!(status, 200, "{draft}");
    assert_eq!(
        draft,
        json!({"text": "[ru] Your order ships today", "source_language": "en", "target_language": "ru"})
    );

    // A suggestion from the dialog's messages, in the client's language.
    provider.set_reply("Ваш заказ уже в пути.");
    let (status, suggested) = call(&world, answers, "POST", &suggest, None);
    assert_eq!(status, 200, "{suggested}");
    assert_eq!(suggested, json!({"text": "Ваш заказ уже в пути."}));
    let calls = provider.calls();
    let completion = calls.last().unwrap();
    assert_eq!(completion.path, "/v1/chat/completions");
    assert_eq!(
        completion.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(completion.body["model"], "small-model");
    let sent = completion.body["messages"].as_array().unwrap();
    assert_eq!(sent[0]["role"], "system");
    assert!(
        sent[0]["content"].as_str().unwrap().contains("(ru)"),
        "{sent:?}"
    );
    assert_eq!(
        sent.last().unwrap(),
        &json!({"role": "user", "content": CLIENT_TEXT})
    );

    // The provider fails: 502 saying so, not the key.
    provider.fail(1);
    let (status, failed) = call(
        &world,
        answers,
        "POST",
        &translate_reply,
        Some(json!({"text": "Hello"})),
    );
    assert_error(status, &failed, 502, "provider_failed", None);
    let said = failed["error"]["message"].as_str().unwrap();
    assert!(said.contains("HTTP 500"), "{said}");
    // A key the provider refuses: 502 with its reason, the key not repeated.
    let (status, _) = call(
        &world,
        answers,
        "PUT",
        settings,
        Some(json!({
            "translation": {"api_base": provider.base_url()},
            "suggestions": {"api_base": provider.base_url(), "api_key": "sk-wrong-but-long-enough", "model": "m"},
        })),
    );
    assert_eq!(status, 200);
    let (status, refused) = call(&world, answers, "POST", &suggest, None);
    assert_error(status, &refused, 502, "provider_failed", None);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 401"),
        "{refused}"
    );
    // The translation key, not given again, was kept.
    let (status, kept) = call(
        &world,
        answers,
        "POST",
        &translate_reply,
        Some(json!({"text": "Hi", "to": "de"})),
    );
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["text"], "[de] Hi");

    // Cleared: off again.
    let (status, cleared) = call(&world, answers, "DELETE", settings, None);
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared, json!({"translation": null, "suggestions": null}));
    let (status, off) = call(
        &world,
        answers,
        "POST",
        &translate,
        Some(json!({"message": message, "to": "de"})),
    );
    assert_error(status, &off, 409, "translation_off", None);

    for answer in answers.iter() {
        assert!(!answer.contains(KEY), "the key in an answer: {answer}");
        assert!(
            !answer.contains("sk-wrong-but"),
            "a key in an answer: {answer}"
        );
    }
    world.stop_and_check_secrets(&[BOT_TOKEN, &webhook_secret, KEY, "sk-wrong-but-long-enough"]);
}
