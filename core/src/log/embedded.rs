//! Embedded backend: the whole log in one SQLite file (WAL).
//!
//! Layout (see [`SCHEMA`]): table `log` holds every message by sequence, with an index on
//! `(subject, seq)` for per-aggregate reads and the expected-last-subject-sequence check. The
//! message ids of the duplicate window are indexed in the writer's memory, rebuilt from `log`
//! at open (see [`writer`] for why not a table).
//!
//! Writes go through **one writer thread** (see [`writer`]) that owns the only write connection
//! and commits whatever is queued in one transaction (group commit), so many concurrent appenders
//! share one commit. Reads use a small pool of read-only connections on the blocking thread pool;
//! WAL lets them run next to the writer. A `tokio::sync::watch` carries the last committed
//! sequence, which is what [`EmbeddedLog::tail`] waits on to go live.
//!
//! One process should own the file: a second writer (another process opening the same file) is
//! detected and stays correct, but its appends do not wake this process's tails.
//!
//! [`EmbeddedLog::open_read_only`] is for the tools that only read (`events tail`, `verify`,
//! `rebuild`): `SQLITE_OPEN_READ_ONLY` connections and no writer thread, so they never add a
//! WAL frame, never create a file and hold no message id index. Their tails see the appends of
//! the process that writes by polling the file every [`FOLLOW_POLL`].
//!
//! A row that does not hold a message (written by hand, say) is [`Unreadable`]: `read` leaves it
//! out, `read_all` and `tail_all` show it, and the records after it are read as usual.

mod writer;

use super::{
    AppendAck, AppendRequest, EventLog, LogError, LogLimits, LogRecord, Subject, SubjectFilter,
    Unreadable,
};
use futures::stream::{self, BoxStream, StreamExt};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use switchboard_schemas::{EncodedBatch, Timestamp};
use tokio::sync::{oneshot, watch};

/// The version stored in `PRAGMA user_version` by this code.
const SCHEMA_VERSION: i64 = 1;

/// The tables of the log file.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    seq         INTEGER PRIMARY KEY,
    subject     TEXT    NOT NULL,
    msg_id      TEXT    NOT NULL,
    appended_at INTEGER NOT NULL,
    types       TEXT    NOT NULL,
    versions    TEXT    NOT NULL,
    body        BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_subject_seq ON log (subject, seq);
";

/// Columns of a [`LogRecord`], in the order [`record_from_row`] reads them.
const RECORD_COLUMNS: &str = "seq, subject, msg_id, appended_at, types, versions, body";

/// Read-only connections kept for reuse; more are opened on demand under load.
const READER_POOL_SIZE: usize = 8;

/// Messages a tail reads per query.
const TAIL_BATCH: usize = 512;

/// How often a tail of a read-only log looks for appends of the writing process (one indexed
/// query on the file when nothing is new).
pub const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// How durable an acknowledged append is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// WAL with `synchronous=NORMAL`: every acknowledged append survives a crash or `kill -9` of
    /// the process (the operating system has it), not necessarily a power loss. Like JetStream's
    /// default, which does not fsync each message.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: fsync at every (group) commit, so an acknowledged append also
    /// survives a power loss. Costs an fsync per commit, shared by the appends of one commit.
    Full,
}

/// Settings of [`EmbeddedLog::open`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Message size and duplicate window.
    pub limits: LogLimits,
    /// Durability of an acknowledged append.
    pub sync: SyncMode,
    /// Most message ids the writer remembers for deduplication: 16 bytes of id, its sequence and
    /// time, 56 bytes in all plus the hash table's spare room, so at most about 95 bytes each. At
    /// the cap the oldest id is forgotten first, before its duplicate window has passed: a retry
    /// carrying a forgotten id is appended again as a new message, as after the window. The
    /// default, [`EmbeddedOptions::DEFAULT_DEDUP_CAPACITY`] (one million, at most about 95 MB),
    /// holds the whole default window (120 s) up to about 8,300 appends per second sustained.
    pub dedup_capacity: usize,
}

impl EmbeddedOptions {
    pub const DEFAULT_DEDUP_CAPACITY: usize = 1_000_000;
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            limits: LogLimits::default(),
            sync: SyncMode::default(),
            dedup_capacity: Self::DEFAULT_DEDUP_CAPACITY,
        }
    }
}

