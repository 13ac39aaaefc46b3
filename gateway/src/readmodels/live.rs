//! The live read models of a running service: one runner per read model (one group, so the
//! log is read and decoded once for all), the readers queries use, and the task that swaps in a
//! generation a rebuild published (start a runner on it, wait until it has applied what the
//! live one has, point queries at it, stop the old runner, delete the old files). Swaps and `shutdown` are serialised; after `shutdown` no swap
//! happens.

use super::{Kind, ModelReaders, ReadModelError, Slot, blocking, open_stores};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use switchboard_core::{Durable, EventLog};
use switchboard_projections::search::SearchReader;
use switchboard_projections::{
    ProjectionError, ProjectionRunner, Readers, RunnerOptions, check_against_log,
};

/// How often a running service looks for a swapped-in generation.
const SWAP_POLL: Duration = Duration::from_millis(200);

/// How long a new generation's catch-up is waited for between two looks at the live one.
const CATCH_UP_SLICE: Duration = Duration::from_millis(100);

/// The first pause before a read model whose runner stopped is started again.
const FIRST_RESTART: Duration = Duration::from_secs(1);

/// The longest pause between two restarts of a read model whose runner keeps stopping.
const MAX_RESTART: Duration = Duration::from_secs(60);

/// What `/v1/health` shows of one read model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelStatus {
    pub projection: &'static str,
    pub generation: String,
    pub applied_seq: u64,
    /// Records of the log this read model skipped because they could not be read or decoded.
    pub undecodable: u64,
    /// Why the runner does not apply the log, if it does not: it stopped (another log), its
    /// store refuses writes (it tries again), or the log keeps failing (see
    /// `RunnerStatus::failure`).
    pub failed: Option<String>,
}

struct Live<L: EventLog> {
    generation: String,
    runner: Arc<ProjectionRunner<L>>,
    access: ModelReaders,
}

/// The live read models of a running service: one runner per projection, readers for queries,
/// and a task that swaps in rebuilt generations.
pub struct ReadModels<L: EventLog> {
    root: PathBuf,
    log: L,
    options: RunnerOptions,
    live: RwLock<BTreeMap<Kind, Live<L>>>,
    /// Serialises swaps (the poller and `shutdown`).
    swapping: tokio::sync::Mutex<bool>,
    /// Set by `shutdown` before it waits for a swap under way (one waiting for a new generation
    /// to catch up gives up).
    stopping: AtomicBool,
    /// When each read model whose runner stopped may be started again, and the pause after
    /// that (see [`Self::restart_stopped`]).
    restarts: std::sync::Mutex<BTreeMap<Kind, (Instant, Duration)>>,
    /// The log's end when the read models started: until every one has applied it, queries
    /// wait for it (see [`Self::start_floor`]).
    started_at_seq: u64,
    /// Every read model has applied `started_at_seq` once.
    caught_up: AtomicBool,
}

impl<L: EventLog> std::fmt::Debug for ReadModels<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModels")
            .field("root", &self.root)
            .field("status", &self.status())
            .finish()
    }
}

