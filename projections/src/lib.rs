//! Switchboard read models: the projection runtime that consumes the event log from a
//! checkpoint ([`runtime`]), the SQLite read models (so far: the dialog list with unread and
//! *Unanswered* counters and folder badges, [`dialogs`]; the dialog timeline, [`timeline`];
//! the client card, [`card`]) and the tantivy search index ([`search`]). Built from events
//! only; rebuildable from the log.

mod blobid;
pub mod card;
mod compact;
pub mod dialogs;
pub mod error;
pub mod files;
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
    SharedRecord, Store, Until, open_for_rebuild, open_reader, open_reader_for, rebuild,
    rebuild_files, rebuild_group, rebuild_store,
};
