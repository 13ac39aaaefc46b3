//! The projection runtime: a [`Store`] (a [`ProjectionStore`]: a [`Projection`] over its SQLite
//! file, or the tantivy search index of [`crate::search`]) is fed the log from its checkpoint,
//! exactly once, by a [`ProjectionRunner`].
//!
//! - The checkpoint (last applied sequence) lives in the projection's own file, in the table
//!   `checkpoint`, and is written in the same transaction as the changes of a batch: a crash
//!   loses a whole batch or nothing, and the restart resumes right after what was committed.
//! - A record with `seq <= checkpoint` is skipped: a replaying source (a reset ordered consumer,
//!   a tail resubscribed after an error) never applies anything twice.
//! - SQLite work runs on one dedicated thread that owns the only writer connection; the async
//!   side only reads the log and hands batches over a bounded channel (back-pressure).
//! - A record that does not decode is counted, logged and skipped (its sequence is still
//!   checkpointed, so it is not retried forever); the count is kept in the checkpoint row.
//! - A batch the projection or SQLite refuses rolls back whole and stops the runner
//!   ([`RunnerStatus::failed`], `wait_for` answers [`ProjectionError::Stopped`]); a restart
//!   retries it from the checkpoint.
//! - A store that commits on a timer (the search index: near-real-time, never per event) asks
//!   for ticks ([`Store::tick_interval`]); the runner sends them from the log reader while it
//!   waits, and the checkpoint the runner reports is the one the store has made visible.
//! - [`rebuild`] replays the log into a new file (to the end, a sequence or a moment) and
//!   renames it over the old one ([`rebuild_store`] is the replay for any store, reading the
//!   next batch while the previous one is applied); [`Readers`] serve queries from async code.

pub use crate::error::ProjectionError;
use crate::files::{remove_database, sibling, sync_file, sync_parent};
use crate::unsynced::Mark;
use futures::StreamExt;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use switchboard_core::log::{EventLog, LogRecord, Subject, SubjectFilter};
use switchboard_core::wal::{WalKeeper, WalLimits, WalStep};
use switchboard_schemas::{Envelope, Timestamp, decode_batch};
use tokio::sync::{mpsc, watch};

/// One log message, decoded: its sequence, its subject and its events (borrowed from the
/// [`SharedRecord`] every store of a group reads).
#[derive(Debug, Clone, Copy)]
pub struct DecodedRecord<'a> {
    pub seq: u64,
    pub subject: &'a Subject,
    pub events: &'a [Envelope],
}

/// A log record as the stores fed by one log reader share it: read from the log once, and
/// decoded at most once, by the first store that needs its events (a store that skips it by
/// its `Sb-Type` header, like the search index, never pays for the decode).
#[derive(Debug)]
pub struct SharedRecord {
    pub record: LogRecord,
    events: OnceLock<Result<Vec<Envelope>, String>>,
}

impl SharedRecord {
    pub fn new(record: LogRecord) -> Self {
        Self {
            record,
            events: OnceLock::new(),
        }
    }

    /// The record's events, or why they do not decode.
    pub fn events(&self) -> Result<&[Envelope], &str> {
        match self
            .events
            .get_or_init(|| decode_batch(&self.record.batch).map_err(|e| e.to_string()))
        {
            Ok(events) => Ok(events),
            Err(error) => Err(error),
        }
    }
}

/// Records read once and handed to every store of a group.
pub type SharedBatch = Arc<[SharedRecord]>;

/// What a [`ProjectionRunner`] drives: something that applies log records in order, exactly
/// once, and keeps its checkpoint with its data. Implemented by [`ProjectionStore`] (SQLite)
/// and by [`crate::search::SearchIndex`] (tantivy). Every method runs on the runner's writer
/// thread (or a blocking task), never on the async threads.
pub trait Store: Send + 'static {
    /// The name in logs, thread names and errors.
    fn name(&self) -> &'static str;

    /// Where the store lives (a SQLite file, an index directory).
    fn path(&self) -> &Path;

    /// The checkpoint of what is durable and visible to readers: the runner resumes after it.
    fn checkpoint(&self) -> Checkpoint;

    /// Applies the records newer than the checkpoint (older ones change nothing) and returns
    /// the checkpoint after it. A store that commits lazily may return an older checkpoint than
    /// the last record; it must still never apply a record twice.
    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError>;

    /// Several batches applied as one (a SQLite store: one transaction), what a writer does with
    /// the batches that queued up while it was busy: the pages that every batch changes (counters,
    /// the newest end of the list indexes, the B-trees' upper levels) are written to the WAL
    /// once instead of once per batch.
    fn apply_batches(&mut self, batches: &[SharedBatch]) -> Result<Checkpoint, ProjectionError> {
        let mut checkpoint = self.checkpoint();
        for batch in batches {
            checkpoint = self.apply_shared(batch)?;
        }
        Ok(checkpoint)
    }

    /// [`Store::apply_shared`] for records read by the caller alone.
    fn apply(&mut self, records: Vec<LogRecord>) -> Result<Checkpoint, ProjectionError> {
        let shared: Vec<SharedRecord> = records.into_iter().map(SharedRecord::new).collect();
        self.apply_shared(&shared)
    }

    /// The last sequence applied, committed or not (for progress reports).
    fn applied_seq(&self) -> u64 {
        self.checkpoint().seq
    }

    /// How often the runner should call [`Store::tick`] (None: never).
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Time passed: a store that commits on a timer commits here if its time is due.
    fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
        Ok(self.checkpoint())
    }

    /// Makes everything applied durable and visible (at shutdown and at the end of a rebuild).
    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        Ok(self.checkpoint())
    }
}

/// A read model: the tables it owns and how a batch of records changes them.
pub trait Projection: Send + 'static {
    /// Its name, the key of its checkpoint row.
    fn name(&self) -> &'static str;

    /// `CREATE TABLE IF NOT EXISTS …` statements for every table it owns, and the indexes
    /// [`Self::apply_batch`] reads (run at every open).
    fn schema(&self) -> &'static str;

    /// `CREATE INDEX IF NOT EXISTS …` statements for the indexes only queries read, never
    /// [`Self::apply_batch`]: a live file has them from the start; a rebuild file builds them
    /// once from sorted rows when it is closed instead of keeping them through every batch.
    fn query_indexes(&self) -> &'static str {
        ""
    }

    /// Apply the records (in sequence order, each newer than the checkpoint) inside `tx`. The
    /// runtime writes the checkpoint in the same transaction and commits; an error rolls back the
    /// whole batch (a store being rebuilt is discarded instead).
    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError>;

    /// The transaction is about to commit: write what was kept back from the batches in it
    /// (one batch; many while a rebuild file is built). The default keeps nothing back.
    fn before_commit(&mut self, _tx: &Tx<'_>) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// A batch did not commit: forget whatever was kept in memory from it (the file is as it
    /// was before the batch).
    fn rolled_back(&mut self) {}

    /// Registers the SQL functions this projection's queries use on a reader connection of its
    /// file ([`open_reader_for`], [`Readers::for_projection`]). The default registers none.
    fn register_functions(conn: &Connection) -> rusqlite::Result<()>
    where
        Self: Sized,
    {
        let _ = conn;
        Ok(())
    }
}

