//! [`ProjectionRunner`]: a store fed from the log by a feed task (one per group of runners,
//! [`ProjectionRunner::start_group`]) and applied on a writer thread of its own, which takes the
//! batches that queued while it wrote into one transaction.

use super::writer::{Stops, Work, write_loop};
use super::{
    Checkpoint, Projection, ProjectionError, ProjectionStore, SharedBatch, SharedRecord, Store,
    task_failed,
};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_core::log::{EventLog, LogError, SubjectFilter};
use tokio::sync::{mpsc, watch};

/// Settings of a [`ProjectionRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most records applied in one transaction; fewer when fewer are available.
    pub max_batch: usize,
    /// Batches waiting for the writer thread before the log reader waits (back-pressure).
    pub queued_batches: usize,
    /// Pause before resubscribing after the log tail failed.
    pub retry_after: Duration,
    /// After this many failures of the log tail in a row with the same error and nothing read
    /// in between, the runner is reported failed ([`RunnerStatus::log_failing`]) and waits
    /// longer between attempts (doubling, up to [`MAX_RETRY_AFTER`]); the first record read
    /// clears it, and so does a tail that has not failed for an [`ANCHOR_CHECK`] on a log that
    /// answers (nothing new to read).
    pub failures_before_failed: u32,
    /// Most records a writer whose store refuses writes keeps, waiting to apply them, before
    /// it gives up and the runner stops (see `writer`).
    pub max_waiting_records: usize,
}

/// How often a live feed checks a record it delivered a tick before against the log: a log
/// replaced under a tail that does not fail (a JetStream stream deleted and made again, which
/// an ordered consumer follows from the same sequence) is found within two ticks.
pub const ANCHOR_CHECK: Duration = Duration::from_secs(1);

/// The longest pause between two attempts of a log tail that keeps failing.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            // Room for a writer that fell behind to take several batches into one transaction,
            // and for the fast read models to go on while the slowest works through a commit
            // (the feed waits only when a queue is full).
            queued_batches: 64,
            retry_after: Duration::from_millis(200),
            failures_before_failed: 5,
            max_waiting_records: super::writer::MAX_TAKEN_RECORDS,
        }
    }
}

/// Checks that the record `checkpoint` names is the one `log` holds at its sequence: a
/// checkpoint past the log's end, or on a record stored at another time, is
/// [`ProjectionError::OtherLog`] (the read model is of another log: rebuild it). A checkpoint
/// whose append time is unknown (an older checkpoint, an unreadable record) is checked by its
/// sequence only. Other errors are the log's (it may not answer now).
pub async fn check_against_log<L: EventLog>(
    log: &L,
    name: &str,
    checkpoint: &Checkpoint,
) -> Result<(), ProjectionError> {
    if checkpoint.seq == 0 {
        return Ok(());
    }
    let other = |reason: String| ProjectionError::OtherLog {
        projection: name.to_owned(),
        reason,
    };
    let found = log
        .read_all(checkpoint.seq, &SubjectFilter::all(), 1)
        .await?;
    let stored_at = match found.first() {
        Some(Ok(record)) if record.seq == checkpoint.seq => Some(record.appended_at),
        Some(Err(unreadable)) if unreadable.seq == checkpoint.seq => None,
        _ => {
            let last = log.last_seq().await?;
            return Err(other(if last < checkpoint.seq {
                format!(
                    "it applied up to {}, the log ends at {last}: the log is behind it (another                      or an older log)",
                    checkpoint.seq
                )
            } else {
                format!("the log holds no record {}", checkpoint.seq)
            }));
        }
    };
    match (checkpoint.applied_at, stored_at) {
        (Some(applied), Some(stored)) if applied != stored => Err(other(format!(
            "its record {} was stored at {}, the log's at {}: another log",
            checkpoint.seq,
            applied.to_rfc3339(),
            stored.to_rfc3339()
        ))),
        (Some(_), None) => Err(other(format!(
            "its record {} was readable, the log's cannot be read: another log",
            checkpoint.seq
        ))),
        _ => Ok(()),
    }
}

