//! The contracts: [`Store`] (what a runner drives), [`Projection`] (a read model's tables and
//! how a batch changes them), [`FileStore`] (a store kept in one SQLite file), and [`Tx`], the
//! transaction a projection applies a batch through.

use super::{Checkpoint, DecodedRecord, ProjectionError, SharedBatch, SharedRecord};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;
use switchboard_core::log::LogRecord;

/// What a [`ProjectionRunner`](super::ProjectionRunner) drives: something that applies log records in order, exactly
/// once, and keeps its checkpoint with its data. Implemented by [`ProjectionStore`](super::ProjectionStore) (SQLite)
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

    /// The log holds a record at `seq` that cannot be read (see
    /// [`Unreadable`](switchboard_core::log::Unreadable)): count it as skipped and move the
    /// checkpoint past it (a record at or below the checkpoint changes nothing), so that it is
    /// neither retried nor left as lag for ever. Returns the checkpoint after it.
    fn skip_unreadable(&mut self, seq: u64) -> Result<Checkpoint, ProjectionError>;

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
    /// file ([`open_reader_for`](super::open_reader_for),
    /// [`Readers::for_projection`](super::Readers::for_projection)). The default registers none.
    fn register_functions(conn: &Connection) -> rusqlite::Result<()>
    where
        Self: Sized,
    {
        let _ = conn;
        Ok(())
    }
}

/// The connection a [`Projection`] applies a batch through: the runtime has opened the
/// transaction the batch (and its checkpoint) belong to; only the runtime commits it.
#[derive(Debug, Clone, Copy)]
pub struct Tx<'c> {
    pub(super) conn: &'c Connection,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
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

    fn skip_unreadable(&mut self, seq: u64) -> Result<Checkpoint, ProjectionError> {
        (**self).skip_unreadable(seq)
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

/// A store kept in one SQLite file, which can be closed into that file alone.
pub trait FileStore: Store {
    /// Folds the WAL into the file and closes it (see [`ProjectionStore::close`](super::ProjectionStore::close)).
    fn close_file(self: Box<Self>) -> Result<(), ProjectionError>;
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
