//! The project's channels (F11.1, issue 17): `POST /v1/channels` connects one (the credentials
//! checked against the provider, its webhook set, the settings sealed in the credential store,
//! then `channel.connected` appended: a name and a kind, never a secret), `GET /v1/channels`
//! lists them with their state, `DELETE /v1/channels/{channel}` disconnects one. Admins only;
//! the domain decides that too.

use super::caller::Admin;
use super::commands::CommandAnswer;
use super::consistency::MinSeq;
use super::dialogs::list::MinSeqParam;
use super::extract::Query;
use super::idempotency::CommandId;
use super::{AppError, AppState, Json};
use crate::channels::settings::{ChannelSettings, MailServer, Provider};
use crate::channels::{Channels, ChannelsError};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_connectors::Secret;
use switchboard_connectors::outcome::{ErrorClass, ProviderError};
use switchboard_core::domain::project::ProjectCommand;
use switchboard_projections::project as model;
use switchboard_schemas::{ChannelId, ChannelKind, Timestamp};
use utoipa::ToSchema;

/// A channel to connect; `kind` names the provider. `api_base` defaults to the provider's
/// real address (tests point it at a local server). No `Debug`: it holds secrets.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewChannel {
    Telegram {
        name: String,
        bot_token: String,
        api_base: Option<String>,
    },
    Whatsapp {
        name: String,
        phone_number_id: String,
        access_token: String,
        app_secret: String,
        verify_token: String,
        api_base: Option<String>,
    },
    Vk {
        name: String,
        group_id: i64,
        access_token: String,
        /// The Callback API's secret key.
        secret: String,
        /// The string a `confirmation` event is answered with.
        confirmation: String,
        api_base: Option<String>,
    },
    Email {
        name: String,
        address: String,
        imap: MailServer,
        smtp: MailServer,
    },
}

impl std::fmt::Debug for NewChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewChannel(<redacted>)")
    }
}

/// One channel as an admin sees it: secrets only masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    #[schema(value_type = uuid::Uuid)]
    pub channel: String,
    /// `telegram`, `whatsapp_cloud`, `vk`, `email`, …
    pub kind: String,
    pub name: String,
    /// `connected`, `failing` (its credentials stopped working: `last_error` says why) or
    /// `unconfigured` (connected before this server kept its settings).
    pub state: &'static str,
    /// The provider's reason of the last failure this node saw.
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<Timestamp>,
    /// What the provider calls the account (bot username, display number, community name).
    pub account: Option<String>,
    /// Where the provider posts to (none for email).
    pub webhook_url: Option<String>,
    pub api_base: Option<String>,
    /// Each secret's last characters, by field.
    pub secrets: BTreeMap<String, String>,
    /// Webhook bodies this node could not read, newest last (at most 20, 4 KiB each).
    pub rejected: Vec<RejectedView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedView {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub reason: String,
    pub body: String,
}

fn default_base(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Telegram => "https://api.telegram.org",
        ChannelKind::WhatsappCloud => "https://graph.facebook.com",
        ChannelKind::Vk => "https://api.vk.com",
        _ => "",
    }
}

/// The path segment of a kind's webhooks.
pub fn webhook_kind(kind: ChannelKind) -> Option<&'static str> {
    match kind {
        ChannelKind::Telegram => Some("telegram"),
        ChannelKind::WhatsappCloud => Some("whatsapp"),
        ChannelKind::Vk => Some("vk"),
        _ => None,
    }
}

pub(super) fn required(field: &str, value: &str) -> Result<(), AppError> {
    if value.trim().is_empty() {
        return Err(AppError::bad_request(field, format!("{field} is required")));
    }
    if value.len() > 4096 {
        return Err(AppError::bad_request(field, format!("{field} is too long")));
    }
    Ok(())
}

fn api_base(given: Option<String>, kind: ChannelKind) -> Result<String, AppError> {
    http_base(
        "api_base",
        given.unwrap_or_else(|| default_base(kind).to_owned()),
    )
}

