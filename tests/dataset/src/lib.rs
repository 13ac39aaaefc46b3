//! A deterministic, realistic inbox history, for the benches (`switchboard bench dataset` and
//! `bench projections`), the projections' tests and examples.
//!
//! - [`history`]: the [`history::Generator`] of projects, operators and conversations, every
//!   event decided by the domain, as log messages numbered in advance;
//! - [`text`]: message texts in Russian and English (inflected, for stemming searches), notes,
//!   made-up persons (names, phones, emails, handles);
//! - [`rng`]: the seeded generator behind both (the same seed gives the same bytes on every
//!   machine and with every version of the dependencies).
//!
//! Invariants: the same size and seed give the same events, byte for byte; the generator is
//! its log's only writer, so the sequences it gives are the ones the log will give. This crate
//! knows nothing about files or JSON: writing a history out is `switchboard bench dataset`'s.

pub mod history;
pub mod rng;
pub mod text;

use history::Append;
use switchboard_core::LogRecord;
use switchboard_schemas::{Timestamp, encode_batch};

/// The encoded log message of an [`Append`], as the log would store it.
pub fn log_record(append: &Append) -> Result<LogRecord, String> {
    let batch = encode_batch(&append.events).map_err(|e| e.to_string())?;
    let appended_at = append
        .events
        .first()
        .map_or(Timestamp::from_micros(0), |e| e.occurred_at);
    Ok(LogRecord {
        seq: append.seq,
        subject: append.subject.clone(),
        msg_id: append.msg_id.clone(),
        appended_at,
        batch,
    })
}
