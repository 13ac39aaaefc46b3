//! How a projection's SQLite file is opened: the writer's pragmas (a live file or one being
//! rebuilt, [`WriteMode`]), the read-only connections of queries, and the `checkpoint` table
//! every file holds.

use super::{Checkpoint, Projection, ProjectionError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

const CHECKPOINT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    projection TEXT PRIMARY KEY,
    -- The last applied log sequence (0: nothing yet).
    seq INTEGER NOT NULL,
    -- Records skipped because they did not decode, and the last such sequence.
    undecodable INTEGER NOT NULL DEFAULT 0,
    last_undecodable_seq INTEGER,
    -- When the log stored the record at seq (µs), to tell this log from another one.
    applied_at INTEGER
);
";

/// Adds `applied_at` to a checkpoint table made before it (its rows: unknown, NULL).
fn add_applied_at(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('checkpoint') WHERE name = 'applied_at'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE checkpoint ADD COLUMN applied_at INTEGER")?;
    }
    Ok(())
}

/// Page cache of a projection's writer connection, KiB.
const WRITER_CACHE_KIB: i64 = 192 * 1024;

/// Page cache of a writer building a rebuild file, KiB: dirty pages stay in it until a commit
/// (or until it is full), so the hot pages of a large model are written once per commit.
const BULK_CACHE_KIB: i64 = 256 * 1024;

/// How a projection file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteMode {
    /// A live read model: WAL, every batch one durable transaction, readers alongside.
    Live,
    /// A file being rebuilt, which nobody reads and which is thrown away unless the rebuild
    /// finishes: no journal, no syncs, long transactions; switched to WAL and synced on close.
    Bulk,
}

/// Opens a projection file for writing (see [`WriteMode`]), with the checkpoint table, the
/// projection's schema and (live files) its query indexes.
pub(super) fn open_writer(
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
            // spill into the WAL in mid-transaction. The cache only grows as pages are used,
            // so small read models stay small.
            conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
            // The WAL's checkpoints are the store's `WalKeeper`'s (`switchboard_core::wal`).
        }
        WriteMode::Bulk => {
            // Nothing reads the file and a failed rebuild removes it, so it needs neither a
            // journal (each changed page written once, not to the WAL and again by a
            // checkpoint) nor syncs until it is complete.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            set_journal_mode(&conn, path, "off")?;
            conn.pragma_update(None, "synchronous", "OFF")?;
            conn.pragma_update(None, "cache_size", -BULK_CACHE_KIB)?;
        }
    }
    conn.execute_batch(CHECKPOINT_SCHEMA)?;
    add_applied_at(&conn)?;
    conn.execute_batch(schema)?;
    if mode == WriteMode::Live {
        conn.execute_batch(query_indexes)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

pub(super) fn set_journal_mode(
    conn: &Connection,
    path: &Path,
    wanted: &str,
) -> Result<(), ProjectionError> {
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
    // List pages come in many shapes (tab × folder × archive × filters × order × cursor), each
    // its own SQL text: with 64 statements cached, a mix of them re-parsed most pages.
    conn.set_prepared_statement_cache_capacity(READER_STATEMENT_CACHE);
    // The query planner stability guarantee: a statement keeps the plan it was prepared with
    // whatever values are bound later. Without it SQLite looks at some bound values while
    // planning (a LIMIT's, a LIKE pattern's) and then re-prepares the cached statement on every
    // new binding: a reparse per query. The plans the list relies on are fixed by the unit
    // test `list_pages_read_in_index_order`, which reads them on a connection like this one.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
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

/// How much of a projection file a reader maps (`PRAGMA mmap_size`): all of the largest file
/// of the full-size bench; the pages count in the resident set only while the OS keeps them
/// cached and this process touched them.
const READER_MMAP_BYTES: i64 = 4 << 30;

/// Statements a reader connection keeps prepared.
const READER_STATEMENT_CACHE: usize = 512;

pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn read_checkpoint(
    conn: &Connection,
    projection: &str,
) -> Result<Checkpoint, ProjectionError> {
    let row = conn
        .query_row(
            "SELECT seq, undecodable, last_undecodable_seq, applied_at FROM checkpoint
             WHERE projection = ?1",
            [projection],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((seq, undecodable, last_undecodable, applied_at)) = row else {
        return Ok(Checkpoint::default());
    };
    let unsigned = |v: i64| {
        u64::try_from(v).map_err(|_| ProjectionError::Corrupt(format!("negative checkpoint {v}")))
    };
    Ok(Checkpoint {
        seq: unsigned(seq)?,
        undecodable: unsigned(undecodable)?,
        last_undecodable_seq: last_undecodable.map(unsigned).transpose()?,
        applied_at: applied_at.map(switchboard_schemas::Timestamp::from_micros),
    })
}

/// Writes a projection's checkpoint row (inside the batch's transaction).
pub(super) fn write_checkpoint(
    conn: &Connection,
    name: &str,
    next: Checkpoint,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO checkpoint (projection, seq, undecodable, last_undecodable_seq, applied_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq,
             undecodable = excluded.undecodable,
             last_undecodable_seq = excluded.last_undecodable_seq,
             applied_at = excluded.applied_at",
    )?
    .execute(params![
        name,
        to_i64(next.seq),
        to_i64(next.undecodable),
        next.last_undecodable_seq.map(to_i64),
        next.applied_at.map(|at| at.as_micros())
    ])
}
