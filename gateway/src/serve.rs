//! `switchboard serve`: the HTTP API on one socket until Ctrl-C or SIGTERM.

use crate::api::{AppState, app};
use crate::backend::LogLocation;
use crate::credentials::{
    CredentialError, CredentialOptions, CredentialStore, KvOptions, RootTokenOrigin, sqlite,
};
use std::future::Future;
use std::io;
use std::io::{IsTerminal, Write};
use std::path::Path;
use tokio::net::TcpListener;

/// Serve the API on `listener` until `shutdown` completes, then finish the requests in flight
/// (live streams end at once: [`AppState::stopping`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.stop();
    };
    // The peer address reaches handlers (sign-in throttling per client address).
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what systemd and container runtimes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Opens the credential store `serve` uses: a SQLite file in the data directory beside the
/// embedded log, or a key-value bucket on the JetStream server (created with `replicas`), with
/// the root token and the secret key from the environment or the data directory. A root token
/// generated now is shown once on a terminal; elsewhere (a service manager whose output goes
/// to the logs) only where it is: [`RootNotice::print`], after the `listening` line.
pub async fn open_credentials(
    data: &Path,
    location: &LogLocation,
    replicas: usize,
) -> Result<(CredentialStore, RootNotice), CredentialError> {
    let (options, root, _key) = CredentialOptions::from_environment(data)?;
    let store = match location {
        LogLocation::Embedded { .. } => {
            CredentialStore::open_sqlite(&data.join(sqlite::CREDENTIALS_FILE), options).await?
        }
        LogLocation::JetStream { url } => {
            let client = async_nats::connect(url.as_str())
                .await
                .map_err(|e| CredentialError::Storage(format!("cannot connect to {url}: {e}")))?;
            let kv = KvOptions {
                replicas,
                ..KvOptions::default()
            };
            CredentialStore::open_kv(client, kv, options).await?
        }
    };
    Ok((store, RootNotice(root)))
}

/// Opens the bulk job store `serve` uses: a SQLite file in the data directory beside the
/// embedded log, or a key-value bucket on the JetStream server every node shares.
pub async fn open_jobs(
    data: &Path,
    location: &LogLocation,
    replicas: usize,
) -> Result<crate::api::bulk::store::JobStore, crate::api::bulk::store::StoreError> {
    use crate::api::bulk::store::{JOBS_FILE, JobStore, StoreError};
    match location {
        LogLocation::Embedded { .. } => JobStore::open_sqlite(&data.join(JOBS_FILE)),
        LogLocation::JetStream { url } => {
            let client = async_nats::connect(url.as_str())
                .await
                .map_err(|e| StoreError(format!("cannot connect to {url}: {e}")))?;
            JobStore::open_kv(client, replicas).await
        }
    }
}

/// What `serve` says about the root token once it listens.
#[derive(Debug)]
pub struct RootNotice(RootTokenOrigin);

impl RootNotice {
    /// Prints a root token generated at this start: the token itself only on a terminal.
    pub fn print(self) {
        let RootTokenOrigin::Generated { path, token } = self.0 else {
            return;
        };
        let mut out = io::stdout().lock();
        let shown = if out.is_terminal() {
            format!(
                "root token (shown once; kept in {}, mode 0600): {}",
                path.display(),
                token.expose()
            )
        } else {
            format!("root token generated into {} (mode 0600)", path.display())
        };
        let _ = writeln!(out, "{shown}").and_then(|()| out.flush());
    }
}

/// The delivery worker `serve` runs beside the API (issue 17): on the embedded log, one worker
/// resuming from its checkpoint in `<data>/delivery.sqlite`; with `--nats`, a worker of the
/// durable consumer `sb-delivery`, which every node's worker and every `delivery-worker`
/// process share, so each adds capacity and no message goes out twice. Channels are found in
/// the credential store through `channels`; the worker's sends are named to it, so delivery
/// statuses coming back by webhook find their message.
///
/// `log_end_at_open`: the log's end when `serve` opened it; a data directory that never ran
/// delivery (history generated or imported) is delivered from there, not retroactively.
pub async fn start_delivery(
    location: &LogLocation,
    data: &Path,
    commands: switchboard_core::service::CommandService<switchboard_core::AnyLog>,
    channels: &crate::channels::Channels,
    log_end_at_open: u64,
    attachments: switchboard_connectors::attachments::AttachmentStore,
) -> Result<switchboard_connectors::delivery::WorkerHandle, String> {
    use switchboard_connectors::delivery::{DeliveryOptions, DeliveryWorker, SharedConsumer};
    let mut options = DeliveryOptions::new(data.join(DELIVERY_STATE_FILE));
    options.attachments = Some(attachments);
    options.start_after = Some(log_end_at_open);
    // A channel connected without settings here (a generated history's, the demo's) is not
    // a channel this server can deliver to; its messages stay queued.
    options.leave_unknown_channels = true;
    let directory = channels.directory();
    let worker = match location {
        LogLocation::Embedded { .. } => DeliveryWorker::start(commands, directory, options).await,
        LogLocation::JetStream { url } => {
            let client = async_nats::connect(url.as_str())
                .await
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            let consumer = SharedConsumer::new(client);
            DeliveryWorker::start_shared(commands, directory, options, consumer).await
        }
    }
    .map_err(|e| e.to_string())?;
    channels.set_sent(std::sync::Arc::clone(&worker.sent));
    Ok(worker)
}

/// The delivery worker's own state file in the data directory.
pub const DELIVERY_STATE_FILE: &str = "delivery.sqlite";

/// The attachment store of `serve` (issue 17): the content-addressed directory
/// `<data>/attachments` beside the embedded log; with `--nats`, the JetStream object store
/// `switchboard-attachments` (created with `replicas` when missing) that every node sees.
pub async fn open_attachments(
    location: &LogLocation,
    data: &Path,
    replicas: usize,
) -> Result<switchboard_connectors::attachments::AttachmentStore, String> {
    use switchboard_connectors::attachments::{
        AttachmentStore, DirStore, NatsStore, NatsStoreOptions,
    };
    match location {
        LogLocation::Embedded { .. } => DirStore::open(data.join("attachments"))
            .await
            .map(AttachmentStore::Directory)
            .map_err(|e| e.to_string()),
        LogLocation::JetStream { url } => {
            let client = async_nats::connect(url.as_str())
                .await
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            let mut options = NatsStoreOptions::new(data.join("attachments-spool"));
            options.replicas = replicas;
            NatsStore::open(client, options)
                .await
                .map(AttachmentStore::ObjectStore)
                .map_err(|e| e.to_string())
        }
    }
}
