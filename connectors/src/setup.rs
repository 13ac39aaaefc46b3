//! Connecting a channel: the provider calls that check its credentials and set up what the
//! provider needs before it sends us anything.
//!
//! - Telegram: `getMe` (the token works), then `setWebhook` with our URL and a `secret_token`
//!   (Telegram sends it back in `X-Telegram-Bot-Api-Secret-Token` with every update).
//! - WhatsApp: `GET /{Version}/{Phone-Number-ID}` (the token reaches the number); Meta then
//!   verifies our endpoint with the `hub.*` GET the webhook route answers.
//! - VK: `groups.getById` (the token is the community's); VK then sends a `confirmation` event
//!   the webhook route answers with the community's string.
//!
//! Credentials go only into the request; an error carries the provider's own reason
//! ([`ProviderError`]), a transport error is reported without its URL (which may hold a token).

use crate::Secret;
use crate::outcome::{ErrorClass, ProviderError};
use crate::{telegram, vk, whatsapp};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// The updates a bot asks Telegram for: what [`telegram::parse`] reads as messages, edits and
/// reactions (reactions are only sent when asked for).
pub const TELEGRAM_UPDATES: [&str; 6] = [
    "message",
    "edited_message",
    "business_message",
    "edited_business_message",
    "message_reaction",
    "callback_query",
];

fn transport(error: reqwest::Error) -> ProviderError {
    ProviderError::new(ErrorClass::Transient, 0, &error.without_url().to_string())
}

async fn answer(response: reqwest::Response) -> Result<(u16, bytes::Bytes), ProviderError> {
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(transport)?;
    Ok((status, body))
}

/// The `setWebhook` parameters (also checked against the Bot API description by the tests).
pub fn telegram_set_webhook(url: &str, secret_token: &Secret) -> Value {
    json!({
        "url": url,
        "secret_token": secret_token.expose(),
        "allowed_updates": TELEGRAM_UPDATES,
    })
}

/// Checks a bot token and points the bot's webhook at `webhook_url`; the bot's username.
pub async fn telegram(
    http: &reqwest::Client,
    api_base: &str,
    token: &Secret,
    webhook_url: &str,
    secret_token: &Secret,
) -> Result<String, ProviderError> {
    let base = api_base.trim_end_matches('/');
    let call = |method: &str, params: Value| {
        http.post(format!("{base}/bot{}/{method}", token.expose()))
            .header(CONTENT_TYPE, "application/json")
            .body(params.to_string())
            .send()
    };
    let telegram_ok = |status: u16, body: &[u8]| -> Result<Value, ProviderError> {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if (200..300).contains(&status) && parsed["ok"] == true {
            Ok(parsed["result"].clone())
        } else {
            Err(telegram::outbound::classify(status, body))
        }
    };
    let me = call("getMe", json!({})).await.map_err(transport)?;
    let (status, body) = answer(me).await?;
    let bot = telegram_ok(status, &body)?;
    let username = bot["username"].as_str().unwrap_or_default().to_owned();
    let params = telegram_set_webhook(webhook_url, secret_token);
    let set = call("setWebhook", params).await.map_err(transport)?;
    let (status, body) = answer(set).await?;
    telegram_ok(status, &body)?;
    Ok(username)
}

/// Checks that `token` reaches the business number; its display number.
pub async fn whatsapp(
    http: &reqwest::Client,
    api_base: &str,
    token: &Secret,
    phone_number_id: &str,
) -> Result<String, ProviderError> {
    let base = api_base.trim_end_matches('/');
    let version = whatsapp::outbound::API_VERSION;
    let response = http
        .get(format!("{base}/{version}/{phone_number_id}"))
        .query(&[("fields", "id,display_phone_number")])
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(transport)?;
    let (status, body) = answer(response).await?;
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) || parsed["id"].as_str() != Some(phone_number_id) {
        return Err(whatsapp::outbound::classify(status, &body));
    }
    Ok(parsed["display_phone_number"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Checks that `token` is the community's; its name.
pub async fn vk(
    http: &reqwest::Client,
    api_base: &str,
    token: &Secret,
    group_id: i64,
) -> Result<String, ProviderError> {
    let base = api_base.trim_end_matches('/');
    let group = group_id.to_string();
    let form = [
        ("group_id", group.as_str()),
        ("access_token", token.expose()),
        ("v", vk::outbound::API_VERSION),
    ];
    let response = http
        .post(format!("{base}/method/groups.getById"))
        .form(&form)
        .send()
        .await
        .map_err(transport)?;
    let (status, body) = answer(response).await?;
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let groups = &parsed["response"]["groups"];
    let found = groups
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["id"].as_i64() == Some(group_id));
    match found {
        Some(group) if (200..300).contains(&status) => {
            Ok(group["name"].as_str().unwrap_or_default().to_owned())
        }
        _ if parsed.get("error").is_some() || !(200..300).contains(&status) => {
            Err(vk::outbound::classify(status, &body))
        }
        _ => Err(ProviderError::new(
            ErrorClass::NoRights,
            0,
            "the token is not of this community",
        )),
    }
}
