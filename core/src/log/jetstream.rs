//! JetStream backend: one stream (file storage) holding every subject under `sb.>`.
//!
//! - `append` publishes with `Nats-Msg-Id` (deduplication) and, unless the expectation is
//!   [`Expected::Any`], `Nats-Expected-Last-Subject-Sequence` (optimistic concurrency), plus the
//!   `Sb-Type`/`Sb-Ver` headers, and awaits its own publish ack (never dropped: appends to
//!   different aggregates pipeline because each caller awaits its own ack concurrently).
//! - The lost-ack pitfall: on a single server the sequence check runs before deduplication, so a
//!   retry after a lost ack fails with 10071 (wrong last sequence). On 10071 the subject's
//!   messages after the expected sequence are read from the stream leader; if one carries our
//!   message id the append had succeeded and the answer is its sequence with `duplicate: true`.
//! - `read` and `tail` use ordered (ephemeral, flow-controlled, self-healing) pull consumers; a
//!   tail tracks the last delivered stream sequence so that a consumer recreated after a gap or a
//!   reconnect never exposes a duplicate.
//!
//! The stream is the operator's: opening the log never changes it. With
//! [`StreamSetup::CreateIfMissing`] (`serve`) a missing stream is created with what Switchboard
//! needs; an existing one is checked against it (see [`check_stream`]): differences that lose or
//! refuse events make opening fail, the others are logged as warnings, and the stream is left as
//! it is either way. With [`StreamSetup::MustExist`] (the tools) a missing stream is an error.
//!
//! Messages on the stream that were not written through this log (a subject that is not a valid
//! [`Subject`]) are [`Unreadable`]: `read` and `tail` leave them out, `read_all` and `tail_all`
//! show them.
//!
//! Submodules: `errors` (async-nats errors to [`LogError`]), `tail` (the state of one tail:
//! its consumer, recreated after gaps and reconnects).

mod errors;
mod tail;

use super::{
    AppendAck, AppendRequest, EventLog, Expected, LogError, LogLimits, LogRecord, MsgId, Subject,
    SubjectFilter, Unreadable,
};
use async_nats::HeaderMap;
use async_nats::header::{
    HeaderName, HeaderValue, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID,
};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::stream::{
    self as js_stream, DiscardPolicy, PersistenceMode, RetentionPolicy, StorageType,
};
use async_nats::jetstream::{self, ErrorCode};
use errors::{direct_get_error, raw_get_error};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_schemas::wire::{TYPE_HEADER, VERSION_HEADER};
use switchboard_schemas::{EncodedBatch, Timestamp};
use tail::Tail;
use tokio::sync::watch;

/// Room kept for the headers of a message on top of its body (the stream's `max_msg_size` and
/// the server's `max_payload` count headers too).
const HEADER_ALLOWANCE: usize = 4096;

/// Reads of at most this many messages on one subject use direct gets (one round trip per
/// message, no consumer to create).
const DIRECT_READ_MAX: usize = 4;

/// Ordered consumers that finite reads may hold at once (see `Inner::readers`).
const MAX_CONCURRENT_READS: usize = 32;

/// Messages an ordered consumer pulls per request.
const PULL_BATCH: usize = 512;

/// How long a read waits for the next message it was told is pending.
const READ_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages after the expected sequence inspected when resolving a 10071 (lost ack).
const LOST_ACK_SCAN: usize = 256;

/// Longest pull request of a consumer. Idle heartbeats come at half of it, and two missed ones
/// make an ordered consumer recreate itself: this bounds how long a tail stays stalled when its
/// consumer vanished unnoticed (the client reconnecting is noticed at once, see `reconnected`).
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// What opening the log may do to the stream. Nothing ever changes an existing stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamSetup {
    /// Create the stream when it is missing; check an existing one (`serve`).
    #[default]
    CreateIfMissing,
    /// The stream must exist: look it up, create nothing, check nothing (the tools).
    MustExist,
}

