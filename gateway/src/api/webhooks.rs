//! The messengers' webhooks (issue 17): `/v1/webhooks/{telegram|whatsapp|vk}/{channel}`,
//! public in `x-sb-access` terms (no operator calls them) and verified by each provider's own
//! scheme with the channel's sealed settings: Telegram's `X-Telegram-Bot-Api-Secret-Token`,
//! WhatsApp's `X-Hub-Signature-256` over the raw body (and the `hub.*` verification GET), VK's
//! `secret` and community id (and its `confirmation` event).
//!
//! A request that fails verification is 401/403 and stores nothing; a verified body that is not
//! the provider's is 400, stores nothing in the log and is kept (capped) for the channel's admin
//! (`GET /v1/channels`). Each item is recorded through `connectors::record` with ids derived from
//! the provider's, so a redelivery appends nothing; the answer (200) comes only after every
//! item's events are stored, and an infrastructure failure is a 5xx the provider retries.

use super::channels::channels_of;
use super::extract::RawBody;
use super::{AppError, AppState, Json};
use crate::channels::settings::{ChannelSettings, Provider};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchboard_connectors::ingest::ChannelRef;
use switchboard_connectors::record::{Recorded, record};
use switchboard_connectors::vk::Callback;
use switchboard_connectors::{Inbound, Secret, WebhookError, telegram, vk, whatsapp};
use switchboard_core::service::CommandError;
use switchboard_schemas::{ChannelId, ChannelKind};
use utoipa::ToSchema;

/// A provider's payload, as the provider documents it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ProviderPayload(pub serde_json::Value);

/// What a webhook took.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// Items in the payload.
    pub items: usize,
    /// Items that appended events (a redelivered one appends none).
    pub recorded: usize,
}

/// The channel of a webhook path, of `kind`; 404 for any other.
async fn channel_of(
    state: &AppState,
    text: &str,
    kind: ChannelKind,
) -> Result<(ChannelId, Arc<ChannelSettings>), AppError> {
    let channels = channels_of(state)?;
    let channel = super::extract::channel_id(text)?;
    match channels.get(channel).await? {
        Some(settings) if settings.kind() == kind => Ok((channel, settings)),
        _ => Err(AppError::NotFound(format!(
            "no {} channel {channel}",
            kind.as_str()
        ))),
    }
}

