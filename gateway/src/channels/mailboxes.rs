//! The mailbox loops of email channels (`connectors::email::mailbox`) as `serve` runs them: one
//! per connected email channel whose settings this node can read, started when the channel is
//! connected here or found connected in the project read model (checked every few seconds, so a
//! channel connected on another node or before a restart gets its loop), stopped when its
//! settings are gone (disconnected) and at shutdown. With several nodes each runs the loop:
//! what two nodes record twice is one append (the command ids derive from the Message-ID).
//!
//! Each channel has its own state file `<data>/channels/<channel>.sqlite` (the IMAP cursor, the
//! mail threads); attachments go to the store `serve` opened.

use super::Channels;
use crate::readmodels::{Kind, ReadModels};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use switchboard_connectors::attachments::AttachmentStore;
use switchboard_connectors::email::imap::ImapCursor;
use switchboard_connectors::email::inbound::{ATTACHMENT_MAX_BYTES, MailSink};
use switchboard_connectors::email::mailbox::{self, CURSOR_KEY, MailboxOptions};
use switchboard_connectors::ingest::ChannelRef;
use switchboard_connectors::state::{ConnectorState, StateError};
use switchboard_core::AnyLog;
use switchboard_core::service::CommandService;
use switchboard_projections::project as model;
use switchboard_schemas::{ChannelId, ChannelKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the read model is checked for email channels without a loop.
const RECONCILE_EVERY: Duration = Duration::from_secs(3);

struct Loop {
    stop: watch::Sender<bool>,
    task: JoinHandle<mailbox::MailboxReport>,
}

/// The running loops.
#[derive(Clone)]
pub struct Mailboxes {
    inner: Arc<Inner>,
}

struct Inner {
    service: CommandService<AnyLog>,
    store: AttachmentStore,
    state_dir: PathBuf,
    loops: Mutex<HashMap<ChannelId, Loop>>,
}

impl std::fmt::Debug for Mailboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailboxes")
            .field("running", &self.inner.loops.lock().len())
            .finish_non_exhaustive()
    }
}

/// A channel's state file.
pub fn state_path(data: &Path, channel: ChannelId) -> PathBuf {
    data.join("channels").join(format!("{channel}.sqlite"))
}

impl Mailboxes {
    pub fn new(service: CommandService<AnyLog>, store: AttachmentStore, data: &Path) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                store,
                state_dir: data.to_owned(),
                loops: Mutex::default(),
            }),
        }
    }

    /// Opens a channel's state file (its directory made when missing).
    pub async fn state(&self, channel: ChannelId) -> Result<ConnectorState, StateError> {
        let path = state_path(&self.inner.state_dir, channel);
        if let Some(parent) = path.parent() {
            let _ = tokio::fs::create_dir_all(parent).await;
        }
        ConnectorState::open(path).await
    }

    /// Saves where a newly connected mailbox starts (its end now), unless a cursor is saved.
    pub async fn start_at(
        &self,
        channel: ChannelId,
        cursor: &ImapCursor,
    ) -> Result<(), StateError> {
        let state = self.state(channel).await?;
        if state.load::<ImapCursor>(CURSOR_KEY).await?.is_none() {
            state.save(CURSOR_KEY, cursor).await?;
        }
        Ok(())
    }

    /// Starts the loop of `channel` unless one runs.
    pub async fn start(&self, channels: &Channels, channel: ChannelId) {
        if self.inner.loops.lock().contains_key(&channel) {
            return;
        }
        let settings = match channels.get(channel).await {
            Ok(Some(settings)) => settings,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%channel, %error, "an email channel's settings cannot be read");
                return;
            }
        };
        let Some(email) = settings.email() else {
            return;
        };
        let state = match self.state(channel).await {
            Ok(state) => state,
            Err(error) => {
                tracing::error!(%channel, %error, "an email channel's state cannot be opened");
                return;
            }
        };
        let sink = MailSink {
            service: self.inner.service.clone(),
            project: settings.project,
            channel: ChannelRef {
                channel,
                kind: ChannelKind::Email,
            },
            state,
            store: self.inner.store.clone(),
            attachment_max: ATTACHMENT_MAX_BYTES,
        };
        let (stop, stopped) = watch::channel(false);
        let mut loops = self.inner.loops.lock();
        if loops.contains_key(&channel) {
            return;
        }
        let task = tokio::spawn(mailbox::run(
            email.imap,
            sink,
            MailboxOptions::default(),
            stopped,
        ));
        tracing::info!(%channel, "mailbox loop started");
        loops.insert(channel, Loop { stop, task });
    }

    /// Stops the loop of `channel` (at its next wait) and waits for it.
    pub async fn stop(&self, channel: ChannelId) {
        let found = self.inner.loops.lock().remove(&channel);
        if let Some(running) = found {
            let _ = running.stop.send(true);
            let _ = running.task.await;
        }
    }

    /// Stops every loop and waits for them.
    pub async fn stop_all(&self) {
        let all: Vec<ChannelId> = self.inner.loops.lock().keys().copied().collect();
        for channel in all {
            self.stop(channel).await;
        }
    }

    /// Keeps one loop per connected email channel until the process ends: started for the ones
    /// the project read model lists, stopped for the ones whose settings are gone.
    pub fn reconcile_forever(
        &self,
        channels: Channels,
        models: Arc<ReadModels<AnyLog>>,
    ) -> JoinHandle<()> {
        let mailboxes = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            loop {
                tick.tick().await;
                let Some(readers) = models.readers(Kind::Project) else {
                    continue;
                };
                let listed = readers
                    .query(|conn| {
                        model::connected_channels_of_kind(conn, ChannelKind::Email.as_str())
                    })
                    .await;
                let Ok(listed) = listed else { continue };
                for (_, channel) in &listed {
                    mailboxes.start(&channels, *channel).await;
                }
                // Stopped once its settings are gone (disconnected here or on another node);
                // not by the listing, which may not show a channel connected a moment ago.
                let running: Vec<ChannelId> =
                    mailboxes.inner.loops.lock().keys().copied().collect();
                for channel in running {
                    if matches!(channels.get(channel).await, Ok(None)) {
                        mailboxes.stop(channel).await;
                    }
                }
            }
        })
    }
}
