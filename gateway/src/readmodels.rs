//! The read models of one data directory: where their files live, which generation is live, the
//! runners that keep them current while `serve` runs, and swapping in a rebuilt generation
//! without stopping the service.
//!
//! Layout: `DIR/read/<projection>/CURRENT` names the live generation (`g<digits>`), whose file is
//! `DIR/read/<projection>/<generation>.sqlite`. A rebuild writes a new generation beside it and
//! then replaces `CURRENT` by a rename (atomic; a crash leaves either the old or the new name),
//! so no SQLite file is ever renamed over one that a process has open (its WAL and shared-memory
//! files belong to its name). A running `serve` polls `CURRENT`, starts a runner on the new
//! generation (which resumes from that file's checkpoint), points queries at it, stops the old
//! runner and deletes the old files. `LOCK` (an exclusive file lock) keeps two rebuilds of the
//! same projection apart and keeps deletion away from a rebuild in progress.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use switchboard_core::EventLog;
use switchboard_projections::card::CardProjection;
use switchboard_projections::dialogs::DialogsProjection;
use switchboard_projections::project::ProjectProjection;
use switchboard_projections::search::{self, SearchIndex, SearchOptions, SearchReader};
use switchboard_projections::timeline::TimelineProjection;
use switchboard_projections::{
    Checkpoint, FileStore, Projection, ProjectionError, ProjectionRunner, ProjectionStore, Readers,
    RebuildProgress, RunnerOptions, Store, Until, rebuild,
};
use switchboard_projections::{files, unsynced};

/// Opens stores off the async threads, in the order given.
pub async fn open_stores(
    wanted: Vec<(Kind, PathBuf)>,
) -> Result<Vec<(Box<dyn Store>, Access)>, ProjectionError> {
    tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .map(|(kind, path)| kind.open_store(&path))
            .collect()
    })
    .await
    .map_err(|e| ProjectionError::Stopped {
        projection: "read models".to_owned(),
        reason: format!("open task failed: {e}"),
    })?
}

/// The directory of the read models inside a data directory.
pub const READ_DIR: &str = "read";

/// How often a running service looks for a swapped-in generation.
const SWAP_POLL: Duration = Duration::from_millis(200);

/// Idle reader connections kept per read model.
const IDLE_READERS: usize = 8;

/// Every read model, by the name the command line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Kind {
    /// The dialog list, unread counters, folder badges and tag counts.
    Dialogs,
    /// Each dialog's messages, notes and service entries.
    Timeline,
    /// The client card.
    Card,
    /// What each project defines: operators, channels, folders, tags, lists, variables,
    /// pipelines, SLA thresholds, templates, saved filters.
    Project,
    /// The tantivy index of clients and messages (a directory, not a SQLite file).
    Search,
}