/// Settings of [`JetStreamLog::connect`].
#[derive(Clone, Debug)]
pub struct JetStreamOptions {
    /// Name of the stream (default `SB`).
    pub stream: String,
    /// Subjects the stream captures (default `sb.>`).
    pub subjects: Vec<String>,
    /// Replicas of a stream created here: 1 on one server, 3 (or 5) in a cluster. An existing
    /// stream may have more.
    pub replicas: usize,
    /// Message size and duplicate window.
    pub limits: LogLimits,
    /// Whether a missing stream is created.
    pub setup: StreamSetup,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        Self {
            stream: "SB".into(),
            subjects: vec![format!("{}.>", crate::subject::ROOT)],
            replicas: 1,
            limits: LogLimits::default(),
            setup: StreamSetup::default(),
        }
    }
}

impl JetStreamOptions {
    /// The stream Switchboard needs: file storage, `DiscardPolicy::New` (the default, Old,
    /// silently drops the oldest events), limits retention with no limit (no per-subject
    /// limit, no age), `deny_delete`, `deny_purge`, `allow_direct`, the duplicate window and
    /// the message size of `limits`.
    pub fn stream_config(&self) -> js_stream::Config {
        let max_msg_size = self
            .limits
            .max_message_bytes
            .saturating_add(HEADER_ALLOWANCE)
            .min(i32::MAX as usize);
        js_stream::Config {
            name: self.stream.clone(),
            subjects: self.subjects.clone(),
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::New,
            max_messages_per_subject: -1,
            max_messages: -1,
            max_bytes: -1,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            duplicate_window: self.limits.duplicate_window,
            max_message_size: i32::try_from(max_msg_size).unwrap_or(i32::MAX),
            num_replicas: self.replicas.max(1),
            description: Some("switchboard event log".into()),
            ..Default::default()
        }
    }
}

/// One setting of an existing stream that is not what Switchboard would choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamDifference {
    /// The setting, named as in the stream's JSON configuration (`discard`, `duplicate_window`).
    pub setting: &'static str,
    pub found: String,
    pub wanted: String,
    /// Whether the log cannot run on it: the stream would lose acknowledged events (memory
    /// storage, discard old, an age or per-subject limit, interest or work-queue retention), or
    /// appends and reads could not work (subjects not captured, sealed, a mirror, no acks, no
    /// direct gets). The others only weaken a guarantee or a limit and are warned about.
    pub refuses: bool,
}

/// How `found` differs from `wanted` (made by [`JetStreamOptions::stream_config`]). Replicas
/// may be more than wanted; a stream capturing more subjects than wanted is fine.
pub fn check_stream(
    found: &js_stream::Config,
    wanted: &js_stream::Config,
) -> Vec<StreamDifference> {
    let mut differences = Vec::new();
    let mut differ = |setting, found: String, wanted: String, refuses| {
        differences.push(StreamDifference {
            setting,
            found,
            wanted,
            refuses,
        });
    };
    let captured: Vec<SubjectFilter> = found
        .subjects
        .iter()
        .filter_map(|s| SubjectFilter::parse(s).ok())
        .collect();
    let covers = |wanted: &String| {
        found.subjects.iter().any(|s| s == wanted || s == ">")
            || captured.iter().any(|f| f.as_str() == wanted)
    };
    if !wanted.subjects.iter().all(covers) {
        differ(
            "subjects",
            format!("{:?}", found.subjects),
            format!("{:?}", wanted.subjects),
            true,
        );
    }
    if found.storage != wanted.storage {
        differ(
            "storage",
            format!("{:?}", found.storage),
            "file".into(),
            true,
        );
    }
    if found.retention != RetentionPolicy::Limits {
        differ(
            "retention",
            format!("{:?}", found.retention),
            "limits".into(),
            true,
        );
    }
    if found.discard != DiscardPolicy::New {
        differ(
            "discard",
            format!("{:?}", found.discard),
            "new".into(),
            true,
        );
    }
    if found.max_age != Duration::ZERO {
        differ(
            "max_age",
            format!("{:?}", found.max_age),
            "none".into(),
            true,
        );
    }
    if found.max_messages_per_subject > 0 {
        differ(
            "max_msgs_per_subject",
            found.max_messages_per_subject.to_string(),
            "none".into(),
            true,
        );
    }
    for (setting, on) in [
        ("sealed", found.sealed),
        ("no_ack", found.no_ack),
        ("mirror", found.mirror.is_some()),
    ] {
        if on {
            differ(setting, "set".into(), "not set".into(), true);
        }
    }
    if !found.allow_direct {
        differ("allow_direct", "false".into(), "true".into(), true);
    }
    // Weaker guarantees or other limits: warned about.
    for (setting, value) in [
        ("deny_delete", found.deny_delete),
        ("deny_purge", found.deny_purge),
    ] {
        if !value {
            differ(setting, "false".into(), "true".into(), false);
        }
    }
    if found.allow_rollup {
        differ("allow_rollup_hdrs", "true".into(), "false".into(), false);
    }
    if found.persist_mode == Some(PersistenceMode::Async) {
        differ("persist_mode", "async".into(), "default".into(), false);
    }
    if found.duplicate_window != wanted.duplicate_window {
        differ(
            "duplicate_window",
            format!("{:?}", found.duplicate_window),
            format!("{:?}", wanted.duplicate_window),
            false,
        );
    }
    if found.max_message_size != wanted.max_message_size {
        differ(
            "max_msg_size",
            found.max_message_size.to_string(),
            wanted.max_message_size.to_string(),
            false,
        );
    }
    for (setting, value) in [
        ("max_msgs", found.max_messages),
        ("max_bytes", found.max_bytes),
    ] {
        if value > 0 {
            differ(setting, value.to_string(), "none".into(), false);
        }
    }
    if found.num_replicas < wanted.num_replicas {
        differ(
            "num_replicas",
            found.num_replicas.to_string(),
            format!("{} or more", wanted.num_replicas),
            false,
        );
    }
    differences
}

