//! The WAL of a SQLite file with one busy writer (the embedded log, every live read model),
//! checkpointed in two stages so that the writer never copies a whole WAL between two of its
//! transactions and the WAL is still rewound.
//!
//! A busy writer commits many times a second, each commit adding the pages it changed to the
//! WAL. SQLite's automatic checkpoint copies the WAL into the database file right after the
//! commit that crosses its threshold, on the writer's thread, while batches queue behind it. A
//! checkpointer beside the writer alone does not do either: the WAL is only rewound when every
//! frame in it has been copied before the writer's next transaction begins, which a writer that
//! always has work never allows, so the WAL grows until something truncates it, waiting for the
//! writer and holding its appends meanwhile (BENCHMARKS.md has the figures of both stalls).
//!
//! So the copy is split. Once the WAL holds [`WalLimits::start`] frames, a thread of the
//! file's own copies it with passive checkpoints beside the writer (which goes on committing),
//! round after round while more than [`WalLimits::rest`] frames are left; then the writer
//! copies what is left itself, between two transactions (the last few commits' pages), and its
//! next transaction rewinds the WAL, as after an automatic checkpoint. A WAL that reaches
//! [`WalLimits::most`] makes the writer wait for the thread: the bound on the file when the
//! thread cannot keep up. Readers on old snapshots hold the copy back (as with any
//! checkpoint), never the writer.
//!
//! A writer that has gone quiet leaves up to [`WalLimits::start`] frames in the WAL, and every
//! reader looks each page it reads up in the WAL's index and copies it out with a system call
//! (the file's own pages a reader maps). So once the writer has committed nothing for
//! [`IDLE_COPY_AFTER`], the thread copies what the WAL holds too: readers that begin after it
//! read the file alone, and the writer's next transaction rewinds the WAL.

use rusqlite::{Connection, wal::CheckpointMode};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// When the stages run, in WAL frames (a frame is a page and a 24-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalLimits {
    /// Frames in the WAL that start the thread's copy.
    pub start: i64,
    /// Frames not yet copied below which the thread hands the rest to the writer.
    pub rest: i64,
    /// Passive rounds the thread runs at most before it hands over (a reader on an old
    /// snapshot stops every round at the same frame).
    pub rounds: u32,
    /// Frames in the WAL at which the writer waits for the thread before going on.
    pub most: i64,
}

impl WalLimits {
    /// The defaults (4 KiB pages: the copy starts at 64 MiB of WAL).
    pub const DEFAULT: WalLimits = WalLimits {
        start: 16 * 1024,
        rest: 256,
        rounds: 8,
        most: 128 * 1024,
    };
}

