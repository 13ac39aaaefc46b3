//! The HTTP API: JSON under `/v1`. [`app`] builds the whole router from an [`AppState`], apart
//! from any socket, so tests drive it with `tower::ServiceExt::oneshot`.
//!
//! One route table ([`routes::table`]) gives the router and the OpenAPI document
//! ([`openapi`]); a route cannot be served without being described.

pub mod accounts;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod caller;
pub mod channels;
pub mod commands;
pub mod consistency;
pub mod counters;
pub mod dialogs;
mod error;
pub mod export;
pub mod extract;
mod health;
pub mod idempotency;
pub mod language;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod project;
mod routes;
pub mod search;
pub mod webhooks;

pub use error::{AppError, ErrorAnswer, Json};

use crate::credentials::CredentialStore;
use crate::readmodels::{Kind, ReadModels};
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::http::HeaderName;
use axum::http::{Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use std::sync::Arc;
use switchboard_core::AnyLog;
use switchboard_core::service::{CommandService, ServiceOptions};
use switchboard_projections::runtime::Readers;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// What every handler may use. Cheap to clone (everything inside is shared).
#[derive(Clone, Debug)]
pub struct AppState {
    pub log: AnyLog,
    /// Runs commands against the log (decide, append, with its cache of aggregates).
    pub commands: CommandService<AnyLog>,
    /// The live read models (none in tests of the bare API).
    pub read_models: Option<Arc<ReadModels<AnyLog>>>,
    /// What `GET /v1/live` streams are fed from (started with the read models).
    pub live: Option<crate::live::LiveHub>,
    /// Accounts, sessions and tokens (none: every caller is anonymous).
    pub credentials: Option<CredentialStore>,
    /// The first answers of keyed requests, replayed to their retries.
    pub answers: idempotency::Answers,
    /// Bulk jobs (none: bulk actions too large to run in the request answer 503).
    pub jobs: Option<bulk::run::Jobs>,
    /// Says when the server stops: what would keep a connection open for ever (a live
    /// stream) ends then, so that a graceful shutdown does not wait for it.
    pub stopping: Stopping,
    /// Connected channels' settings and health (none: channel routes answer 503).
    pub channels: Option<crate::channels::Channels>,
    /// Where uploaded and received files are (none: file routes answer 503).
    pub attachments: Option<switchboard_connectors::attachments::AttachmentStore>,
    /// F3.8's providers (set per project in the credential store) and its translations cache.
    pub language: crate::language::LanguageTools,
}

/// The server's stop, as every request's task can see it.
#[derive(Debug, Clone)]
pub struct Stopping(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stopping {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Stopping {
    /// The server stops: every [`Self::stopped`] completes.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Completes once the server stops.
    pub async fn stopped(&self) {
        let mut receiver = self.0.subscribe();
        // An error: the sender is gone, so nothing can say the server stops any more.
        if receiver.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl AppState {
    pub fn new(log: AnyLog) -> Self {
        Self {
            commands: CommandService::new(log.clone(), ServiceOptions::default()),
            log,
            read_models: None,
            live: None,
            credentials: None,
            answers: idempotency::Answers::default(),
            jobs: None,
            stopping: Stopping::default(),
            channels: None,
            attachments: None,
            language: Default::default(),
        }
    }

    /// Runs bulk jobs kept in `store` (and goes on with the ones it holds).
    pub fn with_jobs(mut self, store: bulk::store::JobStore) -> Self {
        let jobs = bulk::run::Jobs::new(
            store,
            bulk::run::Runner {
                commands: self.commands.clone(),
                log: self.log.clone(),
            },
        );
        jobs.start();
        self.jobs = Some(jobs);
        self
    }

    pub fn with_channels(mut self, channels: crate::channels::Channels) -> Self {
        self.channels = Some(channels);
        self
    }

    pub fn with_attachments(
        mut self,
        store: switchboard_connectors::attachments::AttachmentStore,
    ) -> Self {
        self.attachments = Some(store);
        self
    }

    pub fn with_credentials(mut self, credentials: CredentialStore) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_read_models(mut self, models: Arc<ReadModels<AnyLog>>) -> Self {
        self.live = Some(crate::live::LiveHub::start(
            self.log.clone(),
            Arc::clone(&models),
            Default::default(),
        ));
        self.read_models = Some(models);
        self
    }

    /// The credential store; 503 when this server has none.
    pub fn credential_store(&self) -> Result<&CredentialStore, AppError> {
        self.credentials
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("no credential store".to_owned()))
    }

    /// The readers of a live SQLite read model; 503 while it has none (not started, or being
    /// replaced).
    pub fn readers(&self, kind: Kind) -> Result<Readers, AppError> {
        self.read_models
            .as_ref()
            .and_then(|models| models.readers(kind))
            .ok_or_else(|| {
                AppError::Unavailable(format!("the {} read model is not open", kind.name()))
            })
    }
}

/// The OpenAPI document of [`app`], without building a router's state.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes::table().into_openapi()
}

/// Largest request body (JSON commands and queries; files are uploaded apart).
pub const MAX_BODY: usize = 1 << 20;

/// The complete HTTP API: every layer in one place, outermost last.
pub fn app(state: AppState) -> Router {
    metrics::handle();
    let (router, openapi) = routes::table().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(Extension(openapi::Document::new(&openapi)))
        .layer(axum::middleware::from_fn_with_state(
            state.answers.clone(),
            idempotency::replay,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(metrics::record))
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(
            // One span per request, named by the matched route (not the raw path, which would
            // carry ids) so that logs group by endpoint, with the request id.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    route,
                    path = %request.uri().path(),
                    request_id = id,
                )
            }),
        )
        // A request id for every request (the caller's own `X-Request-Id` is kept), answered
        // back so that a client's report finds the server's log lines.
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// A path no route takes: the web inbox's (its files and client routes, [`crate::web`]), else
/// a 404 in the API's error shape.
async fn not_found(method: Method, uri: Uri, headers: axum::http::HeaderMap) -> Response {
    if let Some(page) = crate::web::answer(&method, uri.path(), &headers) {
        return page;
    }
    AppError::NotFound(format!("no route for {}", uri.path())).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