impl<L: EventLog> ReadModels<L> {
    /// Opens every read model under `root` (`DIR/read`), starts their runners (one group: the
    /// log is read and decoded once for all of them) and the task that follows swaps. The task
    /// ends when the last `Arc` is dropped or on [`Self::shutdown`].
    pub async fn start(
        log: L,
        root: &Path,
        options: RunnerOptions,
    ) -> Result<Arc<Self>, ReadModelError> {
        // Every slot is checked before any is made: a directory another layout filled is
        // refused as it is, with no half-made slot beside it.
        blocking("check read models", {
            let root = root.to_path_buf();
            move || {
                for kind in Kind::ALL {
                    Slot::new(&root, kind).current()?;
                }
                Ok(())
            }
        })
        .await?;
        let mut generations: Vec<(Slot, String)> = Vec::new();
        for kind in Kind::ALL {
            let slot = Slot::new(root, kind);
            let preparing = slot.clone();
            // File locks and deletions (a search index is a directory tree): off the async threads.
            let generation = blocking("open read model", move || {
                let generation = preparing.current_for_this_code()?;
                // Files of replaced generations (or a rebuild that crashed) go, unless a rebuild
                // is running right now.
                if let Ok(_lock) = preparing.try_lock() {
                    preparing.remove_except(&[&generation])?;
                }
                Ok(generation)
            })
            .await?;
            generations.push((slot, generation));
        }
        let wanted = generations
            .iter()
            .map(|(slot, generation)| (slot.kind, slot.path(generation)))
            .collect();
        let opened = open_stores(wanted)
            .await
            .map_err(|error| ReadModelError::Projection {
                kind: "read models",
                error,
            })?;
        let mut opened = opened;
        for (index, (slot, generation)) in generations.iter_mut().enumerate() {
            let checkpoint = opened[index].0.checkpoint();
            let reason = match check_against_log(&log, slot.kind.name(), &checkpoint).await {
                Ok(()) => continue,
                Err(error @ ProjectionError::OtherLog { .. }) => error.to_string(),
                // The log does not answer now: the runner checks again when it subscribes.
                Err(_) => continue,
            };
            tracing::warn!(
                projection = slot.kind.name(),
                generation = generation.as_str(),
                %reason,
                "read model is of another log; building a new generation from this one"
            );
            let fresh = Self::replace_generation(slot).await?;
            let path = slot.path(&fresh);
            let mut reopened = open_stores(vec![(slot.kind, path)])
                .await
                .map_err(|error| ReadModelError::Projection {
                    kind: slot.kind.name(),
                    error,
                })?;
            let store = reopened.pop().ok_or_else(|| ReadModelError::Projection {
                kind: slot.kind.name(),
                error: ProjectionError::Corrupt("no store opened".to_owned()),
            })?;
            // The old generation's store closes off the async threads; its files go at the
            // next start (or swap) with the other replaced generations.
            let old = std::mem::replace(&mut opened[index], store);
            blocking("close read model", move || {
                drop(old);
                Ok(())
            })
            .await?;
            *generation = fresh;
        }
        let (stores, accesses): (Vec<_>, Vec<_>) = opened.into_iter().unzip();
        let runners = ProjectionRunner::start_group(log.clone(), stores, options.clone()).map_err(
            |error| ReadModelError::Projection {
                kind: "read models",
                error,
            },
        )?;
        let mut live = BTreeMap::new();
        for (((slot, generation), runner), access) in
            generations.into_iter().zip(runners).zip(accesses)
        {
            live.insert(
                slot.kind,
                Live {
                    generation,
                    runner: Arc::new(runner),
                    access,
                },
            );
        }
        // A log that does not answer now has its end read as 0: queries then wait only for
        // what they ask for.
        let started_at_seq = log.last_seq().await.unwrap_or(0);
        let models = Arc::new(Self {
            root: root.to_path_buf(),
            log,
            options,
            live: RwLock::new(live),
            swapping: tokio::sync::Mutex::new(false),
            stopping: AtomicBool::new(false),
            restarts: std::sync::Mutex::new(BTreeMap::new()),
            started_at_seq,
            caught_up: AtomicBool::new(false),
        });
        tokio::spawn(follow_swaps(Arc::downgrade(&models)));
        Ok(models)
    }

    /// Publishes a new, empty generation of `slot` (built from the log by its runner) in place
    /// of the live one, which is of another log.
    async fn replace_generation(slot: &Slot) -> Result<String, ReadModelError> {
        let slot = slot.clone();
        blocking("replace read model", move || {
            let _lock = slot.lock_waiting()?;
            let generation = slot.next_generation()?;
            slot.write_fingerprint(&generation)?;
            slot.publish(&generation)?;
            Ok(generation)
        })
        .await
    }

    async fn open(
        log: &L,
        slot: &Slot,
        generation: String,
        options: &RunnerOptions,
    ) -> Result<Live<L>, ReadModelError> {
        let path = slot.path(&generation);
        let (runner, access) = slot
            .kind
            .start(log.clone(), &path, options.clone())
            .await
            .map_err(|error| ReadModelError::Projection {
                kind: slot.kind.name(),
                error,
            })?;
        Ok(Live {
            generation,
            runner: Arc::new(runner),
            access,
        })
    }

