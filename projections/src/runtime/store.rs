//! [`ProjectionStore`]: a [`Projection`] over its SQLite file, applying batches with their
//! checkpoint in one transaction (a live file), or in long transactions without a journal (a
//! file being rebuilt, closed into a packed, synced WAL file).

use super::sqlite::{WriteMode, open_writer, read_checkpoint, set_journal_mode, write_checkpoint};
use super::{
    Checkpoint, DecodedRecord, FileStore, Projection, ProjectionError, SharedBatch, SharedRecord,
    Store, Tx,
};
use crate::files::{remove_database, sibling, sync_file};
use crate::unsynced::Mark;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Instant;
use switchboard_core::log::LogRecord;
use switchboard_core::wal::{WalKeeper, WalLimits, WalStep};

/// Log records a rebuild file's writer applies between commits.
pub(super) const BULK_COMMIT_RECORDS: usize = 64 * 1024;

/// A projection with its writer connection: applies records synchronously. The runner drives
/// one on its own thread; tests and `rebuild` can drive one directly.
#[derive(Debug)]
pub struct ProjectionStore<P> {
    pub(super) conn: Connection,
    projection: P,
    checkpoint: Checkpoint,
    path: PathBuf,
    /// Set for a file being rebuilt ([`ProjectionStore::create_for_rebuild`]).
    pub(super) bulk: Option<Bulk>,
    /// A live file's WAL checkpoints (`None` for a file being rebuilt, which has no WAL).
    wal: Option<WalKeeper>,
    /// A live file written without syncs (see `crate::unsynced`). Last: dropped after the
    /// connection, it syncs the file and removes the mark.
    mark: Option<Mark>,
}

/// Where a rebuild file's writer is between commits.
#[derive(Debug, Default)]
pub(super) struct Bulk {
    /// A transaction is open (batches since the last commit are in it).
    open: bool,
    /// Records applied since the last commit.
    pub(super) since_commit: usize,
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
            // A close that fails keeps the unsynced mark: dropped instead, it would be removed.
            let mark = self.mark.take();
            let closed = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .and_then(|()| self.conn.close().map_err(|(_, e)| e));
            return match (closed, mark) {
                (Ok(()), Some(mark)) => mark.release(),
                (Ok(()), None) => Ok(()),
                (Err(error), mark) => {
                    if let Some(mark) = mark {
                        mark.keep();
                    }
                    Err(error.into())
                }
            };
        }
        self.commit_bulk()?;
        self.conn.execute_batch(self.projection.query_indexes())?;
        // Rows updated in place and indexes kept through random inserts leave pages part
        // empty; a copy written in order packs them.
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
            next.applied_at = Some(record.appended_at);
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
        self.commit_next(name, &decoded, next)
    }

    /// Writes the decoded records and the checkpoint `next` (nothing when it did not move).
    fn commit_next(
        &mut self,
        name: &'static str,
        decoded: &[DecodedRecord],
        next: Checkpoint,
    ) -> Result<Checkpoint, ProjectionError> {
        if next == self.checkpoint {
            return Ok(next);
        }
        let written = match self.bulk.as_mut() {
            None => Self::write(
                &mut self.conn,
                &mut self.projection,
                self.wal.as_mut(),
                name,
                decoded,
                next,
            ),
            Some(bulk) => Self::write_bulk(
                &self.conn,
                &mut self.projection,
                bulk,
                &self.path,
                name,
                decoded,
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

    fn skip_unreadable(&mut self, seq: u64) -> Result<Checkpoint, ProjectionError> {
        if seq <= self.checkpoint.seq {
            return Ok(self.checkpoint);
        }
        let next = Checkpoint {
            seq,
            undecodable: self.checkpoint.undecodable + 1,
            last_undecodable_seq: Some(seq),
            applied_at: None,
        };
        self.commit_next(self.projection.name(), &[], next)
    }

    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        self.commit_bulk()?;
        Ok(self.checkpoint)
    }
}

impl<P: Projection> FileStore for ProjectionStore<P> {
    fn close_file(self: Box<Self>) -> Result<(), ProjectionError> {
        (*self).close()
    }
}
