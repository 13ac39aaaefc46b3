//! The event log contract and its two backends.
//!
//! A log is an append-only sequence of messages, each on one subject, numbered by a global
//! sequence starting at 1. Each message carries one [`EncodedBatch`] (one or more events of one
//! aggregate). The contract, proven for both backends by one conformance suite
//! (`tests/tests/it/log_conformance.rs`):
//!
//! - `append` with [`Expected`] checks the last sequence of the subject (optimistic concurrency);
//!   a conflict is [`LogError::Conflict`] and nothing is written;
//! - a message id seen within the duplicate window is not appended again: the answer is the
//!   original sequence with `duplicate: true`, also when the retry carries a stale expectation
//!   (a lost ack must never look like a conflict);
//! - `read` returns messages with `seq >= from_seq` matching a filter, in order;
//! - `tail` continues a read into the live log with no gap and no duplicate at the boundary;
//! - an acknowledged append survives a crash of the process (and, for JetStream, a server restart).

use futures::stream::BoxStream;
use std::future::Future;
use std::time::Duration;
use switchboard_schemas::{EncodedBatch, Timestamp};

pub use crate::subject::{Subject, SubjectError, SubjectFilter};

pub mod embedded;
pub mod jetstream;

/// What the appender believes the last sequence of the subject to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// No check.
    Any,
    /// The subject must have no message yet.
    NoEvents,
    /// The last message on the subject must have this sequence.
    At(u64),
}

impl Expected {
    /// The value of `Nats-Expected-Last-Subject-Sequence`, if any (0 means "no message").
    pub fn last_subject_seq(self) -> Option<u64> {
        match self {
            Expected::Any => None,
            Expected::NoEvents => Some(0),
            Expected::At(seq) => Some(seq),
        }
    }

    /// The expectation that holds when the subject's last sequence is `last` (0 = none).
    pub fn from_last(last: u64) -> Self {
        if last == 0 {
            Expected::NoEvents
        } else {
            Expected::At(last)
        }
    }
}

/// An idempotency key: the channel's own message id for inbound traffic, the command id for
/// operator commands. At most 128 printable ASCII characters, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MsgId(String);

impl MsgId {
    pub const MAX_LEN: usize = 128;

    pub fn new(id: impl Into<String>) -> Result<Self, LogError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LogError::Invalid(format!(
                "message id must be 1..={} printable ASCII characters without spaces",
                Self::MAX_LEN
            )));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub subject: Subject,
    pub expected: Expected,
    pub msg_id: MsgId,
    pub batch: EncodedBatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// The stream sequence of the message (the original one for a duplicate).
    pub seq: u64,
    /// True when the message id had been appended before and nothing new was written.
    pub duplicate: bool,
}

/// One message read back from the log.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub seq: u64,
    pub subject: Subject,
    pub msg_id: String,
    /// When the log stored it.
    pub appended_at: Timestamp,
    pub batch: EncodedBatch,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("wrong last sequence on {subject}: expected {expected:?}, found {actual}")]
    Conflict {
        subject: Subject,
        expected: Expected,
        /// The subject's last sequence found by the log (0 = none); for JetStream it may be
        /// unknown (0) when the server did not say, and on a cluster it may equal the
        /// expectation (the leader refuses while another append on the subject is replicated).
        actual: u64,
    },
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("the log refused the message because it is full")]
    Full,
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The outcome is unknown (timeout, connection lost): retry with the same message id.
    #[error("log unavailable: {0}")]
    Unavailable(String),
    #[error("log storage error: {0}")]
    Storage(String),
    /// The log cannot be opened as it is: a JetStream stream missing where it must exist, or
    /// with settings that would lose events (the message says which).
    #[error("{0}")]
    Setup(String),
    /// One stored record cannot be read; the records after it can (see [`Unreadable`]).
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

/// A stored record that is not a message of this log: its subject is not a [`Subject`] (it was
/// published onto the stream's subjects by something else), or its row does not hold a message
/// (an embedded file written by hand). Readers show or count it and go on with the next record:
/// one such record never halts a reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq} on {subject:?} cannot be read: {reason}")]
pub struct Unreadable {
    pub seq: u64,
    /// The subject as stored.
    pub subject: String,
    pub reason: String,
}

impl LogError {
    /// Whether retrying the same request (same message id) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Unavailable(_))
    }
}

/// The records of a read, without the unreadable ones (each logged).
pub(crate) fn readable(records: Vec<Result<LogRecord, Unreadable>>) -> Vec<LogRecord> {
    records
        .into_iter()
        .filter_map(|record| {
            record
                .map_err(|unreadable| tracing::warn!(%unreadable, "skipping a record"))
                .ok()
        })
        .collect()
}

/// A tail without its unreadable records (each logged).
pub(crate) fn readable_tail(
    tail: BoxStream<'static, Result<LogRecord, LogError>>,
) -> BoxStream<'static, Result<LogRecord, LogError>> {
    use futures::StreamExt;
    tail.filter(|item| {
        let keep = match item {
            Err(LogError::Unreadable(unreadable)) => {
                tracing::warn!(%unreadable, "skipping a record");
                false
            }
            _ => true,
        };
        std::future::ready(keep)
    })
    .boxed()
}

