//! The one error format of the HTTP API: `{"error":{"code":..,"message":..,"field":..}}`.
//!
//! 4xx answers say what was wrong and, where it applies, which field; 5xx answers say only that
//! the server failed and log the cause, so internals (paths, SQL, NATS errors) never reach a client.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::LogError;
use switchboard_core::domain::Refusal;
use switchboard_core::service::CommandError;
use switchboard_projections::ProjectionError;
use utoipa::ToSchema;

/// Everything a handler can fail with. Handlers return `Result<_, AppError>` and use `?`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or a field has a wrong value (400).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// No credentials, or credentials that are wrong, expired or revoked (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts (429); retry after this many seconds.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    /// No such route or resource (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The dialog's or project's state refuses the command (409): blocked, merged, exists.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The aggregate changed since the caller looked (409); re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// An uploaded file is larger than its limit (413, naming the field).
    #[error("{message}")]
    FileTooLarge { message: String, field: String },
    /// A `Range` no byte of the file answers (416 with `Content-Range: bytes */<size>`).
    #[error("no byte of the {size} bytes answers the range")]
    RangeNotSatisfiable { size: u64 },
    /// The read models have not yet applied the sequence the caller asked to see (503 with
    /// `Retry-After`).
    #[error("{0}")]
    Lagging(String),
    /// A dependency (the event log) cannot answer now (503); the cause is logged, not shown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or a storage failure (500); the cause is logged, not shown.
    #[error("internal: {0}")]
    Internal(String),
    /// An outside provider the request needs (a translation service) failed (502); the
    /// message, written to be safe to show (no secret), says how.
    #[error("{0}")]
    BadGateway(String),
}

impl AppError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code: "bad_request",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A `cursor` that is not one of this list's.
    pub fn invalid_cursor(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code: "invalid_cursor",
            message: message.into(),
            field: Some("cursor".to_owned()),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) | AppError::Refused { .. } => StatusCode::CONFLICT,
            AppError::TooLarge(_) | AppError::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            AppError::Unavailable(_) | AppError::Lagging(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Throttled { .. } => "throttled",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::Refused { code, .. } => code,
            AppError::TooLarge(_) | AppError::FileTooLarge { .. } => "too_large",
            AppError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            AppError::Lagging(_) => "lagging",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
            AppError::BadGateway(_) => "provider_failed",
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorAnswer {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
struct ErrorDetail {
    /// A stable machine-readable code: `bad_request`, `invalid_json`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `too_large`, `throttled`, `unavailable`,
    /// `internal`, …
    code: &'static str,
    /// What was wrong, for a human.
    message: String,
    /// The request field (a JSON path or a parameter name) that was wrong, where one was.
    field: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, field) = match &self {
            AppError::BadRequest { message, field, .. } => (message.clone(), field.clone()),
            AppError::Throttled { message, .. } | AppError::Refused { message, .. } => {
                (message.clone(), None)
            }
            AppError::Unauthorized(message)
            | AppError::Forbidden(message)
            | AppError::Lagging(message)
            | AppError::NotFound(message)
            | AppError::MethodNotAllowed(message)
            | AppError::Conflict(message)
            | AppError::TooLarge(message) => (message.clone(), None),
            AppError::BadGateway(message) => {
                tracing::warn!(%message, "answering 502");
                (message.clone(), None)
            }
            AppError::FileTooLarge { message, field } => (message.clone(), Some(field.clone())),
            AppError::RangeNotSatisfiable { .. } => (self.to_string(), Some("Range".to_owned())),
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "answering 503");
                ("the service is unavailable, retry later".to_owned(), None)
            }
            AppError::Internal(cause) => {
                tracing::error!(%cause, "answering 500");
                ("internal server error".to_owned(), None)
            }
        };
        let body = ErrorAnswer {
            error: ErrorDetail {
                code: self.code(),
                message,
                field,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            AppError::Throttled {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            AppError::Lagging(_) | AppError::Unavailable(_) => Some(1),
            _ => None,
        };
        if let AppError::RangeNotSatisfiable { size } = self
            && let Ok(value) = format!("bytes */{size}").parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, value);
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<LogError> for AppError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Conflict { .. } => AppError::Conflict(
                "the dialog changed meanwhile; reload it and try again".to_owned(),
            ),
            LogError::TooLarge { size, limit } => AppError::TooLarge(format!(
                "the message of {size} bytes exceeds the limit of {limit} bytes"
            )),
            LogError::Invalid(message) => AppError::BadRequest {
                code: "invalid",
                message,
                field: None,
            },
            LogError::Full | LogError::Unavailable(_) => AppError::Unavailable(error.to_string()),
            LogError::Storage(_) | LogError::Setup(_) | LogError::Unreadable(_) => {
                AppError::Internal(error.to_string())
            }
        }
    }
}

