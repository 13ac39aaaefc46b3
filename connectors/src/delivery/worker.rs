//! [`DeliveryWorker`]: reads `message.queued` from the log (other records are skipped by their
//! `Sb-Type` header, identity events decoded to know each dialog's channel ids), routes each
//! message to its chat's queue (one task per chat: a chat's messages go in order, and a chat
//! parked by a provider's retry-after holds no other chat), and keeps the checkpoint: the
//! sequence before the oldest message whose outcome is not appended yet.

use super::consumer::SharedConsumer;
use super::directory::ChannelDirectory;
use super::identities::{Identities, queued_before, resolved_since};
use super::job::{self, Done, Job};
use super::limits::{Rate, RateLimits};
use super::state::{State, StateError};
use crate::inbound::InboundStatus;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::log::{EventLog, LogError, SubjectFilter};
use switchboard_core::service::{CommandError, CommandService};
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use tokio::sync::{Notify, Semaphore, mpsc};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The worker's own file (checkpoint, sends begun), beside the data.
    pub state_path: PathBuf,
    /// Rates that differ from the providers' documented ones ([`Rate::documented`]).
    pub rates: Vec<(ChannelKind, Rate)>,
    /// How long one call may take before its outcome counts as unknown.
    pub call_timeout: Duration,
    /// Tries of a message on transient errors (5xx, unknown outcomes) before it is failed.
    pub transient_attempts: u32,
    /// The first pause after a transient error; it doubles with each try.
    pub transient_backoff: Duration,
    /// The pause after a rate limit whose answer names no time.
    pub default_retry_after: Duration,
    /// Calls under way at once, over all chats.
    pub max_concurrent_calls: usize,
    /// Messages read ahead of their outcomes; reading waits beyond it.
    pub max_pending: usize,
    /// Where a worker begins that has no checkpoint yet (a new state file), and a shared
    /// consumer created now: `None` at the log's beginning (every queued message without an
    /// outcome goes out), `Some(seq)` after `seq` (`serve` passes the log's end when it
    /// opened it: what was queued before delivery ran in this installation — imported or
    /// generated history — is left as it is).
    pub start_after: Option<u64>,
    /// A message through a channel the directory does not know is left queued (`serve`: a
    /// channel connected without settings this installation keeps, as in a generated
    /// history) rather than failed.
    pub leave_unknown_channels: bool,
    /// Where the files operators uploaded are (`sha256:` storage refs); without it a message
    /// with one fails ("no attachment store").
    pub attachments: Option<crate::attachments::AttachmentStore>,
}

impl DeliveryOptions {
    pub fn new(state_path: PathBuf) -> Self {
        Self {
            state_path,
            rates: Vec::new(),
            call_timeout: Duration::from_secs(30),
            transient_attempts: 6,
            transient_backoff: Duration::from_millis(500),
            default_retry_after: Duration::from_secs(1),
            max_concurrent_calls: 1024,
            max_pending: 100_000,
            start_after: None,
            leave_unknown_channels: false,
            attachments: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the log: {0}")]
    Log(#[from] LogError),
    #[error("recording an outcome: {0}")]
    Command(#[from] CommandError),
    #[error("the outcome of {0} could not be appended after 8 tries")]
    Unrecorded(MessageId),
    #[error("the HTTP client: {0}")]
    Http(String),
}

/// Counts of what the worker did, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub possibly_twice: AtomicU64,
}

/// The sequences of messages read and not yet finished.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pending: BTreeMap<u64, u32>,
    total: usize,
    seen: u64,
}

impl Tracker {
    fn checkpoint(&self) -> u64 {
        self.pending
            .keys()
            .next()
            .map_or(self.seen, |first| first - 1)
    }
}

/// Channel ids of the messages the worker sent → their dialog and message, for delivery
/// statuses that come back by webhook (this run's sends only: a status of an older send is
/// looked up by the gateway's read model).
#[derive(Debug, Default)]
pub struct SentIndex {
    map: Mutex<HashMap<String, (DialogId, MessageId)>>,
}

impl SentIndex {
    pub fn lookup(&self, status: &InboundStatus) -> Option<(DialogId, MessageId)> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&status.external_id).copied()
    }

    /// Most ids kept; past it the index starts again empty.
    const MAX: usize = 1_000_000;

    pub(crate) fn insert(&self, ids: &[String], dialog: DialogId, message: MessageId) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        for id in ids {
            map.insert(id.clone(), (dialog, message));
        }
    }
}

pub(crate) struct Shared<L: EventLog> {
    pub(crate) service: CommandService<L>,
    pub(crate) directory: Arc<ChannelDirectory>,
    pub(crate) limits: RateLimits,
    pub(crate) http: reqwest::Client,
    pub(crate) state: State,
    pub(crate) options: DeliveryOptions,
    pub(crate) calls: Semaphore,
    pub(crate) counters: Arc<Counters>,
    pub(crate) sent: Arc<SentIndex>,
    tracker: Mutex<Tracker>,
    progress: Notify,
}