/// Where a runner is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerStatus {
    pub checkpoint: Checkpoint,
    /// Why the runner stopped applying (its log is another one, or its store failed while it
    /// shut down); nothing is applied after it.
    pub failed: Option<String>,
    /// The store refused a write (a full disk, say): the runner applies the same records again,
    /// with doubling pauses, until it can (see `writer`); this clears then. Nothing is skipped.
    pub store_failing: Option<String>,
    /// The log tail has failed the same way [`RunnerOptions::failures_before_failed`] times in
    /// a row: the runner applies nothing until the log answers again (it keeps trying; the
    /// first record read clears this, or a tail that has not failed for a second on a log that
    /// answers).
    pub log_failing: Option<String>,
    /// The checkpoint names a record the log does not hold ([`check_against_log`]): `failed`
    /// says which; the read model must be rebuilt from this log.
    pub other_log: bool,
}

impl RunnerStatus {
    /// Why the runner does not apply the log, if it does not: it stopped, its store fails, or
    /// the log keeps failing.
    pub fn failure(&self) -> Option<&str> {
        self.failed
            .as_deref()
            .or(self.store_failing.as_deref())
            .or(self.log_failing.as_deref())
    }
}

/// Runs one projection: applies the log from checkpoint + 1 in batches on a dedicated writer
/// thread. The log is read by a *feed* task (a tail over every subject); a group of runners
/// started together ([`ProjectionRunner::start_group`]) shares one feed, so the log is read
/// and each record decoded once for all of them. Stops when dropped or
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct ProjectionRunner<L: EventLog> {
    name: &'static str,
    path: PathBuf,
    log: L,
    status: watch::Receiver<RunnerStatus>,
    /// The feed of the group; its task ends when the last runner of the group is gone.
    _feed: Arc<Feed>,
    /// This runner's queue, for [`Work::Stop`].
    work: mpsc::Sender<Work>,
    /// Set on drop (the writer stops after the work item under way) and on shutdown (a failing
    /// store is not tried again).
    stops: Arc<Stops>,
    writer: Option<std::thread::JoinHandle<()>>,
}