/// The event log on a JetStream stream. Cheap to clone (one connection shared by the clones).
#[derive(Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
}

struct Inner {
    /// Appends are plain requests on the client (see `append`).
    client: async_nats::Client,
    stream: js_stream::Stream<()>,
    name: String,
    /// Filters of the subjects the stream captures (appends elsewhere would find no stream).
    captured: Vec<SubjectFilter>,
    /// The largest body accepted: the configured limit, capped by what the server and the stream
    /// accept once headers are added.
    max_body: usize,
    /// Counts the client's (re)connections, so that tails recreate their consumers right away
    /// (a restarted server has forgotten them) instead of waiting for missed heartbeats.
    reconnected: Arc<watch::Sender<u64>>,
    /// Bounds the ordered consumers that finite reads create at once: a burst of cache misses
    /// (say, thousands of dialogs loaded at the same moment) must not become thousands of
    /// consumers on the server, which refuses them past its limit.
    readers: tokio::sync::Semaphore,
    /// The stream is replicated: single-message gets go to its leader (see `get_for_subject`).
    replicated: bool,
}

impl fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("stream", &self.inner.name)
            .field("max_body", &self.inner.max_body)
            .finish_non_exhaustive()
    }
}

impl JetStreamLog {
    /// Connects to `url` (a cluster: several URLs, comma-separated, tried in turn; the client
    /// also learns the other nodes from the one it reaches) and opens the stream as
    /// `options.setup` says (see the module doc): never changes an existing stream.
    pub async fn connect(url: &str, options: JetStreamOptions) -> Result<Self, LogError> {
        let reconnected = Arc::new(watch::Sender::new(0u64));
        let client = async_nats::ConnectOptions::new()
            .name("switchboard")
            .event_callback({
                let reconnected = reconnected.clone();
                move |event| {
                    let reconnected = reconnected.clone();
                    async move {
                        if matches!(event, async_nats::Event::Connected) {
                            reconnected.send_modify(|n| *n += 1);
                        }
                    }
                }
            })
            .connect(server_addrs(url)?)
            .await
            .map_err(|e| LogError::Unavailable(format!("cannot connect to {url}: {e}")))?;
        Self::setup(client, options, reconnected).await
    }

    /// Like [`JetStreamLog::connect`] with a client the caller configured (TLS, credentials).
    /// Without the connect events of [`JetStreamLog::connect`], tails notice a restarted server
    /// through their consumer failing only (about 15 s).
    pub async fn with_client(
        client: async_nats::Client,
        options: JetStreamOptions,
    ) -> Result<Self, LogError> {
        Self::setup(client, options, Arc::new(watch::Sender::new(0))).await
    }

