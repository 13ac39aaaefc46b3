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
//! - A record that does not decode, or that cannot be read at all (a row or message that is
//!   no record of the log: the runner and rebuilds read with `tail_all` / `read_all`), is
//!   counted, logged and skipped: its sequence is still checkpointed, so it is neither retried
//!   nor left as lag for ever; the count is kept in the checkpoint row (`undecodable`).
//! - A log tail that fails the same way [`RunnerOptions::failures_before_failed`] times in a
//!   row reports the runner failed ([`RunnerStatus::log_failing`]) and backs off (up to
//!   `runner::MAX_RETRY_AFTER`); the next record read clears it, or a second of a tail that does
//!   not fail on a log that answers.
//! - A batch the projection or SQLite refuses (a full disk, say) rolls back whole; the runner
//!   reports its store failing ([`RunnerStatus::store_failing`]) and applies the same records
//!   again, with doubling pauses (up to `writer::MAX_STORE_RETRY`), until the store takes them:
//!   nothing is skipped, and the runner goes on by itself once the cause is gone. Only a
//!   shutdown ends the attempts ([`RunnerStatus::failed`]; a restart retries from the
//!   checkpoint).
//! - A store that commits on a timer (the search index: near-real-time, never per event) asks
//!   for ticks ([`Store::tick_interval`]); the runner sends them from the log reader while it
//!   waits, and the checkpoint the runner reports is the one the store has made visible.
//! - [`rebuild`] replays the log into a new file (to the end, a sequence or a moment) and
//!   renames it over the old one ([`rebuild_store`] is the replay for any store, reading the
//!   next batch while the previous one is applied); [`Readers`] serve queries from async code.
//!
//! Submodules: `records` (what flows through), `traits` ([`Store`], [`Projection`],
//! [`FileStore`], [`Tx`]), `sqlite` (opening files, the checkpoint table), `readers`
//! ([`Readers`]), `store` ([`ProjectionStore`]), `rebuild`, `runner` ([`ProjectionRunner`])
//! and `writer` (its writer thread).

mod readers;
mod rebuild;
mod records;
mod runner;
mod sqlite;
mod store;
mod traits;
mod writer;

#[cfg(test)]
mod failure_tests;
#[cfg(test)]
mod tests;

pub use crate::error::ProjectionError;
pub use readers::Readers;
pub use rebuild::{
    RebuildProgress, Until, open_for_rebuild, rebuild, rebuild_files, rebuild_group, rebuild_store,
};
pub use records::{Checkpoint, DecodedRecord, SharedBatch, SharedRecord};
pub use runner::{ProjectionRunner, RunnerOptions, RunnerStatus, check_against_log};
pub(crate) use sqlite::read_checkpoint;
pub use sqlite::{open_reader, open_reader_for};
pub use store::ProjectionStore;
pub(crate) use traits::execute_for_each;
pub use traits::{FileStore, Projection, Store, Tx};

fn task_failed(name: &str, what: &str, error: tokio::task::JoinError) -> ProjectionError {
    ProjectionError::Stopped {
        projection: name.to_owned(),
        reason: format!("{what} task failed: {error}"),
    }
}
