//! Rebuilds: the log replayed into new files (to the end, a sequence or a moment), each record
//! read once for every store of a group, the files renamed over the old ones once all are
//! built.

use super::{
    Checkpoint, FileStore, Projection, ProjectionError, ProjectionStore, SharedBatch, SharedRecord,
    Store, task_failed,
};
use crate::files::{remove_database, sibling, sync_parent};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use switchboard_core::log::{EventLog, SubjectFilter};
use switchboard_schemas::Timestamp;
use tokio::sync::mpsc;

/// How far a [`rebuild`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Everything the log holds when the rebuild starts.
    End,
    /// Up to and including this sequence.
    Seq(u64),
    /// Everything the log stored at or before this time (F13.1: a read model as of a past
    /// moment).
    Time(Timestamp),
}

/// Where a [`rebuild`] is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    pub applied_seq: u64,
    /// The last sequence the rebuild will consider.
    pub target_seq: u64,
}

/// The last sequence a rebuild up to `until` considers, given the log's last sequence.
fn target_of(until: Until, last: u64) -> u64 {
    match until {
        Until::Seq(seq) => seq.min(last),
        Until::End | Until::Time(_) => last,
    }
}

/// Replays the log into `store` from its checkpoint + 1 up to `until`, reading the next batch
/// while the previous one is applied on a thread of its own, then [`Store::finish`]es it and
/// hands it back: [`rebuild_group`] of one. The building block of [`rebuild`] and of
/// `search::rebuild`.
pub async fn rebuild_store<L: EventLog, S: Store>(
    log: &L,
    store: S,
    until: Until,
    max_batch: usize,
    mut progress: impl FnMut(RebuildProgress) + Send,
) -> Result<S, ProjectionError> {
    let name = store.name();
    let mut built = rebuild_group(log, vec![Box::new(store)], until, max_batch, |_, p| {
        progress(p)
    })
    .await?;
    built
        .pop()
        .map(|store| *store)
        .ok_or_else(|| ProjectionError::Corrupt(format!("rebuild of {name} lost its store")))
}

/// Rebuilds a projection from the log into a new file beside `path` and then moves it over
/// `path` (an atomic rename; a crash before it leaves the old file as it was). Stop the
/// projection's runner first and start it again afterwards: it resumes from the rebuilt
/// checkpoint.
pub async fn rebuild<L: EventLog, P: Projection>(
    log: &L,
    path: &Path,
    projection: P,
    until: Until,
    max_batch: usize,
    progress: impl FnMut(RebuildProgress) + Send,
) -> Result<Checkpoint, ProjectionError> {
    let display = path.display().to_string();
    let building = sibling(path, ".rebuild");
    let open_path = building.clone();
    let store = tokio::task::spawn_blocking(move || {
        ProjectionStore::create_for_rebuild(&open_path, projection)
    })
    .await
    .map_err(|e| task_failed(&display, "rebuild", e))??;
    let store = rebuild_store(log, store, until, max_batch, progress).await?;
    let checkpoint = store.checkpoint();
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || install(Box::new(store), &building, &target))
        .await
        .map_err(|e| task_failed(&display, "rebuild", e))??;
    tracing::info!(path = %path.display(), checkpoint = checkpoint.seq, "projection rebuilt");
    Ok(checkpoint)
}

/// Closes a store built at `building` and moves its file over `target` (an atomic rename).
fn install(
    store: Box<dyn FileStore>,
    building: &Path,
    target: &Path,
) -> Result<(), ProjectionError> {
    store.close_file()?;
    for file in [building, target] {
        for suffix in ["-wal", "-shm"] {
            remove_database(&sibling(file, suffix))?;
        }
    }
    std::fs::rename(building, target).map_err(|e| ProjectionError::io("rename", building, e))?;
    // The rename itself survives a power cut once the directory is synced.
    sync_parent(target)?;
    // The file there now is synced: an unsynced mark of the one it replaced no longer applies.
    remove_database(&crate::unsynced::mark_path(target))
}

/// Opens a fresh file beside `path` for [`rebuild_files`] (`open` is given the path to open).
pub fn open_for_rebuild<F>(path: &Path, open: F) -> Result<Box<dyn FileStore>, ProjectionError>
where
    F: FnOnce(&Path) -> Result<Box<dyn FileStore>, ProjectionError>,
{
    let building = sibling(path, ".rebuild");
    remove_database(&building)?;
    open(&building)
}

/// [`rebuild`] for several read models at once, each opened with [`open_for_rebuild`] for its
/// `path`: one pass over the log feeds them all (each record read and decoded once), each
/// store applying on a thread of its own while the next batch is read. The files are moved
/// over their paths once all are built; an error leaves every old file as it was. `progress`
/// gets the index of the store and where it is.
pub async fn rebuild_files<L: EventLog>(
    log: &L,
    stores: Vec<(PathBuf, Box<dyn FileStore>)>,
    until: Until,
    max_batch: usize,
    progress: impl FnMut(usize, RebuildProgress) + Send,
) -> Result<Vec<Checkpoint>, ProjectionError> {
    let (paths, stores): (Vec<PathBuf>, Vec<Box<dyn FileStore>>) = stores.into_iter().unzip();
    let stores = rebuild_group(log, stores, until, max_batch, progress).await?;
    let checkpoints: Vec<Checkpoint> = stores.iter().map(|s| s.checkpoint()).collect();
    tokio::task::spawn_blocking(move || {
        for (store, path) in stores.into_iter().zip(&paths) {
            install(store, &sibling(path, ".rebuild"), path)?;
            tracing::info!(path = %path.display(), "projection rebuilt");
        }
        Ok::<_, ProjectionError>(())
    })
    .await
    .map_err(|e| task_failed("read models", "rebuild", e))??;
    Ok(checkpoints)
}

