//! The writer thread of the embedded log: the only connection that writes, group commit.
//!
//! The thread blocks for the first queued request, drains whatever else is queued (up to
//! [`MAX_BATCH`]; when appenders are busy it lets them queue a little more, at most
//! [`GATHER_MAX`]) and decides every request in order inside one transaction:
//!
//! 1. a message id seen within the duplicate window answers its original sequence with
//!    `duplicate: true` (even when the expectation has gone stale: a lost ack is not a conflict);
//! 2. the expected last sequence of the subject, which sees the earlier requests of the same
//!    batch (the `overlay` map);
//! 3. the size limit;
//! 4. the insert.
//!
//! It commits once, announces the new last sequence on the watch channel and only then answers,
//! so an acknowledged append is committed. A refused request writes nothing and does not affect
//! the others; if SQLite itself fails, the batch is rolled back and retried one request per
//! transaction so that only the request that fails gets the error.
//!
//! Deduplication is an in-memory index of the message ids appended within the duplicate window
//! ([`MsgIds`]), rebuilt from the `log` table (which stores each message's id and time) when the
//! file is opened, exactly like JetStream rebuilds its own from the stream. A dedup table updated
//! by every append cost a random B-tree page per message and about a third of the throughput.
//! The index keeps 16 bytes per id ([`id_key`]) on a monotonic clock and at most
//! `EmbeddedOptions::dedup_capacity` ids: at the cap the oldest is forgotten before its window
//! ends, and a retry carrying it is appended again (see [`MsgIds`]). Only the writer has one:
//! a log opened read-only builds none.

use super::{SCHEMA, SCHEMA_VERSION, SyncMode, storage};
use crate::log::{AppendAck, AppendRequest, LogError, LogLimits, Subject};
use crate::wal::{WalKeeper, WalLimits, WalStep};
use lru::LruCache;
use rusqlite::{Connection, TransactionBehavior};
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use switchboard_schemas::Timestamp;
use tokio::sync::{oneshot, watch};

/// Most requests decided in one transaction.
const MAX_BATCH: usize = 4096;
/// How long the writer waits for a request before doing housekeeping.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Subjects whose last sequence the writer remembers.
/// The writer's last sequence per subject, shared with the log's readers: every value is the
/// subject's last committed sequence (the writer puts a value only after its commit, and clears
/// the whole when it is unsure); readers only look values up, they never put one (a value a
/// reader read from the file may be older than a commit it raced with).
pub(super) type SubjectSeqs = std::sync::Arc<parking_lot::Mutex<LruCache<Subject, u64>>>;

/// A new, empty [`SubjectSeqs`].
pub(super) fn subject_seqs() -> SubjectSeqs {
    std::sync::Arc::new(parking_lot::Mutex::new(LruCache::new(SUBJECT_CACHE)))
}

const SUBJECT_CACHE: NonZeroUsize = NonZeroUsize::new(65_536).unwrap();
/// Longest the writer waits for more requests when appenders are busy.
const GATHER_MAX: Duration = Duration::from_micros(200);
/// How long the writer stops gathering after a batch where appenders raced on one subject.
const RACING_BACKOFF: Duration = Duration::from_millis(100);
/// Extra history scanned when rebuilding the message id index, in case the clock went back.
const REBUILD_MARGIN_MICROS: i64 = 60_000_000;

/// One append waiting for the writer.
pub(super) struct WriteRequest {
    pub(super) request: AppendRequest,
    pub(super) reply: oneshot::Sender<Result<AppendAck, LogError>>,
}

/// Opens the write connection: WAL, the chosen synchronous level, the schema.
pub(super) fn open_write_connection(path: &Path, sync: SyncMode) -> Result<Connection, LogError> {
    let open = |e| storage(&format!("cannot open {}", path.display()), e);
    let conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(open)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::Storage(format!(
            "cannot switch {} to WAL (journal mode is {mode})",
            path.display()
        )));
    }
    let synchronous = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(open)?;
    conn.pragma_update(None, "cache_size", -16_000)
        .map_err(open)?;
    // Checkpoints (which fsync the database) are a `WalKeeper`'s, mostly on a thread of its own.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(open)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(open)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open)?;
    if version > SCHEMA_VERSION {
        return Err(LogError::Storage(format!(
            "{} was written by a newer version (schema {version}, this build knows {SCHEMA_VERSION})",
            path.display()
        )));
    }
    conn.execute_batch(SCHEMA)
        .map_err(|e| storage("cannot create the tables", e))?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(open)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A message id as 16 bytes: a UUID written the canonical way (lowercase, hyphenated) is its