/// The event log in one SQLite file. Cheap to clone; the writer thread stops when the last clone
/// is dropped (tails then end with an error).
#[derive(Clone)]
pub struct EmbeddedLog {
    handle: Arc<Handle>,
}

/// Owns the writer thread: dropping the last handle closes the queue, lets the writer finish what
/// it has and joins it, so the file is closed when the drop returns.
struct Handle {
    queue: Option<std::sync::mpsc::Sender<writer::WriteRequest>>,
    thread: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.shared.path.display(), "embedded log writer panicked");
        }
    }
}

/// What readers and tails need; does not keep the writer alive.
struct Shared {
    path: PathBuf,
    limits: LogLimits,
    readers: Mutex<Vec<Connection>>,
    /// The last sequence committed by this process's writer; `None` when the log is open
    /// read-only (the last sequence is then read from the file).
    last_seq: Option<watch::Receiver<u64>>,
    /// The writer's last sequences per subject (`None` read-only): `last_subject_seq` of a
    /// subject the writer has in it is answered without a read.
    subjects: Option<writer::SubjectSeqs>,
}

impl fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("EmbeddedLog")
            .field("path", &shared.path)
            .field(
                "last_seq",
                &shared.last_seq.as_ref().map(|seq| *seq.borrow()),
            )
            .finish_non_exhaustive()
    }
}

pub(crate) fn storage(context: &str, err: impl fmt::Display) -> LogError {
    LogError::Storage(format!("{context}: {err}"))
}

/// Checks shared by both backends before anything is sent: the subject is under `sb.` and the
/// header values can travel as NATS headers.
pub(crate) fn check_request(request: &AppendRequest) -> Result<(), LogError> {
    if !SubjectFilter::all().matches(request.subject.as_str()) {
        return Err(LogError::Invalid(format!(
            "subject {} is not under {}.",
            request.subject,
            crate::subject::ROOT
        )));
    }
    for (name, value) in [
        ("event types", &request.batch.types),
        ("event versions", &request.batch.versions),
    ] {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LogError::Invalid(format!(
                "{name} must be printable ASCII characters without spaces, got {value:?}"
            )));
        }
    }
    Ok(())
}

impl EmbeddedLog {
    /// Opens (or creates) the log file at `path`, creating its directory if needed, and starts
    /// the writer thread. Blocking: call it at startup (or in `spawn_blocking`).
    pub fn open(path: &Path, options: EmbeddedOptions) -> Result<Self, LogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| storage(&format!("cannot create {}", dir.display()), e))?;
        }
        let conn = writer::open_write_connection(path, options.sync)?;
        let last_seq: i64 = conn
            .query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))
            .map_err(|e| storage("cannot read the last sequence", e))?;
        let last_seq = u64::try_from(last_seq).unwrap_or(0);
        let (seq_tx, seq_rx) = watch::channel(last_seq);
        let (queue_tx, queue_rx) = std::sync::mpsc::channel();
        let subjects = writer::subject_seqs();
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            limits: options.limits.clone(),
            readers: Mutex::new(Vec::new()),
            last_seq: Some(seq_rx),
            subjects: Some(subjects.clone()),
        });
        // Open one reader now so that a broken file fails here, not at the first read.
        let reader = shared.open_reader()?;
        shared.readers.lock().push(reader);
        let writer = writer::Writer::new(
            conn,
            options.limits,
            options.dedup_capacity,
            last_seq,
            seq_tx,
            subjects,
        )?;
        let thread = std::thread::Builder::new()
            .name("sb-log-writer".into())
            .spawn({
                let path = path.to_owned();
                move || writer.run(queue_rx, &path)
            })
            .map_err(|e| storage("cannot start the writer thread", e))?;
        Ok(Self {
            handle: Arc::new(Handle {
                queue: Some(queue_tx),
                thread: Some(thread),
                shared,
            }),
        })
    }

    /// Opens the existing log file at `path` for reading only: no writer, nothing created,
    /// nothing written (not even a WAL frame). A missing file, or one that is not an event log
    /// (an empty file, say), is an error. Appends answer [`LogError::Invalid`]. Blocking.
    pub fn open_read_only(path: &Path, limits: LogLimits) -> Result<Self, LogError> {
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            limits,
            readers: Mutex::new(Vec::new()),
            last_seq: None,
            subjects: None,
        });
        let reader = shared.open_reader()?;
        let version: i64 = reader
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| storage("cannot read the file", e))?;
        if version > SCHEMA_VERSION {
            return Err(LogError::Storage(format!(
                "{} was written by a newer version (schema {version}, this build knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        let has_log: bool = reader
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'log'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| storage("cannot read the file", e))?;
        if !has_log {
            return Err(LogError::Storage(
                "not an event log: no log table (an empty file, or not written by switchboard)"
                    .into(),
            ));
        }
        shared.readers.lock().push(reader);
        Ok(Self {
            handle: Arc::new(Handle {
                queue: None,
                thread: None,
                shared,
            }),
        })
    }

    /// Whether the log was opened with [`EmbeddedLog::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.handle.shared.last_seq.is_none()
    }

    /// The path of the log file.
    pub fn path(&self) -> &Path {
        &self.handle.shared.path
    }

    /// The limits the log was opened with.
    pub fn limits(&self) -> &LogLimits {
        &self.handle.shared.limits
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        run_blocking(self.handle.shared.clone(), f).await
    }
}

