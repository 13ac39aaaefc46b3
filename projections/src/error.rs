//! [`ProjectionError`], the one error type of the crate: what a read model, the runtime that
//! feeds it and the search index answer when something fails.
//!
//! A leaf: it names no other module of the crate, so every module can use it without a cycle.
//! `Corrupt` is kept for bytes that are really wrong (a stored value that does not decode, a
//! checkpoint that cannot be); a file that cannot be opened, read, written, synced, renamed or
//! removed is `Io`, naming the operation and the path.

use std::path::PathBuf;
use switchboard_core::log::LogError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("projection {projection} stopped: {reason}")]
    Stopped { projection: String, reason: String },
    #[error("projection {projection} did not reach seq {seq} in time (applied {applied})")]
    Timeout {
        projection: String,
        seq: u64,
        applied: u64,
    },
    #[error("corrupt read model: {0}")]
    Corrupt(String),
    /// The read model's checkpoint names a record the log does not hold (the log ends before
    /// it) or another record at its sequence: it was built from another log, or from a longer
    /// copy of this one, and must be rebuilt from this one.
    #[error("read model {projection} does not match the log: {reason}")]
    OtherLog { projection: String, reason: String },
    /// A file operation failed: `op` says what was being done ("sync", "rename", …).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The search index could not write on a disk with little room left (tantivy does not say
    /// why its writer died; this is the likely cause).
    #[error(
        "search index {}: cannot write, its disk is full or nearly ({free} bytes free): {source}",
        root.display()
    )]
    IndexDiskFull {
        root: PathBuf,
        free: u64,
        source: tantivy::TantivyError,
    },
}

impl ProjectionError {
    /// A [`ProjectionError::Io`] of `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