/// A refused webhook as its answer; a body that is not the provider's is kept for diagnosis.
fn refused(state: &AppState, channel: ChannelId, body: &[u8], error: WebhookError) -> AppError {
    match error {
        WebhookError::Unauthenticated(what) => AppError::Unauthorized(format!("missing {what}")),
        WebhookError::Forbidden(what) => AppError::Forbidden(format!("wrong {what}")),
        WebhookError::Malformed(reason) => {
            if let Ok(channels) = channels_of(state) {
                channels.reject(channel, &reason, body);
            }
            AppError::BadRequest {
                code: "malformed_payload",
                message: reason,
                field: Some("body".to_owned()),
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Records each item; how many appended events.
async fn record_all(
    state: &AppState,
    channel: ChannelId,
    settings: &ChannelSettings,
    items: &[Inbound],
) -> Result<WebhookAnswer, AppError> {
    let channels = channels_of(state)?;
    let target = ChannelRef {
        channel,
        kind: settings.kind(),
    };
    let lookup =
        |status: &switchboard_connectors::inbound::InboundStatus| channels.lookup_sent(status);
    let mut recorded = 0;
    for item in items {
        match record(&state.commands, settings.project, target, item, &lookup).await {
            Ok(Recorded::Done { ack, .. }) => recorded += usize::from(ack.events > 0),
            Ok(Recorded::UnknownMessage) => {
                tracing::info!(%channel, "a status of a message this node did not send");
            }
            Ok(Recorded::NoDialog) => {
                tracing::info!(%channel, "an unsupported item that names nobody");
            }
            // The domain refuses it (a blocked or deleted client): nothing to keep, and a
            // retry would be refused the same way.
            Err(CommandError::Refused(refusal)) => {
                tracing::info!(%channel, %refusal, "an inbound item refused");
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(WebhookAnswer {
        items: items.len(),
        recorded,
    })
}

/// A Telegram update.
#[utoipa::path(
    post,
    path = "/v1/webhooks/telegram/{channel}",
    tag = "webhooks",
    params(
        ("channel" = uuid::Uuid, Path),
        ("X-Telegram-Bot-Api-Secret-Token" = Option<String>, Header, description = "the secret set with setWebhook"),
    ),
    request_body(content = ProviderPayload, content_type = "application/json", description = "one Update"),
    responses(
        (status = OK, body = WebhookAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "not a Telegram update (kept for the admin)"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer, description = "no secret token"),
        (status = FORBIDDEN, body = super::ErrorAnswer, description = "a wrong secret token"),
        (status = NOT_FOUND, body = super::ErrorAnswer, description = "no such Telegram channel"),
        (status = PAYLOAD_TOO_LARGE, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn telegram(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WebhookAnswer>, AppError> {
    let (channel, settings) = channel_of(&state, &channel, ChannelKind::Telegram).await?;
    let Provider::Telegram { secret_token, .. } = &settings.provider else {
        return Err(AppError::NotFound("no such Telegram channel".to_owned()));
    };
    let secret = Secret::new(secret_token.clone());
    let items = telegram::webhook(header(&headers, telegram::SECRET_HEADER), &body, &secret)
        .map_err(|e| refused(&state, channel, &body, e))?;
    Ok(Json(record_all(&state, channel, &settings, &items).await?))
}

/// The parameters of WhatsApp's endpoint verification.
#[derive(Debug, Deserialize)]
pub struct HubQuery {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// WhatsApp's endpoint verification: answers `hub.challenge` to the right `hub.verify_token`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/whatsapp/{channel}",
    tag = "webhooks",
    params(
        ("channel" = uuid::Uuid, Path),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query),
        ("hub.challenge" = Option<String>, Query),
    ),
    responses(
        (status = OK, body = String, content_type = "text/plain", description = "the challenge"),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn whatsapp_verify(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    super::extract::Query(query): super::extract::Query<HubQuery>,
) -> Result<String, AppError> {
    let (channel, settings) = channel_of(&state, &channel, ChannelKind::WhatsappCloud).await?;
    let Provider::Whatsapp { verify_token, .. } = &settings.provider else {
        return Err(AppError::NotFound("no such WhatsApp channel".to_owned()));
    };
    whatsapp::verify_subscription(
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
        &Secret::new(verify_token.clone()),
    )
    .map_err(|e| refused(&state, channel, b"", e))
}

/// A WhatsApp Cloud API notification (messages and statuses).
#[utoipa::path(
    post,
    path = "/v1/webhooks/whatsapp/{channel}",
    tag = "webhooks",
    params(
        ("channel" = uuid::Uuid, Path),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "sha256=<HMAC-SHA256 of the body with the app secret>"),
    ),
    request_body(content = ProviderPayload, content_type = "application/json", description = "one notification"),
    responses(
        (status = OK, body = WebhookAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "not a WhatsApp notification (kept for the admin)"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer, description = "no signature"),
        (status = FORBIDDEN, body = super::ErrorAnswer, description = "a wrong signature"),
        (status = NOT_FOUND, body = super::ErrorAnswer, description = "no such WhatsApp channel"),
        (status = PAYLOAD_TOO_LARGE, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn whatsapp(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WebhookAnswer>, AppError> {
    let (channel, settings) = channel_of(&state, &channel, ChannelKind::WhatsappCloud).await?;
    let Provider::Whatsapp {
        app_secret,
        phone_number_id,
        ..
    } = &settings.provider
    else {
        return Err(AppError::NotFound("no such WhatsApp channel".to_owned()));
    };
    let secret = Secret::new(app_secret.clone());
    let items = whatsapp::webhook(header(&headers, whatsapp::SIGNATURE_HEADER), &body, &secret)
        .map_err(|e| refused(&state, channel, &body, e))?;
    // One app may serve several numbers: each number's items go to its own channel.
    let ours: Vec<Inbound> = items
        .into_iter()
        .filter(|item| {
            item.phone_number_id
                .as_ref()
                .is_none_or(|id| id == phone_number_id)
        })
        .map(|item| item.inbound)
        .collect();
    Ok(Json(record_all(&state, channel, &settings, &ours).await?))
}

/// A VK Callback API event: `confirmation` is answered with the community's string, every
/// other event with `ok`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/vk/{channel}",
    tag = "webhooks",
    params(("channel" = uuid::Uuid, Path)),
    request_body(content = ProviderPayload, content_type = "application/json", description = "one event"),
    responses(
        (status = OK, body = String, content_type = "text/plain", description = "`ok`, or the confirmation string"),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "not a VK event (kept for the admin)"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer, description = "no secret"),
        (status = FORBIDDEN, body = super::ErrorAnswer, description = "a wrong secret or community"),
        (status = NOT_FOUND, body = super::ErrorAnswer, description = "no such VK channel"),
        (status = PAYLOAD_TOO_LARGE, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn vk(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    RawBody(body): RawBody,
) -> Result<String, AppError> {
    let (channel, settings) = channel_of(&state, &channel, ChannelKind::Vk).await?;
    let Some(config) = settings.vk() else {
        return Err(AppError::NotFound("no such VK channel".to_owned()));
    };
    match vk::handle(&body, &config).map_err(|e| refused(&state, channel, &body, e))? {
        Callback::Confirm(confirmation) => Ok(confirmation),
        Callback::Events { items, .. } => {
            record_all(&state, channel, &settings, &items).await?;
            Ok(vk::OK.to_owned())
        }
    }
}