impl<L: EventLog> Shared<L> {
    /// One message has its outcome appended (or needs none).
    pub(crate) fn finished(&self, done: &Done) {
        match done {
            Done::Seq(seq) => self.finished_seq(*seq),
            Done::Ack(ack) => ack.one_done(),
        }
    }

    fn finished_seq(&self, seq: u64) {
        let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = tracker.pending.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                tracker.pending.remove(&seq);
            }
            tracker.total = tracker.total.saturating_sub(1);
        }
        drop(tracker);
        self.progress.notify_waiters();
    }
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    task: tokio::task::JoinHandle<Result<(), DeliveryError>>,
    pub counters: Arc<Counters>,
    pub sent: Arc<SentIndex>,
}

impl WorkerHandle {
    /// Stops the worker (what is under way is abandoned; its rows in the state file make the
    /// next run send it again as a possibly repeated send).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Waits for the worker to end: only an error ends it.
    pub async fn join(self) -> Result<(), DeliveryError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(DeliveryError::Http(format!("the worker task ended: {e}"))),
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct DeliveryWorker;

impl DeliveryWorker {
    /// Opens the state file and starts reading the log after its checkpoint (one worker per
    /// log: the embedded one).
    pub async fn start<L: EventLog>(
        service: CommandService<L>,
        directory: ChannelDirectory,
        options: DeliveryOptions,
    ) -> Result<WorkerHandle, DeliveryError> {
        Self::start_with(service, directory, options, None).await
    }

    async fn start_with<L: EventLog>(
        service: CommandService<L>,
        directory: ChannelDirectory,
        options: DeliveryOptions,
        consumer: Option<SharedConsumer>,
    ) -> Result<WorkerHandle, DeliveryError> {
        let state = State::open(&options.state_path)?;
        // Where to begin is settled before this returns: a message queued after it is read.
        let opened = match &consumer {
            Some(settings) => Some(super::consumer::open(settings, &options, service.log()).await?),
            None => None,
        };
        let start = match options.start_after {
            Some(seq) if consumer.is_none() && !state.has_checkpoint() => {
                state.set_checkpoint(seq).await?;
                seq
            }
            _ => state.checkpoint(),
        };
        let http = reqwest::Client::builder()
            .timeout(options.call_timeout)
            .pool_max_idle_per_host(options.max_concurrent_calls.max(1))
            .build()
            .map_err(|e| DeliveryError::Http(e.without_url().to_string()))?;
        let counters = Arc::new(Counters::default());
        let sent = Arc::new(SentIndex::default());
        let shared = Arc::new(Shared {
            service,
            directory: Arc::new(directory),
            limits: RateLimits::new(&options.rates),
            http,
            state,
            calls: Semaphore::new(options.max_concurrent_calls.max(1)),
            options,
            counters: Arc::clone(&counters),
            sent: Arc::clone(&sent),
            tracker: Mutex::new(Tracker::default()),
            progress: Notify::new(),
        });
        let task = match (consumer, opened) {
            (Some(consumer), Some((messages, started_at))) => {
                tokio::spawn(super::consumer::run(shared, consumer, messages, started_at))
            }
            _ => tokio::spawn(run(shared, start)),
        };
        Ok(WorkerHandle {
            task,
            counters,
            sent,
        })
    }