const CHECKPOINT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    projection TEXT PRIMARY KEY,
    -- The last applied log sequence (0: nothing yet).
    seq INTEGER NOT NULL,
    -- Records skipped because they did not decode, and the last such sequence.
    undecodable INTEGER NOT NULL DEFAULT 0,
    last_undecodable_seq INTEGER
);
";

/// What a projection's checkpoint row says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last applied log sequence (0: nothing yet).
    pub seq: u64,
    /// How many records were skipped because they did not decode.
    pub undecodable: u64,
    pub last_undecodable_seq: Option<u64>,
}

/// The connection a [`Projection`] applies a batch through: the runtime has opened the
/// transaction the batch (and its checkpoint) belong to; only the runtime commits it.
#[derive(Debug, Clone, Copy)]
pub struct Tx<'c> {
    conn: &'c Connection,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// Page cache of a projection's writer connection, KiB.
const WRITER_CACHE_KIB: i64 = 192 * 1024;

/// Page cache of a writer building a rebuild file, KiB: dirty pages stay in it until a commit
/// (or until it is full), so the hot pages of a large model are written once per commit.
const BULK_CACHE_KIB: i64 = 256 * 1024;

/// Log records a rebuild file's writer applies between commits.
const BULK_COMMIT_RECORDS: usize = 64 * 1024;

/// How a projection file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// A live read model: WAL, every batch one durable transaction, readers alongside.
    Live,
    /// A file being rebuilt, which nobody reads and which is thrown away unless the rebuild
    /// finishes: no journal, no syncs, long transactions; switched to WAL and synced on close.
    Bulk,
}

/// Opens a projection file for writing (see [`WriteMode`]), with the checkpoint table, the
/// projection's schema and (live files) its query indexes.
fn open_writer(
    path: &Path,
    schema: &str,
    query_indexes: &str,
    mode: WriteMode,
) -> Result<Connection, ProjectionError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ProjectionError::io("create", dir, e))?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    match mode {
        WriteMode::Live => {
            set_journal_mode(&conn, path, "wal")?;
            // A read model is rebuildable from the log: a lost last transaction after a power
            // cut is replayed from the checkpoint, so NORMAL is enough. A file with an unsynced
            // mark is switched to OFF by its store (see `crate::unsynced`).
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // The writer touches B-tree pages all over a large file (counters, rows, indexes):
            // with SQLite's default 2 MB cache nearly every descent is a pread and dirty pages
            // spill into the WAL in mid-transaction (measured: 44 % of a dialogs rebuild in the
            // kernel). The cache only grows as pages are used, so small read models stay small.
            conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
            // The WAL's checkpoints are the store's `WalKeeper`'s (`switchboard_core::wal`).
        }
        WriteMode::Bulk => {
            // Nothing reads the file and a failed rebuild removes it, so it needs neither a
            // journal (each changed page written once, not to the WAL and again by a
            // checkpoint) nor syncs until it is complete. Measured at full size with the WAL:
            // 250-350 MB/s of writes for a 1.2 GB dialogs file.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            set_journal_mode(&conn, path, "off")?;
            conn.pragma_update(None, "synchronous", "OFF")?;
            conn.pragma_update(None, "cache_size", -BULK_CACHE_KIB)?;
        }
    }
    conn.execute_batch(CHECKPOINT_SCHEMA)?;
    conn.execute_batch(schema)?;
    if mode == WriteMode::Live {
        conn.execute_batch(query_indexes)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn set_journal_mode(conn: &Connection, path: &Path, wanted: &str) -> Result<(), ProjectionError> {
    let mode: String =
        conn.query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |r| r.get(0))?;
    if mode.eq_ignore_ascii_case(wanted) {
        Ok(())
    } else {
        Err(ProjectionError::Corrupt(format!(
            "cannot switch {} to journal mode {wanted} (it is {mode})",
            path.display()
        )))
    }
}

/// A read-only connection to a projection file, for queries (WAL: readers never block the
/// writer). Open one per query thread.
pub fn open_reader(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    // Pages of the file are read through a mapping instead of copied into the connection's
    // cache, which SQLite empties whenever the writer committed since the last read (in a
    // live service, before almost every query): a page another query or the writer brought
    // into the OS cache costs a memory access, not a system call and a copy.
    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    Ok(conn)
}

/// [`open_reader`] for the file of the projection `P`, with the SQL functions its queries use.
pub fn open_reader_for<P: Projection>(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = open_reader(path)?;
    P::register_functions(&conn)?;
    Ok(conn)
}

/// How much of a projection file a reader maps (`PRAGMA mmap_size`): all of it at the full
/// size of the bench (the dialogs file is 0.8 GB there); the pages count in the resident set only
/// while the OS keeps them cached and this process touched them.
const READER_MMAP_BYTES: i64 = 4 << 30;

/// A pool of read-only connections to one projection file, for queries from async code: each
/// query runs on the blocking pool with a connection of its own.
#[derive(Debug, Clone)]
pub struct Readers {
    inner: Arc<ReadersInner>,
}

#[derive(Debug)]
struct ReadersInner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    /// Run on each new connection (a projection's [`Projection::register_functions`]).
    set_up: fn(&Connection) -> rusqlite::Result<()>,
}

impl Readers {
    /// Connections are opened on demand; at most `max_idle` are kept between queries. They
    /// have no SQL functions of a projection (see [`Self::for_projection`]).
    pub fn new(path: &Path, max_idle: usize) -> Self {
        Self::with_set_up(path, max_idle, |_| Ok(()))
    }

    /// [`Self::new`] for the file of the projection `P`: each connection has the SQL functions
    /// its queries use.
    pub fn for_projection<P: Projection>(path: &Path, max_idle: usize) -> Self {
        Self::with_set_up(path, max_idle, P::register_functions)
    }

    fn with_set_up(
        path: &Path,
        max_idle: usize,
        set_up: fn(&Connection) -> rusqlite::Result<()>,
    ) -> Self {
        Self {
            inner: Arc::new(ReadersInner {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
                max_idle,
                set_up,
            }),
        }
    }