async fn run_blocking<T: Send + 'static>(
    shared: Arc<Shared>,
    f: impl FnOnce(&Shared) -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(move || f(&shared))
        .await
        .map_err(|e| storage("read task failed", e))?
}

impl Shared {
    fn open_reader(&self) -> Result<Connection, LogError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| storage(&format!("cannot open {}", self.path.display()), e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| storage("cannot configure a reader", e))?;
        // A bound `GLOB` pattern (the wildcard read) would otherwise expire the cached statement
        // at every bind, and the next step would compile it again (13 % of `serve`'s CPU under
        // `bench channels`, BENCHMARKS.md); the plans here do not depend on the values.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(|e| storage("cannot configure a reader", e))?;
        Ok(conn)
    }

    fn make_durable(&self, read_only: bool) -> Result<(), LogError> {
        if !read_only {
            let conn = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| storage(&format!("cannot open {}", self.path.display()), e))?;
            conn.busy_timeout(Duration::from_secs(5))
                .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
                .map_err(|e| storage("cannot configure the checkpoint", e))?;
            // (busy, frames in the WAL, frames checkpointed): busy when a reader or another
            // checkpoint is in the way; the explicit syncs below cover that case.
            let (busy, _, _): (i64, i64, i64) = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(|e| storage("cannot checkpoint the log", e))?;
            if busy != 0 {
                tracing::debug!(path = %self.path.display(), "log checkpoint was busy; syncing the WAL");
            }
        }
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        for file in [self.path.clone(), PathBuf::from(wal)] {
            match std::fs::File::open(&file).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(storage(&format!("cannot sync {}", file.display()), e)),
            }
        }
        Ok(())
    }

    /// Runs `f` on a pooled read-only connection.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LogError> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = f(&conn).map_err(|e| storage("read failed", e));
        let mut readers = self.readers.lock();
        if readers.len() < READER_POOL_SIZE {
            readers.push(conn);
        }
        result
    }

    fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<Result<LogRecord, Unreadable>>, LogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let from = i64::try_from(from_seq.max(1)).unwrap_or(i64::MAX);
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let records = if let Some(subject) = filter.as_literal() {
                // One aggregate: walk the (subject, seq) index.
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS} FROM log WHERE subject = ?1 AND seq >= ?2 \
                     ORDER BY seq LIMIT ?3"
                ))?;
                stmt.query_map(
                    rusqlite::params![subject.as_str(), from, limit],
                    record_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?
            } else {
                // Wildcards: walk by sequence and let SQLite test the subject, so that bodies of
                // messages that do not match are never loaded. `+subject` keeps the planner off
                // the subject index (it would have to sort). GLOB plus the count of dots is exact
                // for NATS wildcards: tokens are [a-z0-9_-]+, so with a fixed number of dots each
                // `*` spans exactly one token.
                let glob = filter_glob(filter);
                let (dots, tail) = filter_dots(filter);
                let dot_test = if tail { ">=" } else { "=" };
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS} FROM log WHERE seq >= ?1 AND +subject GLOB ?2 \
                     AND length(subject) - length(replace(subject, '.', '')) {dot_test} ?3 \
                     ORDER BY seq LIMIT ?4"
                ))?;
                stmt.query_map(rusqlite::params![from, glob, dots, limit], record_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            Ok(records)
        })
        .map(|records| {
            // Belt and braces: the SQL test above is exact, this one is the reference.
            records
                .into_iter()
                .filter(|r| match r {
                    Ok(record) => filter.matches(record.subject.as_str()),
                    Err(unreadable) => filter.matches(&unreadable.subject),
                })
                .collect()
        })
    }

    /// The last sequence in the file (for a read-only log, which has no writer to announce it).
    fn last_seq_in_file(&self) -> Result<u64, LogError> {
        let seq: i64 = self.with_reader(|conn| {
            conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM log")?
                .query_row([], |r| r.get(0))
        })?;
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    fn last_subject_seq(&self, subject: &Subject) -> Result<u64, LogError> {
        let seq: Option<i64> = self.with_reader(|conn| {
            conn.prepare_cached("SELECT max(seq) FROM log WHERE subject = ?1")?
                .query_row([subject.as_str()], |r| r.get(0))
                .optional()
                .map(Option::flatten)
        })?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }
}

