//! What the delivery worker knows of each channel: its provider, where its API is, and its
//! credentials. Filled by the gateway from the credential store (and by tests with the local
//! provider servers' addresses); tokens are [`Secret`]s and never formatted.

use crate::Secret;
use std::collections::HashMap;
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
}

/// Channel id → its settings.
#[derive(Debug, Clone, Default)]
pub struct ChannelDirectory {
    channels: HashMap<ChannelId, ChannelConfig>,
}

impl ChannelDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, channel: ChannelId, config: ChannelConfig) {
        self.channels.insert(channel, config);
    }

    pub fn get(&self, channel: ChannelId) -> Option<&ChannelConfig> {
        self.channels.get(&channel)
    }
}