    /// Starts a worker on a JetStream log that shares one durable consumer with the workers of
    /// the other nodes (see `consumer`); `options.state_path` is this node's own file.
    pub async fn start_shared<L: EventLog>(
        service: CommandService<L>,
        directory: ChannelDirectory,
        options: DeliveryOptions,
        consumer: SharedConsumer,
    ) -> Result<WorkerHandle, DeliveryError> {
        Self::start_with(service, directory, options, Some(consumer)).await
    }
}

/// The dialog subjects (`sb.<project>.dialog.<dialog>`).
pub(crate) fn dialogs_filter() -> SubjectFilter {
    SubjectFilter::parse("sb.*.dialog.*").unwrap_or_else(|_| SubjectFilter::all())
}

pub(crate) type ChatKey = (ChannelId, String);

async fn run<L: EventLog>(shared: Arc<Shared<L>>, checkpoint: u64) -> Result<(), DeliveryError> {
    let log = shared.service.log().clone();
    let mut begun = shared.state.begun();
    let resolved = resolved_since(&log, checkpoint + 1).await?;
    shared
        .tracker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .seen = checkpoint;
    let mut identities = Identities::default();
    let mut chats: HashMap<ChatKey, mpsc::UnboundedSender<Job>> = HashMap::new();
    let mut tail = log.tail(checkpoint + 1, dialogs_filter());
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut written = checkpoint;
    loop {
        let record = tokio::select! {
            record = tail.next() => record,
            _ = tick.tick() => {
                written = flush(&shared, written).await?;
                chats.retain(|_, queue| !queue.is_closed());
                continue;
            }
        };
        let Some(record) = record else { break };
        let record = record?;
        identities.apply_record(&record);
        for asked in sends_of(&log, record.seq, &record.batch).await? {
            let Asked {
                project,
                dialog,
                queued,
                resent_at,
            } = asked;
            if resolved.contains(queued.message, record.seq) {
                continue;
            }
            let to = identities
                .recipient(&log, project, dialog, queued.channel, record.seq)
                .await?;
            wait_for_room(&shared).await;
            {
                let mut tracker = shared.tracker.lock().unwrap_or_else(|p| p.into_inner());
                *tracker.pending.entry(record.seq).or_default() += 1;
                tracker.total += 1;
            }
            let job = Job {
                done: Done::Seq(record.seq),
                project,
                dialog,
                begun: begun.remove(&queued.message),
                to,
                queued,
                resent_at,
            };
            route(&shared, &mut chats, job);
        }
        let mut tracker = shared.tracker.lock().unwrap_or_else(|p| p.into_inner());
        tracker.seen = tracker.seen.max(record.seq);
    }
    flush(&shared, written).await?;
    Ok(())
}

/// One send a log record asks for: a queued message, or a resent one as it was queued.
pub(crate) struct Asked {
    pub(crate) project: ProjectId,
    pub(crate) dialog: DialogId,
    pub(crate) queued: MessageQueued,
    /// A resend's sequence (the record's), see [`Job::resent_at`].
    pub(crate) resent_at: Option<u64>,
}

/// The sends a record of a dialog (at `seq`) asks for: each queued message, and each resent one
/// (F3.6, F6.5) as it was queued, read from the dialog's events before it; other records ask
/// for none and are not decoded.
pub(crate) async fn sends_of<L: EventLog>(
    log: &L,
    seq: u64,
    batch: &EncodedBatch,
) -> Result<Vec<Asked>, LogError> {
    if !batch.contains_type("message.queued") && !batch.contains_type("message.resent") {
        return Ok(Vec::new());
    }
    let envelopes = decode_batch(batch).unwrap_or_else(|e| {
        tracing::warn!(seq, error = %e, "a queued message cannot be read");
        Vec::new()
    });
    let mut asked = Vec::new();
    for envelope in envelopes {
        let (project, AggregateId::Dialog(dialog)) = (envelope.project, envelope.aggregate) else {
            continue;
        };
        match envelope.payload {
            Event::MessageQueued(queued) => asked.push(Asked {
                project,
                dialog,
                queued,
                resent_at: None,
            }),
            Event::MessageResent(resent) => {
                match queued_before(log, project, dialog, resent.message, seq).await? {
                    Some(queued) => asked.push(Asked {
                        project,
                        dialog,
                        queued,
                        resent_at: Some(seq),
                    }),
                    None => tracing::warn!(
                        seq,
                        message = %resent.message,
                        "a resent message was never queued here: nothing to send"
                    ),
                }
            }
            _ => {}
        }
    }
    Ok(asked)
}

pub(crate) async fn wait_for_room<L: EventLog>(shared: &Shared<L>) {
    loop {
        let notified = shared.progress.notified();
        let total = shared
            .tracker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .total;
        if total < shared.options.max_pending {
            return;
        }
        notified.await;
    }
}

/// Hands the job to its chat's queue, starting the chat's task when it has none (or its task
/// has just ended idle).
pub(crate) fn route<L: EventLog>(
    shared: &Arc<Shared<L>>,
    chats: &mut HashMap<ChatKey, mpsc::UnboundedSender<Job>>,
    job: Job,
) {
    let chat = job.to.as_ref().map(|i| i.external_id.clone());
    let key = (job.queued.channel, chat.unwrap_or_default());
    let job = match chats.get(&key) {
        Some(queue) => match queue.send(job) {
            Ok(()) => return,
            Err(mpsc::error::SendError(job)) => job,
        },
        None => job,
    };
    let (queue, receiver) = mpsc::unbounded_channel();
    let _ = queue.send(job);
    chats.insert(key, queue);
    tokio::spawn(job::chat_task(Arc::clone(shared), receiver));
}

/// Writes the checkpoint when it moved.
async fn flush<L: EventLog>(shared: &Shared<L>, written: u64) -> Result<u64, DeliveryError> {
    let checkpoint = shared
        .tracker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .checkpoint();
    if checkpoint != written {
        shared.state.set_checkpoint(checkpoint).await?;
    }
    Ok(checkpoint)
}