/// The GLOB pattern of a filter: `*` and `>` both become `*` (the dot count makes it exact).
fn filter_glob(filter: &SubjectFilter) -> String {
    filter
        .as_str()
        .split('.')
        .map(|t| if t == ">" { "*" } else { t })
        .collect::<Vec<_>>()
        .join(".")
}

/// The number of dots a matching subject has (exactly, or at least when the filter ends in `>`).
fn filter_dots(filter: &SubjectFilter) -> (i64, bool) {
    let text = filter.as_str();
    let dots = text.bytes().filter(|&b| b == b'.').count();
    (i64::try_from(dots).unwrap_or(i64::MAX), text.ends_with('>'))
}

/// The record of a row, or why the row holds no message (the `Err` of the outer result is
/// SQLite failing, the inner one a row that is not a message).
fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Result<LogRecord, Unreadable>> {
    use rusqlite::types::ValueRef;
    let seq: i64 = row.get(0)?;
    let seq = u64::try_from(seq).unwrap_or(0);
    let raw_subject = match row.get_ref(1)? {
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
        other => format!("({})", other.data_type()),
    };
    let unreadable = |reason: String| Unreadable {
        seq,
        subject: raw_subject.clone(),
        reason,
    };
    let subject = match Subject::parse(&raw_subject) {
        Ok(subject) => subject,
        Err(e) => return Ok(Err(unreadable(e.to_string()))),
    };
    let fields = (|| {
        Ok::<_, rusqlite::Error>((
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, Vec<u8>>(6)?,
        ))
    })();
    Ok(match fields {
        Ok((msg_id, appended_at, types, versions, body)) => Ok(LogRecord {
            seq,
            subject,
            msg_id,
            appended_at: Timestamp::from_micros(appended_at),
            batch: EncodedBatch {
                types,
                versions,
                body: body.into(),
            },
        }),
        Err(e) => Err(unreadable(format!("not a message row: {e}"))),
    })
}

/// State of one [`EmbeddedLog::tail`] stream.
struct Tail {
    shared: Arc<Shared>,
    filter: SubjectFilter,
    /// The writer's announcements; `None` on a read-only log, whose tail polls the file.
    last_seq: Option<watch::Receiver<u64>>,
    /// The next sequence to look at: everything below has been delivered or does not match.
    next: u64,
    buffer: VecDeque<Result<LogRecord, Unreadable>>,
    done: bool,
}

