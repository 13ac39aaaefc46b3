//! The read models of one data directory: where their files live, which generation is live, the
//! runners that keep them current while `serve` runs, and swapping in a rebuilt generation
//! without stopping the service.
//!
//! Layout: `DIR/read/<projection>/CURRENT` names the live generation (`g<digits>`), whose file is
//! `DIR/read/<projection>/<generation>.sqlite`. A rebuild writes a new generation beside it and
//! then replaces `CURRENT` by a rename (atomic; a crash leaves either the old or the new name),
//! so no SQLite file is ever renamed over one that a process has open (its WAL and shared-memory
//! files belong to its name). A running `serve` polls `CURRENT`, starts a runner on the new
//! generation (which resumes from that file's checkpoint), waits until it has applied what the
//! live one has (no answer goes backwards, even from a rebuild `--until-seq` in the past),
//! points queries at it, stops the old runner and deletes the old files. `LOCK` (an exclusive file lock) keeps two rebuilds of the
//! same projection apart and keeps deletion away from a rebuild in progress.
//!
//! Here: [`Kind`], the one list of read models (how each opens, rebuilds and fingerprints), and
//! [`Slot`], one read model's generations and pointer; `live`: [`ReadModels`], the runners of a
//! running service and the swapping.

mod live;

pub use live::{ModelStatus, ReadModels};

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
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
) -> Result<Vec<(Box<dyn Store>, ModelReaders)>, ProjectionError> {
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

/// The readers of a live read model, by which queries reach it: a pool of SQLite connections,
/// or the search index's reader.
#[derive(Debug, Clone)]
pub enum ModelReaders {
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

    /// Its file named `stem` in `dir`: `<stem>.sqlite`, or the directory `<stem>` for the
    /// search index.
    pub fn file_in(self, dir: &Path, stem: &str) -> PathBuf {
        if self.is_directory() {
            dir.join(stem)
        } else {
            dir.join(format!("{stem}.sqlite"))
        }
    }

    /// Opens the file (or index directory) at `path` as a store a runner can drive, with how
    /// queries reach it. Blocking: call it off the async threads.
    pub fn open_store(
        self,
        path: &Path,
    ) -> Result<(Box<dyn Store>, ModelReaders), ProjectionError> {
        // Its readers get the SQL functions its queries use.
        fn sqlite<P: Projection>(
            path: &Path,
            projection: P,
        ) -> Result<(Box<dyn Store>, ModelReaders), ProjectionError> {
            let store = Box::new(ProjectionStore::open(path, projection)?);
            let readers = Readers::for_projection::<P>(path, IDLE_READERS);
            Ok((store, ModelReaders::Sqlite(readers)))
        }
        match self {
            Kind::Dialogs => sqlite(path, DialogsProjection::default()),
            Kind::Timeline => sqlite(path, TimelineProjection::default()),
            Kind::Card => sqlite(path, CardProjection),
            Kind::Project => sqlite(path, ProjectProjection),
            Kind::Search => {
                let index = SearchIndex::open(path, SearchOptions::default())?;
                let reader = index.reader();
                Ok((Box::new(index), ModelReaders::Search(reader)))
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
    ) -> Result<(ProjectionRunner<L>, ModelReaders), ProjectionError> {
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
            Kind::Timeline => 4,
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
        self.kind.file_in(&self.dir, generation)
    }

    fn pointer(&self) -> PathBuf {
        self.dir.join(files::POINTER)
    }

    fn fingerprint_path(&self, generation: &str) -> PathBuf {
        self.dir.join(format!("{generation}.fingerprint"))
    }

    /// Records which code builds a generation (see [`Kind::fingerprint`]), durably: the
    /// pointer published after it must not survive a power cut without it.
    pub fn write_fingerprint(&self, generation: &str) -> Result<(), ReadModelError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.fingerprint_path(generation);
        files::replace_synced(&path, format!("{}\n", self.kind.fingerprint()).as_bytes())
            .map_err(self.projection_error())
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
                reason: format!(
                    "not a generation name: {generation:?} (these read models were not written by \
                     `serve` or `rebuild`, e.g. by `bench projections`: use another --data, or \
                     move its `read` directory aside to build them from the log)"
                ),
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