    /// Runs `query` off the async threads.
    pub async fn query<T, F>(&self, query: F) -> Result<T, ProjectionError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ProjectionError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => {
                    let conn = open_reader(&inner.path)?;
                    (inner.set_up)(&conn)?;
                    conn
                }
            };
            let answer = query(&conn);
            let mut idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < inner.max_idle {
                idle.push(conn);
            }
            answer
        })
        .await
        .map_err(|e| ProjectionError::Stopped {
            projection: self.inner.path.display().to_string(),
            reason: format!("query task failed: {e}"),
        })?
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn read_checkpoint(conn: &Connection, projection: &str) -> Result<Checkpoint, ProjectionError> {
    let row = conn
        .query_row(
            "SELECT seq, undecodable, last_undecodable_seq FROM checkpoint WHERE projection = ?1",
            [projection],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((seq, undecodable, last_undecodable)) = row else {
        return Ok(Checkpoint::default());
    };
    let unsigned = |v: i64| {
        u64::try_from(v).map_err(|_| ProjectionError::Corrupt(format!("negative checkpoint {v}")))
    };
    Ok(Checkpoint {
        seq: unsigned(seq)?,
        undecodable: unsigned(undecodable)?,
        last_undecodable_seq: last_undecodable.map(unsigned).transpose()?,
    })
}

/// A projection with its writer connection: applies records synchronously. The runner drives
/// one on its own thread; tests and `rebuild` can drive one directly.
#[derive(Debug)]
pub struct ProjectionStore<P> {
    conn: Connection,
    projection: P,
    checkpoint: Checkpoint,
    path: PathBuf,
    /// Set for a file being rebuilt ([`ProjectionStore::create_for_rebuild`]).
    bulk: Option<Bulk>,
    /// A live file's WAL checkpoints (`None` for a file being rebuilt, which has no WAL).
    wal: Option<WalKeeper>,
    /// A live file written without syncs (see `crate::unsynced`). Last: dropped after the
    /// connection, it syncs the file and removes the mark.
    mark: Option<Mark>,
}

/// Where a rebuild file's writer is between commits.
#[derive(Debug, Default)]
struct Bulk {
    /// A transaction is open (batches since the last commit are in it).
    open: bool,
    /// Records applied since the last commit.
    since_commit: usize,
    /// A batch failed: without a journal nothing can be rolled back, so the file is unusable.
    failed: bool,
}

impl Bulk {
    /// An error once a batch has failed.
    fn usable(&self, path: &Path) -> Result<(), ProjectionError> {
        if self.failed {
            return Err(ProjectionError::Corrupt(format!(
                "{} is unusable: a batch failed while it was rebuilt",
                path.display()
            )));
        }
        Ok(())
    }

    /// Writes what the projection kept back and commits the open transaction, if any.
    fn commit<P: Projection>(
        &mut self,
        conn: &Connection,
        projection: &mut P,
    ) -> Result<(), ProjectionError> {
        if self.open {
            projection.before_commit(&Tx { conn })?;
            conn.execute_batch("COMMIT")?;
            self.open = false;
            self.since_commit = 0;
        }
        Ok(())
    }
}

impl<P: Projection> ProjectionStore<P> {
    /// Opens (creating if needed) the projection's file and reads its checkpoint.
    ///
    /// The file is written without syncs when this boot can be told (see `crate::unsynced`);
    /// a file another boot left unsynced is refused.
    pub fn open(path: &Path, projection: P) -> Result<Self, ProjectionError> {
        let mark = Mark::take(path)?;
        let mut conn = open_writer(
            path,
            projection.schema(),
            projection.query_indexes(),
            WriteMode::Live,
        )?;
        if mark.is_some() {
            conn.pragma_update(None, "synchronous", "OFF")?;
        }
        let checkpoint = read_checkpoint(&conn, projection.name())?;
        let wal = WalKeeper::start(&mut conn, path, projection.name(), WalLimits::DEFAULT)?;
        Ok(Self {
            conn,
            projection,
            checkpoint,
            path: path.to_path_buf(),
            bulk: None,
            wal: Some(wal),
            mark,
        })
    }

    /// Creates the projection's file afresh at `path` (removing whatever is there) for a
    /// rebuild: written without a journal or syncs and committed every
    /// `BULK_COMMIT_RECORDS` records, it is only complete, durable and fit to read once
    /// [`Self::close`] has run. An error leaves it unusable (remove it). Nothing may read the
    /// file meanwhile.
    pub fn create_for_rebuild(path: &Path, projection: P) -> Result<Self, ProjectionError> {
        remove_database(path)?;
        remove_database(&sibling(path, ".packed"))?;
        let conn = open_writer(
            path,
            projection.schema(),
            projection.query_indexes(),
            WriteMode::Bulk,
        )?;
        Ok(Self {
            conn,
            projection,
            checkpoint: Checkpoint::default(),
            path: path.to_path_buf(),
            bulk: Some(Bulk::default()),
            wal: None,
            mark: None,
        })
    }

    /// The projection's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    /// Makes everything applied part of the file and closes it, so that the file alone holds
    /// everything (before a rename): a live file's WAL is folded in; a rebuilt file is
    /// committed, given its query indexes, packed, switched to WAL (as live files are) and
    /// synced.
    pub fn close(mut self) -> Result<(), ProjectionError> {
        if self.bulk.is_none() {
            // Its thread stops first: the last checkpoint is the writer's.
            drop(self.wal.take());
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            self.conn.close().map_err(|(_, e)| e)?;
            if let Some(mark) = self.mark.take() {
                mark.release()?;
            }
            return Ok(());
        }
        self.commit_bulk()?;
        self.conn.execute_batch(self.projection.query_indexes())?;
        // Rows updated in place and indexes kept through random inserts leave pages part
        // empty (measured at 1M dialogs: 9-13 % of each file, 410 MB in all); a copy written
        // in order packs them, for a few seconds per GB.
        let packed = sibling(&self.path, ".packed");
        remove_database(&packed)?;
        let into = packed.to_str().ok_or_else(|| {
            ProjectionError::Corrupt(format!("{} is not a UTF-8 path", packed.display()))
        })?;
        self.conn.execute("VACUUM INTO ?1", [into])?;
        self.conn.close().map_err(|(_, e)| e)?;
        remove_database(&self.path)?;
        std::fs::rename(&packed, &self.path)
            .map_err(|e| ProjectionError::io("rename", &packed, e))?;
        let conn = Connection::open(&self.path)?;
        set_journal_mode(&conn, &self.path, "wal")?;
        conn.close().map_err(|(_, e)| e)?;
        sync_file(&self.path)
    }

    /// Commits a rebuild file's open transaction.
    fn commit_bulk(&mut self) -> Result<(), ProjectionError> {
        let Some(bulk) = self.bulk.as_mut() else {
            return Ok(());
        };
        bulk.usable(&self.path)?;
        let committed = bulk.commit(&self.conn, &mut self.projection);
        bulk.failed = committed.is_err();
        committed
    }

    /// Applies the records newer than the checkpoint, in one transaction with the new
    /// checkpoint. Records at or below the checkpoint (or not above the previous record) change
    /// nothing. Returns the checkpoint after the batch.
    pub fn apply(&mut self, records: Vec<LogRecord>) -> Result<Checkpoint, ProjectionError> {
        let shared: Vec<SharedRecord> = records.into_iter().map(SharedRecord::new).collect();
        self.apply_shared(&shared)
    }

    /// [`Self::apply`] for records shared with other stores (decoded once for all of them).
    pub fn apply_shared(
        &mut self,
        records: &[SharedRecord],
    ) -> Result<Checkpoint, ProjectionError> {
        self.apply_records(records.len(), records.iter())
    }

    /// The records of several batches in one transaction (see [`Store::apply_batches`]).
    pub fn apply_batches(
        &mut self,
        batches: &[SharedBatch],
    ) -> Result<Checkpoint, ProjectionError> {
        let count = batches.iter().map(|b| b.len()).sum();
        self.apply_records(count, batches.iter().flat_map(|b| b.iter()))
    }

    fn apply_records<'r>(
        &mut self,
        count: usize,
        records: impl Iterator<Item = &'r SharedRecord>,
    ) -> Result<Checkpoint, ProjectionError> {
        let name = self.projection.name();
        let mut next = self.checkpoint;
        let mut decoded = Vec::with_capacity(count);
        for shared in records {
            let record = &shared.record;
            if record.seq <= next.seq {
                tracing::debug!(
                    projection = name,
                    seq = record.seq,
                    checkpoint = next.seq,
                    "skipping a record already applied"
                );
                continue;
            }
            next.seq = record.seq;
            match shared.events() {
                Ok(events) => decoded.push(DecodedRecord {
                    seq: record.seq,
                    subject: &record.subject,
                    events,
                }),
                Err(error) => {
                    tracing::warn!(
                        projection = name,
                        seq = record.seq,
                        subject = record.subject.as_str(),
                        types = record.batch.types.as_str(),
                        %error,
                        "skipping a record that does not decode"
                    );
                    next.undecodable += 1;
                    next.last_undecodable_seq = Some(record.seq);
                }
            }
        }
        if next == self.checkpoint {
            return Ok(next);
        }
        let written = match self.bulk.as_mut() {
            None => Self::write(
                &mut self.conn,
                &mut self.projection,
                self.wal.as_mut(),
                name,
                &decoded,
                next,
            ),
            Some(bulk) => Self::write_bulk(
                &self.conn,
                &mut self.projection,
                bulk,
                &self.path,
                name,
                &decoded,
                next,
            ),
        };
        if written.is_err() {
            self.projection.rolled_back();
        }
        written?;
        self.checkpoint = next;
        Ok(next)
    }

    /// One transaction: the batch's changes and the checkpoint `next`.
    fn write(
        conn: &mut Connection,
        projection: &mut P,
        wal: Option<&mut WalKeeper>,
        name: &str,
        decoded: &[DecodedRecord],
        next: Checkpoint,
    ) -> Result<(), ProjectionError> {
        let started = Instant::now();
        let tx = conn.transaction()?;
        if !decoded.is_empty() {
            projection.apply_batch(&Tx { conn: &tx }, decoded)?;
        }
        let applied = Instant::now();
        projection.before_commit(&Tx { conn: &tx })?;
        write_checkpoint(&tx, name, next)?;
        let written = Instant::now();
        tx.commit()?;
        let committed = Instant::now();
        // The writer's part of the WAL's checkpoints (see `WalKeeper`). The batch is committed
        // by now: a checkpoint that fails only leaves the WAL longer (the next one copies it),
        // so it must not fail the batch (and empty the projection's caches as a rollback would).
        let step = match wal.map(|wal| wal.after_commit(conn)) {
            Some(Ok(step)) => step,
            Some(Err(error)) => {
                tracing::warn!(projection = name, %error, "the WAL checkpoint failed");
                WalStep::Nothing
            }
            None => WalStep::Nothing,
        };
        // Where a live writer's time goes, per transaction (`RUST_LOG=switchboard_projections=
        // trace`): the study of the dialogs writer's lag in BENCHMARKS.md was made with this.
        tracing::trace!(
            projection = name,
            records = decoded.len(),
            seq = next.seq,
            apply_ms = (applied - started).as_secs_f64() * 1e3,
            before_commit_ms = (written - applied).as_secs_f64() * 1e3,
            commit_ms = (committed - written).as_secs_f64() * 1e3,
            wal_ms = committed.elapsed().as_secs_f64() * 1e3,
            wal = ?step,
            "transaction"
        );
        Ok(())
    }

    /// A rebuild file's batch: into the open transaction, committed every
    /// `BULK_COMMIT_RECORDS` records.
    fn write_bulk(
        conn: &Connection,
        projection: &mut P,
        bulk: &mut Bulk,
        path: &Path,
        name: &str,
        decoded: &[DecodedRecord],
        next: Checkpoint,
    ) -> Result<(), ProjectionError> {
        bulk.usable(path)?;
        let mut step = || {
            if !bulk.open {
                conn.execute_batch("BEGIN")?;
                bulk.open = true;
            }
            if !decoded.is_empty() {
                projection.apply_batch(&Tx { conn }, decoded)?;
            }
            write_checkpoint(conn, name, next)?;
            bulk.since_commit += decoded.len();
            if bulk.since_commit >= BULK_COMMIT_RECORDS {
                bulk.commit(conn, projection)?;
            }
            Ok::<_, ProjectionError>(())
        };
        let done = step();
        bulk.failed = done.is_err();
        done
    }
}

