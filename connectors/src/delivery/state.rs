//! The delivery worker's own SQLite file, beside the data: its checkpoint in the log (every
//! queued message at or before it has its outcome appended) and the messages whose send has
//! begun with how many of their calls went through. WAL with `synchronous=NORMAL`: a commit
//! survives the worker's crash (`kill -9`); the file is not the log, and losing its last commits
//! in a power cut only means reading a little more of the log again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use switchboard_schemas::MessageId;
use uuid::Uuid;

#[derive(Debug, Clone, thiserror::Error)]
#[error("delivery state {operation}: {reason}")]
pub struct StateError {
    operation: &'static str,
    reason: String,
}

fn err(operation: &'static str) -> impl Fn(rusqlite::Error) -> StateError {
    move |e| StateError {
        operation,
        reason: e.to_string(),
    }
}

#[derive(Clone)]
pub(crate) struct State {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl State {
    pub(crate) fn open(path: &Path) -> Result<Self, StateError> {
        let conn = rusqlite::Connection::open(path).map_err(err("open"))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1),
                 seq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS begun (message BLOB PRIMARY KEY,
                 pieces_sent INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .map_err(err("create"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| StateError {
            operation: "task",
            reason: e.to_string(),
        })?
    }

    pub(crate) async fn checkpoint(&self) -> Result<u64, StateError> {
        self.with(|conn| {
            let seq: Option<i64> = conn
                .query_row("SELECT seq FROM checkpoint WHERE id = 1", [], |r| r.get(0))
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })
                .map_err(err("read checkpoint"))?;
            Ok(seq.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
        })
        .await
    }

    pub(crate) async fn set_checkpoint(&self, seq: u64) -> Result<(), StateError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO checkpoint (id, seq) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
                [seq],
            )
            .map(drop)
            .map_err(err("write checkpoint"))
        })
        .await
    }

    /// The messages whose send began and whose outcome was not appended, with how many of their
    /// calls went through.
    pub(crate) async fn begun(&self) -> Result<HashMap<MessageId, usize>, StateError> {
        self.with(|conn| {
            let mut statement = conn
                .prepare("SELECT message, pieces_sent FROM begun")
                .map_err(err("read begun"))?;
            let rows = statement
                .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
                .map_err(err("read begun"))?;
            let mut begun = HashMap::new();
            for row in rows {
                let (bytes, pieces) = row.map_err(err("read begun"))?;
                if let Ok(uuid) = Uuid::from_slice(&bytes) {
                    let pieces = usize::try_from(pieces).unwrap_or(0);
                    begun.insert(MessageId::from_uuid(uuid), pieces);
                }
            }
            Ok(begun)
        })
        .await
    }

    /// Records that `pieces_sent` calls of `message` went through (0: its send begins).
    pub(crate) async fn progress(
        &self,
        message: MessageId,
        pieces_sent: usize,
    ) -> Result<(), StateError> {
        let pieces = i64::try_from(pieces_sent).unwrap_or(i64::MAX);
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO begun (message, pieces_sent) VALUES (?1, ?2)
                 ON CONFLICT (message) DO UPDATE SET pieces_sent = excluded.pieces_sent",
                rusqlite::params![message.as_uuid().as_bytes().as_slice(), pieces],
            )
            .map(drop)
            .map_err(err("write begun"))
        })
        .await
    }

    /// The message's outcome is appended.
    pub(crate) async fn finish(&self, message: MessageId) -> Result<(), StateError> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM begun WHERE message = ?1",
                [message.as_uuid().as_bytes().as_slice()],
            )
            .map(drop)
            .map_err(err("remove begun"))
        })
        .await
    }
}
