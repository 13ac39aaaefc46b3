//! Connected channels (issue 17) as `serve` runs them: each channel's settings sealed in the
//! credential store (which every node sees), a cache of them for the webhook routes, the
//! delivery worker's directory filled from the same records, and each channel's health as this
//! node last saw it (the provider's reason when its credentials stopped working).
//!
//! Submodules: [`settings`] (the sealed record), [`mailboxes`] (email channels' IMAP loops). The provider calls are `connectors::setup`;
//! the routes are `api::channels` and `api::webhooks`.
//!
//! Invariant: a channel's secrets exist only in the credential store, sealed, and in this
//! process's memory; nothing here formats one (`ChannelSettings`' `Debug` shows the kind).

pub mod mailboxes;
pub mod settings;

use crate::credentials::{CredentialError, CredentialStore};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use settings::ChannelSettings;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use switchboard_connectors::delivery::{
    ChannelConfig, ChannelDirectory, ChannelResolver, SentIndex,
};
use switchboard_connectors::inbound::InboundStatus;
use switchboard_schemas::{ChannelId, DialogId, MessageId, Timestamp};

/// How long a cached channel record is used before it is read again (a channel disconnected
/// on another node stops being served here within this time).
const CACHE_FOR: Duration = Duration::from_secs(5);
/// Refused webhook bodies kept per channel, and how much of each.
const REJECTED_KEPT: usize = 20;
const REJECTED_BYTES: usize = 4096;

/// A channel's state as this node saw it last.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The provider's reason of the last failure, and when; cleared by a success.
    pub last_error: Option<(Timestamp, String)>,
}

/// A webhook body that could not be read, kept for an admin to diagnose.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub at: Timestamp,
    pub reason: String,
    /// The body's first bytes, as text (lossy).
    pub body: String,
}

/// When a channel's record was read, and what it was.
type Cached = (Instant, Option<Arc<ChannelSettings>>);

#[derive(Debug)]
struct Inner {
    credentials: CredentialStore,
    http: reqwest::Client,
    public_url: String,
    /// Channel → when it was read, and what (`None`: no such channel, also kept a while).
    cache: Mutex<HashMap<ChannelId, Cached>>,
    health: Mutex<HashMap<ChannelId, Health>>,
    rejected: Mutex<HashMap<ChannelId, VecDeque<Rejected>>>,
    /// The in-process delivery worker's sends (statuses that come back by webhook name them).
    sent: OnceLock<Arc<SentIndex>>,
    /// The email channels' mailbox loops (none: email channels are stored but not read).
    mailboxes: OnceLock<mailboxes::Mailboxes>,
}

/// See the module documentation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Channels {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("the stored settings of channel {0} cannot be read")]
    Corrupt(ChannelId),
}

