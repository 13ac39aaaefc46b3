//! A connector's own state, one SQLite file per channel: what it must remember between runs and
//! that is not an event (a mailbox cursor, the dialog of a mail thread).
//!
//! - `value`: named JSON values (`imap.cursor`: the [`crate::email::imap::ImapCursor`]), each
//!   replaced in one transaction: a reader after a crash sees the old value or the new one.
//! - `thread`: a mail's Message-ID → the dialog it is in and our id of the message, written for
//!   each mail received and, by the outbound side, for each mail we sent
//!   ([`ConnectorState::remember_thread`] with our own Message-ID): a reply names one of them in
//!   In-Reply-To / References and lands in that dialog.
//!
//! Why a file of the connector's and not a read model: the threading lookup must answer for a
//! mail recorded a moment ago (a reply can be in the same IMAP batch as its original), which a
//! projection that lags the log would not, and connectors depend on `core` only.
//!
//! The file is written with `synchronous=FULL`: the cursor is saved only after a batch's events
//! are stored, and must not go back after a power loss further than the log does. Calls run on
//! tokio's blocking pool.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use switchboard_schemas::{DialogId, MessageId};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("connector state {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("connector state {path}: the value {key} is not what this version reads: {source}")]
    Value {
        path: PathBuf,
        key: String,
        source: serde_json::Error,
    },
    #[error("connector state: a blocking task failed: {0}")]
    Task(String),
}

/// One channel's state file.
#[derive(Debug, Clone)]
pub struct ConnectorState {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Connection>>,
}

/// The dialog a Message-ID belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadEntry {
    pub dialog: DialogId,
    pub message: MessageId,
}

impl ConnectorState {
    /// Opens (creating) the state file at `path`.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StateError> {
        let path: PathBuf = path.into();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_conn(&opened))
            .await
            .map_err(|e| StateError::Task(e.to_string()))?
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path: Arc::new(path),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StateError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|e| StateError::Task(e.to_string()))?
        .map_err(|source| StateError::Sqlite {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The value stored under `key`, if any.
    pub async fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        let owned = key.to_owned();
        let text: Option<String> = self
            .with(move |conn| {
                conn.query_row("SELECT json FROM value WHERE key = ?1", [owned], |row| {
                    row.get(0)
                })
                .optional()
            })
            .await?;
        text.map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|source| StateError::Value {
                path: self.path.to_path_buf(),
                key: key.to_owned(),
                source,
            })
    }

    /// Replaces the value under `key`.
    pub async fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let text = serde_json::to_string(value).map_err(|source| StateError::Value {
            path: self.path.to_path_buf(),
            key: key.to_owned(),
            source,
        })?;
        let key = key.to_owned();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO value (key, json) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET json = excluded.json",
                params![key, text],
            )
            .map(drop)
        })
        .await
    }

    /// Remembers that the mail `message_id` (without angle brackets) is in `entry.dialog`.
    pub async fn remember_thread(
        &self,
        message_id: &str,
        entry: ThreadEntry,
    ) -> Result<(), StateError> {
        let message_id = message_id.to_owned();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO thread (message_id, dialog, message) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (message_id) DO NOTHING",
                params![
                    message_id,
                    entry.dialog.as_uuid().as_bytes().as_slice(),
                    entry.message.as_uuid().as_bytes().as_slice()
                ],
            )
            .map(drop)
        })
        .await
    }

    /// The entry of the first of `keys` (most relevant first) that is known.
    pub async fn find_thread(&self, keys: &[&str]) -> Result<Option<ThreadEntry>, StateError> {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        self.with(move |conn| {
            let mut statement =
                conn.prepare_cached("SELECT dialog, message FROM thread WHERE message_id = ?1")?;
            for key in keys {
                let found = statement
                    .query_row([key], |row| {
                        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
                    })
                    .optional()?;
                if let Some((dialog, message)) = found
                    && let (Ok(dialog), Ok(message)) =
                        (Uuid::from_slice(&dialog), Uuid::from_slice(&message))
                {
                    return Ok(Some(ThreadEntry {
                        dialog: DialogId::from_uuid(dialog),
                        message: MessageId::from_uuid(message),
                    }));
                }
            }
            Ok(None)
        })
        .await
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS value (
             key TEXT PRIMARY KEY,
             json TEXT NOT NULL
         ) STRICT;
         CREATE TABLE IF NOT EXISTS thread (
             message_id TEXT PRIMARY KEY,
             dialog BLOB NOT NULL,
             message BLOB NOT NULL
         ) STRICT, WITHOUT ROWID;",
    )?;
    Ok(conn)
}
