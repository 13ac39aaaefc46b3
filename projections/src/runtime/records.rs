//! What flows through the runtime: log records shared by the stores of a group
//! ([`SharedRecord`], decoded at most once), decoded ones handed to a projection
//! ([`DecodedRecord`]), and a store's [`Checkpoint`].

use std::sync::{Arc, OnceLock};
use switchboard_core::log::{LogRecord, Subject};
use switchboard_schemas::{Envelope, decode_batch};

/// One log message, decoded: its sequence, its subject and its events (borrowed from the
/// [`SharedRecord`] every store of a group reads).
#[derive(Debug, Clone, Copy)]
pub struct DecodedRecord<'a> {
    pub seq: u64,
    pub subject: &'a Subject,
    pub events: &'a [Envelope],
}

/// A log record as the stores fed by one log reader share it: read from the log once, and
/// decoded at most once, by the first store that needs its events (a store that skips it by
/// its `Sb-Type` header, like the search index, never pays for the decode).
#[derive(Debug)]
pub struct SharedRecord {
    pub record: LogRecord,
    events: OnceLock<Result<Vec<Envelope>, String>>,
}

impl SharedRecord {
    pub fn new(record: LogRecord) -> Self {
        Self {
            record,
            events: OnceLock::new(),
        }
    }

    /// The record's events, or why they do not decode.
    pub fn events(&self) -> Result<&[Envelope], &str> {
        match self
            .events
            .get_or_init(|| decode_batch(&self.record.batch).map_err(|e| e.to_string()))
        {
            Ok(events) => Ok(events),
            Err(error) => Err(error),
        }
    }
}

/// Records read once and handed to every store of a group.
pub type SharedBatch = Arc<[SharedRecord]>;

/// What a projection's checkpoint row says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last applied log sequence (0: nothing yet).
    pub seq: u64,
    /// How many records were skipped because they did not decode or could not be read at all
    /// (a row or message that is no record of the log, see `Store::skip_unreadable`): both
    /// are records of the log this read model does not reflect, logged with their reason.
    pub undecodable: u64,
    pub last_undecodable_seq: Option<u64>,
    /// When the log stored the record at `seq` (its [`LogRecord::appended_at`]): with `seq`,
    /// which record of which log the read model has applied, checked against the log at every
    /// (re)subscription (`check_against_log`). None when unknown: nothing applied, the record
    /// could not be read, or a checkpoint written before this was kept (then only `seq` is
    /// checked).
    ///
    /// [`LogRecord::appended_at`]: switchboard_core::log::LogRecord::appended_at
    pub applied_at: Option<switchboard_schemas::Timestamp>,
}
