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

mod writer;

use super::{
    AppendAck, AppendRequest, EventLog, LogError, LogLimits, LogRecord, Subject, SubjectFilter,
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
#[derive(Clone, Debug, Default)]
pub struct EmbeddedOptions {
    /// Message size and duplicate window.
    pub limits: LogLimits,
    /// Durability of an acknowledged append.
    pub sync: SyncMode,
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
    last_seq: watch::Receiver<u64>,
}

impl fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("path", &self.handle.shared.path)
            .field("last_seq", &*self.handle.shared.last_seq.borrow())
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
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            limits: options.limits.clone(),
            readers: Mutex::new(Vec::new()),
            last_seq: seq_rx,
        });
        // Open one reader now so that a broken file fails here, not at the first read.
        let reader = shared.open_reader()?;
        shared.readers.lock().push(reader);
        let writer = writer::Writer::new(conn, options.limits, last_seq, seq_tx)?;
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
        Ok(conn)
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
    ) -> Result<Vec<LogRecord>, LogError> {
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
                .filter(|r| filter.matches(r.subject.as_str()))
                .collect()
        })
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

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<LogRecord> {
    let seq: i64 = row.get(0)?;
    let subject: String = row.get(1)?;
    let subject = Subject::parse(&subject).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let body: Vec<u8> = row.get(6)?;
    Ok(LogRecord {
        seq: u64::try_from(seq).unwrap_or(0),
        subject,
        msg_id: row.get(2)?,
        appended_at: Timestamp::from_micros(row.get(3)?),
        batch: EncodedBatch {
            types: row.get(4)?,
            versions: row.get(5)?,
            body: body.into(),
        },
    })
}

/// State of one [`EmbeddedLog::tail`] stream.
struct Tail {
    shared: Arc<Shared>,
    filter: SubjectFilter,
    last_seq: watch::Receiver<u64>,
    /// The next sequence to look at: everything below has been delivered or does not match.
    next: u64,
    buffer: VecDeque<LogRecord>,
    done: bool,
}

impl Tail {
    async fn next_item(mut self) -> Option<(Result<LogRecord, LogError>, Self)> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                return Some((Ok(record), self));
            }
            if self.done {
                return None;
            }
            // Everything up to `seen` is committed, so the read below sees at least that much.
            let seen = *self.last_seq.borrow_and_update();
            let (from, filter) = (self.next, self.filter.clone());
            let result = run_blocking(self.shared.clone(), move |s| {
                s.read(from, &filter, TAIL_BATCH)
            })
            .await;
            match result {
                Ok(records) => {
                    let complete = records.len() < TAIL_BATCH;
                    if let Some(last) = records.last() {
                        self.next = last.seq + 1;
                    }
                    if complete {
                        // Nothing else matches up to `seen`: do not scan that range again.
                        self.next = self.next.max(seen + 1);
                    }
                    let empty = records.is_empty();
                    self.buffer.extend(records);
                    if empty && self.last_seq.changed().await.is_err() {
                        self.done = true;
                        return Some((
                            Err(LogError::Unavailable("the log was closed".into())),
                            self,
                        ));
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
        self.blocking(move |s| s.read(from_seq, &filter, max)).await
    }

    /// Reads history in batches, then waits for the writer to announce a new last sequence and
    /// reads on from the last delivered one. A read error is reported as an item and the tail
    /// carries on after a short pause; when the log is closed it ends with an error.
    fn tail(
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
        let subject = subject.clone();
        self.blocking(move |s| s.last_subject_seq(&subject)).await
    }

    /// The last committed sequence, as announced by the writer (no I/O).
    async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(*self.handle.shared.last_seq.borrow())
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
