//! What a provider's error means: rate limited (and for how long), the client blocked us, out
//! of the reply window, too large, no rights, another permanent error, or a transient one worth
//! a retry. Each provider's module reads its own error answers into a [`ProviderError`]; the
//! outbound worker retries what [`ErrorClass::retryable`] says and records the rest as
//! `MarkFailed` with [`ProviderError::failure`].

use crate::inbound::{Failure, truncate_chars};
use switchboard_schemas::FailureReason;

/// How an error is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Too many requests: try again after `retry_after_secs` when the provider names it.
    RateLimited { retry_after_secs: Option<u32> },
    /// The client blocked the bot, left, or does not take messages from us.
    Blocked,
    /// Outside the channel's reply window (WhatsApp's 24 hours): only a template may go.
    OutsideWindow,
    /// The message or a file is over the channel's limits.
    TooLarge,
    /// Our credentials or rights do not allow it (a revoked token, a locked account).
    NoRights,
    /// Any other refusal that a retry would not change.
    Permanent,
    /// The provider failed; the same request may work later.
    Transient,
}

impl ErrorClass {
    /// Whether the same request may be sent again.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::RateLimited { .. } | ErrorClass::Transient)
    }

    /// The reason a failed message shows (F3.6).
    pub fn reason(self) -> FailureReason {
        match self {
            ErrorClass::RateLimited { .. } => FailureReason::RateLimited,
            ErrorClass::Blocked => FailureReason::BlockedByClient,
            ErrorClass::OutsideWindow => FailureReason::OutsideWindow,
            ErrorClass::TooLarge => FailureReason::TooLarge,
            ErrorClass::NoRights => FailureReason::NoRights,
            ErrorClass::Permanent | ErrorClass::Transient => FailureReason::ChannelError,
        }
    }
}

/// A provider's error answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub class: ErrorClass,
    /// The provider's own code (Telegram's `error_code`, WhatsApp's and VK's `code`).
    pub code: i64,
    /// The provider's own words.
    pub detail: String,
}

/// Longest detail kept from a provider's answer.
const DETAIL_MAX: usize = 500;

impl ProviderError {
    pub(crate) fn new(class: ErrorClass, code: i64, detail: &str) -> Self {
        Self {
            class,
            code,
            detail: truncate_chars(detail.trim(), DETAIL_MAX),
        }
    }

    /// What `MarkFailed` records.
    pub fn failure(&self) -> Failure {
        Failure {
            reason: self.class.reason(),
            detail: format!("{}: {}", self.code, self.detail),
            retry_after_secs: match self.class {
                ErrorClass::RateLimited { retry_after_secs } => retry_after_secs,
                _ => None,
            },
        }
    }
}

/// WhatsApp Cloud API error codes (Meta's error-code reference), in statuses and in answers.
pub fn whatsapp_class(code: i64) -> ErrorClass {
    match code {
        // Throughput, pair rate and spam rate limits; API call limits.
        130429 | 131056 | 131048 | 4 | 80007 | 130472 => ErrorClass::RateLimited {
            retry_after_secs: None,
        },
        // Re-engagement: more than 24 hours since the client last wrote.
        131047 | 470 => ErrorClass::OutsideWindow,
        // Undeliverable (the user cannot or will not receive), marketing opt-out.
        131026 | 131050 => ErrorClass::Blocked,
        // Access token, permissions, account locked or restricted for policy.
        0 | 3 | 10 | 190 | 200..=299 | 368 | 131031 => ErrorClass::NoRights,
        // Unknown, service unavailable, something went wrong, media download or upload.
        1 | 2 | 131000 | 131016 | 131052 | 131053 | 133004 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}
