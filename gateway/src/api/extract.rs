//! Extractors that reject in the API's one error shape.

use super::AppError;
use axum::extract::FromRequestParts;
use axum::extract::rejection::QueryRejection;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchboard_schemas::DialogId;

/// `axum::extract::Query` whose rejection names the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(from_query_rejection(rejection)),
        }
    }
}

fn from_query_rejection(rejection: QueryRejection) -> AppError {
    let message = rejection.body_text();
    // "Failed to deserialize query string: limit: invalid digit found in string", or
    // "…: unknown field `x`, expected one of …".
    let detail = message
        .split_once("query string: ")
        .map_or(message.as_str(), |(_, rest)| rest);
    let field = if let Some(rest) = detail.strip_prefix("unknown field `") {
        rest.split_once('`').map(|(name, _)| name.to_owned())
    } else if let Some(rest) = detail.strip_prefix("missing field `") {
        rest.split_once('`').map(|(name, _)| name.to_owned())
    } else {
        detail
            .split_once(": ")
            .map(|(path, _)| path)
            .filter(|path| !path.is_empty() && !path.contains(' '))
            .map(str::to_owned)
    };
    AppError::BadRequest {
        code: "invalid_query",
        message: detail.to_owned(),
        field,
    }
}

/// A dialog id from a path segment, or a 400 naming `dialog`.
pub fn dialog_id(text: &str) -> Result<DialogId, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request("dialog", "a dialog id (a UUID) expected"))
}

/// A channel id from a path segment, or a 400 naming `channel`.
pub fn channel_id(text: &str) -> Result<switchboard_schemas::ChannelId, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request("channel", "a channel id (a UUID) expected"))
}

/// A page size: `default` when absent, else 1..=`max` or a 400 naming `limit`.
pub fn page_limit(given: Option<usize>, default: usize, max: usize) -> Result<usize, AppError> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::bad_request(
            "limit",
            format!("1 to {max} per page"),
        ))
    }
}

/// The request body as sent (a webhook's signature covers these bytes), at most
/// [`super::MAX_BODY`]; a longer or broken one is a 413 in the API's shape.
#[derive(Debug, Clone)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, AppError> {
        axum::body::to_bytes(request.into_body(), super::MAX_BODY)
            .await
            .map(RawBody)
            .map_err(|_| {
                AppError::TooLarge(format!(
                    "the body is over {} bytes or was cut off",
                    super::MAX_BODY
                ))
            })
    }
}