/// A provider's base URL (http or https, no trailing slash), or a 400 naming `field`.
pub(super) fn http_base(field: &str, base: String) -> Result<String, AppError> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.contains(char::is_whitespace) && base.len() <= 2048 =>
        {
            Ok(base.trim_end_matches('/').to_owned())
        }
        _ => Err(AppError::bad_request(
            field,
            "an http:// or https:// URL expected",
        )),
    }
}

fn random_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    crate::credentials::tokens::random_bytes(&mut bytes)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(hex::encode(bytes))
}

impl NewChannel {
    /// The name, the kind and the settings to seal, every field checked.
    fn settings(
        self,
        project: switchboard_schemas::ProjectId,
    ) -> Result<(String, ChannelKind, ChannelSettings), AppError> {
        let (name, kind, base, provider) = match self {
            NewChannel::Telegram {
                name,
                bot_token,
                api_base: base,
            } => {
                required("bot_token", &bot_token)?;
                let provider = Provider::Telegram {
                    bot_token,
                    secret_token: random_token()?,
                };
                (name, ChannelKind::Telegram, base, provider)
            }
            NewChannel::Whatsapp {
                name,
                phone_number_id,
                access_token,
                app_secret,
                verify_token,
                api_base: base,
            } => {
                required("phone_number_id", &phone_number_id)?;
                if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(AppError::bad_request(
                        "phone_number_id",
                        "the Phone-Number-ID is digits",
                    ));
                }
                required("access_token", &access_token)?;
                required("app_secret", &app_secret)?;
                required("verify_token", &verify_token)?;
                let provider = Provider::Whatsapp {
                    phone_number_id,
                    access_token,
                    app_secret,
                    verify_token,
                };
                (name, ChannelKind::WhatsappCloud, base, provider)
            }
            NewChannel::Vk {
                name,
                group_id,
                access_token,
                secret,
                confirmation,
                api_base: base,
            } => {
                if group_id <= 0 {
                    return Err(AppError::bad_request(
                        "group_id",
                        "a community id is positive",
                    ));
                }
                required("access_token", &access_token)?;
                required("secret", &secret)?;
                required("confirmation", &confirmation)?;
                let provider = Provider::Vk {
                    group_id,
                    access_token,
                    secret,
                    confirmation,
                };
                (name, ChannelKind::Vk, base, provider)
            }
            NewChannel::Email {
                name,
                address,
                imap,
                smtp,
            } => {
                required("address", &address)?;
                if !address.contains('@') {
                    return Err(AppError::bad_request(
                        "address",
                        "an email address expected",
                    ));
                }
                for (side, server) in [("imap", &imap), ("smtp", &smtp)] {
                    required(&format!("{side}.host"), &server.host)?;
                    if server.port == 0 {
                        return Err(AppError::bad_request(
                            format!("{side}.port"),
                            "a port expected",
                        ));
                    }
                }
                required("imap.username", &imap.username)?;
                required("imap.password", &imap.password)?;
                let provider = Provider::Email {
                    address,
                    imap,
                    smtp,
                };
                let base = String::new();
                let settings = ChannelSettings {
                    project,
                    api_base: base,
                    account: String::new(),
                    provider,
                };
                return Ok((name, ChannelKind::Email, settings));
            }
        };
        let settings = ChannelSettings {
            project,
            api_base: api_base(base, kind)?,
            account: String::new(),
            provider,
        };
        Ok((name, kind, settings))
    }
}

/// The channels this server runs; 503 when it runs none.
pub(super) fn channels_of(state: &AppState) -> Result<&Channels, AppError> {
    state
        .channels
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("this server runs no channels".to_owned()))
}