    async fn setup(
        client: async_nats::Client,
        options: JetStreamOptions,
        reconnected: Arc<watch::Sender<u64>>,
    ) -> Result<Self, LogError> {
        let server_max_payload = client.server_info().max_payload;
        let context = jetstream::new(client.clone());
        let wanted = options.stream_config();
        let name = &options.stream;
        let found = match context.get_stream(name).await {
            Ok(stream) => Some(stream.cached_info().config.clone()),
            Err(e) if errors::stream_not_found(&e) => None,
            Err(e) => {
                return Err(errors::lowercase_unavailable(
                    &format!("cannot look up stream {name}"),
                    e,
                ));
            }
        };
        let config = match (found, options.setup) {
            (None, StreamSetup::MustExist) => {
                return Err(LogError::Setup(format!(
                    "no stream {name} on this server (`switchboard serve --nats` creates it)"
                )));
            }
            (None, StreamSetup::CreateIfMissing) => {
                let created = context.create_stream(wanted).await.map_err(|e| {
                    errors::lowercase_unavailable(&format!("cannot create stream {name}"), e)
                })?;
                let config = created.cached_info().config.clone();
                tracing::info!(stream = %name, replicas = config.num_replicas, "created the stream");
                config
            }
            (Some(found), StreamSetup::MustExist) => found,
            (Some(found), StreamSetup::CreateIfMissing) => {
                let differences = check_stream(&found, &wanted);
                for d in &differences {
                    tracing::warn!(
                        stream = %name,
                        setting = d.setting,
                        found = %d.found,
                        wanted = %d.wanted,
                        refuses = d.refuses,
                        "the stream's {} differs from what switchboard needs; left as it is",
                        d.setting
                    );
                }
                let refused: Vec<String> = differences
                    .iter()
                    .filter(|d| d.refuses)
                    .map(|d| format!("{} is {} (needs {})", d.setting, d.found, d.wanted))
                    .collect();
                if !refused.is_empty() {
                    return Err(LogError::Setup(format!(
                        "stream {name} would lose or refuse events: {}; \
                         fix it with the nats tool (switchboard never changes a stream)",
                        refused.join(", ")
                    )));
                }
                found
            }
        };
        let stream = context
            .get_stream_no_info(name)
            .await
            .map_err(|e| LogError::Invalid(format!("bad stream name: {e}")))?;
        let stream_limit = usize::try_from(config.max_message_size)
            .ok()
            .filter(|&l| l > 0)
            .unwrap_or(usize::MAX);
        let mut max_body = options.limits.max_message_bytes;
        for outer in [server_max_payload, stream_limit] {
            if outer > 0 {
                max_body = max_body.min(outer.saturating_sub(HEADER_ALLOWANCE));
            }
        }
        if max_body < options.limits.max_message_bytes {
            tracing::warn!(
                configured = options.limits.max_message_bytes,
                effective = max_body,
                server_max_payload,
                "the server accepts smaller messages than configured; raise max_payload"
            );
        }
        let captured = options
            .subjects
            .iter()
            .filter_map(|s| SubjectFilter::parse(s).ok())
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                stream,
                name: options.stream,
                captured,
                max_body,
                reconnected,
                readers: tokio::sync::Semaphore::new(MAX_CONCURRENT_READS),
                replicated: config.num_replicas > 1,
            }),
        })
    }

    /// The largest body an append accepts.
    pub fn max_body(&self) -> usize {
        self.inner.max_body
    }

    /// After 10071: is one of the subject's messages after the expected sequence ours (the ack
    /// of an earlier attempt was lost)? Reads from the stream leader. Otherwise the conflict,
    /// with the subject's actual last sequence.
    async fn resolve_wrong_last_sequence(
        &self,
        subject: &Subject,
        expected: Expected,
        msg_id: &MsgId,
    ) -> Result<AppendAck, LogError> {
        let stream = &self.inner.stream;
        let ours = |headers: &HeaderMap| {
            headers
                .get(NATS_MESSAGE_ID)
                .is_some_and(|v| v.as_str() == msg_id.as_str())
        };
        // Most often our message is the last one (the retry came right after the lost ack).
        let last = match stream
            .raw_message_builder()
            .last_by_subject(subject.as_str())
            .send()
            .await
        {
            Ok(message) => message,
            Err(e) if errors::raw_not_found(&e) => {
                return Err(LogError::Conflict {
                    subject: subject.clone(),
                    expected,
                    actual: 0,
                });
            }
            Err(e) => return Err(raw_get_error(e)),
        };
        if ours(&last.headers) {
            return Ok(AppendAck {
                seq: last.sequence,
                duplicate: true,
            });
        }
        let conflict = LogError::Conflict {
            subject: subject.clone(),
            expected,
            actual: last.sequence,
        };
        let mut next = expected.last_subject_seq().unwrap_or(0) + 1;
        for _ in 0..LOST_ACK_SCAN {
            if next >= last.sequence {
                break;
            }
            match stream
                .raw_message_builder()
                .next_by_subject(subject.as_str())
                .sequence(next)
                .send()
                .await
            {
                Ok(message) if message.sequence >= last.sequence => break,
                Ok(message) if ours(&message.headers) => {
                    return Ok(AppendAck {
                        seq: message.sequence,
                        duplicate: true,
                    });
                }
                Ok(message) => next = message.sequence + 1,
                Err(e) if errors::raw_not_found(&e) => break,
                Err(e) => return Err(raw_get_error(e)),
            }
        }
        Err(conflict)
    }

    /// Up to `max` records on `subject` (a literal or a pattern) from sequence `from`, one
    /// single-message get each.
    async fn read_direct(
        &self,
        from: u64,
        subject: &str,
        max: usize,
    ) -> Result<Vec<Result<LogRecord, Unreadable>>, LogError> {
        let mut records = Vec::with_capacity(max.min(DIRECT_READ_MAX));
        let mut next = from;
        while records.len() < max {
            match self.get_for_subject(subject, Some(next)).await? {
                Some(message) => {
                    next = message.sequence + 1;
                    let at = timestamp(message.time.into());
                    records.push(record(
                        message.sequence,
                        &message.subject,
                        &message.headers,
                        message.payload,
                        at,
                    ));
                }
                None => break,
            }
        }
        Ok(records)
    }

    /// The first message on `subject` (a literal or, with `from`, a pattern) from sequence
    /// `from`, or its last one (`from` = None). A direct get (any replica answers) on a single
    /// replica; the stream leader's get on a replicated stream, where a follower may answer
    /// before it has stored an acknowledged append (seen on a 3-node cluster: the last sequence
    /// from one replica, then nothing at that sequence from another).
    async fn get_for_subject(
        &self,
        subject: &str,
        from: Option<u64>,
    ) -> Result<Option<jetstream::message::StreamMessage>, LogError> {
        let stream = &self.inner.stream;
        if self.inner.replicated {
            let builder = stream.raw_message_builder();
            let get = match from {
                Some(seq) => builder.next_by_subject(subject).sequence(seq),
                None => builder.last_by_subject(subject),
            };
            return match get.send().await {
                Ok(message) => Ok(Some(message)),
                Err(e) if errors::raw_not_found(&e) => Ok(None),
                Err(e) => Err(raw_get_error(e)),
            };
        }
        let got = match from {
            Some(seq) => stream.direct_get_next_for_subject(subject, Some(seq)).await,
            None => stream.direct_get_last_for_subject(subject).await,
        };
        match got {
            Ok(message) => Ok(Some(message)),
            Err(e) if errors::direct_not_found(&e) => Ok(None),
            Err(e) => Err(direct_get_error(e)),
        }
    }

    /// An ordered consumer from `from` (≥ 1) on `filter`, with the number of messages pending
    /// for it when it was created.
    async fn ordered(
        &self,
        from: u64,
        filter: &SubjectFilter,
        batch: usize,
    ) -> Result<(Ordered, u64, String), LogError> {
        let deliver_policy = if from <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: from,
            }
        };
        let consumer = self
            .inner
            .stream
            .create_consumer(OrderedConfig {
                filter_subject: filter.as_str().to_owned(),
                deliver_policy,
                max_batch: i64::try_from(batch.clamp(1, PULL_BATCH)).unwrap_or(1),
                max_expires: PULL_EXPIRES,
                ..Default::default()
            })
            .await
            .map_err(|e| errors::lowercase_unavailable("cannot create a consumer", e))?;
        let pending = consumer.cached_info().num_pending;
        let name = consumer.cached_info().name.clone();
        let messages = consumer
            .messages()
            .await
            .map_err(|e| errors::lowercase_unavailable("cannot start a consumer", e))?;
        Ok((messages, pending, name))
    }

    /// Deletes a consumer in the background (it would expire on its own after 30 s).
    fn forget_consumer(&self, name: String) {
        let stream = self.inner.stream.clone();
        tokio::spawn(async move {
            if let Err(e) = stream.delete_consumer(&name).await {
                tracing::debug!(consumer = %name, error = %e, "cannot delete a finished consumer");
            }
        });
    }
}