    /// Readers of a SQLite read model's live generation.
    pub fn readers(&self, kind: Kind) -> Option<Readers> {
        match self.read_live().get(&kind).map(|l| &l.access) {
            Some(ModelReaders::Sqlite(readers)) => Some(readers.clone()),
            _ => None,
        }
    }

    /// The reader of the live search index.
    pub fn search(&self) -> Option<SearchReader> {
        match self.read_live().get(&Kind::Search).map(|l| &l.access) {
            Some(ModelReaders::Search(reader)) => Some(reader.clone()),
            _ => None,
        }
    }

    /// The status of a read model's live runner as it changes (see
    /// `ProjectionRunner::watch_status`); a swap replaces the runner, so take it again when
    /// the receiver reports its sender gone.
    pub fn watch_status(
        &self,
        kind: Kind,
    ) -> Option<tokio::sync::watch::Receiver<switchboard_projections::RunnerStatus>> {
        self.read_live().get(&kind).map(|l| l.runner.watch_status())
    }

    /// Where every read model is.
    pub fn status(&self) -> Vec<ModelStatus> {
        self.read_live()
            .iter()
            .map(|(kind, live)| {
                let status = live.runner.status();
                ModelStatus {
                    projection: kind.name(),
                    generation: live.generation.clone(),
                    applied_seq: status.checkpoint.seq,
                    undecodable: status.checkpoint.undecodable,
                    failed: status.failure().map(str::to_owned),
                }
            })
            .collect()
    }

    /// The sequence every read model has applied (the least of their checkpoints).
    pub fn applied_everywhere(&self) -> u64 {
        self.read_live()
            .values()
            .map(|live| live.runner.status().checkpoint.seq)
            .min()
            .unwrap_or(0)
    }

    /// The sequence every query waits for on top of its own `min_seq`: the log's end when the
    /// read models started, until they have all applied it once; then 0. A generation built
    /// from nothing at start (a new schema, another log) or one far behind after a long stop
    /// would otherwise answer from a part of the log: a list with a third of its dialogs.
    pub fn start_floor(&self) -> u64 {
        if self.caught_up.load(Ordering::Acquire) {
            return 0;
        }
        if self.applied_everywhere() >= self.started_at_seq {
            self.caught_up.store(true, Ordering::Release);
            return 0;
        }
        // A stopped runner (a full disk, a bug) will not catch up by waiting: its queries
        // answer from what it has, as before the start's catch-up, and `/v1/health` says why.
        let stopped = self
            .read_live()
            .values()
            .any(|live| live.runner.status().failed.is_some());
        if stopped { 0 } else { self.started_at_seq }
    }