/// Replays the log into every store from the lowest checkpoint + 1 up to `until` (each store
/// skips what it has), reading once for all: each store applies on its own thread from a
/// queue two batches deep. Finishes every store and hands them back in order.
pub async fn rebuild_group<L: EventLog, S: Store + ?Sized>(
    log: &L,
    stores: Vec<Box<S>>,
    until: Until,
    max_batch: usize,
    mut progress: impl FnMut(usize, RebuildProgress) + Send,
) -> Result<Vec<Box<S>>, ProjectionError> {
    let target_seq = target_of(until, log.last_seq().await?);
    let filter = SubjectFilter::all();
    let mut from_seq = stores.iter().map(|s| s.checkpoint().seq).min().unwrap_or(0) + 1;
    let mut queues = Vec::with_capacity(stores.len());
    let mut workers = Vec::with_capacity(stores.len());
    let mut applied = Vec::with_capacity(stores.len());
    for mut store in stores {
        let (tx, mut rx) = mpsc::channel::<Step>(2);
        let seq = Arc::new(std::sync::atomic::AtomicU64::new(store.applied_seq()));
        let reported = Arc::clone(&seq);
        let name = store.name();
        let worker = std::thread::Builder::new()
            .name(format!("rebuild-{name}"))
            .spawn(move || {
                while let Some(step) = rx.blocking_recv() {
                    match step {
                        Step::Batch(batch) => store.apply_shared(&batch)?,
                        Step::Unreadable(seq) => store.skip_unreadable(seq)?,
                    };
                    reported.store(store.applied_seq(), Ordering::Release);
                }
                store.finish()?;
                Ok::<_, ProjectionError>(store)
            })
            .map_err(|e| ProjectionError::Stopped {
                projection: name.to_owned(),
                reason: format!("cannot start the rebuild thread: {e}"),
            })?;
        queues.push(tx);
        workers.push(worker);
        applied.push(seq);
    }
    let mut reported: Vec<u64> = applied.iter().map(|s| s.load(Ordering::Acquire)).collect();
    let mut done = false;
    while !done {
        let read = if from_seq <= target_seq {
            log.read_all(from_seq, &filter, max_batch.max(1)).await?
        } else {
            Vec::new()
        };
        match read.last() {
            Some(Ok(last)) => from_seq = last.seq + 1,
            Some(Err(last)) => from_seq = last.seq + 1,
            None => done = true,
        }
        // Runs of readable records as one batch each, an unreadable record as a step of its own.
        let mut steps = Vec::new();
        let mut records = Vec::new();
        for item in read {
            let seq = match &item {
                Ok(record) => record.seq,
                Err(unreadable) => unreadable.seq,
            };
            let past = seq > target_seq
                || matches!((&item, until), (Ok(r), Until::Time(at)) if r.appended_at > at);
            if past {
                done = true;
                break;
            }
            match item {
                Ok(record) => records.push(SharedRecord::new(record)),
                Err(unreadable) => {
                    tracing::warn!(%unreadable, "skipping a record that cannot be read");
                    if !records.is_empty() {
                        steps.push(Step::Batch(std::mem::take(&mut records).into()));
                    }
                    steps.push(Step::Unreadable(unreadable.seq));
                }
            }
        }
        if !records.is_empty() {
            steps.push(Step::Batch(records.into()));
        }
        for step in steps {
            for queue in &queues {
                // A worker that failed has dropped its queue: stop reading, its error is below.
                if queue.send(step.clone()).await.is_err() {
                    done = true;
                }
            }
        }
        report(&mut progress, &mut reported, &applied, target_seq);
    }
    drop(queues);
    let finished = tokio::task::spawn_blocking(move || {
        workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    Err(ProjectionError::Corrupt(
                        "a rebuild thread panicked".to_owned(),
                    ))
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| task_failed("read models", "rebuild", e))?;
    let stores = finished.into_iter().collect::<Result<Vec<_>, _>>()?;
    for (seq, store) in applied.iter().zip(&stores) {
        seq.store(store.applied_seq(), Ordering::Release);
    }
    report(&mut progress, &mut reported, &applied, target_seq);
    Ok(stores)
}

/// What a rebuild thread is handed: a batch, or the sequence of a record that cannot be read.
#[derive(Clone)]
enum Step {
    Batch(SharedBatch),
    Unreadable(u64),
}

/// Calls `progress` for each store whose applied sequence moved since the last report.
fn report(
    progress: &mut impl FnMut(usize, RebuildProgress),
    reported: &mut [u64],
    applied: &[Arc<std::sync::atomic::AtomicU64>],
    target_seq: u64,
) {
    for (index, (last, seq)) in reported.iter_mut().zip(applied).enumerate() {
        let applied_seq = seq.load(Ordering::Acquire);
        if applied_seq > *last {
            *last = applied_seq;
            progress(
                index,
                RebuildProgress {
                    applied_seq,
                    target_seq,
                },
            );
        }
    }
}
