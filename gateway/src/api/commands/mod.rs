//! Commands: each answers `{"seq": N}`, the log sequence of its last event (the token a query's
//! `min_seq` takes); a command that changes nothing answers the sequence the dialog was at.

pub mod dialog;

use serde::Serialize;
use switchboard_core::service::CommandAck;
use utoipa::ToSchema;

/// What a command answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The log sequence of the command's last event: pass it as `min_seq` to read the change.
    pub seq: u64,
    /// How many events the command appended (0: it changed nothing).
    pub events: usize,
    /// A retry (same `Idempotency-Key`) answered from the first request.
    pub duplicate: bool,
}

impl From<CommandAck> for CommandAnswer {
    fn from(ack: CommandAck) -> Self {
        Self {
            seq: ack.seq,
            events: ack.events,
            duplicate: ack.duplicate,
        }
    }
}