/// How long an append waits for its ack before reporting its outcome unknown (the default of
/// async-nats's JetStream publish).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Sb-Type` and `Sb-Ver` header names, built once (from a `&str`, each publish would
/// validate, look up and copy them).
const TYPE_NAME: HeaderName = HeaderName::from_static(TYPE_HEADER);
const VERSION_NAME: HeaderName = HeaderName::from_static(VERSION_HEADER);

/// The headers of an append; the batch's type and version strings become header values as they
/// are, without a copy.
fn append_headers(
    msg_id: &MsgId,
    expected: Expected,
    types: String,
    versions: String,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(NATS_MESSAGE_ID, msg_id.as_str());
    if let Some(seq) = expected.last_subject_seq() {
        headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(seq));
    }
    headers.insert(TYPE_NAME, types);
    headers.insert(VERSION_NAME, versions);
    headers
}

/// A JetStream publish ack, `{"stream":"SB","seq":7}` (`"duplicate":true` for a message id
/// seen before) or `{"error":{…}}`, read straight into the fields used (async-nats reads every
/// ack through an untagged enum, buffering it first).
#[derive(serde::Deserialize)]
struct AckReply {
    #[serde(default)]
    error: Option<jetstream::Error>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    duplicate: bool,
}

/// Why an ack is not a success.
#[derive(Debug)]
enum AckFailure {
    /// 10071: the subject's last sequence is not the expected one.
    WrongLastSequence,
    /// Any other refusal of the stream.
    Refused(jetstream::Error),
    /// Not a publish ack at all.
    Malformed(String),
}