/// A read model's failure: a query that waited too long is `Lagging`, a model that stopped is
/// `Unavailable` (a new generation replaces it), everything else is a 500.
impl From<super::bulk::store::StoreError> for AppError {
    fn from(error: super::bulk::store::StoreError) -> Self {
        AppError::Unavailable(error.to_string())
    }
}

impl From<ProjectionError> for AppError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Timeout { .. } => AppError::Lagging(
                "the read models have not caught up within the wait; retry".to_owned(),
            ),
            ProjectionError::Stopped { .. }
            | ProjectionError::OtherLog { .. }
            | ProjectionError::Log(_) => AppError::Unavailable(error.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// A command's failure, classified once: refusals by their kind (missing 404, forbidden 403,
/// invalid 400 naming the field, a state that forbids it 409), contention and an unavailable
/// log 503, the rest 500.
impl From<CommandError> for AppError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused(refusal) => refused(refusal),
            CommandError::Contention { .. } => AppError::Unavailable(error.to_string()),
            CommandError::Log(log) => log.into(),
            CommandError::Corrupt { .. } | CommandError::Internal(_) => {
                AppError::Internal(error.to_string())
            }
        }
    }
}

fn refused(refusal: Refusal) -> AppError {
    let message = refusal.to_string();
    let field = refusal.field().map(str::to_owned);
    match refusal {
        Refusal::NoSuchDialog | Refusal::NoSuchProject | Refusal::Deleted => {
            AppError::NotFound(message)
        }
        Refusal::Forbidden(_) => AppError::Forbidden(message),
        Refusal::Invalid { .. } | Refusal::Unknown { .. } | Refusal::ChannelUnavailable(_) => {
            AppError::BadRequest {
                code: "invalid",
                message,
                field,
            }
        }
        Refusal::DialogExists
        | Refusal::ProjectExists
        | Refusal::MergedInto(_)
        | Refusal::Blocked
        | Refusal::AlreadyExists { .. }
        | Refusal::IdentityClaimed(_) => AppError::Refused {
            code: refusal_code(&refusal),
            message,
        },
    }
}

fn refusal_code(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::DialogExists | Refusal::ProjectExists | Refusal::AlreadyExists { .. } => {
            "already_exists"
        }
        Refusal::MergedInto(_) => "merged",
        Refusal::Blocked => "blocked",
        Refusal::IdentityClaimed(_) => "identity_claimed",
        _ => "refused",
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::TooLarge(format!(
                "the body is larger than {} bytes",
                super::MAX_BODY
            ));
        }
        let (code, status_is_type) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => ("unsupported_media_type", true),
            _ => ("invalid_json", false),
        };
        let message = rejection.body_text();
        AppError::BadRequest {
            code,
            // serde's messages name the field path (e.g. "text: invalid type ..."); the part before
            // the first ':' is the field when the error came from a known field.
            field: (!status_is_type).then(|| field_of(&message)).flatten(),
            message,
        }
    }
}

/// The field path serde_path_to_error put in front of a data error, if any.
fn field_of(message: &str) -> Option<String> {
    // "Failed to deserialize the JSON body into the target type: text: invalid type ..."
    let rest = message.split_once("target type: ")?.1;
    if let Some(missing) = rest.strip_prefix("missing field `") {
        return missing.split_once('`').map(|(name, _)| name.to_owned());
    }
    let (path, _) = rest.split_once(": ")?;
    (!path.is_empty() && path != "." && !path.contains(' ')).then(|| path.to_owned())
}

/// `axum::Json` whose rejection answers in the API's error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Json(value))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body as HttpBody;
    use axum::routing::post;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    struct Note {
        #[allow(dead_code)]
        text: String,
    }

    async fn error_of(request: axum::http::Request<HttpBody>) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/notes", post(|Json(_): Json<Note>| async { "ok" }));
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn post_json(body: &'static str) -> axum::http::Request<HttpBody> {
        axum::http::Request::post("/notes")
            .header("content-type", "application/json")
            .body(HttpBody::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn a_wrongly_typed_field_is_named() {
        let (status, body) = error_of(post_json(r#"{"text": 5}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_json");
        assert_eq!(body["error"]["field"], "text");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("invalid type")
        );

        let (status, body) = error_of(post_json(r#"{}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "text");
    }

    #[tokio::test]
    async fn broken_json_and_a_missing_content_type_are_400_in_the_same_format() {
        let (status, body) = error_of(post_json("{")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_json");
        assert!(body["error"]["field"].is_null());

        let request = axum::http::Request::post("/notes")
            .body(HttpBody::from(r#"{"text":"hi"}"#))
            .unwrap();
        let (status, body) = error_of(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }

    #[tokio::test]
    async fn server_errors_hide_their_cause() {
        let response = AppError::from(LogError::Storage("disk I/O error at /secret/path".into()))
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], "internal");
    }
}
