//! Delivery on a JetStream log shared by several nodes (`serve --nats`): every node's worker
//! pulls from one durable consumer of the dialog subjects, so each log message goes to one
//! worker at a time. A message holding queued messages is acknowledged once all their outcomes
//! are appended; while one is parked (a provider's retry-after) the worker tells the server it
//! is still at work (`+WIP`) so that it is not given to another. A worker that dies leaves its
//! messages unacknowledged: after `ack_wait` the server gives them to another worker, which
//! sends a message again only if the log has no outcome for it, as a possibly repeated send
//! (VK drops it by `random_id`; elsewhere it is marked [`super::POSSIBLY_TWICE`] first).
//!
//! Rate limits are each node's own: with N nodes, give each 1/N of the channel's rate.

use super::identities::{Identities, has_outcome};
use super::job::{Done, Job};
use super::worker::{ChatKey, DeliveryError, Shared, route, sends_of};
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::log::{EventLog, LogError, Subject};
use switchboard_schemas::wire::{TYPE_HEADER, VERSION_HEADER};
use switchboard_schemas::*;
use tokio::sync::mpsc;

/// The durable consumer the workers of all nodes share.
#[derive(Debug, Clone)]
pub struct SharedConsumer {
    pub client: async_nats::Client,
    /// The log's stream (`SB` by default).
    pub stream: String,
    /// The consumer's durable name; the same on every node.
    pub durable: String,
    /// How long a worker has to acknowledge a message (or say it is still at work) before the
    /// server gives it to another worker.
    pub ack_wait: Duration,
}

impl SharedConsumer {
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            client,
            stream: "SB".into(),
            durable: "sb-delivery".into(),
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// Acknowledges one JetStream message once each of its queued messages is finished, and says
/// `+WIP` meanwhile.
#[derive(Debug)]
pub(crate) struct AckOnce {
    remaining: AtomicU32,
    client: async_nats::Client,
    reply: Option<async_nats::Subject>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl AckOnce {
    fn new(
        count: u32,
        client: async_nats::Client,
        reply: Option<async_nats::Subject>,
        every: Duration,
    ) -> Arc<Self> {
        let ack = Arc::new(Self {
            remaining: AtomicU32::new(count),
            client: client.clone(),
            reply: reply.clone(),
            ticker: Mutex::new(None),
        });
        if let Some(reply) = reply {
            let ticker = tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let _ = client.publish(reply.clone(), "+WIP".into()).await;
                }
            });
            *ack.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(ticker);
        }
        ack
    }

    pub(crate) fn one_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if let Some(ticker) = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            ticker.abort();
        }
        if let Some(reply) = self.reply.clone() {
            let client = self.client.clone();
            tokio::spawn(async move {
                let _ = client.publish(reply, "+ACK".into()).await;
            });
        }
    }
}

fn unavailable(what: &str) -> impl Fn(String) -> DeliveryError + '_ {
    move |e| DeliveryError::Log(LogError::Unavailable(format!("{what}: {e}")))
}

/// The shared consumer's messages (the consumer created when missing), and the log's end when
/// they were opened (a consumer created now with `start_after` begins after that sequence).
pub(crate) async fn open<L: EventLog>(
    settings: &SharedConsumer,
    options: &super::worker::DeliveryOptions,
    log: &L,
) -> Result<(pull::Stream, u64), DeliveryError> {
    let context = jetstream::new(settings.client.clone());
    let stream = context
        .get_stream(&settings.stream)
        .await
        .map_err(|e| unavailable("the stream")(e.to_string()))?;
    let config = pull::Config {
        durable_name: Some(settings.durable.clone()),
        filter_subject: "sb.*.dialog.*".into(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        deliver_policy: match options.start_after {
            Some(seq) => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
            None => DeliverPolicy::All,
        },
        max_ack_pending: i64::try_from(options.max_pending).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let consumer: pull::Stream = stream
        .get_or_create_consumer::<pull::Config>(&settings.durable, config)
        .await
        .map_err(|e| unavailable("the consumer")(e.to_string()))?
        .messages()
        .await
        .map_err(|e| unavailable("the consumer's messages")(e.to_string()))?;
    // Messages up to here may have outcomes from before this worker: checked in the log.
    let started_at = log.last_seq().await?;
    Ok((consumer, started_at))
}

pub(crate) async fn run<L: EventLog>(
    shared: Arc<Shared<L>>,
    settings: SharedConsumer,
    mut messages: pull::Stream,
    started_at: u64,
) -> Result<(), DeliveryError> {
    let log = shared.service.log().clone();
    let mut identities = Identities::default();
    let mut chats: HashMap<ChatKey, mpsc::UnboundedSender<Job>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let message = tokio::select! {
            message = messages.next() => message,
            _ = tick.tick() => {
                chats.retain(|_, queue| !queue.is_closed());
                continue;
            }
        };
        let Some(message) = message else { break };
        let message = message.map_err(|e| unavailable("the consumer")(e.to_string()))?;
        let (seq, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(e) => return Err(unavailable("a message's metadata")(e.to_string())),
        };
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let batch = EncodedBatch {
            types: header(TYPE_HEADER),
            versions: header(VERSION_HEADER),
            body: message.payload.clone(),
        };
        let reply = message.reply.clone();
        let mut jobs = Vec::new();
        if let Ok(subject) = Subject::parse(message.subject.as_str()) {
            for asked in sends_of(&log, seq, &batch).await? {
                let again = delivered > 1;
                if (again || seq <= started_at)
                    && has_outcome(&log, &subject, seq, asked.queued.message).await?
                {
                    continue;
                }
                let to = identities
                    .recipient(&log, asked.project, asked.dialog, asked.queued.channel, seq)
                    .await?;
                jobs.push((asked, to, again));
            }
        }
        if jobs.is_empty() {
            if let Some(reply) = reply {
                let _ = settings.client.publish(reply, "+ACK".into()).await;
            }
            continue;
        }
        let count = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
        let ack = AckOnce::new(count, settings.client.clone(), reply, settings.ack_wait / 3);
        for (asked, to, again) in jobs {
            let job = Job {
                done: Done::Ack(Arc::clone(&ack)),
                project: asked.project,
                dialog: asked.dialog,
                to,
                // Given again: another worker may have begun it; its outcome is unknown.
                begun: again.then_some(0),
                queued: asked.queued,
                resent_at: asked.resent_at,
            };
            route(&shared, &mut chats, job);
        }
    }
    Ok(())
}