/// How queries reach a live read model.
#[derive(Debug, Clone)]
pub enum Access {
    Sqlite(Readers),
    Search(SearchReader),
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Dialogs,
        Kind::Timeline,
        Kind::Card,
        Kind::Project,
        Kind::Search,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Dialogs => "dialogs",
            Kind::Timeline => "timeline",
            Kind::Card => "card",
            Kind::Project => "project",
            Kind::Search => search::NAME,
        }
    }

    /// Whether its generations are directories (else SQLite files).
    pub fn is_directory(self) -> bool {
        self == Kind::Search
    }

    /// Opens the file (or index directory) at `path` as a store a runner can drive, with how
    /// queries reach it. Blocking: call it off the async threads.
    pub fn open_store(self, path: &Path) -> Result<(Box<dyn Store>, Access), ProjectionError> {
        // Its readers get the SQL functions its queries use.
        fn sqlite<P: Projection>(
            path: &Path,
            projection: P,
        ) -> Result<(Box<dyn Store>, Access), ProjectionError> {
            let store = Box::new(ProjectionStore::open(path, projection)?);
            let readers = Readers::for_projection::<P>(path, IDLE_READERS);
            Ok((store, Access::Sqlite(readers)))
        }
        match self {
            Kind::Dialogs => sqlite(path, DialogsProjection::default()),
            Kind::Timeline => sqlite(path, TimelineProjection::default()),
            Kind::Card => sqlite(path, CardProjection),
            Kind::Project => sqlite(path, ProjectProjection),
            Kind::Search => {
                let index = SearchIndex::open(path, SearchOptions::default())?;
                let reader = index.reader();
                Ok((Box::new(index), Access::Search(reader)))
            }
        }
    }

    /// Creates a SQLite read model's file at `path` afresh for a rebuild (blocking; see
    /// [`ProjectionStore::create_for_rebuild`]).
    pub fn create_file_store(self, path: &Path) -> Result<Box<dyn FileStore>, ProjectionError> {
        Ok(match self {
            Kind::Dialogs => Box::new(ProjectionStore::create_for_rebuild(
                path,
                DialogsProjection::default(),
            )?),
            Kind::Timeline => Box::new(ProjectionStore::create_for_rebuild(
                path,
                TimelineProjection::default(),
            )?),
            Kind::Card => Box::new(ProjectionStore::create_for_rebuild(path, CardProjection)?),
            Kind::Project => Box::new(ProjectionStore::create_for_rebuild(
                path,
                ProjectProjection,
            )?),
            Kind::Search => {
                return Err(ProjectionError::Corrupt(
                    "the search index is a directory, not a SQLite file".to_owned(),
                ));
            }
        })
    }

    /// Starts a runner on the file (or index directory) at `path`, with a log reader of its
    /// own, and with how queries reach it.
    pub async fn start<L: EventLog>(
        self,
        log: L,
        path: &Path,
        options: RunnerOptions,
    ) -> Result<(ProjectionRunner<L>, Access), ProjectionError> {
        let (store, access) = open_stores(vec![(self, path.to_path_buf())])
            .await?
            .pop()
            .ok_or_else(|| ProjectionError::Corrupt("no store opened".to_owned()))?;
        Ok((ProjectionRunner::start_store(log, store, options)?, access))
    }

    /// Bump when what a projection writes changes without its schema text changing: the
    /// fingerprint then differs and `serve` rebuilds the read model from the log.
    fn apply_version(self) -> u32 {
        match self {
            Kind::Dialogs => 1,
            Kind::Timeline => 2,
            Kind::Card => 1,
            Kind::Project => 1,
            Kind::Search => 2,
        }
    }

    /// The schema text, query indexes included.
    fn schema(self) -> [&'static str; 2] {
        fn of(projection: impl Projection) -> [&'static str; 2] {
            [projection.schema(), projection.query_indexes()]
        }
        match self {
            Kind::Dialogs => of(DialogsProjection::default()),
            Kind::Timeline => of(TimelineProjection::default()),
            Kind::Card => of(CardProjection),
            Kind::Project => of(ProjectProjection),
            // The index's schema is code in `projections::search`: its changes bump
            // `apply_version` above.
            Kind::Search => ["tantivy", ""],
        }
    }

    /// What a generation built by this code looks like: its schema and apply version. A live
    /// generation with another fingerprint was built by other code and is rebuilt.
    pub fn fingerprint(self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(self.name().as_bytes());
        hash.update(self.apply_version().to_le_bytes());
        for part in self.schema() {
            hash.update(part.as_bytes());
        }
        hex::encode(&hash.finalize()[..16])
    }

    /// Builds the read model from the log into `path` (see [`rebuild`]).
    pub async fn rebuild<L: EventLog>(
        self,
        log: &L,
        path: &Path,
        until: Until,
        max_batch: usize,
        progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<Checkpoint, ProjectionError> {
        match self {
            Kind::Dialogs => {
                rebuild(
                    log,
                    path,
                    DialogsProjection::default(),
                    until,
                    max_batch,
                    progress,
                )
                .await
            }
            Kind::Timeline => {
                rebuild(
                    log,
                    path,
                    TimelineProjection::default(),
                    until,
                    max_batch,
                    progress,
                )
                .await
            }
            Kind::Card => rebuild(log, path, CardProjection, until, max_batch, progress).await,
            Kind::Project => {
                rebuild(log, path, ProjectProjection, until, max_batch, progress).await
            }
            Kind::Search => {
                search::rebuild(
                    log,
                    path,
                    until,
                    max_batch,
                    SearchOptions::rebuild(),
                    progress,
                )
                .await
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{kind} is being rebuilt by another process (lock {})", path.display())]
    Busy { kind: &'static str, path: PathBuf },
    #[error("{kind}: {error}")]
    Projection {
        kind: &'static str,
        error: ProjectionError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ReadModelError + '_ {
    move |error| ReadModelError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// One read model's directory: its generations and the `CURRENT` pointer.
#[derive(Debug, Clone)]
pub struct Slot {
    kind: Kind,
    dir: PathBuf,
}

/// An exclusive hold on a slot; released when dropped.
#[derive(Debug)]
pub struct SlotLock {
    _file: File,
}

impl Slot {
    /// The slot of `kind` under the read-model directory `root` (`DIR/read`).
    pub fn new(root: &Path, kind: Kind) -> Self {
        Self {
            kind,
            dir: root.join(kind.name()),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file (or index directory) of a generation.
    pub fn path(&self, generation: &str) -> PathBuf {
        if self.kind.is_directory() {
            self.dir.join(generation)
        } else {
            self.dir.join(format!("{generation}.sqlite"))
        }
    }

    fn pointer(&self) -> PathBuf {
        self.dir.join(files::POINTER)
    }

    fn fingerprint_path(&self, generation: &str) -> PathBuf {
        self.dir.join(format!("{generation}.fingerprint"))
    }

    /// Records which code builds a generation (see [`Kind::fingerprint`]).
    pub fn write_fingerprint(&self, generation: &str) -> Result<(), ReadModelError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.fingerprint_path(generation);
        std::fs::write(&path, format!("{}\n", self.kind.fingerprint())).map_err(io_error(&path))
    }

    /// Whether the generation was built by this code (no fingerprint: no).
    pub fn built_by_this_code(&self, generation: &str) -> Result<bool, ReadModelError> {
        let path = self.fingerprint_path(generation);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim() == self.kind.fingerprint()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(ReadModelError::Io { path, error }),
        }
    }

    /// Whether the generation's file was left unsynced by another boot of the machine (it
    /// was being written when the machine stopped, so it may be torn): the boot named by its
    /// mark (see `switchboard_projections::unsynced`).
    pub fn torn_by(&self, generation: &str) -> Result<Option<String>, ReadModelError> {
        let path = self.path(generation);
        unsynced::from_another_boot(&path).map_err(|error| ReadModelError::Projection {
            kind: self.kind.name(),
            error,
        })
    }

    /// Whether the generation can serve: built by this code and not torn by another boot.
    fn usable(&self, generation: &str) -> Result<bool, ReadModelError> {
        Ok(self.built_by_this_code(generation)? && self.torn_by(generation)?.is_none())
    }

    /// The live generation, or a new empty one (which a runner builds from the log) when there
    /// is none, the live one was built by other code (another schema or apply version) or
    /// the machine stopped while it was being written.
    pub fn current_for_this_code(&self) -> Result<String, ReadModelError> {
        if let Some(generation) = self.current()?
            && self.usable(&generation)?
        {
            return Ok(generation);
        }
        let _lock = self.lock_waiting()?;
        let current = self.current()?;
        if let Some(generation) = &current {
            if self.usable(generation)? {
                return Ok(generation.clone());
            }
            match self.torn_by(generation)? {
                Some(boot) => tracing::warn!(
                    projection = self.kind.name(),
                    generation = generation.as_str(),
                    boot = boot.as_str(),
                    "read model was being written when the machine stopped; building a new \
                     generation from the log"
                ),
                None => tracing::warn!(
                    projection = self.kind.name(),
                    generation = generation.as_str(),
                    "read model built by other code (schema or apply version); building a new \
                     generation from the log"
                ),
            }
        }
        let generation = self.next_generation()?;
        self.write_fingerprint(&generation)?;
        self.publish(&generation)?;
        Ok(generation)
    }

    /// The live generation, if any was ever published.
    pub fn current(&self) -> Result<Option<String>, ReadModelError> {
        let Some(generation) = files::read_pointer(&self.dir).map_err(self.projection_error())?
        else {
            return Ok(None);
        };
        if parse_generation(&generation).is_none() {
            return Err(ReadModelError::Invalid {
                path: self.pointer(),
                reason: format!("not a generation name: {generation:?}"),
            });
        }
        Ok(Some(generation))
    }

    /// Takes the slot's lock, failing at once when another process holds it.
    pub fn try_lock(&self) -> Result<SlotLock, ReadModelError> {
        let (file, path) = self.lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(SlotLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ReadModelError::Busy {
                kind: self.kind.name(),
                path,
            }),
            Err(std::fs::TryLockError::Error(error)) => Err(ReadModelError::Io { path, error }),
        }
    }

    fn lock_waiting(&self) -> Result<SlotLock, ReadModelError> {
        let (file, path) = self.lock_file()?;
        file.lock().map_err(io_error(&path))?;
        Ok(SlotLock { _file: file })
    }

    fn lock_file(&self) -> Result<(File, PathBuf), ReadModelError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok((file, path))
    }

    /// The generations that have files in the slot, oldest first.
    fn generations(&self) -> Result<Vec<(u64, String)>, ReadModelError> {
        let mut found = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error(&self.dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stem = name.split('.').next().unwrap_or_default();
            if let Some(n) = parse_generation(stem) {
                found.insert(n, stem.to_owned());
            }
        }
        Ok(found.into_iter().collect())
    }

    /// A name newer than every generation in the slot (hold the lock while using it).
    pub fn next_generation(&self) -> Result<String, ReadModelError> {
        let mut newest = self.generations()?.last().map(|(n, _)| *n).unwrap_or(0);
        if let Some(current) = self.current()?.as_deref().and_then(parse_generation) {
            newest = newest.max(current);
        }
        Ok(format!("g{:06}", newest + 1))
    }

    /// Makes `generation` the live one: the pointer is replaced atomically and durably (see
    /// `switchboard_projections::files::write_pointer`).
    pub fn publish(&self, generation: &str) -> Result<(), ReadModelError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        files::write_pointer(&self.dir, generation).map_err(self.projection_error())
    }

    /// A projection error of this slot's read model.
    fn projection_error(&self) -> impl FnOnce(ProjectionError) -> ReadModelError {
        let kind = self.kind.name();
        move |error| ReadModelError::Projection { kind, error }
    }

    /// Deletes the files of every generation not in `keep` (hold the lock).
    pub fn remove_except(&self, keep: &[&str]) -> Result<usize, ReadModelError> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(io_error(&self.dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stem = name.split('.').next().unwrap_or_default();
            if parse_generation(stem).is_none() || keep.contains(&stem) {
                continue;
            }
            let path = entry.path();
            let outcome = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match outcome {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(ReadModelError::Io { path, error }),
            }
        }
        Ok(removed)
    }
}

fn parse_generation(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('g')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What `/v1/health` shows of one read model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelStatus {
    pub projection: &'static str,
    pub generation: String,
    pub applied_seq: u64,
    /// Why the runner stopped applying, if it did.
    pub failed: Option<String>,
}

struct Live<L: EventLog> {
    generation: String,
    runner: Arc<ProjectionRunner<L>>,
    access: Access,
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
        let mut generations = Vec::new();
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
        let models = Arc::new(Self {
            root: root.to_path_buf(),
            log,
            options,
            live: RwLock::new(live),
            swapping: tokio::sync::Mutex::new(false),
        });
        tokio::spawn(follow_swaps(Arc::downgrade(&models)));
        Ok(models)
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
            Some(Access::Sqlite(readers)) => Some(readers.clone()),
            _ => None,
        }
    }

    /// The reader of the live search index.
    pub fn search(&self) -> Option<SearchReader> {
        match self.read_live().get(&Kind::Search).map(|l| &l.access) {
            Some(Access::Search(reader)) => Some(reader.clone()),
            _ => None,
        }
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
                    failed: status.failed,
                }
            })
            .collect()
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

    /// Stops every runner (each finishes the batch under way) and the swap task.
    pub async fn shutdown(&self) {
        let mut stopped = self.swapping.lock().await;
        *stopped = true;
        let live = std::mem::take(&mut *self.live.write().unwrap_or_else(|e| e.into_inner()));
        for (_, live) in live {
            stop(live.runner).await;
        }
    }
}