    /// Waits until every read model has applied `seq` (read-your-writes).
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let runners: Vec<_> = self
            .read_live()
            .values()
            .map(|l| Arc::clone(&l.runner))
            .collect();
        for runner in runners {
            runner.wait_for(seq, timeout).await?;
        }
        Ok(())
    }

    fn read_live(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Kind, Live<L>>> {
        self.live.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Swaps in every generation published since the last look. Returns how many it swapped.
    pub async fn follow_published(&self) -> Result<usize, ReadModelError> {
        let stopped = self.swapping.lock().await;
        if *stopped {
            return Ok(0);
        }
        let mut swapped = 0;
        for kind in Kind::ALL {
            let slot = Slot::new(&self.root, kind);
            let reading = slot.clone();
            let Some(published) = blocking("read CURRENT", move || reading.current()).await? else {
                continue;
            };
            let running = self.read_live().get(&kind).map(|l| l.generation.clone());
            if running.as_deref() == Some(published.as_str()) {
                continue;
            }
            let fresh = Self::open(&self.log, &slot, published.clone(), &self.options).await?;
            if !self.caught_up(kind, &fresh).await? {
                // Stopping: the new generation is swapped in by the next start.
                stop(fresh.runner).await;
                break;
            }
            let old = self
                .live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(kind, fresh);
            tracing::info!(
                projection = kind.name(),
                from = old.as_ref().map(|l| l.generation.as_str()),
                to = published.as_str(),
                "swapped in a rebuilt read model"
            );
            if let Some(old) = old {
                stop(old.runner).await;
            }
            let (collecting, keep) = (slot.clone(), published.clone());
            blocking("remove old generations", move || {
                if let Ok(_lock) = collecting.try_lock() {
                    collecting.remove_except(&[&keep])?;
                }
                Ok(())
            })
            .await?;
            swapped += 1;
        }
        drop(stopped);
        Ok(swapped)
    }

    /// Starts a runner again on the live generation of every read model whose runner stopped
    /// while its store kept failing (a full disk for long: see the runner's writer), once its
    /// writer has let go of the file, with a pause doubling from [`FIRST_RESTART`] to
    /// [`MAX_RESTART`] between two restarts of one model. The new runner reads the log from the
    /// file's checkpoint by itself. One of another log is not restarted: it gets a new
    /// generation. Returns how many it started.
    pub async fn restart_stopped(&self) -> Result<usize, ReadModelError> {
        let stopped = self.swapping.lock().await;
        if *stopped {
            return Ok(0);
        }
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut restarts = self.restarts.lock().unwrap_or_else(|e| e.into_inner());
            for (kind, live) in self.read_live().iter() {
                let status = live.runner.status();
                if status.failed.is_none() || status.other_log || !live.runner.writer_ended() {
                    if status.failure().is_none() {
                        // Running well again: the next stop starts from the first pause.
                        restarts.remove(kind);
                    }
                    continue;
                }
                let (at, pause) = *restarts
                    .entry(*kind)
                    .or_insert((now + FIRST_RESTART, FIRST_RESTART));
                if now >= at {
                    let next = (pause * 2).min(MAX_RESTART);
                    restarts.insert(*kind, (now + next, next));
                    due.push((*kind, live.generation.clone()));
                }
            }
        }
        let mut restarted = 0;
        for (kind, generation) in due {
            let slot = Slot::new(&self.root, kind);
            let fresh = match Self::open(&self.log, &slot, generation.clone(), &self.options).await
            {
                Ok(fresh) => fresh,
                Err(error) => {
                    tracing::warn!(projection = kind.name(), %error, "cannot start the stopped read model again; will retry");
                    continue;
                }
            };
            let old = self
                .live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(kind, fresh);
            tracing::warn!(
                projection = kind.name(),
                generation = generation.as_str(),
                "started a stopped read model again"
            );
            if let Some(old) = old {
                stop(old.runner).await;
            }
            restarted += 1;
        }
        drop(stopped);
        Ok(restarted)
    }

    /// Publishes a new generation (built from the log by its runner once swapped in) for every
    /// read model whose runner found it is of another log (the log was replaced under it).
    /// Returns how many.
    pub async fn replace_those_of_another_log(&self) -> Result<usize, ReadModelError> {
        let beside: Vec<(Kind, String)> = self
            .read_live()
            .iter()
            .filter(|(_, live)| live.runner.status().other_log)
            .map(|(kind, live)| (*kind, live.generation.clone()))
            .collect();
        let mut replaced = 0;
        for (kind, generation) in beside {
            let slot = Slot::new(&self.root, kind);
            let reading = slot.clone();
            // Published already (by an earlier pass or a rebuild): the swap follows it.
            if blocking("read CURRENT", move || reading.current())
                .await?
                .as_deref()
                != Some(generation.as_str())
            {
                continue;
            }
            let fresh = Self::replace_generation(&slot).await?;
            tracing::warn!(
                projection = kind.name(),
                from = generation.as_str(),
                to = fresh.as_str(),
                "read model is of another log; building a new generation from this one"
            );
            replaced += 1;
        }
        Ok(replaced)
    }

    /// Waits until the runner of a new generation has applied at least what the live one of
    /// `kind` has (read again each round, as it moves on), so that no answer goes backwards
    /// when queries move to it (a rebuild `--until-seq` older than the live checkpoint, say).
    /// `false` when the service stops first; an error when the new runner fails. A live one
    /// that is of another log (the log was replaced under it) is not waited for: its position
    /// means nothing in this log, and it may be past this log's end.
    async fn caught_up(&self, kind: Kind, fresh: &Live<L>) -> Result<bool, ReadModelError> {
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return Ok(false);
            }
            let of_another_log = self
                .read_live()
                .get(&kind)
                .is_some_and(|l| l.runner.status().other_log);
            if of_another_log {
                return Ok(true);
            }
            let live_seq = self
                .read_live()
                .get(&kind)
                .map(|l| l.runner.applied_seq())
                .unwrap_or(0);
            match fresh.runner.wait_for(live_seq, CATCH_UP_SLICE).await {
                Ok(()) if fresh.runner.applied_seq() >= live_seq => {
                    // Both may have moved on: done when the new one is not behind now.
                    let now = self
                        .read_live()
                        .get(&kind)
                        .map(|l| l.runner.applied_seq())
                        .unwrap_or(0);
                    if fresh.runner.applied_seq() >= now {
                        return Ok(true);
                    }
                }
                Ok(()) | Err(ProjectionError::Timeout { .. }) => {}
                Err(error) => {
                    return Err(ReadModelError::Projection {
                        kind: kind.name(),
                        error,
                    });
                }
            }
        }
    }

    /// A clean stop, once nothing appends any more: first the log is made durable, then every
    /// runner stops (each finishes the batch under way, syncs its file and removes its unsynced
    /// mark), and the swap task ends. In that order: a read model whose mark is gone claims to
    /// be durable, so what it applied must be durable in the log first, or a power cut after
    /// the stop would leave it ahead of the log. When the log cannot be made durable the
    /// runners still stop (the error is logged and returned).
    pub async fn shutdown(&self) -> Result<(), ProjectionError> {
        self.stopping.store(true, Ordering::Release);
        let durable = self.log.make_durable().await;
        if let Err(error) = &durable {
            tracing::error!(%error, "cannot make the log durable before the read models stop");
        }
        let mut stopped = self.swapping.lock().await;
        *stopped = true;
        let live = std::mem::take(&mut *self.live.write().unwrap_or_else(|e| e.into_inner()));
        match durable {
            Ok(durable) => stop_all(live, &durable).await,
            Err(error) => {
                for (_, live) in live {
                    stop(live.runner).await;
                }
                Err(ProjectionError::Stopped {
                    projection: "read models".to_owned(),
                    reason: format!("the log was not made durable: {error}"),
                })
            }
        }
    }
}

