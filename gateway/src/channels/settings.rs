//! What a connected channel needs to work, as sealed in the credential store (one record per
//! channel, the channel id as associated data): its project, its provider's API base and the
//! provider's credentials. Never an event, never formatted: `Debug` shows the kind only, and an
//! answer shows [`masked`] forms.

use serde::{Deserialize, Serialize};
use std::fmt;
use switchboard_connectors::Secret;
use switchboard_connectors::delivery::ChannelConfig;
use switchboard_connectors::email::smtp::SmtpSender;
use switchboard_connectors::email::{EmailSettings, ImapSettings, Security, SmtpSettings};
use switchboard_connectors::vk::VkConfig;
use switchboard_schemas::{ChannelKind, ProjectId};
use utoipa::ToSchema;

/// One channel's sealed record.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChannelSettings {
    pub project: ProjectId,
    /// The provider's API base URL (tests point it at a local server).
    pub api_base: String,
    /// What the provider calls the account (the bot's username, the display number, …).
    pub account: String,
    pub provider: Provider,
}

impl fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSettings")
            .field("project", &self.project)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Provider(<redacted>)")
    }
}

impl fmt::Debug for MailServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The provider's credentials of one channel.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provider {
    Telegram {
        bot_token: String,
        /// Generated at connection; Telegram sends it back with every update.
        secret_token: String,
    },
    Whatsapp {
        phone_number_id: String,
        access_token: String,
        app_secret: String,
        verify_token: String,
    },
    Vk {
        group_id: i64,
        access_token: String,
        secret: String,
        confirmation: String,
    },
    Email {
        address: String,
        imap: MailServer,
        smtp: MailServer,
    },
}

/// An IMAP or SMTP server of an email channel, as an admin enters it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    /// `tls` (implicit TLS, the default), `starttls` (SMTP only) or `plain` (a trusted network).
    #[serde(default)]
    pub security: MailSecurity,
    pub username: String,
    pub password: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailSecurity {
    #[default]
    Tls,
    Starttls,
    Plain,
}

impl From<MailSecurity> for Security {
    fn from(security: MailSecurity) -> Self {
        match security {
            MailSecurity::Tls => Security::ImplicitTls,
            MailSecurity::Starttls => Security::StartTls,
            MailSecurity::Plain => Security::Plain,
        }
    }
}

/// `…` and the last 4 characters of a secret of 12 or more, else `…` alone.
pub fn masked(secret: &str) -> String {
    let count = secret.chars().count();
    if count < 12 {
        return "…".to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("…{tail}")
}

impl ChannelSettings {
    pub fn kind(&self) -> ChannelKind {
        match self.provider {
            Provider::Telegram { .. } => ChannelKind::Telegram,
            Provider::Whatsapp { .. } => ChannelKind::WhatsappCloud,
            Provider::Vk { .. } => ChannelKind::Vk,
            Provider::Email { .. } => ChannelKind::Email,
        }
    }

    /// The secrets' masked forms, by field name, for answers.
    pub fn masked(&self) -> Vec<(&'static str, String)> {
        match &self.provider {
            Provider::Telegram { bot_token, .. } => vec![("bot_token", masked(bot_token))],
            Provider::Whatsapp {
                access_token,
                app_secret,
                verify_token,
                ..
            } => vec![
                ("access_token", masked(access_token)),
                ("app_secret", masked(app_secret)),
                ("verify_token", masked(verify_token)),
            ],
            Provider::Vk {
                access_token,
                secret,
                ..
            } => vec![
                ("access_token", masked(access_token)),
                ("secret", masked(secret)),
            ],
            Provider::Email { imap, smtp, .. } => vec![
                ("imap.password", masked(&imap.password)),
                ("smtp.password", masked(&smtp.password)),
            ],
        }
    }

    /// What the delivery worker needs (`None`: an email channel whose SMTP settings lettre
    /// refuses).
    pub fn delivery(&self) -> Option<ChannelConfig> {
        let (token, phone_number_id) = match &self.provider {
            Provider::Telegram { bot_token, .. } => (bot_token, None),
            Provider::Whatsapp {
                access_token,
                phone_number_id,
                ..
            } => (access_token, Some(phone_number_id.clone())),
            Provider::Vk { access_token, .. } => (access_token, None),
            Provider::Email { .. } => {
                let sender = SmtpSender::new(&self.email()?).ok()?;
                return Some(ChannelConfig {
                    kind: ChannelKind::Email,
                    api_base: String::new(),
                    token: Secret::new(String::new()),
                    phone_number_id: None,
                    smtp: Some(std::sync::Arc::new(sender)),
                });
            }
        };
        Some(ChannelConfig {
            kind: self.kind(),
            api_base: self.api_base.clone(),
            token: Secret::new(token.clone()),
            phone_number_id,
            smtp: None,
        })
    }

    /// VK's Callback API settings.
    pub fn vk(&self) -> Option<VkConfig> {
        match &self.provider {
            Provider::Vk {
                group_id,
                secret,
                confirmation,
                ..
            } => Some(VkConfig {
                group_id: *group_id,
                secret: Secret::new(secret.clone()),
                confirmation: confirmation.clone(),
            }),
            _ => None,
        }
    }

    /// An email channel's servers.
    pub fn email(&self) -> Option<EmailSettings> {
        let Provider::Email {
            address,
            imap,
            smtp,
        } = &self.provider
        else {
            return None;
        };
        let imap_settings = ImapSettings::new(
            imap.host.clone(),
            imap.port,
            imap.security.into(),
            imap.username.clone(),
            Secret::new(imap.password.clone()),
        );
        let credentials = (!smtp.username.is_empty())
            .then(|| (smtp.username.clone(), Secret::new(smtp.password.clone())));
        Some(EmailSettings {
            address: address.clone(),
            display_name: None,
            imap: imap_settings,
            smtp: SmtpSettings {
                host: smtp.host.clone(),
                port: smtp.port,
                security: smtp.security.into(),
                credentials,
                timeout: std::time::Duration::from_secs(30),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_masked_and_never_in_debug() {
        let settings = ChannelSettings {
            project: ProjectId::new(),
            api_base: "https://api.telegram.org".to_owned(),
            account: "bot".to_owned(),
            provider: Provider::Telegram {
                bot_token: "123456:very-secret-token-wxyz".to_owned(),
                secret_token: "another-secret-value".to_owned(),
            },
        };
        let shown = format!("{settings:?} {settings:#?}");
        assert!(!shown.contains("very-secret") && !shown.contains("another-secret"));
        assert_eq!(settings.masked(), vec![("bot_token", "…wxyz".to_owned())]);
        assert_eq!(masked("short"), "…");
    }
}