impl Tail {
    async fn next_item(mut self) -> Option<(Result<LogRecord, LogError>, Self)> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                return Some((record.map_err(LogError::from), self));
            }
            if self.done {
                return None;
            }
            // Everything up to `seen` is committed, so the read below sees at least that much.
            // A read-only tail knows nothing beyond what it reads.
            let seen = self
                .last_seq
                .as_mut()
                .map_or(0, |last| *last.borrow_and_update());
            let (from, filter) = (self.next, self.filter.clone());
            let result = run_blocking(self.shared.clone(), move |s| {
                s.read(from, &filter, TAIL_BATCH)
            })
            .await;
            match result {
                Ok(records) => {
                    let complete = records.len() < TAIL_BATCH;
                    if let Some(last) = records.last() {
                        self.next = match last {
                            Ok(record) => record.seq,
                            Err(unreadable) => unreadable.seq,
                        } + 1;
                    }
                    if complete {
                        // Nothing else matches up to `seen`: do not scan that range again.
                        self.next = self.next.max(seen + 1);
                    }
                    let empty = records.is_empty();
                    self.buffer.extend(records);
                    if empty {
                        match self.last_seq.as_mut() {
                            // Another process writes: look again in a moment.
                            None => tokio::time::sleep(FOLLOW_POLL).await,
                            Some(last) => {
                                if last.changed().await.is_err() {
                                    self.done = true;
                                    return Some((
                                        Err(LogError::Unavailable("the log was closed".into())),
                                        self,
                                    ));
                                }
                            }
                        }
                    }
                }
                Err(err) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Some((Err(err), self));
                }
            }
        }
    }
}