/// The log reader of a group of runners: aborted when the last runner lets go of it.
#[derive(Debug)]
struct Feed(tokio::task::JoinHandle<()>);

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<L: EventLog> ProjectionRunner<L> {
    /// Opens the projection's file at `path` and starts consuming `log` from its checkpoint.
    pub async fn start<P: Projection>(
        log: L,
        path: &Path,
        projection: P,
        options: RunnerOptions,
    ) -> Result<Self, ProjectionError> {
        let name = projection.name();
        let open_path = path.to_path_buf();
        let store =
            tokio::task::spawn_blocking(move || ProjectionStore::open(&open_path, projection))
                .await
                .map_err(|e| task_failed(name, "open", e))??;
        Self::start_store(log, store, options)
    }

    /// Starts consuming `log` into an opened store (a [`ProjectionStore`], a
    /// [`crate::search::SearchIndex`]) from its checkpoint + 1, with a feed of its own. Open the
    /// store off the async threads.
    pub fn start_store<S: Store>(
        log: L,
        store: S,
        options: RunnerOptions,
    ) -> Result<Self, ProjectionError> {
        let mut runners = Self::start_group(log, vec![Box::new(store) as Box<dyn Store>], options)?;
        runners.pop().ok_or_else(|| ProjectionError::Stopped {
            projection: "runner".to_owned(),
            reason: "a group of one started no runner".to_owned(),
        })
    }

    /// Starts one runner per store (in the order given), all fed by one reader of `log` from
    /// the lowest checkpoint + 1: each record is read and decoded once, and each store skips
    /// what it has already applied. A store whose queue is full holds the feed back (so the
    /// others wait for the slowest once their own queues are empty); the queues are
    /// [`RunnerOptions::queued_batches`] deep.
    pub fn start_group(
        log: L,
        stores: Vec<Box<dyn Store>>,
        options: RunnerOptions,
    ) -> Result<Vec<Self>, ProjectionError> {
        let mut subscribers = Vec::with_capacity(stores.len());
        let mut started = Vec::with_capacity(stores.len());
        for store in stores {
            let name = store.name();
            let path = store.path().to_path_buf();
            let checkpoint = store.checkpoint();
            let tick = store.tick_interval();
            tracing::info!(
                projection = name,
                checkpoint = checkpoint.seq,
                "projection starting"
            );
            let (status_tx, status) = watch::channel(RunnerStatus {
                checkpoint,
                ..RunnerStatus::default()
            });
            let status_tx = Arc::new(status_tx);
            let feed_status = Arc::clone(&status_tx);
            let (work_tx, work_rx) = mpsc::channel(options.queued_batches.max(1));
            let stops = Arc::new(Stops {
                max_waiting: options.max_waiting_records,
                ..Stops::default()
            });
            let stop = Arc::clone(&stops);
            let writer = std::thread::Builder::new()
                .name(format!("projection-{name}"))
                .spawn(move || write_loop(store, work_rx, status_tx, &stop))
                .map_err(|e| ProjectionError::Stopped {
                    projection: name.to_owned(),
                    reason: format!("cannot start the writer thread: {e}"),
                })?;
            subscribers.push(Subscriber {
                name,
                work: work_tx.clone(),
                tick,
                status: feed_status,
            });
            started.push((name, path, status, work_tx, stops, writer, checkpoint.seq));
        }
        let from_seq = started.iter().map(|s| s.6).min().unwrap_or(0) + 1;
        let feed = Arc::new(Feed(tokio::spawn(feed_loop(
            log.clone(),
            subscribers,
            from_seq,
            options,
        ))));
        Ok(started
            .into_iter()
            .map(
                |(name, path, status, work, stops, writer, _)| ProjectionRunner {
                    name,
                    path,
                    log: log.clone(),
                    status,
                    _feed: Arc::clone(&feed),
                    work,
                    stops,
                    writer: Some(writer),
                },
            )
            .collect())
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The projection's file (open readers on it with [`open_reader`](super::open_reader)), or the search index's
    /// directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn status(&self) -> RunnerStatus {
        self.status.borrow().clone()
    }

    /// The status as it changes (the checkpoint after each applied batch): what follows the
    /// read model without polling it. Ends when the runner is gone.
    pub fn watch_status(&self) -> watch::Receiver<RunnerStatus> {
        self.status.clone()
    }

    /// Whether its writer thread has ended (and closed the store): a runner that stopped can
    /// then be replaced by a new one on the same file.
    pub fn writer_ended(&self) -> bool {
        self.writer
            .as_ref()
            .is_none_or(|writer| writer.is_finished())
    }

    /// The last applied sequence.
    pub fn applied_seq(&self) -> u64 {
        self.status.borrow().checkpoint.seq
    }

    /// How many messages the log holds beyond the checkpoint.
    pub async fn lag(&self) -> Result<u64, ProjectionError> {
        let last = self.log.last_seq().await?;
        Ok(last.saturating_sub(self.applied_seq()))
    }

    /// Waits until everything up to `seq` is applied (read-your-writes: pass a command's ack
    /// sequence). Fails when the runner stopped or the timeout passed first (a log or a store
    /// that keeps failing, [`RunnerStatus::log_failing`] and [`RunnerStatus::store_failing`],
    /// may recover: it is waited for).
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let mut status = self.status.clone();
        // `wait_for` answers with a read guard of the status: drop it at once. Holding it while
        // borrowing again deadlocks with the writer thread waiting to publish (the lock lets no
        // new reader in while a writer waits).
        let reached = tokio::time::timeout(
            timeout,
            status.wait_for(|s| s.checkpoint.seq >= seq || s.failed.is_some()),
        )
        .await
        .map(|answer| answer.is_ok());
        let current = self.status.borrow().clone();
        if current.checkpoint.seq >= seq {
            return Ok(());
        }
        if let Some(reason) = current.failed {
            return Err(ProjectionError::Stopped {
                projection: self.name.to_owned(),
                reason,
            });
        }
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProjectionError::Stopped {
                projection: self.name.to_owned(),
                reason: "the writer thread ended".to_owned(),
            }),
            Err(_) => Err(ProjectionError::Timeout {
                projection: self.name.to_owned(),
                seq,
                applied: current.checkpoint.seq,
            }),
        }
    }

    /// Lets the writer finish the batches already queued, makes them durable and closes the
    /// file. The group's other runners go on; the feed stops with the last of them.
    pub async fn shutdown(mut self) -> RunnerStatus {
        // Behind the queued batches; a writer that already ended has closed its queue. A writer
        // whose store keeps failing gives up (and so takes the queue again).
        self.stops.shutting_down.store(true, Ordering::Release);
        let _ = self.work.send(Work::Stop).await;
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        self.status.borrow().clone()
    }
}

