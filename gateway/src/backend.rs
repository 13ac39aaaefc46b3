//! Opening the event log the command line points at: the embedded SQLite file under a data
//! directory, or a JetStream stream on a NATS server.

use crate::cli::CliError;
use std::path::{Path, PathBuf};
use switchboard_core::AnyLog;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};

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

/// Whether a missing embedded log may be created (`serve`) or is an error (`events tail`, where
/// a mistyped `--data` should not silently show an empty log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfMissing {
    Create,
    Fail,
}

pub async fn open_log(location: &LogLocation, if_missing: IfMissing) -> Result<AnyLog, CliError> {
    match location {
        LogLocation::Embedded { data_dir } => {
            let path = data_dir.join(EMBEDDED_FILE);
            match if_missing {
                IfMissing::Create => {
                    std::fs::create_dir_all(data_dir).map_err(|error| CliError::DataDir {
                        path: data_dir.clone(),
                        error,
                    })?;
                }
                IfMissing::Fail if !path.is_file() => {
                    return Err(CliError::NoLog { path });
                }
                IfMissing::Fail => {}
            }
            let log = EmbeddedLog::open(&path, EmbeddedOptions::default())
                .map_err(|error| CliError::OpenLog { path, error })?;
            Ok(AnyLog::Embedded(log))
        }
        LogLocation::JetStream { url } => {
            let log = JetStreamLog::connect(url, JetStreamOptions::default())
                .await
                .map_err(|error| CliError::Connect {
                    url: url.clone(),
                    error,
                })?;
            Ok(AnyLog::JetStream(log))
        }
    }
}