fn publish_ack(payload: &[u8]) -> Result<AppendAck, AckFailure> {
    let reply: AckReply =
        serde_json::from_slice(payload).map_err(|e| AckFailure::Malformed(e.to_string()))?;
    if let Some(error) = reply.error {
        return Err(
            if matches!(
                error.error_code(),
                ErrorCode::STREAM_WRONG_LAST_SEQUENCE
                    | ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
            ) {
                AckFailure::WrongLastSequence
            } else {
                AckFailure::Refused(error)
            },
        );
    }
    match reply.seq {
        Some(seq) => Ok(AppendAck {
            seq,
            duplicate: reply.duplicate,
        }),
        None => Err(AckFailure::Malformed("no sequence in the ack".into())),
    }
}

/// The servers of a `--nats` value: one URL or several, comma-separated.
fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, LogError> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| LogError::Invalid(format!("bad NATS server URL {u:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|addrs| {
            if addrs.is_empty() {
                Err(LogError::Invalid("no NATS server URL given".into()))
            } else {
                Ok(addrs)
            }
        })
}

/// Microseconds since the epoch of a server time (whichever date type async-nats was built with
/// converts into `SystemTime`).
fn timestamp(at: SystemTime) -> Timestamp {
    let micros = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    };
    Timestamp::from_micros(micros)
}