impl Channels {
    /// `public_url`: where the providers reach this server (`https://inbox.example.com`), the
    /// webhooks' base.
    pub fn new(credentials: CredentialStore, public_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                credentials,
                http,
                public_url: public_url.trim_end_matches('/').to_owned(),
                cache: Mutex::default(),
                health: Mutex::default(),
                rejected: Mutex::default(),
                sent: OnceLock::new(),
                mailboxes: OnceLock::new(),
            }),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The URL a provider posts `channel`'s updates to.
    pub fn webhook_url(&self, kind: &str, channel: ChannelId) -> String {
        format!("{}/v1/webhooks/{kind}/{channel}", self.inner.public_url)
    }

    /// Seals and stores a channel's settings (replacing earlier ones).
    pub async fn store(
        &self,
        channel: ChannelId,
        settings: ChannelSettings,
    ) -> Result<(), ChannelsError> {
        let bytes = serde_json::to_vec(&settings).map_err(|_| ChannelsError::Corrupt(channel))?;
        self.inner.credentials.put_secret(channel, &bytes).await?;
        self.inner
            .cache
            .lock()
            .insert(channel, (Instant::now(), Some(Arc::new(settings))));
        Ok(())
    }

    /// Forgets a channel: its sealed settings, its cache entry, its health.
    pub async fn remove(&self, channel: ChannelId) -> Result<(), ChannelsError> {
        self.inner.credentials.delete_secret(channel).await?;
        self.inner.cache.lock().remove(&channel);
        self.inner.health.lock().remove(&channel);
        self.inner.rejected.lock().remove(&channel);
        Ok(())
    }

    /// A channel's settings (`None`: no such channel).
    pub async fn get(
        &self,
        channel: ChannelId,
    ) -> Result<Option<Arc<ChannelSettings>>, ChannelsError> {
        if let Some((at, settings)) = self.inner.cache.lock().get(&channel)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(settings.clone());
        }
        let Some(sealed) = self.inner.credentials.get_secret(channel).await? else {
            self.inner
                .cache
                .lock()
                .insert(channel, (Instant::now(), None));
            return Ok(None);
        };
        let settings: ChannelSettings =
            serde_json::from_slice(sealed.expose()).map_err(|_| ChannelsError::Corrupt(channel))?;
        let settings = Arc::new(settings);
        self.inner
            .cache
            .lock()
            .insert(channel, (Instant::now(), Some(Arc::clone(&settings))));
        Ok(Some(settings))
    }

    pub fn health(&self, channel: ChannelId) -> Health {
        self.inner
            .health
            .lock()
            .get(&channel)
            .cloned()
            .unwrap_or_default()
    }

    /// Records the outcome of a use of the channel's credentials.
    pub fn report(&self, channel: ChannelId, outcome: Result<(), String>) {
        let mut health = self.inner.health.lock();
        let entry = health.entry(channel).or_default();
        entry.last_error = outcome.err().map(|reason| (Timestamp::now(), reason));
    }

    /// Keeps a refused webhook body (capped) for an admin to read.
    pub fn reject(&self, channel: ChannelId, reason: &str, body: &[u8]) {
        let cut = &body[..body.len().min(REJECTED_BYTES)];
        let mut rejected = self.inner.rejected.lock();
        let kept = rejected.entry(channel).or_default();
        if kept.len() == REJECTED_KEPT {
            kept.pop_front();
        }
        kept.push_back(Rejected {
            at: Timestamp::now(),
            reason: reason.to_owned(),
            body: String::from_utf8_lossy(cut).into_owned(),
        });
    }

    pub fn rejected(&self, channel: ChannelId) -> Vec<Rejected> {
        let rejected = self.inner.rejected.lock();
        rejected
            .get(&channel)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Names the in-process delivery worker's record of its sends.
    pub fn set_sent(&self, sent: Arc<SentIndex>) {
        let _ = self.inner.sent.set(sent);
    }

    /// The dialog and our id of a message this node's worker sent, from a status of it.
    pub fn lookup_sent(&self, status: &InboundStatus) -> Option<(DialogId, MessageId)> {
        self.inner.sent.get()?.lookup(status)
    }

    /// Names the mailbox loops email channels are read by.
    pub fn set_mailboxes(&self, mailboxes: mailboxes::Mailboxes) {
        let _ = self.inner.mailboxes.set(mailboxes);
    }

    pub fn mailboxes(&self) -> Option<&mailboxes::Mailboxes> {
        self.inner.mailboxes.get()
    }

    /// The delivery worker's directory: channels found through [`Channels::get`].
    pub fn directory(&self) -> ChannelDirectory {
        ChannelDirectory::with_resolver(Arc::new(self.clone()))
    }
}

impl ChannelResolver for Channels {
    fn resolve(&self, channel: ChannelId) -> BoxFuture<'_, Option<ChannelConfig>> {
        Box::pin(async move {
            match self.get(channel).await {
                Ok(settings) => settings.and_then(|s| s.delivery()),
                Err(error) => {
                    tracing::warn!(%channel, %error, "a channel's settings cannot be read");
                    None
                }
            }
        })
    }

    fn report(&self, channel: ChannelId, outcome: Result<(), &str>) {
        Channels::report(self, channel, outcome.map_err(str::to_owned));
    }
}
