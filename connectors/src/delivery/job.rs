//! One chat's queue and one message's delivery: the attachment limits checked, the calls made
//! in order under the rate limits, a rate limit waited out (the chat parked, the others not), a
//! transient error retried with doubling pauses, the outcome appended.

use super::POSSIBLY_TWICE;
use super::send::{self, CallResult};
use super::worker::{DeliveryError, Shared};
use crate::outbound::{FileSource, Outgoing, OutgoingFile};
use crate::outcome::{ErrorClass, ProviderError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_core::domain::compose::{MAX_TOTAL_BYTES, channel_limit};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::log::EventLog;
use switchboard_core::service::{CommandError, CommandMeta};
use switchboard_schemas::events::MessageQueued;
use switchboard_schemas::*;
use tokio::sync::mpsc;
use uuid::Uuid;

/// What finishing a job does: moves the embedded checkpoint, or acknowledges a JetStream
/// message once every queued message it holds is finished.
#[derive(Debug, Clone)]
pub(crate) enum Done {
    Seq(u64),
    Ack(Arc<super::consumer::AckOnce>),
}

/// A queued message to deliver.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) done: Done,
    pub(crate) project: ProjectId,
    pub(crate) dialog: DialogId,
    pub(crate) queued: MessageQueued,
    /// The client's identity on the channel.
    pub(crate) to: Option<ChannelIdentity>,
    /// A previous run began sending it: how many calls went through.
    pub(crate) begun: Option<usize>,
    /// A resend (F3.6, F6.5): the log sequence of the `message.resent` event, which keeps the
    /// outcomes of this attempt apart from those of the earlier ones; `None` for the first send.
    pub(crate) resent_at: Option<u64>,
}

/// How long a chat's task waits for more before it ends.
const IDLE: Duration = Duration::from_secs(5);

/// Delivers one chat's messages in order.
pub(crate) async fn chat_task<L: EventLog>(
    shared: Arc<Shared<L>>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    // When the chat's next call may go (its own rate limit).
    let mut next = Instant::now();
    loop {
        let job = match tokio::time::timeout(IDLE, queue.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(_) => {
                // Idle: take no more, but deliver what came meanwhile.
                queue.close();
                while let Ok(job) = queue.try_recv() {
                    deliver_logged(&shared, job, &mut next).await;
                }
                return;
            }
        };
        deliver_logged(&shared, job, &mut next).await;
    }
}

async fn deliver_logged<L: EventLog>(shared: &Shared<L>, job: Job, next: &mut Instant) {
    let done = job.done.clone();
    let message = job.queued.message;
    match deliver(shared, job, next).await {
        Ok(()) => {
            if let Err(e) = shared.state.finish(message) {
                tracing::error!(error = %e, "delivery state");
            }
            shared.finished(&done);
        }
        // Not finished: the checkpoint stays before it, and the next run delivers it.
        Err(e) => tracing::error!(%message, error = %e, "delivery stopped for a message"),
    }
}