/// own 16 bytes; any other id is the first 16 bytes of its SHA-256. Two different ids share a
/// key only by a 2^-128 chance (and a canonical UUID's text maps to nothing else), which is
/// treated as impossible.
pub(super) type IdKey = [u8; 16];

pub(super) fn id_key(msg_id: &str) -> IdKey {
    if msg_id.len() == uuid::fmt::Hyphenated::LENGTH
        && let Ok(id) = uuid::Uuid::try_parse(msg_id)
        && id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            == msg_id
    {
        return id.into_bytes();
    }
    let digest = sha2::Sha256::digest(msg_id.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Message id → (sequence, appended at) for the ids appended within the duplicate window, with
/// the ids in the order they were appended so that expired ones are dropped from the front.
///
/// Times are microseconds on a monotonic clock ([`MsgIds::now`]): a step of the wall clock
/// neither empties the index nor keeps ids longer. Ids read back from the log at open get the
/// monotonic time their stored wall-clock time is ago.
///
/// Bounded by count as well as by time: past `capacity` ids the oldest is forgotten first,
/// before its window ends; a retry that carries it is then appended again as a new message,
/// exactly as a retry after the window (a warning says so, at most once a minute).
struct MsgIds {
    by_id: HashMap<IdKey, (u64, i64)>,
    in_order: VecDeque<(i64, IdKey)>,
    capacity: usize,
    origin: Instant,
    /// Ids forgotten at the cap before their window ended.
    evicted_early: u64,
    warned_at: Option<Instant>,
}

/// How often, at most, the writer warns that the id index is full.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

impl MsgIds {
    fn new(capacity: usize) -> Self {
        Self {
            by_id: HashMap::new(),
            in_order: VecDeque::new(),
            capacity: capacity.max(1),
            origin: Instant::now(),
            evicted_early: 0,
            warned_at: None,
        }
    }

    /// Now, in microseconds since the index was made (monotonic).
    fn now(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX)
    }

    /// The time before which an id is out of a window of `window`.
    fn floor(&self, window: Duration) -> i64 {
        let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        self.now().saturating_sub(window)
    }

    fn get(&self, key: &IdKey) -> Option<(u64, i64)> {
        self.by_id.get(key).copied()
    }

    /// Ids held (an id appended again is counted for each time).
    fn len(&self) -> usize {
        self.in_order.len()
    }

    fn insert(&mut self, key: IdKey, seq: u64, at: i64) {
        self.by_id.insert(key, (seq, at));
        self.in_order.push_back((at, key));
        while self.len() > self.capacity {
            if let Some((at, key)) = self.in_order.pop_front() {
                self.forget(&key, at);
                self.evicted_early += 1;
            }
        }
        if self.evicted_early > 0
            && self
                .warned_at
                .is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY)
        {
            self.warned_at = Some(Instant::now());
            tracing::warn!(
                capacity = self.capacity,
                forgotten = self.evicted_early,
                "the message id index is full: the oldest ids are forgotten before their \
                 duplicate window ends, and a retry carrying one is appended again"
            );
        }
    }

    /// Removes `key`'s entry made at `at` (not a newer one: the id may have been appended again
    /// after it expired).
    fn forget(&mut self, key: &IdKey, at: i64) {
        if self.by_id.get(key).is_some_and(|&(_, latest)| latest <= at) {
            self.by_id.remove(key);
        }
    }

    /// Forgets ids appended before `floor`.
    fn expire(&mut self, floor: i64) {
        while let Some((at, _)) = self.in_order.front() {
            if *at >= floor {
                break;
            }
            if let Some((at, key)) = self.in_order.pop_front() {
                self.forget(&key, at);
            }
        }
    }

    /// Adds the ids of the messages with `seq >= from` appended after `floor` (wall-clock
    /// microseconds, as stored), the newest `capacity` of them at most.
    fn load(&mut self, conn: &Connection, from: u64, floor: i64) -> rusqlite::Result<()> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare(
            "SELECT msg_id, seq, appended_at FROM log WHERE seq >= ?1 ORDER BY seq DESC",
        )?;
        let mut rows = stmt.query([from])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let at: i64 = row.get(2)?;
            if at < floor.saturating_sub(REBUILD_MARGIN_MICROS) {
                break;
            }
            if at >= floor {
                let seq: i64 = row.get(1)?;
                let id = row.get_ref(0)?.as_str().unwrap_or_default();
                found.push((id_key(id), u64::try_from(seq).unwrap_or(0), at));
                if found.len() >= self.capacity {
                    break;
                }
            }
        }
        // Wall-clock times to monotonic ones: as long ago as the stored time is.
        let (wall_now, now) = (Timestamp::now().as_micros(), self.now());
        for (key, seq, at) in found.into_iter().rev() {
            let age = wall_now.saturating_sub(at).max(0);
            self.insert(key, seq, now.saturating_sub(age));
        }
        Ok(())
    }
}

