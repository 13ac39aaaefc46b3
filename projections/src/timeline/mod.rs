//! The dialog timeline read model (F3): messages in both directions with their attachments,
//! internal notes and service entries (F3.2: assigned, unassigned, closed, reopened, tags and
//! deal stage changed, blocked, blacklisted, bot paused and resumed, funnel block, merged — who
//! and when), in log order, with the delivery status of outbound messages (F3.6); a merged dialog
//! shows the history of the dialogs it absorbed (F4.9); a deleted client's history is erased
//! (F4.8). Attachments are also listed by kind (F3.7: the images / files tabs).
//!
//! Invariants: a row's rowid is its *place* in the log (`LogPlace::timeline_key`: unique and
//! in log order, the same on a rebuild, and what a search hit names); everything a row repeats
//! is an integer key or 16 raw bytes, never a 32-hex token; keys and service entry type codes
//! are given in log order, so a rebuild gives the same ones. Rows are appended in log order (a
//! write touches the end of the table and two small indexes); pages read one index range per
//! dialog of the merge group and merge them, so a deep page costs what the first does.
//!
//! Submodules:
//! - `schema`: the tables, the stored codes (item kinds, delivery states, attachment kinds);
//! - `apply`: what each event adds or changes;
//! - `entry`: a service entry's compact stored form and reading it back;
//! - `read`: timeline pages and one item by its place; `attachments`: the attachments view;
//! - `tests`: the unit tests.

use crate::place::LogPlace;
use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx};
use apply::{Placement, corrupt_log, touches_timeline};
use schema::SCHEMA;
use std::collections::HashMap;
use switchboard_schemas::events::*;

mod apply;
mod attachments;
mod entry;
mod read;
mod schema;
#[cfg(test)]
mod tests;

pub use attachments::{
    AttachmentCursor, AttachmentItem, AttachmentPage, attachments, find_attachment,
};
pub use read::{
    Anchor, Delivery, ItemId, ItemKind, Show, TimelineCursor, TimelineItem, TimelinePage, Window,
    item_at, timeline, timeline_showing, timeline_window,
};

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct TimelineProjection {
    /// `timeline_key` as far as this process has seen it (bounded; dropped on rollback).
    keys: HashMap<u128, i64>,
    /// `timeline_event_type` as far as this process has seen it (a few dozen at most: one per
    /// (type, version) of a service entry; dropped on rollback).
    types: HashMap<(&'static str, u16), i64>,
}

/// At most this many keys stay in memory (≈ 40 MB); the map starts over when it is full.
const KEY_CACHE: usize = 1 << 20;

impl Projection for TimelineProjection {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    fn query_indexes(&self) -> &'static str {
        // F3.7: a dialog's attachments of one kind, for queries only (see
        // `Projection::query_indexes`).
        "CREATE INDEX IF NOT EXISTS dialog_attachment_by_kind
             ON dialog_attachment (dialog, kind, place, idx);"
    }

    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            let seq = record.seq;
            if !LogPlace::timeline_holds_seq(seq) {
                return Err(corrupt_log(format!("log sequence {seq} too large")));
            }
            for (pos, envelope) in record.events.iter().enumerate() {
                let AggregateId::Dialog(dialog) = &envelope.aggregate else {
                    continue;
                };
                let place = LogPlace::new(seq, pos).timeline_key().ok_or_else(|| {
                    corrupt_log(format!("log message {seq} holds over 2^20 events"))
                })?;
                if !touches_timeline(&envelope.payload) {
                    continue;
                }
                let at = Placement {
                    dialog: self.key(tx, dialog.as_uuid())?,
                    place,
                    at: envelope.occurred_at.as_micros(),
                };
                self.apply_event(tx, &at, envelope)?;
            }
        }
        Ok(())
    }

    fn rolled_back(&mut self) {
        self.keys.clear();
        self.types.clear();
    }
}