/// Writes a projection's checkpoint row (inside the batch's transaction).
fn write_checkpoint(conn: &Connection, name: &str, next: Checkpoint) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO checkpoint (projection, seq, undecodable, last_undecodable_seq)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq,
             undecodable = excluded.undecodable,
             last_undecodable_seq = excluded.last_undecodable_seq",
    )?
    .execute(params![
        name,
        to_i64(next.seq),
        to_i64(next.undecodable),
        next.last_undecodable_seq.map(to_i64)
    ])
}

impl<P: Projection> Store for ProjectionStore<P> {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError> {
        ProjectionStore::apply_shared(self, records)
    }

    fn apply_batches(&mut self, batches: &[SharedBatch]) -> Result<Checkpoint, ProjectionError> {
        ProjectionStore::apply_batches(self, batches)
    }

    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        self.commit_bulk()?;
        Ok(self.checkpoint)
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn path(&self) -> &Path {
        (**self).path()
    }

    fn checkpoint(&self) -> Checkpoint {
        (**self).checkpoint()
    }

    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError> {
        (**self).apply_shared(records)
    }

    fn apply_batches(&mut self, batches: &[SharedBatch]) -> Result<Checkpoint, ProjectionError> {
        (**self).apply_batches(batches)
    }

    fn applied_seq(&self) -> u64 {
        (**self).applied_seq()
    }