pub(super) struct Writer {
    conn: Connection,
    limits: LogLimits,
    /// The sequence the next inserted message gets.
    next_seq: u64,
    /// Last sequence per subject, exact because this is the only writer (cleared when another
    /// connection is seen to have written, see `data_version`). Shared with the log's readers,
    /// which answer `last_subject_seq` from it without a read of the file.
    subjects: SubjectSeqs,
    msg_ids: MsgIds,
    /// `PRAGMA data_version` seen at the start of the last transaction: it changes when another
    /// connection commits (our own commits leave it alone).
    data_version: i64,
    last_seq: watch::Sender<u64>,
    /// Whether to wait a little for more requests before committing: the last batch had more
    /// than one request (appenders run concurrently) and no recent batch was mostly conflicts.
    /// Appenders racing on one subject are better served without the wait: it would line their
    /// retries up so that every commit has one winner and the same losers (starvation).
    gather: bool,
    /// No gathering before this instant: appenders were racing on one subject lately.
    racing_until: Instant,
}

impl Writer {
    /// The writer for `conn`, with its message id index rebuilt from the log.
    pub(super) fn new(
        conn: Connection,
        limits: LogLimits,
        dedup_capacity: usize,
        last_seq: u64,
        announce: watch::Sender<u64>,
        subjects: SubjectSeqs,
    ) -> Result<Self, LogError> {
        let data_version = data_version(&conn).map_err(|e| storage("cannot read the file", e))?;
        let mut writer = Self {
            conn,
            limits,
            next_seq: last_seq + 1,
            subjects,
            msg_ids: MsgIds::new(dedup_capacity),
            data_version,
            last_seq: announce,
            gather: false,
            racing_until: Instant::now(),
        };
        let floor = writer.dedup_floor();
        writer
            .msg_ids
            .load(&writer.conn, 1, floor)
            .map_err(|e| storage("cannot read the recent message ids", e))?;
        Ok(writer)
    }

    /// Appends stored before this wall-clock time (microseconds) are out of the duplicate
    /// window: what [`MsgIds::load`] reads back.
    fn dedup_floor(&self) -> i64 {
        let window = i64::try_from(self.limits.duplicate_window.as_micros()).unwrap_or(i64::MAX);
        Timestamp::now().as_micros().saturating_sub(window)
    }

