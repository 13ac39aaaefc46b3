//! The dialog list read model (F1, F2.2–F2.4): one row per dialog with what a list row shows
//! and what the list filters by, read state per (dialog, operator), memberships, and counters
//! kept exact on every event.
//!
//! [`DialogsProjection`] applies dialog events (and the project's folder and tag deletions)
//! in the runner's transaction. While applying, the counter inputs of recently applied dialogs
//! are kept in memory (`counters::InputsCache`) and moved by each event: an event retracts the
//! dialog's contribution, changes its rows, and adds the contribution back; counter deltas are
//! summed per transaction and written in key order before it commits. Debug builds check the
//! inputs in memory against the file after every event.
//!
//! Queries (on a reader connection, see `runtime::open_reader`): [`unread_dialogs`] (F1.7),
//! [`folder_badge`] (F1.5), [`unanswered_dialogs`], [`tag_usage`], [`dialog_row`],
//! [`is_unread`], [`list_dialogs`] (keyset pages) and [`explain_list_dialogs`] (its plan).
//!
//! Submodules:
//! - `schema`: the tables, the query indexes, the stored author codes, the SQL functions;
//! - `apply`: what each event changes, one function per event family;
//! - `row`: the row type ([`DialogRow`]) and reading it, per-dialog reads;
//! - `list`: keyset pages, tabs, folders, orders, F12.1 visibility;
//! - `counters`: the counters' keys, each dialog's contribution, and their queries;
//! - `filter`: the F2.2–F2.4 filter compiled to SQL; `activity`: the F2.3 activity buckets;
//! - `tests`: the projection's unit tests.

use crate::blobid::BlobId;
use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

mod activity;
mod apply;
mod counters;
mod filter;
mod list;
mod row;
mod schema;
#[cfg(test)]
mod tests;

use apply::{Keys, PendingCounters, change_row, forget_folder, forget_tag, write_counters};
use counters::{CounterKey, Inputs, InputsCache};

pub use apply::PREVIEW_CHARS;
pub(crate) use apply::next_client_number;
pub use counters::{
    all_counters, folder_badge, recount, tag_usage, unanswered_dialogs, unread_dialogs,
};
pub use filter::{
    ACTIVITY_BUCKET_MICROS, AuthorKind, Condition, DialogStatus, Expr, Filter, FilterError,
    MAX_DEPTH, MAX_NODES, MAX_NUMBER_CANDIDATES, MAX_NUMBER_DIGITS, MAX_TEXT, MAX_VALUES,
    activity_bucket, number_candidates,
};
pub use list::{
    Cursor, CursorError, Folder, ListQuery, ListRow, MAX_ACTIVITY_LOOKUP, MAX_MEMBER_LOOKUP,
    MAX_PAGE, Order, Page, Tab, Viewer, explain_list_dialogs, list_dialogs,
};
pub use row::{
    DialogRow, LastAuthor, OperatorMarks, dialog_folders, dialog_row, dialog_tags, is_unread,
    operator_marks,
};
pub(crate) use schema::register_functions;
use schema::{QUERY_INDEXES, SCHEMA};

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct DialogsProjection {
    /// Counter inputs of recently applied dialogs (valid with the committed file only).
    inputs: InputsCache,
    /// One event's counter changes, reused.
    changes: Vec<(CounterKey, i64)>,
    /// Counter deltas applied but not yet written (see `before_commit`).
    pending: PendingCounters,
    /// `idkey` keys this writer has read or given (valid with the committed file and this
    /// transaction; dropped on rollback).
    keys: Keys,
}

impl Projection for DialogsProjection {
    fn name(&self) -> &'static str {
        "dialogs"
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    fn query_indexes(&self) -> &'static str {
        QUERY_INDEXES
    }

    fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        register_functions(conn)
    }

    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        // Counter deltas summed until the transaction commits (`before_commit`): a counter many
        // events touch (a project's `all` scope, a busy operator's) is written once, in key
        // order, per batch, or per many batches while a rebuild file is built.
        let mut pending = std::mem::take(&mut self.pending);
        for record in records {
            for envelope in record.events {
                match (&envelope.aggregate, &envelope.payload) {
                    (AggregateId::Dialog(dialog), _) => {
                        self.apply_event(tx, *dialog, envelope, &mut pending)?;
                    }
                    (AggregateId::Project, Event::FolderDeleted(e)) => {
                        write_counters(tx, std::mem::take(&mut pending))?;
                        forget_folder(tx, envelope.project, e.folder)?;
                        self.inputs.clear();
                    }
                    (AggregateId::Project, Event::TagDeleted(e)) => {
                        write_counters(tx, std::mem::take(&mut pending))?;
                        forget_tag(tx, envelope.project, e.tag)?;
                        self.inputs.clear();
                    }
                    _ => {}
                }
            }
        }
        self.pending = pending;
        Ok(())
    }

    fn before_commit(&mut self, tx: &Tx<'_>) -> Result<(), ProjectionError> {
        write_counters(tx, std::mem::take(&mut self.pending))
    }

    fn rolled_back(&mut self) {
        self.inputs.clear();
        self.pending.clear();
        self.keys.clear();
    }
}

impl DialogsProjection {
    fn apply_event(
        &mut self,
        tx: &Tx<'_>,
        dialog: DialogId,
        envelope: &Envelope,
        pending: &mut PendingCounters,
    ) -> Result<(), ProjectionError> {
        let event = &envelope.payload;
        let project = envelope.project;
        let id = dialog.blob();
        if !counters::affects(event) {
            return change_row(tx, &mut self.keys, project, &id, envelope, None);
        }
        let changes = &mut self.changes;
        match self.inputs.get(tx, dialog)? {
            Some(inputs) => {
                inputs.contribute(envelope.project, -1, changes);
                let live_row = (!inputs.deleted()).then(|| inputs.row());
                change_row(tx, &mut self.keys, project, &id, envelope, live_row)?;
                inputs.apply(event);
                inputs.contribute(envelope.project, 1, changes);
                if cfg!(debug_assertions) {
                    let stored = Inputs::load(tx, &id)?;
                    if stored.as_ref() != Some(inputs) {
                        return Err(ProjectionError::Corrupt(format!(
                            "counter inputs of {dialog:?} after {}: memory {inputs:?}, \
                             file {stored:?}",
                            event.event_type()
                        )));
                    }
                }
            }
            None => {
                change_row(tx, &mut self.keys, project, &id, envelope, None)?;
                if matches!(event, Event::DialogRegistered(_))
                    && let Some(inputs) = self.inputs.get(tx, dialog)?
                {
                    inputs.contribute(envelope.project, 1, changes);
                }
            }
        }
        counters::add_changes(changes, pending);
        Ok(())
    }
}
