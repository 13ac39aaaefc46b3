//! One message as HTTP calls to its provider (the requests `telegram`/`whatsapp`/`vk::build`
//! make), each answer read with the provider's `sent` or `classify`.
//!
//! Credentials go only into the request (Telegram's `/bot<token>/` path, WhatsApp's bearer
//! header, VK's `access_token` form field); a transport error is reported without its URL, which
//! may hold the token.

use super::directory::ChannelConfig;
use crate::email::smtp::{OutboundMail, SmtpError};
use crate::outbound::{Outgoing, ProviderRequest};
use crate::outcome::{ErrorClass, ProviderError};
use crate::{telegram, vk, whatsapp};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use switchboard_schemas::ChannelKind;

/// What became of one call.
#[derive(Debug)]
pub(crate) enum CallResult {
    /// It went through: the channel's ids of what was sent.
    Sent(Vec<String>),
    /// The provider refused it, or it never left (a refused connection: transient).
    Refused(ProviderError),
    /// Its outcome is unknown (a timeout, a connection lost after the request left): the
    /// provider may have sent it.
    Unknown(String),
}

/// The requests for `message` on a channel of `config`'s provider.
pub(crate) fn build(
    config: &ChannelConfig,
    message: &Outgoing,
) -> Result<Vec<ProviderRequest>, ProviderError> {
    let built = match config.kind {
        ChannelKind::Telegram => telegram::outbound::build(message),
        ChannelKind::WhatsappCloud => {
            whatsapp::outbound::build(config.phone_number_id.as_deref().unwrap_or(""), message)
        }
        ChannelKind::Vk => vk::outbound::build(message),
        ChannelKind::Email => Ok(vec![mail_request(message)]),
        other => {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                0,
                &format!("delivery to {} channels is not built", other.as_str()),
            ));
        }
    };
    built.map_err(|e| ProviderError::new(ErrorClass::Permanent, 0, &e.to_string()))
}

/// Longest subject made from a mail's text, in characters.
const SUBJECT_MAX: usize = 78;

/// One mail as a request: `to`, `subject` (the text's first line, cut) and `text`. Files of a
/// queued message are not attached yet (they are named in the text by the caller's timeline).
fn mail_request(message: &Outgoing) -> ProviderRequest {
    let first_line = message
        .text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut subject: String = first_line.trim().chars().take(SUBJECT_MAX).collect();
    if subject.is_empty() {
        subject = "(no subject)".to_owned();
    }
    let mut params = serde_json::Map::new();
    params.insert("to".into(), Value::String(message.to.clone()));
    params.insert("subject".into(), Value::String(subject));
    params.insert("text".into(), Value::String(message.text.clone()));
    ProviderRequest {
        operation: "smtp",
        path: String::new(),
        params,
    }
}

/// One mail through the channel's SMTP server: a refusal the server answered is not sent; a
/// conversation cut before its answer is an unknown outcome.
async fn send_mail(
    config: &ChannelConfig,
    request: &ProviderRequest,
) -> Result<Vec<String>, Result<ProviderError, String>> {
    let Some(smtp) = &config.smtp else {
        let detail = "the channel has no SMTP settings";
        return Err(Ok(ProviderError::new(ErrorClass::Permanent, 0, detail)));
    };
    let text = |key: &str| request.params[key].as_str().unwrap_or_default().to_owned();
    let mail = OutboundMail {
        to_address: text("to"),
        to_name: None,
        subject: text("subject"),
        text: text("text"),
        parent: None,
    };
    match smtp.send(&mail).await {
        Ok(sent) => Ok(vec![sent.message_id]),
        Err(e) if e.is_permanent() => Err(Ok(ProviderError::new(
            ErrorClass::Permanent,
            0,
            &e.to_string(),
        ))),
        Err(SmtpError::Transport(e)) if e.is_transient() => Err(Ok(ProviderError::new(
            ErrorClass::Transient,
            0,
            &e.to_string(),
        ))),
        Err(e) => Err(Err(e.to_string())),
    }
}

/// VK's form encoding: arrays joined with commas, objects as JSON text.
fn vk_form(request: &ProviderRequest, token: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = request
        .params
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect();
    form.push(("access_token".into(), token.to_owned()));
    form.push(("v".into(), vk::outbound::API_VERSION.into()));
    form
}

fn json_body(request: &ProviderRequest) -> Vec<u8> {
    serde_json::to_vec(&request.params).unwrap_or_default()
}

/// One call to the provider.
pub(crate) async fn call(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
) -> CallResult {
    match call_inner(http, config, request).await {
        Ok(ids) => CallResult::Sent(ids),
        Err(Ok(error)) => CallResult::Refused(error),
        Err(Err(detail)) => CallResult::Unknown(detail),
    }
}

/// `Err(Ok(_))` a refusal, `Err(Err(_))` an unknown outcome.
async fn call_inner(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
) -> Result<Vec<String>, Result<ProviderError, String>> {
    if config.kind == ChannelKind::Email {
        return send_mail(config, request).await;
    }
    let token = config.token.expose();
    let base = config.api_base.trim_end_matches('/');
    let builder = match config.kind {
        ChannelKind::Telegram => http
            .post(format!("{base}/bot{token}/{}", request.path))
            .header(CONTENT_TYPE, "application/json")
            .body(json_body(request)),
        ChannelKind::WhatsappCloud => http
            .post(format!("{base}{}", request.path))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json")
            .body(json_body(request)),
        _ => http
            .post(format!("{base}/method/{}", request.path))
            .form(&vk_form(request, token)),
    };
    let response = match builder.send().await {
        Ok(response) => response,
        Err(e) if e.is_connect() || e.is_builder() => {
            let detail = e.without_url().to_string();
            return Err(Ok(ProviderError::new(ErrorClass::Transient, 0, &detail)));
        }
        Err(e) => return Err(Err(e.without_url().to_string())),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return Err(Err(e.without_url().to_string())),
    };
    let ok = (200..300).contains(&status);
    match config.kind {
        ChannelKind::Telegram if ok => telegram::outbound::sent(&body).map_err(Ok),
        ChannelKind::Telegram => Err(Ok(telegram::outbound::classify(status, &body))),
        ChannelKind::WhatsappCloud if ok => whatsapp::outbound::sent(&body)
            .map(|id| vec![id])
            .map_err(Ok),
        ChannelKind::WhatsappCloud => Err(Ok(whatsapp::outbound::classify(status, &body))),
        _ if ok => vk::outbound::sent(&body).map(|id| vec![id]).map_err(Ok),
        _ => Err(Ok(vk::outbound::classify(status, &body))),
    }
}