    /// Serves the queue until every sender is gone.
    pub(super) fn run(mut self, queue: Receiver<WriteRequest>, path: &Path) {
        let mut keeper = match WalKeeper::start(&mut self.conn, path, "sb-log", WalLimits::DEFAULT)
        {
            Ok(keeper) => Some(keeper),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the log's WAL checkpoints: the WAL will grow");
                None
            }
        };
        let mut batch: Vec<WriteRequest> = Vec::with_capacity(256);
        loop {
            match queue.recv_timeout(IDLE_TICK) {
                Ok(first) => batch.push(first),
                Err(RecvTimeoutError::Timeout) => {
                    let floor = self.msg_ids.floor(self.limits.duplicate_window);
                    self.msg_ids.expire(floor);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            drain(&queue, &mut batch);
            if self.gather {
                // Appenders are busy: give them a moment to queue more, so that one commit
                // serves many (the commit, not the insert, is what costs).
                let deadline = Instant::now() + GATHER_MAX;
                while batch.len() < MAX_BATCH && Instant::now() < deadline {
                    let before = batch.len();
                    std::thread::yield_now();
                    drain(&queue, &mut batch);
                    if batch.len() == before {
                        break;
                    }
                }
            }
            let size = batch.len();
            let conflicts = self.serve(&mut batch);
            if conflicts >= 2 && conflicts * 4 > size {
                self.racing_until = Instant::now() + RACING_BACKOFF;
            }
            self.gather = size > 1 && Instant::now() >= self.racing_until;
            if let Some(keeper) = keeper.as_mut() {
                let started = Instant::now();
                match keeper.after_commit(&self.conn) {
                    Ok(WalStep::Nothing) => {}
                    Ok(step) => tracing::trace!(
                        ?step,
                        rounds = keeper.rounds(),
                        wal_ms = started.elapsed().as_secs_f64() * 1e3,
                        "log wal step"
                    ),
                    Err(e) => tracing::warn!(error = %e, "the log's WAL checkpoint failed"),
                }
            }
        }
        drop(keeper);
        if let Err(e) = self.conn.execute_batch("PRAGMA optimize") {
            tracing::debug!(error = %e, "pragma optimize failed on close");
        }
    }

    /// Decides, commits and answers the batch; returns how many requests conflicted.
    fn serve(&mut self, batch: &mut Vec<WriteRequest>) -> usize {
        let requests: Vec<&AppendRequest> = batch.iter().map(|w| &w.request).collect();
        let answers = match self.commit(&requests) {
            Ok(answers) => answers,
            Err(e) => {
                tracing::warn!(error = %e, requests = requests.len(), "group commit failed; retrying one by one");
                self.resync();
                requests
                    .iter()
                    .map(|request| match self.commit(&[*request]) {
                        Ok(mut one) => one.pop().unwrap_or_else(|| {
                            Err(LogError::Storage("no answer for the request".into()))
                        }),
                        Err(e) => {
                            self.resync();
                            Err(storage("append failed", e))
                        }
                    })
                    .collect()
            }
        };
        let conflicts = answers
            .iter()
            .filter(|a| matches!(a, Err(LogError::Conflict { .. })))
            .count();
        for (waiting, answer) in batch.drain(..).zip(answers) {
            // The appender may have given up waiting; the outcome stands either way.
            let _ = waiting.reply.send(answer);
        }
        conflicts
    }

    /// Decides and writes `requests` in one transaction. `Err` means nothing was written (and
    /// nothing in memory changed).
    fn commit(
        &mut self,
        requests: &[&AppendRequest],
    ) -> rusqlite::Result<Vec<Result<AppendAck, LogError>>> {
        let now = Timestamp::now().as_micros();
        let dedup_floor = self.dedup_floor();
        let id_floor = self.msg_ids.floor(self.limits.duplicate_window);
        self.msg_ids.expire(id_floor);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = data_version(&tx)?;
        if version != self.data_version {
            // Another connection wrote to the file (or a failure made us unsure): pick up its
            // messages and forget what may be stale.
            self.msg_ids.load(&tx, self.next_seq, dedup_floor)?;
            self.subjects.lock().clear();
            self.next_seq = last_seq(&tx)? + 1;
            self.data_version = version;
        }
        // What this batch adds, applied to the writer's state only once committed.
        let mut overlay: HashMap<&Subject, u64> = HashMap::new();
        let mut new_ids: HashMap<IdKey, u64> = HashMap::new();
        let mut answers = Vec::with_capacity(requests.len());
        let mut next_seq = self.next_seq;
        {
            let mut subject_last =
                tx.prepare_cached("SELECT max(seq) FROM log WHERE subject = ?1")?;
            let mut insert_log = tx.prepare_cached(
                "INSERT INTO log (seq, subject, msg_id, appended_at, types, versions, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for request in requests {
                let msg_id = request.msg_id.as_str();
                let key = id_key(msg_id);
                // 1. Deduplication.
                let seen = new_ids.get(&key).copied().or_else(|| {
                    self.msg_ids
                        .get(&key)
                        .filter(|&(_, at)| at >= id_floor)
                        .map(|(seq, _)| seq)
                });
                if let Some(seq) = seen {
                    answers.push(Ok(AppendAck {
                        seq,
                        duplicate: true,
                    }));
                    continue;
                }
                // 2. Expected last sequence of the subject.
                if let Some(expected) = request.expected.last_subject_seq() {
                    // (The cache's guard is dropped before a miss puts into it.)
                    let known = match overlay.get(&request.subject) {
                        Some(&seq) => Some(seq),
                        None => self.subjects.lock().get(&request.subject).copied(),
                    };
                    let actual = match known {
                        Some(seq) => seq,
                        None => {
                            let seq: Option<i64> =
                                subject_last.query_row([request.subject.as_str()], |r| r.get(0))?;
                            let seq = seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                            self.subjects.lock().put(request.subject.clone(), seq);
                            seq
                        }
                    };
                    if actual != expected {
                        answers.push(Err(LogError::Conflict {
                            subject: request.subject.clone(),
                            expected: request.expected,
                            actual,
                        }));
                        continue;
                    }
                }
                // 3. Size.
                let size = request.batch.body.len();
                if size > self.limits.max_message_bytes {
                    answers.push(Err(LogError::TooLarge {
                        size,
                        limit: self.limits.max_message_bytes,
                    }));
                    continue;
                }
                // 4. Insert.
                let seq = next_seq;
                let seq_sql = i64::try_from(seq)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                insert_log.execute(rusqlite::params![
                    seq_sql,
                    request.subject.as_str(),
                    msg_id,
                    now,
                    request.batch.types,
                    request.batch.versions,
                    request.batch.body.as_ref(),
                ])?;
                overlay.insert(&request.subject, seq);
                new_ids.insert(key, seq);
                next_seq += 1;
                answers.push(Ok(AppendAck {
                    seq,
                    duplicate: false,
                }));
            }
        }
        tx.commit()?;
        if next_seq != self.next_seq {
            self.next_seq = next_seq;
            let mut subjects = self.subjects.lock();
            for (subject, seq) in overlay {
                subjects.put(subject.clone(), seq);
            }
            drop(subjects);
            let mut new_ids: Vec<(IdKey, u64)> = new_ids.into_iter().collect();
            new_ids.sort_unstable_by_key(|&(_, seq)| seq);
            let at = self.msg_ids.now();
            for (key, seq) in new_ids {
                self.msg_ids.insert(key, seq, at);
            }
            self.last_seq.send_replace(next_seq - 1);
        }
        Ok(answers)
    }

    /// After a failed transaction: make the next transaction reload what may be stale.
    fn resync(&mut self) {
        self.subjects.lock().clear();
        self.data_version = i64::MIN;
    }
}

/// Moves whatever is queued into `batch` (up to [`MAX_BATCH`]) without waiting.
fn drain(queue: &Receiver<WriteRequest>, batch: &mut Vec<WriteRequest>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

fn last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    let seq: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::{MsgIds, id_key};

    fn key(n: u8) -> [u8; 16] {
        [n; 16]
    }

    #[test]
    fn msg_ids_expire_in_order_and_keep_reappended_ids() {
        let mut ids = MsgIds::new(100);
        ids.insert(key(1), 1, 10);
        ids.insert(key(2), 2, 20);
        ids.expire(15);
        assert_eq!(ids.get(&key(1)), None);
        assert_eq!(ids.get(&key(2)), Some((2, 20)));
        // Id 2 appended again later (after its first expiry window): the old entry leaving the
        // queue must not remove the new one.
        ids.insert(key(2), 3, 30);
        ids.expire(25);
        assert_eq!(ids.get(&key(2)), Some((3, 30)));
        ids.expire(31);
        assert_eq!(ids.get(&key(2)), None);
        assert!(ids.in_order.is_empty());
    }

    #[test]
    fn at_the_cap_the_oldest_id_is_forgotten_first() {
        let mut ids = MsgIds::new(3);
        for n in 1..=5 {
            ids.insert(key(n), u64::from(n), i64::from(n));
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.by_id.len(), 3);
        assert_eq!((ids.get(&key(1)), ids.get(&key(2))), (None, None));
        for n in 3..=5 {
            assert_eq!(ids.get(&key(n)), Some((u64::from(n), i64::from(n))));
        }
        assert_eq!(ids.evicted_early, 2);
        // Re-appending a kept id holds two queue entries for it: still within the cap.
        ids.insert(key(5), 6, 6);
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.get(&key(5)), Some((6, 6)));
        assert_eq!(ids.get(&key(3)), None);
    }

    #[test]
    fn the_index_clock_is_monotonic() {
        let ids = MsgIds::new(10);
        let first = ids.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(ids.now() > first);
        let floor = ids.floor(std::time::Duration::from_secs(1));
        assert!(floor <= ids.now() - 1_000_000);
    }

    #[test]
    fn ids_are_16_bytes_uuids_their_own() {
        let uuid = uuid::Uuid::now_v7();
        assert_eq!(id_key(&uuid.hyphenated().to_string()), uuid.into_bytes());
        // Another spelling of the same UUID is another id: hashed, not parsed.
        let upper = uuid.hyphenated().to_string().to_uppercase();
        assert_ne!(id_key(&upper), uuid.into_bytes());
        assert_ne!(id_key(&uuid.simple().to_string()), uuid.into_bytes());
        // Other ids hash to distinct keys, the same each time.
        assert_ne!(id_key("wa:ABC123"), id_key("wa:ABC124"));
        assert_eq!(id_key("wa:ABC123"), id_key("wa:ABC123"));
    }
}
