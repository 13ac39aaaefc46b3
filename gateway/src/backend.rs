//! Opening the event log the command line points at: the embedded SQLite file under a data
//! directory, or a JetStream stream on a NATS server. A leaf module: the command line
//! (`cli`) wraps its [`OpenError`], this module knows nothing of the commands.

use std::path::{Path, PathBuf};
use switchboard_core::log::LogLimits;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions, StreamSetup};
use switchboard_core::{AnyLog, LogError};

/// The file of the embedded log inside a data directory.
pub const EMBEDDED_FILE: &str = "log.sqlite";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLocation {
    /// `<data_dir>/log.sqlite`.
    Embedded { data_dir: PathBuf },
    /// A NATS server URL, e.g. `nats://127.0.0.1:4222`.
    JetStream { url: String },
}

impl LogLocation {
    pub fn new(data_dir: &Path, nats: Option<&str>) -> Self {
        match nats {
            Some(url) => LogLocation::JetStream {
                url: url.to_owned(),
            },
            None => LogLocation::Embedded {
                data_dir: data_dir.to_owned(),
            },
        }
    }
}

/// What a command does with the log, which decides how it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogUse {
    /// `serve`: a missing embedded log is created; a missing JetStream stream is created with
    /// this many replicas, an existing one is checked and never changed.
    Serve { replicas: usize },
    /// The tools that only read (`events tail`, `verify`, `rebuild`): the log must exist (a
    /// mistyped `--data` should not silently show an empty log); the embedded file is opened
    /// read-only, the JetStream stream is only looked up.
    Read,
}

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {}: {error}", path.display())]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no event log at {} (wrong --data?)", path.display())]
    NoLog { path: PathBuf },
    #[error("cannot open the event log at {}: {error}", path.display())]
    OpenLog { path: PathBuf, error: LogError },
    #[error("cannot open the jetstream log at {url}: {error}")]
    Connect { url: String, error: LogError },
}

pub async fn open_log(location: &LogLocation, access: LogUse) -> Result<AnyLog, OpenError> {
    match location {
        LogLocation::Embedded { data_dir } => {
            let path = data_dir.join(EMBEDDED_FILE);
            let log = match access {
                LogUse::Serve { .. } => {
                    std::fs::create_dir_all(data_dir).map_err(|error| OpenError::DataDir {
                        path: data_dir.clone(),
                        error,
                    })?;
                    EmbeddedLog::open(&path, EmbeddedOptions::default())
                }
                LogUse::Read if !path.is_file() => return Err(OpenError::NoLog { path }),
                LogUse::Read => {
                    let opened = path.clone();
                    tokio::task::spawn_blocking(move || {
                        EmbeddedLog::open_read_only(&opened, LogLimits::default())
                    })
                    .await
                    .map_err(|e| LogError::Storage(format!("open task failed: {e}")))
                    .and_then(|opened| opened)
                }
            };
            let log = log.map_err(|error| OpenError::OpenLog { path, error })?;
            Ok(AnyLog::Embedded(log))
        }
        LogLocation::JetStream { url } => {
            let options = match access {
                LogUse::Serve { replicas } => JetStreamOptions {
                    replicas,
                    setup: StreamSetup::CreateIfMissing,
                    ..JetStreamOptions::default()
                },
                LogUse::Read => JetStreamOptions {
                    setup: StreamSetup::MustExist,
                    ..JetStreamOptions::default()
                },
            };
            let log =
                JetStreamLog::connect(url, options)
                    .await
                    .map_err(|error| OpenError::Connect {
                        url: url.clone(),
                        error,
                    })?;
            Ok(AnyLog::JetStream(log))
        }
    }
}

/// The JetStream key-value bucket `config.bucket`, created with `config` when missing (another
/// node may create it meanwhile: it is then looked up again). Errors say what failed.
pub async fn open_bucket(
    client: async_nats::Client,
    config: async_nats::jetstream::kv::Config,
) -> Result<async_nats::jetstream::kv::Store, String> {
    let jetstream = async_nats::jetstream::new(client);
    if let Ok(store) = jetstream.get_key_value(&config.bucket).await {
        return Ok(store);
    }
    let bucket = config.bucket.clone();
    match jetstream.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(e) => jetstream
            .get_key_value(&bucket)
            .await
            .map_err(|_| format!("cannot create the bucket {bucket}: {e}")),
    }
}
