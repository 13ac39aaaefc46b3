//! `Idempotency-Key`: a retried command answers as the first did and appends nothing. The key
//! (with the caller, so that two callers' keys never meet) becomes the command's id, which is
//! the log message id of its events: the log's deduplication answers a retry with the first
//! append's sequence. Ids the command makes (a message's, a note's, a task's) are derived from
//! the command id too, so a retry decides the very same events.
//!
//! The log's deduplication alone does not make a retry answer as the first did: a retry is
//! decided again against the state the first one made (a second registration of the same
//! dialog is refused as existing, a second pin changes nothing). So [`replay`] also keeps the
//! answers of successful keyed requests for [`ANSWER_TTL`] (at most [`MAX_ANSWERS`] of them) and
//! answers a retry with the first answer. They are kept in this process: a retry that reaches
//! another node is still deduplicated by the log, but may be answered as a no-op or a refusal.

use super::AppError;
use super::caller::Principal;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lru::LruCache;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";
/// Longest key accepted, in bytes.
pub const MAX_KEY: usize = 255;

/// The command id of this request: from its `Idempotency-Key`, or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandId(pub Uuid);

impl CommandId {
    /// The metadata of this command run by `operator`.
    pub fn meta(
        self,
        operator: switchboard_schemas::OperatorId,
    ) -> switchboard_core::service::CommandMeta {
        switchboard_core::service::CommandMeta {
            command_id: self.0,
            actor: switchboard_schemas::Actor::Operator(operator),
            correlation_id: None,
        }
    }

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

    /// The command id of this bulk request's (or job's) command on one dialog: the same for
    /// every run of the bulk, so a repeat is the log's duplicate.
    pub fn for_dialog(self, dialog: switchboard_schemas::DialogId) -> CommandId {
        let mut hasher = Sha256::new();
        hasher.update(b"switchboard bulk v1\0");
        hasher.update(self.0.as_bytes());
        hasher.update(dialog.as_uuid().as_bytes());
        CommandId(uuid_from(&hasher.finalize()))
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

/// How long a keyed answer is replayed.
pub const ANSWER_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most keyed answers kept.
pub const MAX_ANSWERS: usize = 100_000;
/// Largest answer kept (command answers are a few dozen bytes).
const MAX_KEPT_BODY: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Kept {
    at: Instant,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

/// The answers of keyed requests, by caller, method, path and key.
#[derive(Debug, Clone)]
pub struct Answers(Arc<Mutex<LruCache<[u8; 32], Kept>>>);

impl Default for Answers {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(MAX_ANSWERS).unwrap_or(NonZeroUsize::MIN);
        Self(Arc::new(Mutex::new(LruCache::new(capacity))))
    }
}

fn slot(principal: Option<&Principal>, request: &Request, key: &HeaderValue) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match principal {
        Some(Principal::Operator {
            project, operator, ..
        }) => hasher.update(format!("{project}/{operator}")),
        Some(Principal::Root) => hasher.update("root"),
        None => hasher.update("anonymous"),
    }
    hasher.update(b"\0");
    hasher.update(request.method().as_str());
    hasher.update(b"\0");
    hasher.update(request.uri().path());
    hasher.update(b"\0");
    hasher.update(key.as_bytes());
    hasher.finalize().into()
}

/// Answers a retried keyed request with the first answer (see the module documentation).
pub async fn replay(
    axum::extract::State(answers): axum::extract::State<Answers>,
    request: Request,
    next: Next,
) -> Response {
    // Reads change nothing and are answered afresh: the key is for commands.
    let read = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let Some(key) = request.headers().get(HEADER).cloned().filter(|_| !read) else {
        return next.run(request).await;
    };
    let slot = slot(request.extensions().get::<Principal>(), &request, &key);
    let kept = answers.0.lock().get(&slot).cloned();
    if let Some(kept) = kept.filter(|k| k.at.elapsed() < ANSWER_TTL) {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = kept.content_type {
            headers.insert(axum::http::header::CONTENT_TYPE, content_type);
        }
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        return (kept.status, headers, Body::from(kept.body)).into_response();
    }
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The command has run: its answer goes out whatever its size; only one small enough is
    // kept (a larger one is not a command's `{"seq": N}`, and a retry runs again, deduplicated
    // by the log).
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "a keyed answer could not be read to keep");
            return AppError::Internal("the answer could not be read".to_owned()).into_response();
        }
    };
    if bytes.len() > MAX_KEPT_BODY {
        return Response::from_parts(parts, Body::from(bytes));
    }
    answers.0.lock().put(
        slot,
        Kept {
            at: Instant::now(),
            status: parts.status,
            content_type: parts.headers.get(axum::http::header::CONTENT_TYPE).cloned(),
            body: bytes.clone(),
        },
    );
    Response::from_parts(parts, Body::from(bytes))
}
