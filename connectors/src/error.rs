//! Why a webhook was refused. A leaf: it uses nothing of the crate.
//!
//! The gateway answers [`WebhookError::Unauthenticated`] with 401, [`WebhookError::Forbidden`]
//! with 403 and [`WebhookError::Malformed`] with 400; none of them stores anything.

/// A webhook that is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The request carries no proof of where it came from (a missing header or field).
    #[error("missing {0}")]
    Unauthenticated(&'static str),
    /// The proof is there and wrong (a bad secret or signature, another group).
    #[error("wrong {0}")]
    Forbidden(&'static str),
    /// The body is not a payload of this provider; the reason names what was wrong.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

impl WebhookError {
    pub(crate) fn json(error: serde_json::Error) -> Self {
        WebhookError::Malformed(error.to_string())
    }
}
