//! What the delivery worker knows of each channel: its provider, where its API is, and its
//! credentials. Filled by the caller (tests with the local provider servers' addresses), or
//! looked up at each use through a [`ChannelResolver`] (the gateway reads its credential
//! store, which every node sees, so a channel connected on another node is found too). Clones
//! share one table: a channel connected or removed while the worker runs is seen at its next
//! message. Tokens are [`Secret`]s and never formatted.

use crate::Secret;
use crate::email::smtp::SmtpSender;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use switchboard_schemas::{ChannelId, ChannelKind};

/// One channel's provider settings.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub kind: ChannelKind,
    /// The provider's base URL without a trailing slash: `https://api.telegram.org`,
    /// `https://graph.facebook.com`, `https://api.vk.com`.
    pub api_base: String,
    /// The bot token (Telegram), the access token (WhatsApp, VK).
    pub token: Secret,
    /// WhatsApp: the business number's Phone-Number-ID the messages go from.
    pub phone_number_id: Option<String>,
    /// Email: the channel's SMTP sender (`kind` is `Email`; `api_base` and `token` unused).
    pub smtp: Option<Arc<SmtpSender>>,
}

/// Finds the settings of a channel the table does not hold (`None`: no such channel).
pub trait ChannelResolver: Send + Sync + std::fmt::Debug {
    fn resolve(&self, channel: ChannelId) -> BoxFuture<'_, Option<ChannelConfig>>;

    /// What a send found of the channel's credentials: `Ok` a message went out, `Err` the
    /// provider refused them (a revoked token, no rights), with its reason.
    fn report(&self, _channel: ChannelId, _outcome: Result<(), &str>) {}
}

/// Channel id → its settings.
#[derive(Debug, Clone, Default)]
pub struct ChannelDirectory {
    channels: Arc<RwLock<HashMap<ChannelId, ChannelConfig>>>,
    resolver: Option<Arc<dyn ChannelResolver>>,
}

impl ChannelDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory that asks `resolver` for channels it does not hold yet.
    pub fn with_resolver(resolver: Arc<dyn ChannelResolver>) -> Self {
        Self {
            channels: Arc::default(),
            resolver: Some(resolver),
        }
    }

    pub fn insert(&self, channel: ChannelId, config: ChannelConfig) {
        let mut channels = self.channels.write().unwrap_or_else(|p| p.into_inner());
        channels.insert(channel, config);
    }

    /// Forgets a channel (disconnected, or its settings changed: the resolver is asked again).
    pub fn remove(&self, channel: ChannelId) {
        let mut channels = self.channels.write().unwrap_or_else(|p| p.into_inner());
        channels.remove(&channel);
    }

    /// The settings held for `channel`, without asking the resolver.
    pub fn get(&self, channel: ChannelId) -> Option<ChannelConfig> {
        let channels = self.channels.read().unwrap_or_else(|p| p.into_inner());
        channels.get(&channel).cloned()
    }

    /// Tells the resolver what a send found of the channel's credentials.
    pub fn report(&self, channel: ChannelId, outcome: Result<(), &str>) {
        if let Some(resolver) = &self.resolver {
            resolver.report(channel, outcome);
        }
    }

    /// The settings of `channel`: held, or found by the resolver (asked each time: it keeps
    /// its own cache, and knows when a channel went away).
    pub async fn lookup(&self, channel: ChannelId) -> Option<ChannelConfig> {
        if let Some(config) = self.get(channel) {
            return Some(config);
        }
        self.resolver.as_ref()?.resolve(channel).await
    }
}
