//! Outbound delivery (issue 17): queued messages (`message.queued` in the log) sent through the
//! dialog's channel, their outcome appended through `core`'s command service as `MarkSent` or
//! `MarkFailed` (F3.6), rate limits kept per chat and per channel (F11.3), a rate-limited send
//! retried after the time the provider names (F6.5).
//!
//! - [`directory`]: [`ChannelDirectory`], what the worker knows of each channel (provider,
//!   API base, credentials); the gateway fills it from the credential store.
//! - `send`: one message as HTTP calls to its provider, the answer read and classified.
//! - `state`: the worker's own SQLite file: its checkpoint in the log and the messages whose
//!   send has begun and whose outcome is not appended yet.
//! - `limits`: per-chat and per-channel rate limiters.
//! - `identities`: each dialog's channel ids, read from the log; outcomes already appended.
//! - `job`: one chat's queue and one message's delivery.
//! - [`worker`]: [`DeliveryWorker`], the loop over the embedded log (one worker, a checkpoint).
//! - `consumer`: the loop over a JetStream log, one durable consumer shared by every node's
//!   worker ([`SharedConsumer`]).
//!
//! A resent message (`message.resent`, F3.6, F6.5: an operator's resend of a failed one) is
//! sent as it was queued (its text, files and channel read from the dialog's `message.queued`)
//! through the same queue; its outcomes carry command ids of their own (derived from the
//! resend's sequence), and a send asked for at a sequence is done once an outcome follows it.
//!
//! Mail goes out through the channel's SMTP sender (`ChannelConfig::smtp`), one call per
//! message, its Message-ID the external id. A channel missing from the directory fails its
//! messages with that reason, or leaves them queued (`leave_unknown_channels`, `serve`). A 403 "bot was blocked by the user",
//! WhatsApp 131026 and VK 900–902 fail the message with `BlockedByClient` — the record F6.6
//! finds (the domain has no separate unsubscribed flag).
//!
//! Crash semantics (embedded log, one worker): nothing is appended before a send (the queued
//! event is the intent). A message's row in `state` is written before its first call and removed
//! after its outcome is appended; the checkpoint only passes a message once its outcome is
//! appended. After a crash the worker reads from its checkpoint: a message with an outcome in
//! the log is not sent again; one with a row and no outcome was perhaps sent: it is sent again —
//! VK drops the repeat by its `random_id`; on the other channels the message is first marked
//! failed with the detail [`POSSIBLY_TWICE`] (the timeline shows it), then sent, then marked
//! sent (a failed message may still become sent, F3.6).

mod consumer;
pub mod directory;
mod identities;
mod job;
mod limits;
mod send;
mod state;
pub mod worker;

pub use consumer::SharedConsumer;
pub use directory::{ChannelConfig, ChannelDirectory, ChannelResolver};
pub use limits::{Rate, RateLimits};
pub use worker::{
    Counters, DeliveryError, DeliveryOptions, DeliveryWorker, SentIndex, WorkerHandle,
};

/// The detail of the failure recorded before a message whose first send's outcome is unknown
/// (a crash, a timeout) is sent again on a channel that cannot drop repeats.
pub const POSSIBLY_TWICE: &str =
    "possibly sent twice: the outcome of an earlier send is unknown, sending again";
