//! A WAL checkpointer on a thread of its own, for a SQLite file with one writer (the embedded
//! log's). The read-model files do not use it: see `WRITER_CHECKPOINT_PAGES` in the
//! projections runtime.
//!
//! With SQLite's automatic checkpoint the writer copies the WAL into the database file itself,
//! right after the commit that crossed the threshold, and waits for the two fsyncs of that
//! copy: every so often one commit takes as long as a whole checkpoint. A [`Checkpointer`]
//! does that work beside the writer (which sets `wal_autocheckpoint = 0`).

use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// Longest a TRUNCATE checkpoint waits for the writer and readers before trying again later.
const TRUNCATE_WAIT: Duration = Duration::from_millis(500);

/// Copies committed WAL frames into the database file on its own thread and connection, so
/// that commits never wait for a checkpoint (and its fsync). Passive: it never blocks the writer
/// or readers — until the WAL is longer than its limit (see [`checkpoint_step`]). Stops (after
/// a last checkpoint step if one was asked for) when dropped.
#[derive(Debug)]
pub struct Checkpointer {
    nudge: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread `name` for the file at `path`: after each [`Checkpointer::nudge`] it
    /// waits `delay` (commits meanwhile join the same checkpoint), then checkpoints; a WAL over
    /// `limit_bytes` is emptied. `None` (logged) when the thread or its connection cannot be
    /// started: the writer then works on with a growing WAL.
    pub fn start(path: &Path, name: &str, delay: Duration, limit_bytes: i64) -> Option<Self> {
        let conn = match Connection::open(path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::error!(error = %e, checkpointer = name, "cannot open the checkpointer; the wal will grow");
                return None;
            }
        };
        if let Err(e) = conn.busy_timeout(TRUNCATE_WAIT) {
            tracing::warn!(error = %e, checkpointer = name, "cannot set the checkpointer's busy timeout");
        }
        let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let label = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    std::thread::sleep(delay);
                    while nudged.try_recv().is_ok() {}
                    if let Err(e) = checkpoint_step(&conn, limit_bytes) {
                        tracing::warn!(error = %e, checkpointer = label, "wal checkpoint failed");
                    }
                }
            });
        match thread {
            Ok(thread) => Some(Self {
                nudge: Some(nudge),
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::error!(error = %e, checkpointer = name, "cannot start the checkpointer; the wal will grow");
                None
            }
        }
    }

    /// There are new commits (never blocks: one pending nudge is enough).
    pub fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("a wal checkpointer panicked");
        }
    }
}

/// One checkpoint: PASSIVE (beside the writer); then, when the WAL still holds more than
/// `limit_bytes`, TRUNCATE: it waits (the connection's busy timeout) for the writer's current
/// commit and for readers on old snapshots, copies everything and empties the WAL file.
///
/// Passive checkpoints alone let the WAL grow without bound under sustained appends: the WAL is
/// only rewound when a checkpoint has copied every frame before the next commit starts, which a
/// writer that always has work never allows (measured: 58 GB of WAL after four minutes of the
/// full-size `bench projections` generation, filling the disk). Returns whether it truncated.
pub fn checkpoint_step(conn: &Connection, limit_bytes: i64) -> rusqlite::Result<bool> {
    let (_, frames): (i64, i64) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    // A frame is a page plus its 24-byte header.
    if frames.saturating_mul(page_size + 24) <= limit_bytes {
        return Ok(false);
    }
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        tracing::debug!(
            frames,
            "the wal could not be truncated yet (busy); trying again later"
        );
    }
    Ok(busy == 0)
}

#[cfg(test)]
mod tests {
    /// A WAL over the limit is emptied even when passive checkpoints alone would leave it:
    /// frames a reader's old snapshot still needs stop a passive checkpoint short, and the
    /// file keeps its size; once the reader is done, the step truncates it.
    #[test]
    fn a_wal_over_the_limit_is_truncated() {
        use super::{Connection, Duration, checkpoint_step};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.sqlite");
        let writer = Connection::open(&path).expect("open");
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .expect("wal");
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no auto checkpoint");
        writer
            .execute_batch("CREATE TABLE t (x BLOB)")
            .expect("table");
        let reader = Connection::open(&path).expect("open");
        reader.execute_batch("BEGIN").expect("begin");
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("snapshot");
        for _ in 0..64 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(16000))", [])
                .expect("insert");
        }
        let wal = dir.path().join("wal.sqlite-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let grown = size();
        assert!(grown > 1 << 20, "{grown}");
        let checkpointer = Connection::open(&path).expect("open");
        checkpointer
            .busy_timeout(Duration::from_millis(50))
            .expect("timeout");
        // Under the limit: passive only, the file stays.
        assert!(!checkpoint_step(&checkpointer, i64::MAX).expect("step"));
        assert_eq!(size(), grown);
        // Over it, but the reader's snapshot is still open: not yet.
        assert!(!checkpoint_step(&checkpointer, 1 << 20).expect("step"));
        assert!(size() > 0);
        reader.execute_batch("COMMIT").expect("end");
        assert!(checkpoint_step(&checkpointer, 1 << 20).expect("step"));
        assert_eq!(size(), 0, "the wal file is emptied");
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 64);
    }
}