/// Runs filesystem work (locks, pointer files, deletions) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ReadModelError> + Send + 'static,
) -> Result<T, ReadModelError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReadModelError::Invalid {
            path: PathBuf::from(what),
            reason: format!("task failed: {e}"),
        })?
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
        if let Err(error) = models.follow_published().await {
            tracing::warn!(%error, "cannot swap in a rebuilt read model; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_published_and_collected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let slot = Slot::new(dir.path(), Kind::Dialogs);
        assert_eq!(slot.current().expect("current"), None);
        let first = slot.current_for_this_code().expect("init");
        assert_eq!(first, "g000001");
        assert_eq!(slot.current_for_this_code().expect("again"), first);
        std::fs::write(slot.path(&first), b"one").expect("write");
        let lock = slot.try_lock().expect("lock");
        assert!(matches!(slot.try_lock(), Err(ReadModelError::Busy { .. })));
        let second = slot.next_generation().expect("next");
        assert_eq!(second, "g000002");
        std::fs::write(slot.path(&second), b"two").expect("write");
        std::fs::write(dir.path().join("dialogs/g000002.sqlite-wal"), b"").expect("write");
        slot.publish(&second).expect("publish");
        assert_eq!(slot.current().expect("current").as_deref(), Some("g000002"));
        assert_eq!(
            slot.remove_except(&[&second]).expect("remove"),
            2,
            "file and fingerprint"
        );
        assert!(!slot.path(&first).exists());
        assert!(slot.path(&second).exists());
        drop(lock);
        slot.try_lock().expect("the lock is free again");
        // Built by other code (another schema or apply version): a new empty generation.
        std::fs::write(dir.path().join("dialogs/g000002.fingerprint"), b"old\n").expect("write");
        assert!(!slot.built_by_this_code(&second).expect("fingerprint"));
        assert_eq!(slot.current_for_this_code().expect("current"), "g000003");
        assert!(slot.built_by_this_code("g000003").expect("fingerprint"));
        assert_ne!(Kind::Dialogs.fingerprint(), Kind::Timeline.fingerprint());
        // Being written (unsynced) when the machine stopped: a new empty generation too.
        let third = "g000003";
        std::fs::write(slot.path(third), b"three").expect("write");
        let mark = unsynced::mark_path(&slot.path(third));
        std::fs::write(&mark, b"another boot").expect("write");
        assert_eq!(
            slot.torn_by(third).expect("mark"),
            Some("another boot".to_owned())
        );
        assert_eq!(slot.current_for_this_code().expect("current"), "g000004");
        let lock = slot.try_lock().expect("lock");
        slot.remove_except(&["g000004"]).expect("remove");
        assert!(!mark.exists(), "a generation's mark goes with it");
        drop(lock);
        std::fs::write(dir.path().join("dialogs/CURRENT"), b"../etc\n").expect("write");
        assert!(matches!(
            slot.current(),
            Err(ReadModelError::Invalid { .. })
        ));
    }
}
