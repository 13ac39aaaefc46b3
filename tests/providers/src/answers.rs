//! The providers' answer and webhook bodies, as their documentation shows them.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A JSON scalar as text (`123` and `"123"` alike).
pub(super) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn telegram_error(code: u16, description: &str, retry_after: Option<u32>) -> Value {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(after) = retry_after {
        body["parameters"] = json!({"retry_after": after});
    }
    body
}

/// The text or the first caption of a Bot API call.
pub(super) fn telegram_text(params: &Value) -> String {
    let text = params["text"]
        .as_str()
        .or_else(|| params["caption"].as_str())
        .or_else(|| params["media"][0]["caption"].as_str());
    text.unwrap_or("").to_owned()
}

/// A Bot API `Message` as `sendMessage` answers it.
pub(super) fn telegram_message(chat: &str, message_id: u64, text: &str) -> Value {
    let chat_id: i64 = chat.parse().unwrap_or(0);
    json!({
        "message_id": message_id,
        "from": {"id": 7_000_000_001_i64, "is_bot": true, "first_name": "Switchboard"},
        "chat": {"id": chat_id, "type": "private"},
        "date": 1_767_225_600,
        "text": text,
    })
}

pub(super) fn whatsapp_error(code: i64, message: &str) -> Value {
    json!({"error": {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEfGhIjK",
    }})
}

pub(super) fn whatsapp_message(code: i64) -> &'static str {
    match code {
        130429 => "Rate limit hit",
        131026 => "Message undeliverable",
        _ => "Service temporarily unavailable",
    }
}

pub(super) fn whatsapp_text(params: &Value) -> String {
    let kind = params["type"].as_str().unwrap_or("");
    let text = if kind == "text" {
        params["text"]["body"].as_str()
    } else {
        params[kind]["caption"].as_str()
    };
    text.unwrap_or("").to_owned()
}

/// A `statuses` notification for one sent message, as the Cloud API's webhooks send it.
pub(super) fn whatsapp_status(
    phone_number_id: &str,
    wamid: &str,
    recipient: &str,
    status: &str,
) -> Vec<u8> {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881",
                                 "phone_number_id": phone_number_id},
                    "statuses": [{
                        "id": wamid,
                        "status": status,
                        "timestamp": "1767225700",
                        "recipient_id": recipient,
                    }],
                },
            }],
        }],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `sha256=<hex>` of the body keyed with the app secret.
pub(super) fn hub_signature(app_secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(super) fn vk_error(code: i64, message: &str) -> Value {
    json!({"error": {"error_code": code, "error_msg": message, "request_params": []}})
}

pub(super) fn vk_message(code: i64) -> &'static str {
    match code {
        6 => "Too many requests per second",
        901 => "Can't send messages for users without permission",
        _ => "Unknown error occurred",
    }
}