/// How long the writer must have committed nothing before the thread copies the WAL anyway.
pub const IDLE_COPY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What [`WalKeeper::after_commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalStep {
    /// Nothing on the writer's thread.
    Nothing,
    /// The thread was asked to copy the WAL.
    Started,
    /// The writer copied the rest (the next transaction rewinds the WAL if nothing held it).
    Finished,
}

/// Where the thread is, as the writer and the thread share it.
#[derive(Debug, Default)]
struct Handover {
    /// The thread has finished its rounds: the rest is the writer's.
    done: Mutex<bool>,
    finished: Condvar,
}

/// The copying thread of one file and its writer's side of the handover.
/// Drop it before the writer connection checkpoints for good (at close).
#[derive(Debug)]
pub struct WalKeeper {
    /// Frames in the WAL after the writer's last commit (SQLite's WAL hook).
    frames: Arc<AtomicI64>,
    /// Copies of a quiet writer's WAL so far (for traces and tests).
    idle_copies: Arc<AtomicI64>,
    /// Passive rounds the thread has run without an error.
    rounds: Arc<AtomicI64>,
    handover: Arc<Handover>,
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The thread is copying (asked, and not yet handed back to the writer).
    copying: bool,
    limits: WalLimits,
}

impl WalKeeper {
    /// Takes over the checkpoints of the writer connection `conn` (WAL mode) of the file at
    /// `path`: SQLite's automatic checkpoint is turned off, and a thread named `name` with a
    /// connection of its own does the copying from now on. When that thread or its connection
    /// cannot be had, SQLite's own checkpoints stay (on the writer's thread, every
    /// `limits.start` frames) and the keeper does nothing: an error only when `conn` refuses
    /// either setting.
    pub fn start(
        conn: &mut Connection,
        path: &Path,
        name: &str,
        limits: WalLimits,
    ) -> rusqlite::Result<Self> {
        // A WAL left by an earlier run may hold frames the file does not: one frame stands for
        // them until the first commit counts the WAL (a quiet writer's copy needs a count > 0).
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let left = std::fs::metadata(&wal_path).is_ok_and(|m| m.len() > 0);
        let frames = Arc::new(AtomicI64::new(i64::from(left)));
        let commits = Arc::new(AtomicI64::new(0));
        let idle_copies = Arc::new(AtomicI64::new(0));
        let handover = Arc::new(Handover::default());
        let rounds = Arc::new(AtomicI64::new(0));
        let (nudge, nudged) = sync_channel::<()>(1);
        let copier = {
            let frames = Arc::clone(&frames);
            let commits = Arc::clone(&commits);
            let idle_copies = Arc::clone(&idle_copies);
            let rounds = Arc::clone(&rounds);
            let handover = Arc::clone(&handover);
            let label = name.to_owned();
            // The copies sync as the writer's commits do (a file written without syncs is
            // copied without them too).
            let synchronous: rusqlite::Result<i64> =
                conn.query_row("PRAGMA synchronous", [], |r| r.get(0));
            synchronous
                .and_then(|level| {
                    let copier = Connection::open(path)?;
                    copier.pragma_update(None, "synchronous", level)?;
                    Ok(copier)
                })
                // A connection learns that the file is in WAL mode when it first reads it:
                // before that, a checkpoint does nothing.
                .and_then(|copier| {
                    copier.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
                    Ok(copier)
                })
                .map_err(|e| e.to_string())
                .and_then(|copier| {
                    std::thread::Builder::new()
                        .name(format!("{name}-wal"))
                        .spawn(move || {
                            lower_priority(&label);
                            // The commit count at the last look, and at the last idle copy.
                            let mut seen = commits.load(Ordering::Acquire);
                            let mut copied_at = None;
                            loop {
                                match nudged.recv_timeout(IDLE_COPY_AFTER) {
                                    Ok(()) => {
                                        copy_rounds(&copier, &frames, &rounds, limits, &label);
                                        *lock(&handover.done) = true;
                                        handover.finished.notify_all();
                                    }
                                    Err(RecvTimeoutError::Timeout) => {
                                        let now = commits.load(Ordering::Acquire);
                                        let quiet = now == seen;
                                        seen = now;
                                        if quiet
                                            && copied_at != Some(now)
                                            && frames.load(Ordering::Acquire) > 0
                                            && copy_idle(&copier, &label)
                                        {
                                            copied_at = Some(now);
                                            idle_copies.fetch_add(1, Ordering::AcqRel);
                                        }
                                    }
                                    Err(RecvTimeoutError::Disconnected) => break,
                                }
                            }
                        })
                        .map_err(|e| e.to_string())
                })
        };
        let thread = match copier {
            Ok(thread) => thread,
            Err(error) => {
                tracing::error!(%error, file = name, "cannot start the WAL thread; SQLite checkpoints on commits");
                conn.pragma_update(None, "wal_autocheckpoint", limits.start)?;
                return Ok(Self {
                    frames,
                    idle_copies,
                    rounds,
                    handover,
                    nudge: None,
                    thread: None,
                    copying: false,
                    limits,
                });
            }
        };
        // Turning the automatic checkpoint off removes SQLite's own WAL hook; ours replaces it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let seen = Arc::clone(&frames);
        let counted = Arc::clone(&commits);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            seen.store(i64::from(pages), Ordering::Release);
            counted.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }))?;
        Ok(Self {
            frames,
            idle_copies,
            rounds,
            handover,
            nudge: Some(nudge),
            thread: Some(thread),
            copying: false,
            limits,
        })
    }

    /// Frames in the WAL after the writer's last commit.
    pub fn frames(&self) -> i64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Passive rounds the thread has run so far (for traces and tests).
    pub fn rounds(&self) -> i64 {
        self.rounds.load(Ordering::Acquire)
    }

    /// Copies of the WAL the thread made while the writer was quiet (for traces and tests).
    pub fn idle_copies(&self) -> i64 {
        self.idle_copies.load(Ordering::Acquire)
    }

    /// The writer's turn, right after each commit: starts the thread's copy when the WAL is
    /// long enough, copies the rest once the thread is done (waiting for it only when the WAL
    /// has reached [`WalLimits::most`]).
    pub fn after_commit(&mut self, conn: &Connection) -> rusqlite::Result<WalStep> {
        let frames = self.frames();
        if !self.copying {
            if frames < self.limits.start || self.thread.is_none() {
                return Ok(WalStep::Nothing);
            }
            self.copying = true;
            if let Some(nudge) = &self.nudge {
                let _ = nudge.try_send(());
            }
            return Ok(WalStep::Started);
        }
        {
            let mut done = lock(&self.handover.done);
            if !*done && frames >= self.limits.most {
                tracing::debug!(frames, "the WAL is at its limit: waiting for its thread");
                while !*done {
                    done = self
                        .handover
                        .finished
                        .wait(done)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
            if !*done {
                return Ok(WalStep::Nothing);
            }
            *done = false;
        }
        self.copying = false;
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok(_) => Ok(WalStep::Finished),
            // Another connection checkpointing (`rebuild`'s close, say): the next cycle copies.
            Err(e) if is_busy(&e) => Ok(WalStep::Nothing),
            Err(e) => Err(e),
        }
    }
}

impl Drop for WalKeeper {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("a WAL thread panicked");
        }
    }
}

/// The thread's part: passive checkpoints while more than `limits.rest` frames are left
/// uncopied, at most `limits.rounds`.
fn copy_rounds(
    conn: &Connection,
    frames: &AtomicI64,
    rounds: &AtomicI64,
    limits: WalLimits,
    name: &str,
) {
    for round in 1..=limits.rounds {
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok((log, copied)) if log < 0 || copied < 0 => {
                tracing::warn!(file = name, "the wal thread cannot checkpoint (no WAL?)");
                return;
            }
            Ok((_, copied)) => {
                rounds.fetch_add(1, Ordering::AcqRel);
                // The checkpoint counts the frames there were when it began; the writer has
                // committed more since.
                let left = frames.load(Ordering::Acquire) - i64::from(copied);
                tracing::trace!(file = name, round, copied, left, "wal copied");
                if left <= limits.rest {
                    return;
                }
            }
            Err(e) if is_busy(&e) => return,
            Err(e) => {
                tracing::warn!(error = %e, file = name, "wal checkpoint failed");
                return;
            }
        }
    }
}

/// The thread's copy of a quiet writer's WAL: one passive checkpoint, which copies every frame
/// unless a reader on an old snapshot holds some back (then the next quiet second tries again).
/// Whether everything was copied.
fn copy_idle(conn: &Connection, name: &str) -> bool {
    match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
        Ok((log, copied)) if log >= 0 && copied == log => {
            tracing::trace!(file = name, copied, "a quiet writer's wal copied");
            true
        }
        Ok(_) => false,
        Err(e) if is_busy(&e) => false,
        Err(e) => {
            tracing::warn!(error = %e, file = name, "wal checkpoint failed");
            false
        }
    }
}

/// Niceness of a copying thread (Linux): it yields the CPU to the writers when both want it.
/// Nobody waits for a copy (until the WAL reaches [`WalLimits::most`]); everybody waits for
/// the writers (BENCHMARKS.md, the nice-10 runs at `17f10ad`).
const COPY_NICENESS: i32 = 10;

/// The copying thread yields the CPU to the writers (see [`COPY_NICENESS`]).
fn lower_priority(name: &str) {
    #[cfg(target_os = "linux")]
    {
        // On Linux a thread id names the thread alone for `setpriority`.
        if let Err(e) =
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), COPY_NICENESS)
        {
            tracing::debug!(error = %e, file = name, "cannot lower the WAL thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages a commit of [`churn`] changes: 16 rows of 1 KiB, at rows spread over the table.
    fn churn(conn: &Connection, round: i64) {
        let tx = conn.unchecked_transaction().expect("begin");
        for i in 0..16 {
            tx.execute(
                "INSERT INTO t (id, v) VALUES (?1, randomblob(1024))
                 ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                [(round * 7 + i * 131) % 2000],
            )
            .expect("write");
        }
        tx.commit().expect("commit");
    }

    /// A WAL-mode file with a table `t` in a new directory, its writer connection and a keeper
    /// named `name` for it.
    fn kept(name: &str, limits: WalLimits) -> (tempfile::TempDir, Connection, WalKeeper) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.sqlite");
        let mut conn = Connection::open(&path).expect("open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode = wal", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
            .expect("schema");
        let keeper = WalKeeper::start(&mut conn, &path, name, limits).expect("keeper");
        (dir, conn, keeper)
    }

    /// The WAL is rewound over and over while the writer commits all the time, and stays near
    /// the size where the copy starts; nothing committed is lost.
    #[test]
    fn a_busy_writer_keeps_a_bounded_wal() {
        let limits = WalLimits {
            start: 200,
            rest: 40,
            rounds: 4,
            most: 2_000,
        };
        let (dir, conn, mut keeper) = kept("test", limits);
        let (mut finished, mut rewound, mut longest) = (0, 0, 0);
        let mut before = 0;
        for round in 0..3_000 {
            churn(&conn, round);
            let frames = keeper.frames();
            longest = longest.max(frames);
            if frames < before {
                rewound += 1;
            }
            before = frames;
            if keeper.after_commit(&conn).expect("after commit") == WalStep::Finished {
                finished += 1;
            }
        }
        assert!(finished >= 5, "the writer finished {finished} copies");
        assert!(
            keeper.rounds() >= finished,
            "the thread copied in {} rounds",
            keeper.rounds()
        );
        assert!(rewound >= 5, "the WAL was rewound {rewound} times");
        assert!(
            longest <= limits.most + 64,
            "the WAL reached {longest} frames"
        );
        drop(keeper);
        let wal = std::fs::metadata(dir.path().join("m.sqlite-wal"))
            .expect("wal")
            .len();
        assert!(
            wal <= (limits.most as u64 + 64) * (4096 + 24) + 32,
            "WAL file {wal} bytes"
        );
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 2000);
    }

    /// A writer that stops committing has its WAL copied after a quiet second, so readers read
    /// the file alone: a later checkpoint finds nothing left to copy; while it stays quiet, it
    /// is not copied again. (Whether a busy writer is copied is not asserted: a writer paused
    /// for a second — a starved test thread on a loaded machine — is quiet, by design.)
    #[test]
    fn a_quiet_writer_has_its_wal_copied() {
        let limits = WalLimits {
            start: 1_000_000,
            ..WalLimits::DEFAULT
        };
        let (_dir, conn, keeper) = kept("test", limits);
        let busy_until = std::time::Instant::now() + IDLE_COPY_AFTER * 3;
        let mut round = 0;
        while std::time::Instant::now() < busy_until {
            churn(&conn, round);
            round += 1;
            std::thread::sleep(IDLE_COPY_AFTER / 20);
        }
        let before = keeper.idle_copies();
        let deadline = std::time::Instant::now() + IDLE_COPY_AFTER * 10;
        while keeper.idle_copies() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(IDLE_COPY_AFTER / 10);
        }
        // Past the next quiet seconds too: a copy made during a pause of the busy loop left the
        // frames of the commits after it, which the next quiet second copies.
        std::thread::sleep(IDLE_COPY_AFTER * 3);
        let copies = keeper.idle_copies();
        assert!(copies > before, "the quiet writer's WAL was not copied");
        let (log, copied) = conn
            .wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE)
            .expect("checkpoint");
        assert!(log > 0 && copied == log, "{copied} of {log} frames copied");
        // Still quiet: nothing more to copy, no further copy.
        std::thread::sleep(IDLE_COPY_AFTER * 3);
        assert_eq!(keeper.idle_copies(), copies);
    }

    /// A reader on an old snapshot holds the copy back without blocking the writer; once it is
    /// gone, the next cycle rewinds the WAL.
    #[test]
    fn a_reader_holds_the_copy_back_but_not_the_writer() {
        let limits = WalLimits {
            start: 100,
            rest: 20,
            rounds: 3,
            most: 100_000,
        };
        let (dir, conn, mut keeper) = kept("test", limits);
        churn(&conn, 0);
        let reader = Connection::open(dir.path().join("m.sqlite")).expect("reader");
        let tx = reader.unchecked_transaction().expect("read tx");
        let seen: i64 = tx
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        let mut grew = 0;
        for round in 1..400 {
            churn(&conn, round);
            grew = grew.max(keeper.frames());
            keeper.after_commit(&conn).expect("after commit");
        }
        assert!(grew > 1_000, "the WAL could not be rewound: {grew} frames");
        let still: i64 = tx
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(still, seen, "the reader's snapshot stays");
        drop(tx);
        let mut rewound = false;
        for round in 400..2_000 {
            churn(&conn, round);
            let before = keeper.frames();
            keeper.after_commit(&conn).expect("after commit");
            churn(&conn, round);
            if keeper.frames() < before {
                rewound = true;
                break;
            }
        }
        assert!(rewound, "the WAL was never rewound after the reader left");
    }

    /// The copying thread runs at a lower priority than the writers.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_copying_thread_is_niced() {
        let (_dir, _conn, _keeper) = kept("nicetest", WalLimits::DEFAULT);
        let nice_of = || {
            for task in std::fs::read_dir("/proc/self/task")
                .expect("tasks")
                .flatten()
            {
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if comm.trim() == "nicetest-wal" {
                    let stat = std::fs::read_to_string(task.path().join("stat")).expect("stat");
                    // Fields after the command's closing parenthesis: state is field 3, nice 19.
                    let rest = &stat[stat.rfind(')').expect("comm end") + 2..];
                    return rest.split(' ').nth(16).and_then(|n| n.parse::<i32>().ok());
                }
            }
            None
        };
        let mut nice = None;
        for _ in 0..100 {
            nice = nice_of();
            if nice == Some(COPY_NICENESS) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(nice, Some(COPY_NICENESS));
    }
}
