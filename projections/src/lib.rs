//! Switchboard read models: SQLite files and a tantivy index built from the event log only,
//! each rebuildable from it.
//!
//! - [`runtime`]: stores fed the log from their checkpoint, exactly once ([`ProjectionRunner`]),
//!   the readers queries use, rebuilds into new files.
//! - [`error`]: [`ProjectionError`], the crate's one error type.
//! - [`files`]: names beside a file, syncs, removing a database, the `CURRENT` pointer.
//! - [`unsynced`]: the mark of a live file written without syncs.
//! - [`dialogs`]: the dialog list (rows, pages, filters) and its exact counters.
//! - [`timeline`]: one dialog's conversation. [`card`]: the client card. [`project`]: what each
//!   project defines.
//! - [`search`]: the tantivy index of clients and messages.
//! - [`query`]: the query API the gateway serves, with the access rule applied in one place.
//! - [`verify`]: per-table checksums of a read model file.
//! - `blobid` (ids as 16-byte BLOBs) and `compact` (the single-byte form of Cyrillic texts).
//!
//! `error` and `files` use nothing else of the crate; `runtime` names no read model (a
//! projection brings its own SQL functions to its readers, [`Projection::register_functions`]).

mod blobid;
pub mod card;
mod compact;
pub mod dialogs;
pub mod error;
pub mod export;
pub mod files;
mod place;
pub mod project;
pub mod query;
pub mod runtime;
pub mod search;
pub mod timeline;
pub mod unsynced;
pub mod verify;

#[cfg(test)]
mod test_support;

pub use runtime::{
    Checkpoint, DecodedRecord, FileStore, Projection, ProjectionError, ProjectionRunner,
    ProjectionStore, Readers, RebuildProgress, RunnerOptions, RunnerStatus, SharedBatch,
    SharedRecord, Store, Until, check_against_log, open_for_rebuild, open_reader, open_reader_for,
    rebuild, rebuild_files, rebuild_group, rebuild_store,
};