/// A command id of one outcome of one attempt at one message, the same on every run (a resend
/// is another attempt: its outcomes are new commands, not the log's duplicates of the first).
fn outcome_id(message: MessageId, resent_at: Option<u64>, what: &str) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(b"switchboard.delivery.v1\0");
    hasher.update(message.as_uuid().as_bytes());
    hasher.update(what.as_bytes());
    if let Some(seq) = resent_at {
        hasher.update(b"\0resent at ");
        hasher.update(seq.to_le_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Appends one outcome; a log that is unavailable is retried, a refusal (the dialog deleted,
/// the message forgotten) is logged and dropped: there is nothing to record it on.
async fn record<L: EventLog>(
    shared: &Shared<L>,
    job: &Job,
    command: DialogCommand,
    what: &str,
) -> Result<(), DeliveryError> {
    let meta = CommandMeta {
        command_id: outcome_id(job.queued.message, job.resent_at, what),
        actor: Actor::Connector(job.queued.channel),
        correlation_id: None,
    };
    let mut pause = Duration::from_millis(100);
    for _ in 0..8 {
        let result = shared
            .service
            .dialog(job.project, job.dialog, command.clone(), meta)
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(CommandError::Refused(refusal)) => {
                tracing::warn!(message = %job.queued.message, %refusal, "outcome not recorded");
                return Ok(());
            }
            Err(CommandError::Log(e)) if e.is_retryable() => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(CommandError::Contention { .. }) => tokio::time::sleep(pause).await,
            Err(other) => return Err(other.into()),
        }
    }
    Err(DeliveryError::Unrecorded(job.queued.message))
}

async fn fail<L: EventLog>(
    shared: &Shared<L>,
    job: &Job,
    reason: FailureReason,
    detail: String,
) -> Result<(), DeliveryError> {
    shared.counters.failed.fetch_add(1, Ordering::Relaxed);
    let command = DialogCommand::MarkFailed {
        message: job.queued.message,
        reason,
        detail,
        retry_after_secs: None,
    };
    record(shared, job, command, "failed").await
}

/// F3.4: each attachment within the channel's limit for its kind, all within 500 MB.
fn check_attachments(kind: ChannelKind, attachments: &[Attachment]) -> Result<(), String> {
    let mut total: u64 = 0;
    for attachment in attachments {
        if let Some(limit) = channel_limit(kind, attachment.kind)
            && attachment.size_bytes > limit
        {
            return Err(format!(
                "{} is {} bytes, over the channel's {} bytes",
                attachment.file_name, attachment.size_bytes, limit
            ));
        }
        total = total.saturating_add(attachment.size_bytes);
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!(
            "{total} bytes of attachments, over {MAX_TOTAL_BYTES}"
        ));
    }
    Ok(())
}

fn outgoing(job: &Job, to: String) -> Outgoing {
    let files = job
        .queued
        .attachments
        .iter()
        .map(|a| OutgoingFile {
            kind: a.kind,
            source: FileSource::of(&a.storage_ref, &a.mime_type),
            file_name: Some(a.file_name.clone()),
        })
        .collect();
    Outgoing {
        message: job.queued.message,
        to,
        text: job.queued.text.clone(),
        files,
        reply_to: job.queued.reply_to_external_id.clone(),
    }
}

/// Marks the message as possibly sent twice (once per message: the command id is fixed).
async fn mark_possibly_twice<L: EventLog>(
    shared: &Shared<L>,
    job: &Job,
) -> Result<(), DeliveryError> {
    shared
        .counters
        .possibly_twice
        .fetch_add(1, Ordering::Relaxed);
    let command = DialogCommand::MarkFailed {
        message: job.queued.message,
        reason: FailureReason::ChannelError,
        detail: POSSIBLY_TWICE.to_owned(),
        retry_after_secs: None,
    };
    record(shared, job, command, "possibly-twice").await
}

/// Delivers one message and appends its outcome.
async fn deliver<L: EventLog>(
    shared: &Shared<L>,
    job: Job,
    next_call: &mut Instant,
) -> Result<(), DeliveryError> {
    let channel = job.queued.channel;
    let Some(identity) = job.to.clone() else {
        let detail = "the client has no identity on this channel".to_owned();
        return fail(shared, &job, FailureReason::ChannelError, detail).await;
    };
    let Some(config) = shared.directory.lookup(channel).await else {
        if shared.options.leave_unknown_channels {
            tracing::debug!(%channel, message = %job.queued.message, "no settings for the channel: left queued");
            return Ok(());
        }
        let detail = "the channel has no delivery settings".to_owned();
        return fail(shared, &job, FailureReason::ChannelError, detail).await;
    };
    let to = identity.external_id;
    if let Err(detail) = check_attachments(config.kind, &job.queued.attachments) {
        return fail(shared, &job, FailureReason::TooLarge, detail).await;
    }
    let requests = match send::build(&config, &outgoing(&job, to.clone())) {
        Ok(requests) => requests,
        Err(e) => return fail(shared, &job, e.class.reason(), e.failure().detail).await,
    };
    // VK drops a repeated `random_id`; elsewhere a repeat of an unknown outcome is marked.
    let dedups = config.kind == ChannelKind::Vk;
    let mut next = job.begun.unwrap_or(0);
    if job.begun.is_some() && !dedups {
        mark_possibly_twice(shared, &job).await?;
    }
    let mut ids = Vec::new();
    let mut transient = 0u32;
    let mut pause = shared.options.transient_backoff;
    let mut rate_limited_recorded = false;
    while next < requests.len() {
        shared.state.progress(job.queued.message, next).await?;
        shared.limits.wait(config.kind, channel, next_call).await;
        let result = {
            let _permit = shared.calls.acquire().await;
            let store = shared.options.attachments.as_ref();
            send::call(&shared.http, &config, &requests[next], store).await
        };
        shared.limits.answered(config.kind, next_call);
        let error = match result {
            CallResult::Sent(sent) => {
                ids.extend(sent);
                next += 1;
                continue;
            }
            CallResult::Refused(error) => error,
            CallResult::Unknown(detail) => {
                if !dedups {
                    mark_possibly_twice(shared, &job).await?;
                }
                ProviderError {
                    class: ErrorClass::Transient,
                    code: 0,
                    detail,
                }
            }
        };
        shared.counters.retried.fetch_add(1, Ordering::Relaxed);
        match error.class {
            ErrorClass::RateLimited { retry_after_secs } => {
                if !rate_limited_recorded {
                    let failure = error.failure();
                    let command = DialogCommand::MarkFailed {
                        message: job.queued.message,
                        reason: FailureReason::RateLimited,
                        detail: failure.detail,
                        retry_after_secs: failure.retry_after_secs,
                    };
                    record(shared, &job, command, "rate-limited").await?;
                    rate_limited_recorded = true;
                }
                let wait = retry_after_secs.map_or(shared.options.default_retry_after, |s| {
                    Duration::from_secs(u64::from(s))
                });
                tokio::time::sleep(wait).await;
            }
            ErrorClass::Transient if transient + 1 < shared.options.transient_attempts => {
                transient += 1;
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2).min(Duration::from_secs(60));
            }
            class => {
                let detail = error.failure().detail;
                if class == ErrorClass::NoRights {
                    shared.directory.report(channel, Err(&detail));
                }
                return fail(shared, &job, class.reason(), detail).await;
            }
        }
    }
    shared.directory.report(channel, Ok(()));
    let external_id = ids.first().cloned().unwrap_or_else(|| "unknown".to_owned());
    shared.sent.insert(&ids, job.dialog, job.queued.message);
    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
    let command = DialogCommand::MarkSent {
        message: job.queued.message,
        external_id,
    };
    record(shared, &job, command, "sent").await
}
