//! A runner's writer thread: takes the work the feed queued, applies it to the store, and, when
//! the store refuses a write (a full disk, an I/O error, a refusing trigger), applies the same
//! records again after a pause that doubles up to [`MAX_STORE_RETRY`], until it succeeds or the
//! runner stops. Meanwhile the runner reports the store failing
//! ([`RunnerStatus::store_failing`]); nothing is skipped: the feed has moved past what the
//! writer took, so the writer keeps every record it took until the store's checkpoint (what is
//! durable) covers it, and applies those again. A store that commits lazily (the search index)
//! forgets everything after its last commit when a commit fails, so that can be more than the
//! batch that failed. While it waits it keeps taking what the feed queues for it, so that the
//! other read models of its group go on; past `max_waiting_records` waiting it gives up (the
//! runner stops, failed, as any runner did on the first failure before; a restart resumes it
//! from its checkpoint).

use super::{Checkpoint, ProjectionError, RunnerStatus, SharedBatch, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Most records a live writer applies in one transaction when batches queued up (see
/// [`write_loop`]).
const MAX_COALESCED_RECORDS: usize = 8 * 1024;

/// The first pause before a failed write is tried again.
pub const FIRST_STORE_RETRY: Duration = Duration::from_millis(100);

/// The longest pause between two attempts of a store that keeps failing.
pub const MAX_STORE_RETRY: Duration = Duration::from_secs(5);

/// How often a writer waiting to try again looks whether the runner stops, and takes the work
/// queued meanwhile.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Most records a writer whose store fails keeps waiting before it gives up, by default
/// ([`RunnerOptions::max_waiting_records`](super::RunnerOptions::max_waiting_records)): at
/// most some tens of megabytes, records being shared with the group's other writers.
pub const MAX_TAKEN_RECORDS: usize = 100_000;

/// What the feed hands a writer thread.
pub(super) enum Work {
    Batch(SharedBatch),
    /// The log holds a record at this sequence that cannot be read ([`Store::skip_unreadable`]).
    Unreadable(u64),
    /// Time passed (only for stores with a [`Store::tick_interval`]).
    Tick,
    /// Finish and end (after the batches queued before it).
    Stop,
}

/// When a writer stops: `dropped` (the runner was dropped: after the work under way),
/// `shutting_down` (the runner shuts down: after the work queued, but a store that fails is
/// not tried again), or when more than `max_waiting` records wait for a store that fails.
#[derive(Debug)]
pub(super) struct Stops {
    pub(super) dropped: AtomicBool,
    pub(super) shutting_down: AtomicBool,
    pub(super) max_waiting: usize,
}

impl Default for Stops {
    fn default() -> Self {
        Self {
            dropped: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            max_waiting: MAX_TAKEN_RECORDS,
        }
    }
}

impl Stops {
    fn any(&self) -> bool {
        self.dropped.load(Ordering::Acquire) || self.shutting_down.load(Ordering::Acquire)
    }
}

/// Work taken from the queue that the store may not have made durable yet.
enum Taken {
    Batch(SharedBatch),
    Unreadable(u64),
}

impl Taken {
    fn records(&self) -> usize {
        match self {
            Taken::Batch(batch) => batch.len(),
            Taken::Unreadable(_) => 1,
        }
    }

    fn last_seq(&self) -> u64 {
        match self {
            Taken::Batch(batch) => batch.last().map_or(0, |r| r.record.seq),
            Taken::Unreadable(seq) => *seq,
        }
    }
}

pub(super) fn write_loop<S: Store>(
    mut store: S,
    mut work: mpsc::Receiver<Work>,
    status: Arc<watch::Sender<RunnerStatus>>,
    stops: &Stops,
) {
    let name = store.name();
    let publish = |checkpoint: Checkpoint| {
        status.send_if_modified(|s| {
            let changed = s.checkpoint != checkpoint;
            s.checkpoint = checkpoint;
            changed
        })
    };
    // An item taken while gathering batches that is not one: handled next.
    let mut carried = None;
    // Everything taken that the store's checkpoint does not cover yet, oldest first.
    let mut taken: Vec<Taken> = Vec::new();
    loop {
        let Some(item) = carried.take().or_else(|| work.blocking_recv()) else {
            break;
        };
        let applied = match item {
            Work::Batch(batch) => {
                // The batches that queued while the last transaction was written join this one
                // (a writer that fell behind catches up in larger transactions; one that keeps
                // up finds nothing queued and commits each batch at once).
                let mut batches = vec![batch];
                let mut records = batches[0].len();
                while records < MAX_COALESCED_RECORDS {
                    match work.try_recv() {
                        Ok(Work::Batch(more)) => {
                            records += more.len();
                            batches.push(more);
                        }
                        Ok(other) => {
                            carried = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                taken.extend(batches.iter().cloned().map(Taken::Batch));
                match batches.as_slice() {
                    [one] => store.apply_shared(one),
                    several => store.apply_batches(several),
                }
            }
            Work::Unreadable(seq) => {
                taken.push(Taken::Unreadable(seq));
                store.skip_unreadable(seq)
            }
            Work::Tick => store.tick(),
            Work::Stop => break,
        };
        let applied = applied.or_else(|error| {
            let mut failing = Failing {
                carried: &mut carried,
                work: &mut work,
                taken: &mut taken,
                status: &status,
                stops,
            };
            failing.retry(&mut store, error)
        });
        match applied {
            Ok(checkpoint) => {
                publish(checkpoint);
                taken.retain(|t| t.last_seq() > checkpoint.seq);
            }
            Err(error) => {
                tracing::error!(projection = name, checkpoint = store.checkpoint().seq, %error, "projection stopped while its store failed");
                status.send_modify(|s| {
                    // The feed may have said why first (the log is another one).
                    s.failed.get_or_insert_with(|| error.to_string());
                    s.store_failing = None;
                });
                return;
            }
        };
        if stops.dropped.load(Ordering::Acquire) {
            break;
        }
    }
    // Shut down: what was applied but not yet committed becomes durable.
    match store.finish() {
        Ok(checkpoint) => {
            publish(checkpoint);
        }
        Err(error) => {
            tracing::error!(projection = name, %error, "projection could not finish");
            status.send_modify(|s| s.failed = Some(error.to_string()));
        }
    }
}

/// A writer whose store refused a write, and what it needs to try again.
struct Failing<'a> {
    /// Taken from the queue after the batches that failed: first in line.
    carried: &'a mut Option<Work>,
    work: &'a mut mpsc::Receiver<Work>,
    taken: &'a mut Vec<Taken>,
    status: &'a watch::Sender<RunnerStatus>,
    stops: &'a Stops,
}

impl Failing<'_> {
    /// The store refused a write (`error`): reports it failing, waits, applies everything
    /// taken again, and so on with doubling pauses until it succeeds (its checkpoint then) or
    /// the runner stops (the last error then). Meanwhile it keeps taking the work queued for
    /// it, so that the group's feed, and with it the other read models, do not wait for this
    /// one; past `max_waiting_records` waiting it gives up instead (the runner stops, the feed
    /// lets it go, and a restart resumes it from its checkpoint).
    fn retry<S: Store>(
        &mut self,
        store: &mut S,
        mut error: ProjectionError,
    ) -> Result<Checkpoint, ProjectionError> {
        let name = store.name();
        let mut pause = FIRST_STORE_RETRY;
        let mut attempts: u32 = 1;
        loop {
            let reason = error.to_string();
            if attempts == 1 {
                tracing::error!(projection = name, checkpoint = store.checkpoint().seq, %error, "the read model cannot write; trying again until it can");
            } else {
                tracing::warn!(projection = name, attempts, %error, "the read model still cannot write");
            }
            self.status.send_if_modified(|s| {
                let changed = s.store_failing.as_deref() != Some(reason.as_str());
                s.store_failing = Some(reason.clone());
                changed
            });
            if !self.wait(pause) {
                return Err(error);
            }
            let waiting: usize = self.taken.iter().map(Taken::records).sum();
            if waiting > self.stops.max_waiting {
                tracing::error!(projection = name, waiting, %error, "the read model cannot write and too much waits for it; stopping it");
                return Err(error);
            }
            pause = (pause * 2).min(MAX_STORE_RETRY);
            attempts = attempts.saturating_add(1);
            match apply_again(store, self.taken) {
                Ok(checkpoint) => {
                    tracing::info!(
                        projection = name,
                        attempts,
                        checkpoint = checkpoint.seq,
                        "the read model writes again"
                    );
                    self.status.send_modify(|s| s.store_failing = None);
                    return Ok(checkpoint);
                }
                Err(again) => error = again,
            }
        }
    }

    /// Sleeps `pause` while taking the work queued meanwhile; `false` as soon as the runner
    /// stops (or is told to).
    fn wait(&mut self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            if self.stops.any() {
                return false;
            }
            while let Some(item) = self.carried.take().or_else(|| self.work.try_recv().ok()) {
                match item {
                    Work::Batch(batch) => self.taken.push(Taken::Batch(batch)),
                    Work::Unreadable(seq) => self.taken.push(Taken::Unreadable(seq)),
                    // Commits on a timer: the next successful write does.
                    Work::Tick => {}
                    Work::Stop => return false,
                }
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep(STOP_POLL.min(until - now));
        }
    }
}

/// Applies what was taken, in order: consecutive batches together (up to
/// [`MAX_COALESCED_RECORDS`] records in one call). Records the store holds already change
/// nothing.
fn apply_again<S: Store>(store: &mut S, taken: &[Taken]) -> Result<Checkpoint, ProjectionError> {
    let mut checkpoint = store.checkpoint();
    let mut rest = taken;
    while let Some(first) = rest.first() {
        match first {
            Taken::Unreadable(seq) => {
                checkpoint = store.skip_unreadable(*seq)?;
                rest = &rest[1..];
            }
            Taken::Batch(_) => {
                // Up to a live writer's largest transaction at a time.
                let mut records = 0;
                let batches: Vec<SharedBatch> = rest
                    .iter()
                    .map_while(|t| match t {
                        Taken::Batch(batch) if records < MAX_COALESCED_RECORDS => {
                            records += batch.len();
                            Some(Arc::clone(batch))
                        }
                        _ => None,
                    })
                    .collect();
                rest = &rest[batches.len()..];
                checkpoint = store.apply_batches(&batches)?;
            }
        }
    }
    Ok(checkpoint)
}
