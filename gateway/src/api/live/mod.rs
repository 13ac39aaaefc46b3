//! `GET /v1/live` (F10, issue 16): Server-Sent Events of what the caller may see, fed by the
//! live hub ([`crate::live`]).
//!
//! Each event's `id` is the log sequence it reflects; a reconnect with `Last-Event-ID` (or the
//! query's `last_event_id`) goes on after it, losing and repeating nothing: one sequence is at
//! most one event of a stream (a dialog's row and its new messages travel together). A caller
//! further behind than the hub's ring gets one `reset` and reloads. Events:
//!
//! - `row` ([`LiveRow`]): a dialog the caller sees changed: its row as `GET /v1/dialogs/{id}`
//!   answers it, with the caller's read state and draft;
//! - `message` ([`LiveMessage`]): the same, with the client's new messages (text and the
//!   push/sound switches of the dialog's folders, F10.1);
//! - `remove` ([`LiveRemove`]): a dialog the caller saw and no longer sees (reassigned away,
//!   deleted, merged);
//! - `counters` ([`Counters`], as `GET /v1/counters`): at most every 250 ms after something the
//!   caller sees changed, and at the start (its id says where the stream is);
//! - `reset` ([`LiveMark`]): reload everything, then go on from this id (too far behind, or the
//!   caller's role changed);
//! - `heartbeat` ([`LiveMark`]): after 15 s without another event, with the stream's position;
//! - `job` ([`JobView`]): the progress of a bulk job the caller started, each time the node
//!   running it (this one) saves it; its `id` is the stream's position, like `counters`'.
//!
//! The stream ends when the caller is removed from the project, or their credentials are
//! revoked. Headers: `text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`.
//! A reader that does not read holds only its position: the hub never buffers for it.
//!
//! Submodules: `stream` (one caller's stream).

mod stream;

use super::bulk::JobView;
use super::caller::{Operator, Principal};
use super::counters::Counters;
use super::dialogs::row::DialogItem;
use super::extract::Query;
use super::{AppError, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// Go on after this event id (what `Last-Event-ID` says; the header wins).
    pub last_event_id: Option<String>,
}

/// A dialog the caller sees changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveRow {
    pub seq: u64,
    pub row: DialogItem,
    /// The dialog's timeline changed where its row shows nothing (a delivery status, an edit,
    /// a reaction): an open conversation reads it again.
    pub timeline: bool,
}

/// A dialog the caller sees got new client messages (F10.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveMessage {
    pub seq: u64,
    pub row: DialogItem,
    /// In log order.
    pub messages: Vec<Notification>,
    /// The custom folders the dialog is in, with their notification switches (F1.5).
    pub folders: Vec<NotifyFolder>,
}

/// One new client message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    /// The log sequence that recorded it.
    pub seq: u64,
    #[schema(value_type = uuid::Uuid)]
    pub message: String,
    #[schema(value_type = uuid::Uuid)]
    pub channel: String,
    /// The text, at most 500 characters.
    pub text: String,
    /// The text was longer.
    pub truncated: bool,
    pub attachments: u32,
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: switchboard_schemas::Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotifyFolder {
    #[schema(value_type = uuid::Uuid)]
    pub folder: String,
    pub name: String,
    pub push: bool,
    pub sound: bool,
}

/// A dialog the caller saw and no longer sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveRemove {
    pub seq: u64,
    #[schema(value_type = uuid::Uuid)]
    pub dialog: String,
    pub reason: RemoveReason,
    /// The survivor, for `merged`.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoveReason {
    /// Assigned to another operator (F12.1).
    Reassigned,
    Deleted,
    Merged,
}

/// `reset` and `heartbeat`: where the stream is.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveMark {
    pub seq: u64,
}

/// The data of each event type (documentation: the SSE `event` field says which one comes).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LiveEvent {
    Row(LiveRow),
    Message(LiveMessage),
    Remove(LiveRemove),
    Counters(Counters),
    Reset(LiveMark),
    Heartbeat(LiveMark),
    Job(JobView),
}

/// The caller's live stream (Server-Sent Events).
#[utoipa::path(
    get,
    path = "/v1/live",
    tag = "live",
    params(
        LiveParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Go on after this event id"),
    ),
    responses(
        (status = OK, content_type = "text/event-stream", body = LiveEvent,
         description = "Server-Sent Events; `event` names the type: `row` (LiveRow), `message` \
                        (LiveMessage), `remove` (LiveRemove), `counters` (Counters), `reset` \
                        and `heartbeat` (LiveMark), `job` (JobView). Each `id` is a log sequence to resume after."),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn live(
    State(state): State<AppState>,
    Operator(caller): Operator,
    headers: HeaderMap,
    Query(params): Query<LiveParams>,
) -> Result<Response, AppError> {
    let header = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("?").to_owned());
    let from = match header.or(params.last_event_id) {
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            AppError::bad_request("last_event_id", "an event id (a log sequence) expected")
        })?),
        None => None,
    };
    let (Some(hub), Some(models)) = (state.live.clone(), state.read_models.clone()) else {
        return Err(AppError::Unavailable(
            "the live hub is not running".to_owned(),
        ));
    };
    // The stream ends when the caller's credentials are revoked or the server stops.
    let revoked = state
        .credentials
        .clone()
        .map(|store| revocation(store, &headers, caller));
    let stopping = state.stopping.clone();
    let ends = async move {
        let revoked = async {
            match revoked {
                Some(revoked) => revoked.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = revoked => {}
            () = stopping.stopped() => {}
        }
    }
    .boxed();
    let events = stream::start(stream::Setup {
        hub,
        models,
        log: state.log.clone(),
        caller,
        from,
        ends,
        jobs: state.jobs.as_ref().map(super::bulk::run::Jobs::subscribe),
    })
    .await;
    let mut response = axum::response::sse::Sse::new(events).into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// How often a stream checks that its caller's credentials still hold (sign-out,
/// deactivation).
const CHECK_CREDENTIALS: std::time::Duration = std::time::Duration::from_secs(1);

/// Completes once the credentials the stream was opened with no longer authenticate its
/// caller: checked every [`CHECK_CREDENTIALS`] through the store's cache, which a revocation
/// on any node clears. A store that does not answer is not a revocation.
fn revocation(
    store: crate::credentials::CredentialStore,
    headers: &HeaderMap,
    caller: switchboard_projections::query::QueryCaller,
) -> futures::future::BoxFuture<'static, ()> {
    // Only what authenticates: a stream keeps no other header. Copied: a header's value is a
    // slice of the buffer the request was read into, which a clone would keep for as long as
    // the stream lasts (8 KB or more an idle stream).
    let mut kept = HeaderMap::new();
    for name in [
        axum::http::header::AUTHORIZATION,
        axum::http::header::COOKIE,
    ] {
        for value in headers.get_all(&name) {
            if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
                kept.append(name.clone(), copy);
            }
        }
    }
    Box::pin(async move {
        let mut every = tokio::time::interval(CHECK_CREDENTIALS);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // Boxed for the time of one check: the resolution's future (a store read, on a
            // cache miss) is 2.8 KB in a debug build, which an idle stream held between checks.
            let resolved = Box::pin(super::auth::resolve(
                &store,
                &axum::http::Method::GET,
                &kept,
            ));
            match resolved.await {
                Ok(Some((Principal::Operator { operator, .. }, _, _)))
                    if operator == caller.operator => {}
                Err(super::auth::AuthFailure::Unavailable(_)) => {}
                _ => return,
            }
        }
    })
}