/// A record from a stored message; [`Unreadable`] when its subject is not a valid [`Subject`]
/// (it was not written through this log).
fn record(
    seq: u64,
    subject: &str,
    headers: &HeaderMap,
    payload: bytes::Bytes,
    appended_at: Timestamp,
) -> Result<LogRecord, Unreadable> {
    let subject = match Subject::parse(subject) {
        Ok(subject) => subject,
        Err(e) => {
            return Err(Unreadable {
                seq,
                subject: subject.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default()
    };
    Ok(LogRecord {
        seq,
        subject,
        msg_id: header("Nats-Msg-Id"),
        appended_at,
        batch: EncodedBatch {
            types: header(TYPE_HEADER),
            versions: header(VERSION_HEADER),
            body: payload,
        },
    })
}

/// A record from a message delivered by a consumer, with its stream sequence and the number of
/// messages still pending after it.
#[allow(clippy::type_complexity)]
fn delivered(
    message: &jetstream::Message,
) -> Result<(u64, u64, Result<LogRecord, Unreadable>), LogError> {
    let info = message
        .info()
        .map_err(|e| LogError::Unavailable(format!("bad delivery metadata: {e}")))?;
    let seq = info.stream_sequence;
    let pending = info.pending;
    let at = timestamp(info.published.into());
    let empty = HeaderMap::new();
    let headers = message.headers.as_ref().unwrap_or(&empty);
    Ok((
        seq,
        pending,
        record(
            seq,
            message.subject.as_str(),
            headers,
            message.payload.clone(),
            at,
        ),
    ))
}

impl EventLog for JetStreamLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendAck, LogError> {
        super::embedded::check_request(&request)?;
        if !self
            .inner
            .captured
            .iter()
            .any(|f| f.matches(request.subject.as_str()))
        {
            return Err(LogError::Invalid(format!(
                "subject {} is not captured by stream {}",
                request.subject, self.inner.name
            )));
        }
        let size = request.batch.body.len();
        if size > self.inner.max_body {
            return Err(LogError::TooLarge {
                size,
                limit: self.inner.max_body,
            });
        }
        let AppendRequest {
            subject,
            expected,
            msg_id,
            batch,
        } = request;
        let headers = append_headers(&msg_id, expected, batch.types, batch.versions);
        // A plain request, not `Context::publish_with_headers`: the same message on the wire
        // (with the connection's shared reply inbox), without the in-flight semaphore, the boxed
        // ack future and its untyped JSON parse of every ack (see `publish_ack`).
        // One timer bounds both the hand-over to the connection (which waits while its queue is
        // full, say during a reconnection) and the wait for the ack, as async-nats's JetStream
        // publish bounds each of them.
        let request = self.inner.client.send_request(
            subject.as_str().to_owned(),
            async_nats::Request::new()
                .headers(headers)
                .payload(batch.body)
                .timeout(None),
        );
        let reply = match tokio::time::timeout(ACK_TIMEOUT, request).await {
            Ok(reply) => reply,
            Err(_) => {
                return Err(LogError::Unavailable(
                    "publish outcome unknown: no ack within the timeout".into(),
                ));
            }
        };
        // The outcome of every append is known or reported unknown (retried by the caller with the
        // same message id); a request given up on has no ack future that would log its loss.
        match reply {
            Ok(message) => match publish_ack(&message.payload) {
                Ok(ack) => Ok(ack),
                Err(AckFailure::WrongLastSequence) => {
                    Box::pin(self.resolve_wrong_last_sequence(&subject, expected, &msg_id)).await
                }
                Err(AckFailure::Refused(api)) => {
                    Err(errors::api_failure(&api, size, self.inner.max_body))
                }
                Err(AckFailure::Malformed(e)) => Err(LogError::Unavailable(format!(
                    "publish outcome unknown: unreadable ack: {e}"
                ))),
            },
            Err(e) => Err(errors::request_error(e, size, self.inner.max_body)),
        }
    }

    async fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<LogRecord>, LogError> {
        self.read_all(from_seq, filter, max)
            .await
            .map(super::readable)
    }

    async fn read_all(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<Result<LogRecord, Unreadable>>, LogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let from = from_seq.max(1);
        if max <= DIRECT_READ_MAX
            && let Some(subject) = filter.as_literal()
        {
            return self.read_direct(from, subject.as_str(), max).await;
        }
        let _permit = self
            .inner
            .readers
            .acquire()
            .await
            .map_err(|_| LogError::Unavailable("the log is closing".into()))?;
        let (mut messages, pending, name) = self.ordered(from, filter, max).await?;
        let mut records = Vec::new();
        if pending == 0 && self.inner.replicated {
            // The consumer's replica may not have stored an acknowledged append yet (seen on
            // a 3-node cluster: `read(N)` right after N's ack found nothing): the stream
            // leader has it, so ask the leader before answering that nothing is there.
            drop(messages);
            self.forget_consumer(name);
            return self.read_direct(from, filter.as_str(), max).await;
        }
        let result = async {
            if pending == 0 {
                return Ok(());
            }
            let mut seen = 0usize;
            loop {
                let message = tokio::time::timeout(READ_MESSAGE_TIMEOUT, messages.next())
                    .await
                    .map_err(|_| LogError::Unavailable("timed out reading the stream".into()))?;
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        return Err(LogError::Unavailable(format!(
                            "reading the stream failed: {e}"
                        )));
                    }
                    None => {
                        return Err(LogError::Unavailable("the consumer ended early".into()));
                    }
                };
                let (seq, left, record) = delivered(&message)?;
                if seq < from {
                    continue;
                }
                seen += 1;
                records.push(record);
                if left == 0 || records.len() >= max || seen as u64 >= pending {
                    return Ok(());
                }
            }
        }
        .await;
        drop(messages);
        self.forget_consumer(name);
        result.map(|()| records)
    }

    /// An ordered consumer that never ends: it recreates itself after gaps and reconnects, and
    /// the tail skips whatever a recreated consumer delivers again. Errors (the consumer cannot
    /// be created) are reported as items; the tail keeps retrying with a growing pause.
    fn tail(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        super::readable_tail(self.tail_all(from_seq, filter))
    }

    fn tail_all(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        let state = Tail {
            log: self.clone(),
            filter,
            next: from_seq.max(1),
            consumer: None,
            failures: 0,
            reconnected: self.inner.reconnected.subscribe(),
        };
        futures::stream::unfold(state, Tail::next_item).boxed()
    }

    async fn last_subject_seq(&self, subject: &Subject) -> Result<u64, LogError> {
        Ok(self
            .get_for_subject(subject.as_str(), None)
            .await?
            .map_or(0, |message| message.sequence))
    }

    async fn last_seq(&self) -> Result<u64, LogError> {
        let info = self
            .inner
            .stream
            .get_info()
            .await
            .map_err(|e| errors::lowercase_unavailable("cannot read the stream state", e))?;
        Ok(info.state.last_sequence)
    }

    fn backend(&self) -> &'static str {
        "jetstream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(differences: &[StreamDifference]) -> Vec<(&'static str, bool)> {
        differences.iter().map(|d| (d.setting, d.refuses)).collect()
    }

    #[test]
    fn the_stream_switchboard_makes_passes_its_own_check() {
        let wanted = JetStreamOptions::default().stream_config();
        assert_eq!(check_stream(&wanted, &wanted), []);
        // More replicas than asked, or more subjects captured, are fine.
        let found = js_stream::Config {
            num_replicas: 3,
            subjects: vec![">".into()],
            ..wanted.clone()
        };
        assert_eq!(check_stream(&found, &wanted), []);
    }

    #[test]
    fn what_loses_events_refuses_and_what_weakens_warns() {
        let wanted = JetStreamOptions {
            replicas: 3,
            ..JetStreamOptions::default()
        }
        .stream_config();
        let found = js_stream::Config {
            duplicate_window: Duration::from_secs(300),
            deny_purge: false,
            num_replicas: 1,
            ..wanted.clone()
        };
        assert_eq!(
            settings(&check_stream(&found, &wanted)),
            [
                ("deny_purge", false),
                ("duplicate_window", false),
                ("num_replicas", false)
            ]
        );
        let found = js_stream::Config {
            discard: DiscardPolicy::Old,
            storage: StorageType::Memory,
            max_age: Duration::from_secs(3600),
            max_messages_per_subject: 10,
            retention: RetentionPolicy::WorkQueue,
            subjects: vec!["sb.p1.>".into()],
            allow_direct: false,
            sealed: true,
            ..wanted.clone()
        };
        assert_eq!(
            settings(&check_stream(&found, &wanted)),
            [
                ("subjects", true),
                ("storage", true),
                ("retention", true),
                ("discard", true),
                ("max_age", true),
                ("max_msgs_per_subject", true),
                ("sealed", true),
                ("allow_direct", true),
            ]
        );
    }

    #[test]
    fn the_default_message_fits_the_default_max_payload() {
        let config = JetStreamOptions::default().stream_config();
        assert_eq!(config.max_message_size, 1024 * 1024);
        assert_eq!(
            LogLimits::default().max_message_bytes + HEADER_ALLOWANCE,
            1024 * 1024
        );
    }
}
