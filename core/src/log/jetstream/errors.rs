//! From async-nats errors to [`LogError`]: a conflict, a refusal (too large, full, invalid) or
//! "unavailable" (timeouts, lost connections: the outcome is unknown, retry with the same id).

use crate::log::LogError;
use async_nats::jetstream::context::{GetStreamError, GetStreamErrorKind};
use async_nats::jetstream::stream::{
    DirectGetError, DirectGetErrorKind, RawMessageError, RawMessageErrorKind,
};
use async_nats::jetstream::{self, ErrorCode};
use async_nats::{RequestError, RequestErrorKind};
use std::fmt::Display;

/// `maximum messages exceeded` and friends, answered under DiscardPolicy::New.
const STREAM_STORE_FAILED: ErrorCode = ErrorCode::STREAM_STORE_FAILED;

/// The text of an error with its first letter in lower case.
pub(super) fn lower(err: impl Display) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// A transport-level failure: the caller may retry.
pub(super) fn lowercase_unavailable(context: &str, err: impl Display) -> LogError {
    LogError::Unavailable(format!("{context}: {}", lower(err)))
}

/// A publish request that got no ack: refused before sending (too large, bad subject), or its
/// outcome is unknown (timeout, no stream answering, connection lost).
pub(super) fn request_error(err: RequestError, size: usize, limit: usize) -> LogError {
    match err.kind() {
        RequestErrorKind::MaxPayloadExceeded => LogError::TooLarge { size, limit },
        RequestErrorKind::InvalidSubject => {
            LogError::Invalid(format!("publish refused: {}", lower(err)))
        }
        RequestErrorKind::TimedOut | RequestErrorKind::NoResponders => {
            lowercase_unavailable("publish outcome unknown", err)
        }
        RequestErrorKind::Other => lowercase_unavailable("publish failed", err),
    }
}

/// A refusal of the stream (any but 10071, which the caller handles).
pub(super) fn api_failure(api: &jetstream::Error, size: usize, limit: usize) -> LogError {
    let text = lower(api);
    match api.error_code() {
        ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM | ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM => {
            LogError::TooLarge { size, limit }
        }
        ErrorCode::STORAGE_RESOURCES_EXCEEDED
        | ErrorCode::MEMORY_RESOURCES_EXCEEDED
        | ErrorCode::ACCOUNT_RESOURCES_EXCEEDED
        | ErrorCode::INSUFFICIENT_RESOURCES
        | ErrorCode::STREAM_MAX_STREAM_BYTES_EXCEEDED => LogError::Full,
        STREAM_STORE_FAILED if text.contains("maximum") && text.contains("exceeded") => {
            LogError::Full
        }
        ErrorCode::STREAM_NOT_FOUND
        | ErrorCode::STREAM_OFFLINE
        | ErrorCode::STREAM_OFFLINE_REASON => LogError::Unavailable(text),
        // An earlier attempt with this message id is still being stored (a retry during a
        // leader change): its outcome is unknown yet, and a retry with the same id answers it
        // (the duplicate's ack, or an append if that attempt was lost).
        ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT => {
            LogError::Unavailable(format!("publish outcome unknown: {text}"))
        }
        _ => LogError::Storage(format!("the stream refused the message: {text}")),
    }
}

pub(super) fn direct_not_found(err: &DirectGetError) -> bool {
    err.kind() == DirectGetErrorKind::NotFound
}

pub(super) fn direct_get_error(err: DirectGetError) -> LogError {
    match err.kind() {
        DirectGetErrorKind::InvalidSubject => {
            LogError::Invalid(format!("direct get: {}", lower(err)))
        }
        _ => lowercase_unavailable("direct get failed", err),
    }
}

pub(super) fn raw_not_found(err: &RawMessageError) -> bool {
    err.kind() == RawMessageErrorKind::NoMessageFound
}

pub(super) fn raw_get_error(err: RawMessageError) -> LogError {
    match err.kind() {
        RawMessageErrorKind::InvalidSubject => {
            LogError::Invalid(format!("message get: {}", lower(err)))
        }
        _ => lowercase_unavailable("message get failed", err),
    }
}

/// The server answered that there is no such stream.
pub(super) fn stream_not_found(err: &GetStreamError) -> bool {
    matches!(err.kind(), GetStreamErrorKind::JetStream(api)
        if api.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::{api_failure, lower};
    use crate::log::LogError;

    fn refusal(code: u64, description: &str) -> async_nats::jetstream::Error {
        serde_json::from_value(serde_json::json!({
            "code": 409, "err_code": code, "description": description
        }))
        .expect("an API error")
    }

    /// Seen on a 3-node cluster while a leader changed under pipelined appends: the retry of an
    /// append whose first attempt was still being replicated was refused with 10158, and taken
    /// for a final refusal the append was lost to its caller.
    #[test]
    fn a_message_id_still_in_process_is_an_unknown_outcome_to_retry() {
        let answer = api_failure(
            &refusal(10158, "duplicate message id is in process"),
            10,
            100,
        );
        assert!(
            matches!(&answer, LogError::Unavailable(why) if why.contains("outcome unknown")),
            "{answer:?}"
        );
        let other = api_failure(&refusal(10999, "something else"), 10, 100);
        assert!(matches!(other, LogError::Storage(_)), "{other:?}");
    }

    #[test]
    fn lowers_the_first_letter_only() {
        assert_eq!(lower("Timed out: NATS"), "timed out: NATS");
        assert_eq!(lower(""), "");
    }
}
