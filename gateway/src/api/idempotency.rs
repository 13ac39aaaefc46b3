//! `Idempotency-Key`: a retried command answers as the first did and appends nothing. The key
//! (with the caller, so that two callers' keys never meet) becomes the command's id, which is
//! the log message id of its events: the log's deduplication answers a retry with the first
//! append's sequence. Ids the command makes (a message's, a note's, a task's) are derived from
//! the command id too, so a retry decides the very same events.

use super::AppError;
use super::caller::Principal;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";
/// Longest key accepted, in bytes.
pub const MAX_KEY: usize = 255;

/// The command id of this request: from its `Idempotency-Key`, or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandId(pub Uuid);

impl CommandId {
    /// A further id derived from the command's (the `n`th id the command makes).
    pub fn derived(self, n: u8) -> Uuid {
        if n == 0 {
            return self.0;
        }
        let mut hasher = Sha256::new();
        hasher.update(self.0.as_bytes());
        hasher.update([n]);
        uuid_from(&hasher.finalize())
    }
}

fn uuid_from(digest: &[u8]) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl<S: Send + Sync> FromRequestParts<S> for CommandId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(CommandId(Uuid::now_v7()));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|key| !key.is_empty() && key.len() <= MAX_KEY)
            .ok_or_else(|| {
                AppError::bad_request(
                    "Idempotency-Key",
                    format!("1 to {MAX_KEY} visible ASCII characters expected"),
                )
            })?;
        let caller = match parts.extensions.get::<Principal>() {
            Some(Principal::Operator {
                project, operator, ..
            }) => format!("{project}/{operator}"),
            Some(Principal::Root) => "root".to_owned(),
            None => String::new(),
        };
        let mut hasher = Sha256::new();
        hasher.update(b"switchboard idempotency v1\0");
        hasher.update(caller.as_bytes());
        hasher.update(b"\0");
        hasher.update(key.as_bytes());
        Ok(CommandId(uuid_from(&hasher.finalize())))
    }
}
