//! The live hub (F10, issue 16): what `GET /v1/live` streams are fed from. One per `serve`.
//!
//! The hub follows the dialogs and project read models, not the raw log: a row is read only
//! after the dialogs projection applied the records that changed it. It tails the log, keeps
//! the records the read models have not applied yet, and each time both checkpoints pass some
//! of them (a `watch` of each runner's status wakes it), turns those records into
//! [`Change`]s ([`change::Batch`]: one row read per touched dialog, one query for the batch)
//! and publishes them into a ring of the last [`LiveOptions::ring`] changes, waking the streams
//! of the feeds they concern.
//!
//! Streams read the ring from their own position; none reads the log, and none is buffered
//! by the hub: a stream that falls behind the ring's oldest change is told to reload
//! ([`Behind`]) instead. Memory is the ring's (bounded by construction) plus each stream's
//! position.
//!
//! Fan-out: a publish does not wake every stream. Each change names the audiences it may
//! concern ([`Audience`]: the project's admins, every operator of the project, one operator);
//! a stream joins the feeds of its caller's audiences ([`LiveHub::join`]) and is woken only
//! through them, and reads only the sequences its feeds hold ([`LiveHub::pending`]): with 10k
//! streams, a change wakes and is looked at by the streams that may see it, not by all of
//! them. A feed also holds what its callers share (the counters answer, [`Memo`]).
//!
//! Submodules: [`change`] (what a change holds, whom it may concern and how a caller sees
//! it).

pub mod change;

pub use change::{Audience, Change, DialogChange, Gone, NewMessage, ProjectChange, Seen};

use crate::readmodels::{Kind, ReadModels};
use futures::{FutureExt, StreamExt};
use parking_lot::RwLock;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::log::{LogRecord, SubjectFilter};
use switchboard_core::{AnyLog, EventLog};
use switchboard_projections::query::QueryCaller;
use switchboard_schemas::Role;
use tokio::sync::watch;

/// What a hub is started with.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// How many changes the ring keeps: how far behind a stream may resume.
    pub ring: usize,
    /// Most log records turned into changes at once.
    pub batch: usize,
    /// A stream sends a heartbeat after this long without another event.
    pub heartbeat: Duration,
    /// A stream sends the caller's counters at most this often.
    pub counters_every: Duration,
    /// The hub publishes at most once per this pause (what it applied meanwhile goes out
    /// together): a publish wakes every stream its changes concern, so this bounds the
    /// wake-ups of each.
    pub publish_every: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            ring: 65_536,
            batch: 1_024,
            heartbeat: Duration::from_secs(15),
            counters_every: Duration::from_millis(250),
            publish_every: Duration::from_millis(5),
        }
    }
}

/// How often the hub looks again at the read models without being woken (a swapped-in
/// generation has another runner to watch).
const LOOK_AGAIN: Duration = Duration::from_millis(250);

/// The pause after the log tail or a read model failed.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Most log records held while the read models have not applied them.
const MAX_HELD: usize = 8_192;

/// The stream asked for changes older than the ring's oldest: it must reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behind {
    /// Where to go on from after reloading.
    pub head: u64,
}

/// How many of the newest changes keep their shown text ([`DialogChange::shown`]): streams
/// that keep up read those; a stream further behind makes its own.
const KEEP_SHOWN: usize = 1_024;

#[derive(Debug)]
struct Ring {
    changes: VecDeque<Arc<Change>>,
    /// Every change after this sequence is in `changes`.
    floor: u64,
    /// The last sequence the hub has turned into changes.
    head: u64,
    capacity: usize,
    /// The feeds some stream has joined.
    feeds: HashMap<Audience, Feed>,
}