    fn tick_interval(&self) -> Option<Duration> {
        (**self).tick_interval()
    }

    fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
        (**self).tick()
    }

    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        (**self).finish()
    }
}

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

fn task_failed(name: &str, what: &str, error: tokio::task::JoinError) -> ProjectionError {
    ProjectionError::Stopped {
        projection: name.to_owned(),
        reason: format!("{what} task failed: {error}"),
    }
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

/// A store kept in one SQLite file, which can be closed into that file alone.
pub trait FileStore: Store {
    /// Folds the WAL into the file and closes it (see [`ProjectionStore::close`]).
    fn close_file(self: Box<Self>) -> Result<(), ProjectionError>;
}

impl<P: Projection> FileStore for ProjectionStore<P> {
    fn close_file(self: Box<Self>) -> Result<(), ProjectionError> {
        (*self).close()
    }
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
        let (tx, mut rx) = mpsc::channel::<SharedBatch>(2);
        let seq = Arc::new(std::sync::atomic::AtomicU64::new(store.applied_seq()));
        let reported = Arc::clone(&seq);
        let name = store.name();
        let worker = std::thread::Builder::new()
            .name(format!("rebuild-{name}"))
            .spawn(move || {
                while let Some(batch) = rx.blocking_recv() {
                    store.apply_shared(&batch)?;
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
        let mut records = if from_seq <= target_seq {
            log.read(from_seq, &filter, max_batch.max(1)).await?
        } else {
            Vec::new()
        };
        match records.last() {
            Some(last) => from_seq = last.seq + 1,
            None => done = true,
        }
        let before = records.len();
        records.retain(|r| {
            r.seq <= target_seq && !matches!(until, Until::Time(at) if r.appended_at > at)
        });
        done |= records.len() < before;
        if records.is_empty() {
            continue;
        }
        let batch: SharedBatch = records.into_iter().map(SharedRecord::new).collect();
        for queue in &queues {
            // A worker that failed has dropped its queue: stop reading, its error is below.
            if queue.send(Arc::clone(&batch)).await.is_err() {
                done = true;
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

/// Settings of a [`ProjectionRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most records applied in one transaction; fewer when fewer are available.
    pub max_batch: usize,
    /// Batches waiting for the writer thread before the log reader waits (back-pressure).
    pub queued_batches: usize,
    /// Pause before resubscribing after the log tail failed.
    pub retry_after: Duration,
}

/// Most records a live writer applies in one transaction when batches queued up (see
/// `write_loop`).
const MAX_COALESCED_RECORDS: usize = 8 * 1024;

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            // Room for a writer that fell behind to take several batches into one transaction,
            // and for the fast read models to go on while the slowest works through a commit
            // (the feed waits only when a queue is full).
            queued_batches: 64,
            retry_after: Duration::from_millis(200),
        }
    }
}

/// Where a runner is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerStatus {
    pub checkpoint: Checkpoint,
    /// Why the runner stopped applying (a storage error); nothing is applied after it.
    pub failed: Option<String>,
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
    /// Set on drop: the writer stops after the work item under way.
    dropped: Arc<AtomicBool>,
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
                failed: None,
            });
            let (work_tx, work_rx) = mpsc::channel(options.queued_batches.max(1));
            let dropped = Arc::new(AtomicBool::new(false));
            let stop = Arc::clone(&dropped);
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
            });
            started.push((name, path, status, work_tx, dropped, writer, checkpoint.seq));
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
                |(name, path, status, work, dropped, writer, _)| ProjectionRunner {
                    name,
                    path,
                    log: log.clone(),
                    status,
                    _feed: Arc::clone(&feed),
                    work,
                    dropped,
                    writer: Some(writer),
                },
            )
            .collect())
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The projection's file (open readers on it with [`open_reader`]), or the search index's
    /// directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn status(&self) -> RunnerStatus {
        self.status.borrow().clone()
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
    /// sequence). Fails when the runner stopped or the timeout passed first.
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
        // Behind the queued batches; a writer that already ended has closed its queue.
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
            self.dropped.store(true, Ordering::Release);
            let _ = self.work.try_send(Work::Stop);
        }
    }
}

/// What the feed hands a writer thread.
enum Work {
    Batch(SharedBatch),
    /// Time passed (only for stores with a [`Store::tick_interval`]).
    Tick,
    /// Finish and end (after the batches queued before it).
    Stop,
}