impl<L: EventLog> Drop for ProjectionRunner<L> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Not shut down: the writer stops after what it is applying (the rest is read
            // again from the checkpoint next time).
            self.stops.dropped.store(true, Ordering::Release);
            let _ = self.work.try_send(Work::Stop);
        }
    }
}

/// One store fed by a feed.
struct Subscriber {
    name: &'static str,
    work: mpsc::Sender<Work>,
    tick: Option<Duration>,
    /// The runner's status, shared with its writer: the feed sets `log_failing`.
    status: Arc<watch::Sender<RunnerStatus>>,
}

impl Subscriber {
    /// The store is of another log: failed, and fed nothing more (its writer stops).
    fn fail_other_log(&self, error: &ProjectionError) {
        tracing::error!(projection = self.name, %error, "read model stopped");
        self.status.send_modify(|s| {
            s.failed = Some(error.to_string());
            s.other_log = true;
        });
        let _ = self.work.try_send(Work::Stop);
    }

    fn set_log_failing(&self, failing: Option<&str>) {
        self.status.send_if_modified(|s| {
            let changed = s.log_failing.as_deref() != failing;
            s.log_failing = failing.map(str::to_owned);
            changed
        });
    }
}

/// Sends `work` to every subscriber; one whose writer stopped (its queue dropped) leaves.
async fn send_all(subscribers: &mut Vec<Subscriber>, work: impl Fn() -> Work) {
    let mut index = 0;
    while index < subscribers.len() {
        if subscribers[index].work.send(work()).await.is_err() {
            subscribers.swap_remove(index);
        } else {
            index += 1;
        }
    }
}