/// Settings common to both backends.
#[derive(Clone, Debug)]
pub struct LogLimits {
    /// Largest body accepted (attachments are stored apart, by reference). The default,
    /// [`LogLimits::DEFAULT_MAX_MESSAGE_BYTES`], fits nats-server's default `max_payload` (1 MiB)
    /// with room for the headers.
    pub max_message_bytes: usize,
    /// How long a message id is remembered for deduplication.
    pub duplicate_window: Duration,
}

impl LogLimits {
    /// 1 MiB less 4 KiB: a body of this size plus its headers is one NATS message within
    /// nats-server's default `max_payload` of 1 MiB.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024 - 4096;
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// The event log. Implemented by [`embedded::EmbeddedLog`] and [`jetstream::JetStreamLog`];
/// [`AnyLog`] picks one at run time.
pub trait EventLog: Clone + Send + Sync + 'static {
    /// Append one message (one or more events of one aggregate) atomically.
    fn append(
        &self,
        request: AppendRequest,
    ) -> impl Future<Output = Result<AppendAck, LogError>> + Send;

    /// Up to `max` messages with `seq >= from_seq` that match `filter`, in sequence order. An
    /// empty answer means there is nothing more at the moment. Records that cannot be read are
    /// left out (with a warning); [`EventLog::read_all`] shows them.
    fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> impl Future<Output = Result<Vec<LogRecord>, LogError>> + Send;

    /// Like [`EventLog::read`], with each record that cannot be read in its place as an
    /// [`Unreadable`] (it counts towards `max`). The default has none to show.
    fn read_all(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Result<LogRecord, Unreadable>>, LogError>> + Send {
        async move {
            let records = self.read(from_seq, filter, max).await?;
            Ok(records.into_iter().map(Ok).collect())
        }
    }

    /// Every message with `seq >= from_seq` that matches `filter`: first what is stored, then
    /// live as it is appended, never ending on its own. No gap and no duplicate. Records that
    /// cannot be read are left out (with a warning); [`EventLog::tail_all`] shows them.
    fn tail(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>>;

    /// Like [`EventLog::tail`], with each record that cannot be read in its place as one
    /// [`LogError::Unreadable`] item; the tail goes on after it. The default has none to show.
    fn tail_all(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        self.tail(from_seq, filter)
    }

    /// The sequence of the last message on `subject`, 0 when there is none.
    fn last_subject_seq(
        &self,
        subject: &Subject,
    ) -> impl Future<Output = Result<u64, LogError>> + Send;

    /// The sequence of the last message in the log, 0 when it is empty.
    fn last_seq(&self) -> impl Future<Output = Result<u64, LogError>> + Send;

    /// `"embedded"` or `"jetstream"`.
    fn backend(&self) -> &'static str;

    /// Makes every acknowledged append durable: once it returns, a power cut keeps them all.
    /// What a clean stop does before anything derived from the log (a read model's unsynced
    /// mark) may claim to be durable. The default has nothing to do (JetStream: the servers
    /// keep their own stores); the embedded log checkpoints its WAL into the file and syncs it.
    fn make_durable(&self) -> impl Future<Output = Result<Durable, LogError>> + Send {
        async { Ok(Durable(())) }
    }
}

/// Proof that [`EventLog::make_durable`] returned: what must come after it takes one.
#[derive(Debug)]
pub struct Durable(());

/// One of the two backends, chosen at run time (`serve --nats URL` or not).
#[derive(Clone, Debug)]
pub enum AnyLog {
    Embedded(embedded::EmbeddedLog),
    JetStream(jetstream::JetStreamLog),
}

impl EventLog for AnyLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendAck, LogError> {
        match self {
            AnyLog::Embedded(log) => log.append(request).await,
            // Boxed: the JetStream append future (publish, ack, the lost-ack path) is several
            // kilobytes; inline it would be copied into every command's future.
            AnyLog::JetStream(log) => Box::pin(log.append(request)).await,
        }
    }

    async fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<LogRecord>, LogError> {
        match self {
            AnyLog::Embedded(log) => log.read(from_seq, filter, max).await,
            AnyLog::JetStream(log) => log.read(from_seq, filter, max).await,
        }
    }

    fn tail(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        match self {
            AnyLog::Embedded(log) => log.tail(from_seq, filter),
            AnyLog::JetStream(log) => log.tail(from_seq, filter),
        }
    }

    fn tail_all(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        match self {
            AnyLog::Embedded(log) => log.tail_all(from_seq, filter),
            AnyLog::JetStream(log) => log.tail_all(from_seq, filter),
        }
    }

    async fn read_all(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<Result<LogRecord, Unreadable>>, LogError> {
        match self {
            AnyLog::Embedded(log) => log.read_all(from_seq, filter, max).await,
            AnyLog::JetStream(log) => log.read_all(from_seq, filter, max).await,
        }
    }

    async fn last_subject_seq(&self, subject: &Subject) -> Result<u64, LogError> {
        match self {
            AnyLog::Embedded(log) => log.last_subject_seq(subject).await,
            AnyLog::JetStream(log) => log.last_subject_seq(subject).await,
        }
    }

    async fn last_seq(&self) -> Result<u64, LogError> {
        match self {
            AnyLog::Embedded(log) => log.last_seq().await,
            AnyLog::JetStream(log) => log.last_seq().await,
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            AnyLog::Embedded(log) => log.backend(),
            AnyLog::JetStream(log) => log.backend(),
        }
    }

    async fn make_durable(&self) -> Result<Durable, LogError> {
        match self {
            AnyLog::Embedded(log) => log.make_durable().await,
            AnyLog::JetStream(log) => log.make_durable().await,
        }
    }
}