/// One store fed by a feed.
struct Subscriber {
    name: &'static str,
    work: mpsc::Sender<Work>,
    tick: Option<Duration>,
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
    loop {
        let mut tail = log
            .tail(from_seq, SubjectFilter::all())
            .ready_chunks(options.max_batch.max(1));
        let mut failure = None;
        loop {
            let chunk = tokio::select! {
                chunk = tail.next() => chunk,
                _ = ticks.tick() => {
                    for subscriber in subscribers.iter().filter(|s| s.tick.is_some()) {
                        // A full queue means the writer is busy; it checks its timer itself.
                        let _ = subscriber.work.try_send(Work::Tick);
                    }
                    continue;
                }
            };
            let Some(chunk) = chunk else {
                break;
            };
            let mut batch = Vec::with_capacity(chunk.len());
            for item in chunk {
                match item {
                    Ok(record) => batch.push(SharedRecord::new(record)),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            if let Some(last) = batch.last() {
                from_seq = last.record.seq + 1;
                let batch: SharedBatch = batch.into();
                // A writer that stopped has dropped its queue: it leaves the group.
                let mut index = 0;
                while index < subscribers.len() {
                    let sent = subscribers[index]
                        .work
                        .send(Work::Batch(Arc::clone(&batch)))
                        .await;
                    if sent.is_err() {
                        subscribers.swap_remove(index);
                    } else {
                        index += 1;
                    }
                }
                if subscribers.is_empty() {
                    return;
                }
            }
            if failure.is_some() {
                break;
            }
        }
        match failure {
            Some(error) => {
                tracing::warn!(projections = names, from_seq, %error, "log tail failed, resubscribing")
            }
            None => tracing::warn!(
                projections = names,
                from_seq,
                "log tail ended, resubscribing"
            ),
        }
        subscribers.retain(|s| !s.work.is_closed());
        if subscribers.is_empty() {
            return;
        }
        tokio::time::sleep(options.retry_after).await;
    }
}

fn write_loop<S: Store>(
    mut store: S,
    mut work: mpsc::Receiver<Work>,
    status: watch::Sender<RunnerStatus>,
    dropped: &AtomicBool,
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
                match batches.as_slice() {
                    [one] => store.apply_shared(one),
                    several => store.apply_batches(several),
                }
            }
            Work::Tick => store.tick(),
            Work::Stop => break,
        };
        match applied {
            Ok(checkpoint) => publish(checkpoint),
            Err(error) => {
                tracing::error!(projection = name, checkpoint = store.checkpoint().seq, %error, "projection stopped");
                status.send_modify(|s| s.failed = Some(error.to_string()));
                return;
            }
        };
        if dropped.load(Ordering::Acquire) {
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

/// Run `sql` (parameters: dialog, member) once per member: the membership tables (tags, folders,
/// lists) of every read model are kept by the same insert-or-ignore and delete statements.
pub(crate) fn execute_for_each<D: rusqlite::ToSql + ?Sized, M: rusqlite::ToSql>(
    tx: &Tx<'_>,
    sql: &'static str,
    dialog: &D,
    members: impl IntoIterator<Item = M>,
) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(sql)?;
    for member in members {
        statement.execute(rusqlite::params![dialog, member])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
    use switchboard_core::log::{AppendRequest, Expected, MsgId};
    use switchboard_schemas::events::BotPaused;
    use switchboard_schemas::{
        Actor, AggregateId, DialogId, EncodedBatch, Event, EventId, ProjectId, Timestamp,
        encode_batch,
    };

    /// Counts the events it sees per sequence; refuses the sequence `fail_at`.
    #[derive(Debug)]
    struct Tally {
        fail_at: Option<u64>,
    }

    impl Projection for Tally {
        fn name(&self) -> &'static str {
            "tally"
        }
        fn schema(&self) -> &'static str {
            "CREATE TABLE IF NOT EXISTS seq_events (seq INTEGER PRIMARY KEY, events INTEGER);"
        }
        fn query_indexes(&self) -> &'static str {
            "CREATE INDEX IF NOT EXISTS seq_events_by_events ON seq_events (events, seq);"
        }
        fn apply_batch(
            &mut self,
            tx: &Tx<'_>,
            records: &[DecodedRecord],
        ) -> Result<(), ProjectionError> {
            for record in records {
                // A primary key: applying a sequence twice would fail loudly.
                tx.execute(
                    "INSERT INTO seq_events (seq, events) VALUES (?1, ?2)",
                    params![to_i64(record.seq), record.events.len() as i64],
                )?;
                if Some(record.seq) == self.fail_at {
                    return Err(ProjectionError::Corrupt(format!("refused {}", record.seq)));
                }
            }
            Ok(())
        }
    }

    fn record(seq: u64) -> LogRecord {
        let project = ProjectId::from_u128(1);
        let dialog = DialogId::from_u128(2);
        let envelope = Envelope {
            event_id: EventId::new(),
            project,
            aggregate: AggregateId::Dialog(dialog),
            occurred_at: Timestamp::from_micros(1_000),
            actor: Actor::System,
            causation_id: None,
            correlation_id: None,
            payload: Event::BotPaused(BotPaused {}),
        };
        LogRecord {
            seq,
            subject: Subject::dialog(project, dialog),
            msg_id: format!("m{seq}"),
            appended_at: Timestamp::from_micros(1_000),
            batch: encode_batch(&[envelope]).expect("encode"),
        }
    }

    fn garbage(seq: u64) -> LogRecord {
        LogRecord {
            batch: EncodedBatch {
                types: "no.such_event".into(),
                versions: "1".into(),
                body: vec![1, 0].into(),
            },
            ..record(seq)
        }
    }

    fn applied(path: &Path) -> Vec<i64> {
        let conn = open_reader(path).expect("reader");
        conn.prepare("SELECT seq FROM seq_events ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Forwards to a store and notes how many records each write call carried.
    struct Noted<S> {
        store: S,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl<S: Store> Noted<S> {
        fn note(&self, call: String) {
            self.calls.lock().expect("not poisoned").push(call);
        }
    }

    impl<S: Store> Store for Noted<S> {
        fn name(&self) -> &'static str {
            self.store.name()
        }
        fn path(&self) -> &Path {
            self.store.path()
        }
        fn checkpoint(&self) -> Checkpoint {
            self.store.checkpoint()
        }
        fn apply_shared(
            &mut self,
            records: &[SharedRecord],
        ) -> Result<Checkpoint, ProjectionError> {
            self.note(format!("apply {}", records.len()));
            self.store.apply_shared(records)
        }
        fn apply_batches(
            &mut self,
            batches: &[SharedBatch],
        ) -> Result<Checkpoint, ProjectionError> {
            let records: usize = batches.iter().map(|b| b.len()).sum();
            self.note(format!("together {records} in {}", batches.len()));
            self.store.apply_batches(batches)
        }
        fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
            self.note("tick".to_owned());
            self.store.tick()
        }
    }

    #[test]
    fn batches_queued_behind_a_busy_writer_share_one_transaction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let store = Noted {
            store: ProjectionStore::open(&path, Tally { fail_at: None }).expect("open"),
            calls: Arc::clone(&calls),
        };
        let batch = |seqs: std::ops::RangeInclusive<u64>| -> SharedBatch {
            seqs.map(|seq| SharedRecord::new(record(seq))).collect()
        };
        // What a feed queued while the writer was busy: two batches, a tick, one more, the end.
        let (tx, rx) = mpsc::channel(16);
        for work in [
            Work::Batch(batch(1..=3)),
            Work::Batch(batch(4..=6)),
            Work::Tick,
            Work::Batch(batch(7..=9)),
            Work::Stop,
        ] {
            tx.try_send(work).expect("room");
        }
        let (status_tx, status) = watch::channel(RunnerStatus::default());
        write_loop(store, rx, status_tx, &AtomicBool::new(false));
        assert_eq!(
            *calls.lock().expect("not poisoned"),
            ["together 6 in 2", "tick", "apply 3"]
        );
        assert_eq!(status.borrow().checkpoint.seq, 9);
        assert_eq!(status.borrow().failed, None);
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
        assert_eq!(reopened.checkpoint().seq, 9);
        let rows: i64 = reopened
            .conn
            .query_row("SELECT count(*) FROM seq_events", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 9);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_live_file_is_written_unsynced_behind_a_mark_of_this_boot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mark = crate::unsynced::mark_path(&path);
        let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        let level: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("level");
        assert_eq!(level, 0, "OFF");
        let boot = crate::unsynced::boot_id().expect("Linux tells its boot");
        assert_eq!(std::fs::read_to_string(&mark).expect("marked"), boot);
        store.apply((1..=3).map(record).collect()).expect("apply");
        store.close().expect("close");
        assert!(
            !mark.exists(),
            "a clean close syncs the file and removes its mark"
        );
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
        assert_eq!(reopened.checkpoint().seq, 3);
        assert!(mark.exists());
        // Dropped instead of closed (a runner's writer thread ends so): the mark goes too.
        drop(reopened);
        assert!(!mark.exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_writer_that_died_leaves_a_mark_this_boot_trusts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        store.apply((1..=4).map(record).collect()).expect("apply");
        // What a killed process leaves: its writes in the OS cache, its mark, no close.
        std::mem::forget(store);
        assert!(crate::unsynced::mark_path(&path).exists());
        assert_eq!(
            crate::unsynced::from_another_boot(&path).expect("read"),
            None
        );
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
        assert_eq!(reopened.checkpoint().seq, 4);
        assert_eq!(applied(&path), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_file_another_boot_left_unsynced_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        store.apply((1..=2).map(record).collect()).expect("apply");
        store.close().expect("close");
        // The machine went down while the file was written: its mark names an older boot.
        let mark = crate::unsynced::mark_path(&path);
        std::fs::write(&mark, "00000000-0000-0000-0000-000000000000").expect("write");
        assert_eq!(
            crate::unsynced::from_another_boot(&path).expect("read"),
            Some("00000000-0000-0000-0000-000000000000".to_owned())
        );
        let refused = ProjectionStore::open(&path, Tally { fail_at: None })
            .expect_err("a torn file is not opened");
        assert!(
            refused.to_string().contains("when the machine stopped"),
            "{refused}"
        );
        assert!(mark.exists(), "refusing changes nothing");
        // A rebuild over it replaces the file and, with it, the mark.
        remove_database(&path).expect("remove");
        assert!(!mark.exists());
    }

    #[test]
    fn records_at_or_below_the_checkpoint_are_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        assert_eq!(store.checkpoint(), Checkpoint::default());
        store.apply((1..=3).map(record).collect()).expect("apply");
        // A replaying source: everything again, and more.
        let checkpoint = store.apply((1..=5).map(record).collect()).expect("apply");
        assert_eq!(checkpoint.seq, 5);
        // Out of order within a batch: the older one is skipped too.
        store.apply(vec![record(7), record(6)]).expect("apply");
        drop(store);
        assert_eq!(applied(&path), vec![1, 2, 3, 4, 5, 7]);
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        assert_eq!(reopened.checkpoint().seq, 7, "the checkpoint is stored");
    }

    #[test]
    fn undecodable_records_are_counted_and_checkpointed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        let checkpoint = store
            .apply(vec![record(1), garbage(2), record(3), garbage(4)])
            .expect("apply");
        assert_eq!(
            checkpoint,
            Checkpoint {
                seq: 4,
                undecodable: 2,
                last_undecodable_seq: Some(4),
            }
        );
        // Only garbage: still checkpointed, so it is not read again.
        assert_eq!(store.apply(vec![garbage(5)]).expect("apply").seq, 5);
        drop(store);
        assert_eq!(applied(&path), vec![1, 3]);
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        assert_eq!(reopened.checkpoint().undecodable, 3);
    }

    #[test]
    fn a_failed_batch_leaves_no_trace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store = ProjectionStore::open(&path, Tally { fail_at: Some(3) }).expect("open");
        store.apply(vec![record(1)]).expect("apply");
        let refused = store.apply(vec![record(2), record(3)]);
        assert!(matches!(refused, Err(ProjectionError::Corrupt(_))));
        assert_eq!(store.checkpoint().seq, 1);
        drop(store);
        assert_eq!(applied(&path), vec![1], "the whole batch rolled back");
        let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        assert_eq!(reopened.checkpoint().seq, 1);
    }

    fn journal_mode(path: &Path) -> String {
        open_reader(path)
            .expect("reader")
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode")
    }

    #[test]
    fn a_rebuild_file_commits_in_long_transactions_and_closes_into_a_live_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        std::fs::write(&path, b"left over from a rebuild that crashed").expect("write");
        let mut store =
            ProjectionStore::create_for_rebuild(&path, Tally { fail_at: None }).expect("create");
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "off");
        let query_index = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'seq_events_by_events'",
                [],
                |r| r.get(0),
            )
            .expect("schema")
        };
        assert_eq!(query_index(&store.conn), 0, "built at the end");
        store.apply((1..=10).map(record).collect()).expect("apply");
        assert!(!store.conn.is_autocommit(), "the transaction stays open");
        let total = u64::try_from(BULK_COMMIT_RECORDS).expect("fits") + 100;
        let mut next = 11;
        while next <= total {
            let end = (next + 4095).min(total);
            let before = store.bulk.as_ref().map(|b| b.since_commit).unwrap_or(0);
            store
                .apply((next..=end).map(record).collect())
                .expect("apply");
            let crossed =
                before + usize::try_from(end - next + 1).expect("fits") >= BULK_COMMIT_RECORDS;
            assert_eq!(store.conn.is_autocommit(), crossed, "at {end}");
            next = end + 1;
        }
        assert!(
            !store.conn.is_autocommit(),
            "the last 100 are not committed yet"
        );
        assert_eq!(Store::finish(&mut store).expect("finish").seq, total);
        assert!(store.conn.is_autocommit(), "finish commits");
        // Free pages inside the file (what updates and page splits leave) are packed away.
        store
            .conn
            .execute_batch(
                "CREATE TABLE junk (b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO junk SELECT zeroblob(1000) FROM n;
                 DROP TABLE junk;",
            )
            .expect("junk");
        let free = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
                .expect("freelist")
        };
        assert!(free(&store.conn) > 400, "{}", free(&store.conn));
        store.close().expect("close");
        assert_eq!(journal_mode(&path), "wal");
        let reader = open_reader(&path).expect("reader");
        assert_eq!(query_index(&reader), 1);
        assert_eq!(free(&reader), 0, "packed");
        assert!(!sibling(&path, ".packed").exists());
        let indexed: i64 = reader
            .query_row(
                "SELECT count(*) FROM seq_events INDEXED BY seq_events_by_events WHERE events = 1",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(
            u64::try_from(indexed).expect("count"),
            total,
            "the index holds every row"
        );
        assert_eq!(
            applied(&path),
            (1..=to_i64(total)).collect::<Vec<i64>>(),
            "every record, once"
        );
        // A live store continues it.
        let mut live = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
        assert_eq!(live.checkpoint().seq, total);
        live.apply(vec![record(total + 1)]).expect("apply");
        assert_eq!(
            applied(&path).len(),
            usize::try_from(total + 1).expect("fits")
        );
    }

    #[test]
    fn a_rebuild_file_is_unusable_after_a_failed_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.sqlite");
        let mut store =
            ProjectionStore::create_for_rebuild(&path, Tally { fail_at: Some(3) }).expect("create");
        store.apply(vec![record(1)]).expect("apply");
        assert!(store.apply(vec![record(2), record(3)]).is_err());
        assert_eq!(store.checkpoint().seq, 1);
        // Without a journal the half-applied batch cannot be undone: nothing more is taken.
        assert!(store.apply(vec![record(4)]).is_err());
        assert!(Store::finish(&mut store).is_err());
        assert!(store.close().is_err());
    }

    async fn append_some(log: &EmbeddedLog, n: u64) -> u64 {
        let mut last = 0;
        for _ in 0..n {
            let r = record(1);
            last = log
                .append(AppendRequest {
                    subject: r.subject,
                    expected: Expected::Any,
                    msg_id: MsgId::new(format!("m-{}", EventId::new().token())).expect("msg id"),
                    batch: r.batch,
                })
                .await
                .expect("append")
                .seq;
        }
        last
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runner_reports_timeouts_and_stops_on_a_failed_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
            .expect("open");
        let path = dir.path().join("tally.sqlite");
        let last = append_some(&log, 4).await;
        let runner = ProjectionRunner::start(
            log.clone(),
            &path,
            Tally { fail_at: Some(6) },
            RunnerOptions::default(),
        )
        .await
        .expect("start");
        runner
            .wait_for(last, Duration::from_secs(10))
            .await
            .expect("applied");
        assert_eq!(runner.lag().await.expect("lag"), 0);
        let readers = Readers::new(runner.path(), 2);
        for _ in 0..3 {
            let rows: i64 = readers
                .query(|conn| {
                    Ok(conn.query_row("SELECT count(*) FROM seq_events", [], |r| r.get(0))?)
                })
                .await
                .expect("query");
            assert_eq!(rows, 4);
        }
        let waited = runner.wait_for(last + 1, Duration::from_millis(50)).await;
        assert!(
            matches!(waited, Err(ProjectionError::Timeout { applied, .. }) if applied == last),
            "{waited:?}"
        );
        let last = append_some(&log, 3).await;
        let waited = runner.wait_for(last, Duration::from_secs(10)).await;
        assert!(
            matches!(waited, Err(ProjectionError::Stopped { .. })),
            "{waited:?}"
        );
        let status = runner.shutdown().await;
        assert!(status.failed.is_some());
        assert!(
            status.checkpoint.seq < 6,
            "nothing of the failed batch is applied"
        );
        assert!(applied(&path).iter().all(|seq| *seq < 6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_shares_one_feed_and_each_store_applies_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
            .expect("open");
        let (ahead_path, behind_path) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
        let first = append_some(&log, 5).await;
        // `ahead` has applied the first five already, `behind` nothing.
        let mut ahead = ProjectionStore::open(&ahead_path, Tally { fail_at: None }).expect("open");
        let records = log.read(1, &SubjectFilter::all(), 100).await.expect("read");
        assert_eq!(ahead.apply(records).expect("apply").seq, first);
        let behind = ProjectionStore::open(&behind_path, Tally { fail_at: None }).expect("open");
        let last = append_some(&log, 5).await;
        let mut runners = ProjectionRunner::start_group(
            log.clone(),
            vec![Box::new(ahead) as Box<dyn Store>, Box::new(behind)],
            RunnerOptions {
                max_batch: 3,
                ..RunnerOptions::default()
            },
        )
        .expect("start");
        for runner in &runners {
            runner
                .wait_for(last, Duration::from_secs(10))
                .await
                .expect("applied");
        }
        // A primary key per sequence: anything applied twice would have failed the runner.
        let all: Vec<i64> = (1..=to_i64(last)).collect();
        assert_eq!(applied(&ahead_path), all);
        assert_eq!(applied(&behind_path), all);

        // One runner leaves the group; the other goes on with the feed.
        let behind = runners.pop().expect("behind");
        let ahead = runners.pop().expect("ahead");
        let status = behind.shutdown().await;
        assert_eq!((status.checkpoint.seq, status.failed), (last, None));
        let more = append_some(&log, 3).await;
        ahead
            .wait_for(more, Duration::from_secs(10))
            .await
            .expect("applied after the other left");
        assert_eq!(applied(&ahead_path).len(), 13);
        assert_eq!(applied(&behind_path).len(), 10);
        let status = ahead.shutdown().await;
        assert_eq!((status.checkpoint.seq, status.failed), (more, None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_rebuild_reads_once_and_installs_every_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
            .expect("open");
        let last = append_some(&log, 9).await;
        let paths = [dir.path().join("a.sqlite"), dir.path().join("b.sqlite")];
        // An old file at the first path, holding something the log does not say.
        {
            let old = ProjectionStore::open(&paths[0], Tally { fail_at: None }).expect("open");
            old.conn
                .execute("INSERT INTO seq_events (seq, events) VALUES (100, 1)", [])
                .expect("insert");
            old.close().expect("close");
        }
        let mut stores = Vec::new();
        for path in &paths {
            let store = open_for_rebuild(path, |p| {
                Ok(Box::new(ProjectionStore::create_for_rebuild(
                    p,
                    Tally { fail_at: None },
                )?) as Box<dyn FileStore>)
            })
            .expect("open");
            stores.push((path.clone(), store));
        }
        let mut seen = Vec::new();
        let checkpoints = rebuild_files(&log, stores, Until::End, 4, |index, p| {
            seen.push((index, p.applied_seq))
        })
        .await
        .expect("rebuild");
        assert_eq!(
            checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [last, last]
        );
        let all: Vec<i64> = (1..=to_i64(last)).collect();
        for path in &paths {
            assert_eq!(applied(path), all, "{}", path.display());
            assert!(!sibling(path, ".rebuild").exists());
            assert_eq!(journal_mode(path), "wal", "installed files are live files");
        }
        assert!(
            seen.contains(&(0, last)) && seen.contains(&(1, last)),
            "{seen:?}"
        );

        // Up to a sequence: both stop there.
        let mut stores = Vec::new();
        for path in &paths {
            let store = open_for_rebuild(path, |p| {
                Ok(Box::new(ProjectionStore::create_for_rebuild(
                    p,
                    Tally { fail_at: None },
                )?) as Box<dyn FileStore>)
            })
            .expect("open");
            stores.push((path.clone(), store));
        }
        rebuild_files(&log, stores, Until::Seq(5), 4, |_, _| {})
            .await
            .expect("rebuild");
        for path in &paths {
            assert_eq!(applied(path), (1..=5).collect::<Vec<i64>>());
        }
    }
}
