//! WhatsApp Cloud API webhooks: [`verify_signature`] (`X-Hub-Signature-256: sha256=<hex
//! HMAC-SHA256(app secret, raw body)>`, compared in constant time), [`verify_subscription`] (the
//! `hub.mode=subscribe` GET answered with `hub.challenge`), and [`parse`] (one notification,
//! which may carry several messages and statuses of several business numbers).
//!
//! A message's external id is its `wamid` (unique across WhatsApp). A client is known by the
//! phone (`wa_id`), by Meta's business-scoped user id (`user_id`, since 2026), or by both: the
//! sender's ids list the phone first, then the user id.
//!
//! Submodules: `wire` (the tolerant wire structs), `read` (messages and statuses), `outbound`
//! (`/{phone-number-id}/messages` calls for our messages, their answers and errors).

pub mod outbound;
mod read;
mod wire;

use crate::error::WebhookError;
use crate::inbound::Inbound;
use crate::secret::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header the signature arrives in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// One item of a notification, with the business number it arrived at.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsappItem {
    /// `metadata.phone_number_id`: which of our numbers (channels) it is for.
    pub phone_number_id: Option<String>,
    pub inbound: Inbound,
}

/// The MAC keyed with the app secret (HMAC takes keys of every length: the error is never
/// seen, and would refuse the request rather than panic).
fn mac(app_secret: &Secret) -> Result<Hmac<Sha256>, WebhookError> {
    <Hmac<Sha256> as Mac>::new_from_slice(app_secret.expose().as_bytes())
        .map_err(|_| WebhookError::Forbidden(SIGNATURE_HEADER))
}

/// Checks the signature header against the raw body (the bytes as received, before any parse).
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    app_secret: &Secret,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::Unauthenticated(SIGNATURE_HEADER))?;
    let signature = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .ok_or(WebhookError::Forbidden(SIGNATURE_HEADER))?;
    let mut mac = mac(app_secret)?;
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| WebhookError::Forbidden(SIGNATURE_HEADER))
}

/// The header value Meta would send for `body` (for tests and tools that replay webhooks).
pub fn signature_header(body: &[u8], app_secret: &Secret) -> Result<String, WebhookError> {
    let mut mac = mac(app_secret)?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// The endpoint verification GET: answers with the challenge when `hub.mode` is `subscribe`
/// and `hub.verify_token` is ours.
pub fn verify_subscription(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    ours: &Secret,
) -> Result<String, WebhookError> {
    if mode != Some("subscribe") {
        return Err(WebhookError::Malformed("hub.mode must be subscribe".into()));
    }
    match verify_token {
        None => return Err(WebhookError::Unauthenticated("hub.verify_token")),
        Some(token) if !ours.matches(token) => {
            return Err(WebhookError::Forbidden("hub.verify_token"));
        }
        Some(_) => {}
    }
    challenge
        .map(str::to_owned)
        .ok_or_else(|| WebhookError::Malformed("missing hub.challenge".into()))
}

/// A webhook POST: the signature of the raw body checked first (nothing is read from a request
/// that fails), then the body parsed.
pub fn webhook(
    signature_header: Option<&str>,
    body: &[u8],
    app_secret: &Secret,
) -> Result<Vec<WhatsappItem>, WebhookError> {
    verify_signature(signature_header, body, app_secret)?;
    parse(body)
}

/// One notification body into its items, in the order they came.
pub fn parse(body: &[u8]) -> Result<Vec<WhatsappItem>, WebhookError> {
    let notification: wire::Notification =
        serde_json::from_slice(body).map_err(WebhookError::json)?;
    if notification.object != "whatsapp_business_account" {
        return Err(WebhookError::Malformed(format!(
            "object {:?} is not whatsapp_business_account",
            notification.object
        )));
    }
    let mut items = Vec::new();
    for change in notification.entry.iter().flat_map(|e| &e.changes) {
        let Some(value) = &change.value else { continue };
        if change.field != "messages" {
            // Account updates, template statuses, …: nothing about a client's dialog.
            continue;
        }
        let value: wire::Value = serde_json::from_value(value.clone())
            .map_err(|e| WebhookError::Malformed(format!("messages: {e}")))?;
        read::value(&value, &mut items)?;
    }
    Ok(items)
}