impl From<ChannelsError> for AppError {
    fn from(error: ChannelsError) -> Self {
        match error {
            ChannelsError::Credentials(e) => e.into(),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// A provider's refusal of the credentials as a 400 naming the field it is about.
fn provider_refused(kind: ChannelKind, error: &ProviderError) -> AppError {
    let field = match (kind, error.class) {
        (_, ErrorClass::Transient) => "api_base",
        (ChannelKind::Telegram, _) => "bot_token",
        (ChannelKind::Email, _) => "imap",
        _ => "access_token",
    };
    AppError::BadRequest {
        code: "provider_refused",
        message: format!("the provider refused the channel: {}", error.detail),
        field: Some(field.to_owned()),
    }
}

/// Checks the credentials with the provider and sets up its side; the account's name.
async fn set_up(
    channels: &Channels,
    channel: ChannelId,
    settings: &ChannelSettings,
) -> Result<String, ProviderError> {
    use switchboard_connectors::setup;
    let http = channels.http();
    let base = &settings.api_base;
    match &settings.provider {
        Provider::Telegram {
            bot_token,
            secret_token,
        } => {
            let url = channels.webhook_url("telegram", channel);
            let token = Secret::new(bot_token.clone());
            let secret = Secret::new(secret_token.clone());
            setup::telegram(http, base, &token, &url, &secret).await
        }
        Provider::Whatsapp {
            phone_number_id,
            access_token,
            ..
        } => {
            let token = Secret::new(access_token.clone());
            setup::whatsapp(http, base, &token, phone_number_id).await
        }
        Provider::Vk {
            group_id,
            access_token,
            ..
        } => setup::vk(http, base, &Secret::new(access_token.clone()), *group_id).await,
        Provider::Email { address, .. } => {
            let Some(email) = settings.email() else {
                return Ok(address.clone());
            };
            let refused = |detail: String| ProviderError {
                class: ErrorClass::Permanent,
                code: 0,
                detail,
            };
            let mut fetcher =
                switchboard_connectors::email::imap::ImapFetcher::connect(&email.imap)
                    .await
                    .map_err(|e| refused(e.to_string()))?;
            // The mailbox is read from here on: mail already in it is not imported.
            let cursor = fetcher
                .cursor_at_end()
                .await
                .map_err(|e| refused(e.to_string()))?;
            let _ = fetcher.logout().await;
            if let Some(mailboxes) = channels.mailboxes() {
                mailboxes
                    .start_at(channel, &cursor)
                    .await
                    .map_err(|e| refused(e.to_string()))?;
            }
            Ok(address.clone())
        }
    }
}

fn view(
    channels: &Channels,
    info: model::ChannelInfo,
    settings: Option<&Arc<ChannelSettings>>,
) -> ChannelView {
    let health = channels.health(info.channel);
    let (last_error_at, last_error) = health
        .last_error
        .map_or((None, None), |(at, e)| (Some(at), Some(e)));
    let state = match (settings, &last_error) {
        (None, _) => "unconfigured",
        (Some(_), Some(_)) => "failing",
        (Some(_), None) => "connected",
    };
    let webhook_url = settings
        .and_then(|s| webhook_kind(s.kind()))
        .map(|kind| channels.webhook_url(kind, info.channel));
    ChannelView {
        channel: info.channel.to_string(),
        kind: info.kind,
        name: info.name,
        state,
        last_error,
        last_error_at,
        account: settings.map(|s| s.account.clone()),
        webhook_url,
        api_base: settings
            .map(|s| s.api_base.clone())
            .filter(|b| !b.is_empty()),
        secrets: settings
            .map(|s| {
                s.masked()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            })
            .unwrap_or_default(),
        rejected: channels
            .rejected(info.channel)
            .into_iter()
            .map(|r| RejectedView {
                at: r.at,
                reason: r.reason,
                body: r.body,
            })
            .collect(),
    }
}

/// Connect a channel.
#[utoipa::path(
    post,
    path = "/v1/channels",
    tag = "channels",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key connects the same channel again and appends nothing"),
    ),
    request_body = NewChannel,
    responses(
        (status = OK, body = ChannelView),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "a field is invalid, or the provider refused the credentials (`provider_refused`); `field` names it"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn connect(
    State(state): State<AppState>,
    Admin(caller): Admin,
    id: CommandId,
    Json(body): Json<NewChannel>,
) -> Result<Json<ChannelView>, AppError> {
    let channels = channels_of(&state)?;
    let (name, kind, mut settings) = body.settings(caller.project)?;
    let channel = ChannelId::from_uuid(id.derived(1));
    // Stored before the provider is told: its first webhook may come at once.
    channels.store(channel, settings.clone()).await?;
    match set_up(channels, channel, &settings).await {
        Ok(account) => settings.account = account,
        Err(error) => {
            channels.remove(channel).await?;
            return Err(provider_refused(kind, &error));
        }
    }
    channels.store(channel, settings.clone()).await?;
    let command = ProjectCommand::ConnectChannel {
        channel,
        kind,
        name: name.clone(),
    };
    if let Err(error) = state
        .commands
        .project(caller.project, command, id.meta(caller.operator))
        .await
    {
        channels.remove(channel).await?;
        return Err(error.into());
    }
    channels.report(channel, Ok(()));
    if let (ChannelKind::Email, Some(mailboxes)) = (kind, channels.mailboxes()) {
        mailboxes.start(channels, channel).await;
    }
    let info = model::ChannelInfo {
        channel,
        kind: kind.as_str().to_owned(),
        name,
        connected: true,
    };
    Ok(Json(view(channels, info, Some(&Arc::new(settings)))))
}

/// The project's connected channels, each with its state.
#[utoipa::path(
    get,
    path = "/v1/channels",
    operation_id = "list_channels",
    tag = "channels",
    params(MinSeqParam),
    responses(
        (status = OK, body = Vec<ChannelView>),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "`min_seq` past the end of the log"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn list(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
) -> Result<Json<Vec<ChannelView>>, AppError> {
    let channels = channels_of(&state)?;
    let project = caller.project;
    let infos = state
        .readers(Kind::Project)?
        .query(move |conn| model::channels(conn, project))
        .await?;
    let mut views = Vec::new();
    for info in infos.into_iter().filter(|c| c.connected) {
        let settings = channels
            .get(info.channel)
            .await?
            .filter(|s| s.project == project);
        views.push(view(channels, info, settings.as_ref()));
    }
    Ok(Json(views))
}

/// Disconnect a channel: its settings are deleted; its dialogs and messages stay. A channel
/// connected before this server kept settings (`unconfigured`) is disconnected all the same.
#[utoipa::path(
    delete,
    path = "/v1/channels/{channel}",
    tag = "channels",
    params(("channel" = uuid::Uuid, Path)),
    responses(
        (status = OK, body = CommandAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn disconnect(
    State(state): State<AppState>,
    Admin(caller): Admin,
    id: CommandId,
    Path(channel): Path<String>,
) -> Result<Json<CommandAnswer>, AppError> {
    let channels = channels_of(&state)?;
    let channel = super::extract::channel_id(&channel)?;
    // A channel connected before this server kept its settings (`unconfigured`) has none
    // here: the project's own state decides, as for any other (disconnecting a channel the
    // project does not have connected changes nothing).
    let configured = match channels.get(channel).await? {
        Some(settings) if settings.project == caller.project => true,
        Some(_) => return Err(AppError::NotFound("no such channel".to_owned())),
        None => false,
    };
    let command = ProjectCommand::DisconnectChannel { channel };
    let ack = state
        .commands
        .project(caller.project, command, id.meta(caller.operator))
        .await?;
    if !configured && ack.events == 0 && !ack.duplicate {
        return Err(AppError::NotFound("no such channel".to_owned()));
    }
    channels.remove(channel).await?;
    if let Some(mailboxes) = channels.mailboxes() {
        mailboxes.stop(channel).await;
    }
    Ok(Json(CommandAnswer::from(ack)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_secret_token_is_what_telegram_accepts_and_new_each_time() {
        let token = super::random_token().unwrap();
        // Telegram: 1–256 characters of A-Z, a-z, 0-9, _ and -.
        assert!((1..=256).contains(&token.len()));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        assert_ne!(token, super::random_token().unwrap());
    }
}