impl EventLog for EmbeddedLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendAck, LogError> {
        check_request(&request)?;
        if self.is_read_only() {
            return Err(LogError::Invalid(format!(
                "the log at {} is open read-only",
                self.path().display()
            )));
        }
        let queue = self
            .handle
            .queue
            .as_ref()
            .ok_or_else(|| LogError::Unavailable("the log writer has stopped".into()))?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(writer::WriteRequest { request, reply })
            .map_err(|_| LogError::Unavailable("the log writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| LogError::Unavailable("the log writer stopped before answering".into()))?
    }

    async fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<LogRecord>, LogError> {
        let filter = filter.clone();
        self.blocking(move |s| s.read(from_seq, &filter, max))
            .await
            .map(super::readable)
    }

    async fn read_all(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<Result<LogRecord, Unreadable>>, LogError> {
        let filter = filter.clone();
        self.blocking(move |s| s.read(from_seq, &filter, max)).await
    }

    /// Checkpoints the WAL into the file (truncating it) and syncs both, whatever the
    /// [`SyncMode`]: every append acknowledged so far then survives a power cut. A reader
    /// holding an old snapshot can keep the checkpoint from finishing; the WAL is synced then,
    /// which is as durable. A read-only log acknowledged nothing: it only syncs what is there.
    async fn make_durable(&self) -> Result<super::Durable, LogError> {
        let read_only = self.is_read_only();
        self.blocking(move |s| s.make_durable(read_only)).await?;
        Ok(super::Durable(()))
    }

    /// Reads history in batches, then waits for the writer to announce a new last sequence (on a
    /// read-only log: polls every [`FOLLOW_POLL`]) and reads on from the last delivered one. A
    /// read error is reported as an item and the tail carries on after a short pause; when the
    /// log is closed it ends with an error.
    fn tail(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        super::readable_tail(self.tail_all(from_seq, filter))
    }

    fn tail_all(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        let state = Tail {
            shared: self.handle.shared.clone(),
            filter,
            last_seq: self.handle.shared.last_seq.clone(),
            next: from_seq.max(1),
            buffer: VecDeque::new(),
            done: false,
        };
        stream::unfold(state, Tail::next_item).boxed()
    }

    async fn last_subject_seq(&self, subject: &Subject) -> Result<u64, LogError> {
        // Most subjects asked about were appended to lately (a dialog's, an identity's).
        if let Some(subjects) = &self.handle.shared.subjects
            && let Some(&seq) = subjects.lock().peek(subject)
        {
            return Ok(seq);
        }
        let subject = subject.clone();
        self.blocking(move |s| s.last_subject_seq(&subject)).await
    }

    /// The last committed sequence, as announced by the writer (no I/O); read from the file
    /// when the log is open read-only.
    async fn last_seq(&self) -> Result<u64, LogError> {
        match &self.handle.shared.last_seq {
            Some(last) => Ok(*last.borrow()),
            None => self.blocking(Shared::last_seq_in_file).await,
        }
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Expected, MsgId};

    fn request(subject: &str, msg_id: &str) -> AppendRequest {
        AppendRequest {
            subject: Subject::parse(subject).unwrap(),
            expected: Expected::Any,
            msg_id: MsgId::new(msg_id).unwrap(),
            batch: EncodedBatch {
                types: "test.event".into(),
                versions: "1".into(),
                body: bytes::Bytes::from_static(b"body"),
            },
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_read_only_log_refuses_appends_and_follows_the_writer_by_polling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let writer = EmbeddedLog::open(&path, EmbeddedOptions::default()).unwrap();
        writer
            .append(request("sb.p1.dialog.d1", "m1"))
            .await
            .unwrap();
        let reader = EmbeddedLog::open_read_only(&path, LogLimits::default()).unwrap();
        assert!(reader.is_read_only());
        let refused = reader.append(request("sb.p1.dialog.d1", "m2")).await;
        assert!(matches!(refused, Err(LogError::Invalid(_))), "{refused:?}");
        assert_eq!(reader.last_seq().await.unwrap(), 1);

        let mut tail = reader.tail(1, SubjectFilter::all());
        let first = tail.next().await.unwrap().unwrap();
        assert_eq!(first.msg_id, "m1");
        // No announcement reaches the reader: it must look at the file.
        writer
            .append(request("sb.p1.dialog.d2", "m3"))
            .await
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(30), tail.next())
            .await
            .expect("the read-only tail never saw the append")
            .unwrap()
            .unwrap();
        assert_eq!((next.seq, next.msg_id.as_str()), (2, "m3"));
        assert_eq!(reader.last_seq().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_row_that_is_no_message_is_skipped_by_tail_and_shown_by_tail_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let log = EmbeddedLog::open(&path, EmbeddedOptions::default()).unwrap();
        log.append(request("sb.p1.dialog.d1", "m1")).await.unwrap();
        drop(log);
        Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO log VALUES (2, 'sb.Bad', 'x', 0, 'test.event', '1', x'00')",
                [],
            )
            .unwrap();
        let log = EmbeddedLog::open(&path, EmbeddedOptions::default()).unwrap();
        log.append(request("sb.p1.dialog.d1", "m3")).await.unwrap();

        let skipped: Vec<u64> = log
            .tail(1, SubjectFilter::all())
            .take(2)
            .map(|item| item.unwrap().seq)
            .collect()
            .await;
        assert_eq!(skipped, [1, 3]);
        let shown: Vec<Result<u64, LogError>> = log
            .tail_all(1, SubjectFilter::all())
            .take(3)
            .map(|item| item.map(|record| record.seq))
            .collect()
            .await;
        assert!(matches!(
            shown.as_slice(),
            [
                Ok(1),
                Err(LogError::Unreadable(Unreadable { seq: 2, .. })),
                Ok(3)
            ]
        ));
        assert_eq!(
            log.read(1, &SubjectFilter::all(), 10).await.unwrap().len(),
            2
        );
        assert_eq!(
            log.read_all(1, &SubjectFilter::all(), 10)
                .await
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn opening_read_only_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        assert!(EmbeddedLog::open_read_only(&path, LogLimits::default()).is_err());
        assert!(!path.exists());
        std::fs::File::create(&path).unwrap();
        let error = EmbeddedLog::open_read_only(&path, LogLimits::default()).unwrap_err();
        assert!(error.to_string().contains("not an event log"), "{error}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn an_id_forgotten_at_the_dedup_cap_is_appended_again() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions {
            dedup_capacity: 2,
            ..EmbeddedOptions::default()
        };
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), options).unwrap();
        for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
            let ack = log.append(request("sb.p1.dialog.d1", id)).await.unwrap();
            assert_eq!(ack.seq, n as u64 + 1);
        }
        // The two newest ids are remembered...
        let retry = log.append(request("sb.p1.dialog.d1", "c")).await.unwrap();
        assert_eq!((retry.seq, retry.duplicate), (3, true));
        // ...the oldest was forgotten at the cap, within its window: appended again.
        let retry = log.append(request("sb.p1.dialog.d1", "a")).await.unwrap();
        assert_eq!((retry.seq, retry.duplicate), (4, false));
    }

    #[test]
    fn glob_and_dots_follow_the_filter() {
        let f = SubjectFilter::parse("sb.*.dialog.*").unwrap();
        assert_eq!(filter_glob(&f), "sb.*.dialog.*");
        assert_eq!(filter_dots(&f), (3, false));
        let f = SubjectFilter::parse("sb.p1.>").unwrap();
        assert_eq!(filter_glob(&f), "sb.p1.*");
        assert_eq!(filter_dots(&f), (2, true));
    }
}