async fn feed_loop(
    log: impl EventLog,
    mut subscribers: Vec<Subscriber>,
    mut from_seq: u64,
    options: RunnerOptions,
) {
    let names: Vec<&str> = subscribers.iter().map(|s| s.name).collect();
    let names = names.join(",");
    let tick = subscribers.iter().filter_map(|s| s.tick).min();
    // Without a tick interval the timer never fires (an hour, re-armed forever).
    let mut ticks = tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The same failure of the tail, how many times in a row with nothing read in between.
    let mut failing: Option<(String, u32)> = None;
    loop {
        // Each store's checkpoint must name a record of this log, at start and at every
        // resubscription (the log may have been replaced meanwhile).
        let mut failure = None;
        let mut index = 0;
        while index < subscribers.len() {
            let subscriber = &subscribers[index];
            let checkpoint = subscriber.status.borrow().checkpoint;
            match check_against_log(&log, subscriber.name, &checkpoint).await {
                Ok(()) => index += 1,
                Err(error @ ProjectionError::OtherLog { .. }) => {
                    subscriber.fail_other_log(&error);
                    subscribers.swap_remove(index);
                }
                Err(ProjectionError::Log(error)) => {
                    failure = Some(error);
                    break;
                }
                Err(error) => {
                    failure = Some(LogError::Storage(error.to_string()));
                    break;
                }
            }
        }
        if subscribers.is_empty() {
            return;
        }
        if failure.is_none() {
            failure = follow(
                &log,
                &mut subscribers,
                &mut from_seq,
                &mut failing,
                &mut ticks,
                &options,
                &names,
            )
            .await;
            if subscribers.is_empty() {
                return;
            }
        }
        let error = match &failure {
            Some(error) => error.to_string(),
            None => "the log tail ended".to_owned(),
        };
        tracing::warn!(projections = names, from_seq, %error, "log tail failed, resubscribing");
        let times = match &mut failing {
            Some((last, times)) if *last == error => {
                *times += 1;
                *times
            }
            _ => {
                failing = Some((error.clone(), 1));
                1
            }
        };
        let mut pause = options.retry_after;
        if times >= options.failures_before_failed.max(1) {
            let reason = format!("the log tail failed {times} times in a row: {error}");
            if times == options.failures_before_failed.max(1) {
                tracing::error!(projections = names, from_seq, %error, times, "the log keeps failing; reporting the read models failed");
            }
            for subscriber in &subscribers {
                subscriber.set_log_failing(Some(&reason));
            }
            let doublings = (times - options.failures_before_failed.max(1)).min(16);
            pause = pause
                .saturating_mul(1 << doublings)
                .min(MAX_RETRY_AFTER.max(pause));
        }
        subscribers.retain(|s| !s.work.is_closed());
        if subscribers.is_empty() {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Feeds the subscribers from a tail of the log from `from_seq` until it fails or ends;
/// returns the failure (None: it ended, or no subscriber is left). A subscriber whose writer
/// stopped leaves.
async fn follow(
    log: &impl EventLog,
    subscribers: &mut Vec<Subscriber>,
    from_seq: &mut u64,
    failing: &mut Option<(String, u32)>,
    ticks: &mut tokio::time::Interval,
    options: &RunnerOptions,
    names: &str,
) -> Option<LogError> {
    let mut tail = log
        .tail_all(*from_seq, SubjectFilter::all())
        .ready_chunks(options.max_batch.max(1));
    let mut failure = None;
    let mut anchors = tokio::time::interval(ANCHOR_CHECK);
    anchors.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is now: the checkpoints were just checked.
    anchors.tick().await;
    // A record this feed delivered, checked against the log at the next tick, and the last
    // one delivered (the next anchor).
    let mut anchor: Option<Checkpoint> = None;
    let mut last_fed: Option<Checkpoint> = None;
    loop {
        let chunk = tokio::select! {
            chunk = tail.next() => chunk,
            _ = anchors.tick() => {
                // Reported failing, and the tail has not failed for a tick since it subscribed:
                // when the log answers, it has recovered, also when nothing new is there to
                // read (which would clear the report too, but may not come for long).
                if failing.is_some()
                    && matches!(
                        tokio::time::timeout(ANCHOR_CHECK, log.last_seq()).await,
                        Ok(Ok(_))
                    )
                {
                    tracing::info!(projections = names, "the log answers again");
                    *failing = None;
                    for subscriber in subscribers.iter() {
                        subscriber.set_log_failing(None);
                    }
                }
                // The record checked is one fed a tick ago (or the first ever fed): a log
                // replaced since is found even when its records follow on the same sequences.
                if let Some(anchor) = anchor
                    && let Err(error @ ProjectionError::OtherLog { .. }) =
                        check_against_log(log, names, &anchor).await
                {
                    for subscriber in subscribers.drain(..) {
                        subscriber.fail_other_log(&error);
                    }
                    return None;
                }
                anchor = last_fed.or(anchor);
                continue;
            }
            _ = ticks.tick() => {
                for subscriber in subscribers.iter().filter(|s| s.tick.is_some()) {
                    // A full queue means the writer is busy; it checks its timer itself.
                    let _ = subscriber.work.try_send(Work::Tick);
                }
                continue;
            }
        };
        // The tail ended: None.
        let chunk = chunk?;
        let mut batch = Vec::with_capacity(chunk.len());
        let mut unreadable = false;
        for item in chunk {
            match item {
                Ok(record) => batch.push(SharedRecord::new(record)),
                Err(LogError::Unreadable(record)) => {
                    tracing::warn!(projections = names, %record, "skipping a record that cannot be read");
                    // The records before it, then it, then the rest of the chunk.
                    let before = std::mem::take(&mut batch);
                    if !before.is_empty() {
                        let before: SharedBatch = before.into();
                        send_all(subscribers, || Work::Batch(Arc::clone(&before))).await;
                    }
                    send_all(subscribers, || Work::Unreadable(record.seq)).await;
                    *from_seq = record.seq + 1;
                    unreadable = true;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if (unreadable || !batch.is_empty()) && failing.take().is_some() {
            for subscriber in subscribers.iter() {
                subscriber.set_log_failing(None);
            }
        }
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            let fed = |record: &SharedRecord| Checkpoint {
                seq: record.record.seq,
                applied_at: Some(record.record.appended_at),
                ..Checkpoint::default()
            };
            anchor = anchor.or(Some(fed(first)));
            last_fed = Some(fed(last));
            *from_seq = last.record.seq + 1;
            let batch: SharedBatch = batch.into();
            send_all(subscribers, || Work::Batch(Arc::clone(&batch))).await;
        }
        if subscribers.is_empty() {
            return None;
        }
        if failure.is_some() {
            return failure;
        }
    }
}