/// Stops the runners once the log is durable (the order [`ReadModels::shutdown`] keeps: the
/// [`Durable`] is only had from [`EventLog::make_durable`]).
async fn stop_all<L: EventLog>(
    live: BTreeMap<Kind, Live<L>>,
    _durable: &Durable,
) -> Result<(), ProjectionError> {
    for (_, live) in live {
        stop(live.runner).await;
    }
    Ok(())
}

/// Stops a runner; one that a waiter still holds stops when the waiter lets go.
async fn stop<L: EventLog>(runner: Arc<ProjectionRunner<L>>) {
    match Arc::try_unwrap(runner) {
        Ok(runner) => {
            runner.shutdown().await;
        }
        Err(shared) => drop(shared),
    }
}

async fn follow_swaps<L: EventLog>(models: Weak<ReadModels<L>>) {
    loop {
        tokio::time::sleep(SWAP_POLL).await;
        let Some(models) = models.upgrade() else {
            return;
        };
        if *models.swapping.lock().await {
            return;
        }
        if let Err(error) = models.restart_stopped().await {
            tracing::warn!(%error, "cannot start a stopped read model again; will retry");
        }
        if let Err(error) = models.replace_those_of_another_log().await {
            tracing::warn!(%error, "cannot replace a read model of another log; will retry");
        }
        if let Err(error) = models.follow_published().await {
            tracing::warn!(%error, "cannot swap in a rebuilt read model; will retry");
        }
    }
}