/// The sequences of the ring's changes that may concern one audience, for the streams that
/// joined it.
#[derive(Debug)]
struct Feed {
    /// Ascending; those that left the ring are dropped at the next publish to the feed.
    seqs: VecDeque<u64>,
    /// The last sequence dropped from `seqs`: a stream before it missed a change of the feed.
    dropped: u64,
    /// The last sequence published to the feed: wakes its streams.
    wake: watch::Sender<u64>,
    memo: Arc<Memo>,
}

/// What the streams of one caller share: the last counters answer (as the stream sends it)
/// with the hub's head when it was read and the role it was read for.
#[derive(Debug, Default)]
pub struct Memo(pub tokio::sync::Mutex<Option<(u64, Role, Arc<str>)>>);

/// A stream's place in its feeds: dropping it leaves them (the last one out removes a feed).
#[derive(Debug)]
pub struct Joined {
    hub: LiveHub,
    audiences: Vec<Audience>,
    /// One per audience, in the same order.
    pub wakes: Vec<watch::Receiver<u64>>,
    /// The caller's own memo (of their operator feed).
    pub memo: Arc<Memo>,
    /// The head when the stream joined: the feeds hold what comes after it.
    pub since: u64,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.wakes.clear();
        let mut ring = self.hub.shared.ring.write();
        for audience in &self.audiences {
            if ring
                .feeds
                .get(audience)
                .is_some_and(|feed| feed.wake.receiver_count() == 0)
            {
                ring.feeds.remove(audience);
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    ring: RwLock<Ring>,
    options: LiveOptions,
}

/// Aborts the hub's task when the last handle goes.
#[derive(Debug)]
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The live hub: cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveHub {
    shared: Arc<Shared>,
    _task: Arc<Task>,
}

impl LiveHub {
    /// Starts following `models` (their log is `log`) from what both the dialogs and the
    /// project read models have applied now. Needs a tokio runtime.
    pub fn start(log: AnyLog, models: Arc<ReadModels<AnyLog>>, options: LiveOptions) -> Self {
        let start = applied(&models).unwrap_or(0);
        let shared = Arc::new(Shared {
            ring: RwLock::new(Ring {
                changes: VecDeque::new(),
                floor: start,
                head: start,
                capacity: options.ring.max(1),
                feeds: HashMap::new(),
            }),
            options: options.clone(),
        });
        let task = tokio::spawn(follow(
            Arc::clone(&shared),
            log,
            Arc::downgrade(&models),
            start,
            options.batch.max(1),
        ));
        Self {
            shared,
            _task: Arc::new(Task(task)),
        }
    }

    pub fn options(&self) -> &LiveOptions {
        &self.shared.options
    }

    /// The last sequence turned into changes.
    pub fn head(&self) -> u64 {
        self.shared.ring.read().head
    }

    /// The oldest sequence a stream may resume from.
    pub fn floor(&self) -> u64 {
        self.shared.ring.read().floor
    }

    /// Joins the feeds of `caller`'s audiences ([`Audience::of`]); what is published after
    /// [`Joined::since`] reaches them.
    pub fn join(&self, caller: &QueryCaller) -> Joined {
        let audiences = Audience::of(caller);
        let mut ring = self.shared.ring.write();
        let since = ring.head;
        let mut wakes = Vec::with_capacity(audiences.len());
        let mut memo = None;
        for audience in &audiences {
            let feed = ring.feeds.entry(*audience).or_insert_with(|| Feed {
                seqs: VecDeque::new(),
                dropped: 0,
                wake: watch::channel(since).0,
                memo: Arc::default(),
            });
            wakes.push(feed.wake.subscribe());
            if matches!(audience, Audience::Operator(..)) {
                memo = Some(Arc::clone(&feed.memo));
            }
        }
        drop(ring);
        Joined {
            hub: self.clone(),
            audiences,
            wakes,
            memo: memo.unwrap_or_default(),
            since,
        }
    }

    /// Up to `max` changes after `seq` that the feeds of `joined` hold, in order, and the
    /// sequence the stream has looked at once it has shown them (the head when it took them
    /// all), or [`Behind`] if one of them left the ring.
    pub fn pending(
        &self,
        seq: u64,
        joined: &Joined,
        max: usize,
    ) -> Result<(Vec<Arc<Change>>, u64), Behind> {
        let ring = self.shared.ring.read();
        let mut wanted: Vec<u64> = Vec::new();
        for audience in &joined.audiences {
            let Some(feed) = ring.feeds.get(audience) else {
                continue;
            };
            let first = feed.seqs.partition_point(|&s| s <= seq);
            if feed.dropped > seq || feed.seqs.get(first).is_some_and(|&s| s <= ring.floor) {
                return Err(Behind { head: ring.head });
            }
            wanted.extend(feed.seqs.range(first..));
        }
        wanted.sort_unstable();
        wanted.dedup();
        let reached = match wanted.get(max) {
            Some(_) => {
                wanted.truncate(max);
                wanted.last().copied().unwrap_or(seq)
            }
            None => ring.head,
        };
        let mut changes = Vec::with_capacity(wanted.len());
        for s in wanted {
            let first = ring.changes.partition_point(|c| c.seq() < s);
            changes.extend(
                ring.changes
                    .range(first..)
                    .take_while(|c| c.seq() == s)
                    .cloned(),
            );
        }
        Ok((changes, reached.max(seq)))
    }

    /// Up to `max` changes after `seq`, in order, or [`Behind`] if some of them left the ring.
    pub fn after(&self, seq: u64, max: usize) -> Result<Vec<Arc<Change>>, Behind> {
        let ring = self.shared.ring.read();
        if seq < ring.floor {
            return Err(Behind { head: ring.head });
        }
        let first = ring.changes.partition_point(|c| c.seq() <= seq);
        Ok(ring.changes.range(first..).take(max).cloned().collect())
    }

    fn publish(shared: &Shared, changes: Vec<Change>, head: u64) {
        let mut touched = Vec::new();
        {
            let mut ring = shared.ring.write();
            let ring = &mut *ring;
            for change in changes {
                if ring.changes.len() == ring.capacity
                    && let Some(oldest) = ring.changes.pop_front()
                {
                    ring.floor = oldest.seq();
                }
                let seq = change.seq();
                for audience in change.audiences() {
                    let Some(feed) = ring.feeds.get_mut(&audience) else {
                        continue;
                    };
                    if feed.seqs.back().is_some_and(|&last| last >= seq) {
                        continue;
                    }
                    while let Some(&oldest) = feed.seqs.front()
                        && oldest <= ring.floor
                    {
                        feed.dropped = oldest;
                        feed.seqs.pop_front();
                    }
                    feed.seqs.push_back(seq);
                    if !touched.contains(&audience) {
                        touched.push(audience);
                    }
                }
                ring.changes.push_back(Arc::new(change));
                // Only the newest changes keep their shown text (its memory is bounded).
                if let Some(old) = ring
                    .changes
                    .len()
                    .checked_sub(KEEP_SHOWN + 1)
                    .and_then(|i| ring.changes.get(i))
                    && let Change::Dialog(old) = &**old
                {
                    old.forget_shown();
                }
            }
            ring.head = ring.head.max(head);
            for audience in &touched {
                if let Some(feed) = ring.feeds.get(audience) {
                    feed.wake.send_replace(head);
                }
            }
        }
    }
}

/// What both read models the hub reads have applied.
fn applied(models: &ReadModels<AnyLog>) -> Option<u64> {
    let dialogs = models.watch_status(Kind::Dialogs)?.borrow().checkpoint.seq;
    let project = models.watch_status(Kind::Project)?.borrow().checkpoint.seq;
    Some(dialogs.min(project))
}

/// The hub's task: tail the log from `start + 1`, hold records until both read models applied
/// them, publish their changes. Ends when the read models are gone.
async fn follow(
    shared: Arc<Shared>,
    log: AnyLog,
    models: std::sync::Weak<ReadModels<AnyLog>>,
    start: u64,
    batch: usize,
) {
    let publish_every = shared.options.publish_every;
    let mut published = tokio::time::Instant::now();
    let mut next = start + 1;
    let mut tail = log.tail(next, SubjectFilter::all());
    let mut held: VecDeque<LogRecord> = VecDeque::new();
    loop {
        // Everything the tail has ready joins the batch. Records came one per turn of this
        // loop before, and the first the read models had applied was published alone after
        // `publish_every`: at most ~200 records a second went out, whatever the log's rate.
        while held.len() < MAX_HELD {
            let Some(outcome) = tail.next().now_or_never() else {
                break;
            };
            if !hold(outcome, &mut next, &mut held) {
                tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
                tail = log.tail(next, SubjectFilter::all());
                break;
            }
        }
        let Some(models) = models.upgrade() else {
            return;
        };
        let (Some(mut dialogs), Some(mut project)) = (
            models.watch_status(Kind::Dialogs),
            models.watch_status(Kind::Project),
        ) else {
            drop(models);
            tokio::time::sleep(LOOK_AGAIN).await;
            continue;
        };
        let reached = dialogs
            .borrow_and_update()
            .checkpoint
            .seq
            .min(project.borrow_and_update().checkpoint.seq);
        if held.front().is_some_and(|r| r.seq <= reached) {
            if published.elapsed() < publish_every {
                drop(models);
                tokio::time::sleep_until(published + publish_every).await;
                continue;
            }
            let count = held.iter().take(batch).take_while(|r| r.seq <= reached);
            let count = count.count();
            let records: Vec<LogRecord> = held.drain(..count).collect();
            match turn(&models, &records).await {
                Ok(changes) => {
                    let head = records.last().map_or(0, |r| r.seq);
                    LiveHub::publish(&shared, changes, head);
                    published = tokio::time::Instant::now();
                }
                Err(error) => {
                    tracing::warn!(%error, "live: cannot read the changes of a batch; retrying");
                    for record in records.into_iter().rev() {
                        held.push_front(record);
                    }
                    drop(models);
                    tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
                }
            }
            continue;
        }
        drop(models);
        tokio::select! {
            outcome = tail.next(), if held.len() < MAX_HELD => {
                if !hold(outcome, &mut next, &mut held) {
                    tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
                    tail = log.tail(next, SubjectFilter::all());
                }
            }
            changed = dialogs.changed() => if changed.is_err() {
                tokio::time::sleep(LOOK_AGAIN).await;
            },
            changed = project.changed() => if changed.is_err() {
                tokio::time::sleep(LOOK_AGAIN).await;
            },
            () = tokio::time::sleep(LOOK_AGAIN) => {}
        }
    }
}

/// Holds what the log tail gave (a record from `next` on); false when the tail failed or ended
/// and must be opened again from `next`.
fn hold(
    outcome: Option<Result<LogRecord, switchboard_core::LogError>>,
    next: &mut u64,
    held: &mut VecDeque<LogRecord>,
) -> bool {
    match outcome {
        Some(Ok(record)) => {
            if record.seq >= *next {
                *next = record.seq + 1;
                held.push_back(record);
            }
            true
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "live: the log tail failed; tailing again");
            false
        }
        None => false,
    }
}

/// The changes of `records` as the read models hold them now.
async fn turn(models: &ReadModels<AnyLog>, records: &[LogRecord]) -> Result<Vec<Change>, String> {
    let mut batch = change::Batch::default();
    for record in records {
        batch.add(record);
    }
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let (Some(dialogs), Some(project)) =
        (models.readers(Kind::Dialogs), models.readers(Kind::Project))
    else {
        return Err("the read models are not open".to_owned());
    };
    dialogs
        .query(move |dialogs| project.run(|project| batch.read(dialogs, project)))
        .await
        .map_err(|error| error.to_string())
}
