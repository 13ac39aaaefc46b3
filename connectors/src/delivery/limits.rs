//! Rate limits per chat and per channel (a Telegram bot, a WhatsApp number, a VK community),
//! each provider's own (F11.3): a call waits until both allow it. Waiting holds only the chat's
//! own queue: other chats go on.
//!
//! The channel's limit is a GCRA limiter (`governor`) without bursts; the chat's is kept by the
//! chat's own task as the time its next call may go, counted from when the last one was
//! answered: the provider had it by then, so two calls of a chat reach the provider at least
//! the interval apart whatever delayed the first on its way (a wait for a call slot, a loaded
//! machine, the network). Counted from when a call went, a first call that arrived late and a
//! second on time came closer together than the interval.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use switchboard_schemas::{ChannelId, ChannelKind};

/// Calls per second allowed to one chat and to one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_chat: NonZeroU32,
    pub per_channel: NonZeroU32,
}

impl Rate {
    /// `None` when either is zero.
    pub fn new(per_chat: u32, per_channel: u32) -> Option<Self> {
        Some(Self {
            per_chat: NonZeroU32::new(per_chat)?,
            per_channel: NonZeroU32::new(per_channel)?,
        })
    }

    /// The provider's documented limits: Telegram 1 message/s per chat and 30/s per bot;
    /// WhatsApp Cloud 80 messages/s per business number (the pair rate, about one per chat
    /// every few seconds, is answered 131056 and retried); VK 20 calls/s per community token.
    pub fn documented(kind: ChannelKind) -> Self {
        let (chat, channel) = match kind {
            ChannelKind::Telegram => (1, 30),
            ChannelKind::WhatsappCloud => (1, 80),
            ChannelKind::Vk => (1, 20),
            _ => (1, 10),
        };
        Self::new(chat, channel).unwrap_or(Self {
            per_chat: NonZeroU32::MIN,
            per_channel: NonZeroU32::MIN,
        })
    }
}

struct Limiters {
    chat_interval: Duration,
    channel: DefaultKeyedRateLimiter<ChannelId>,
}

/// The limiters of every provider kind.
pub struct RateLimits {
    kinds: HashMap<ChannelKind, Limiters>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RateLimits {
    /// `rate` for each kind that has one; the documented rates for the others.
    pub fn new(rates: &[(ChannelKind, Rate)]) -> Self {
        use ChannelKind::*;
        let mut kinds = HashMap::new();
        for kind in [
            Telegram,
            WhatsappCloud,
            WhatsappQr,
            Vk,
            Email,
            Facebook,
            Instagram,
            Other,
        ] {
            let rate = rates
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or_else(|| Rate::documented(kind), |(_, rate)| *rate);
            kinds.insert(
                kind,
                Limiters {
                    chat_interval: Duration::from_secs(1) / rate.per_chat.get(),
                    channel: RateLimiter::keyed(
                        Quota::per_second(rate.per_channel).allow_burst(NonZeroU32::MIN),
                    ),
                },
            );
        }
        Self { kinds }
    }

    /// Waits until the chat's next call may go (`next`, kept by the chat's task) and the
    /// channel allows one more.
    pub(crate) async fn wait(&self, kind: ChannelKind, channel: ChannelId, next: &Instant) {
        let Some(limiters) = self.kinds.get(&kind) else {
            return;
        };
        tokio::time::sleep_until((*next).into()).await;
        limiters.channel.until_key_ready(&channel).await;
    }

    /// A call of the chat was answered (or gave up): its next call may go the chat's interval
    /// from now.
    pub(crate) fn answered(&self, kind: ChannelKind, next: &mut Instant) {
        if let Some(limiters) = self.kinds.get(&kind) {
            *next = Instant::now() + limiters.chat_interval;
        }
    }
}
