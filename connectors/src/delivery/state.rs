//! The delivery worker's own SQLite file, beside the data: its checkpoint in the log (every
//! queued message at or before it has its outcome appended) and the messages whose send has
//! begun with how many of their calls went through. WAL with `synchronous=NORMAL`: a commit
//! survives the worker's crash (`kill -9`); the file is not the log, and losing its last commits
//! in a power cut only means reading a little more of the log again.
//!
//! One writer thread commits whatever is waiting in one transaction (group commit): a send's
//! "begun" row is committed before the call goes (the caller waits for it); a finished
//! message's row is removed in a later commit (a row left by a crash is harmless: that message
//! has its outcome in the log, which the worker checks first).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use switchboard_schemas::MessageId;
use tokio::sync::oneshot;
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

enum Op {
    Progress(MessageId, i64, oneshot::Sender<Result<(), StateError>>),
    Finish(MessageId),
    Checkpoint(i64, oneshot::Sender<Result<(), StateError>>),
}

#[derive(Clone)]
pub(crate) struct State {
    ops: std_mpsc::Sender<Op>,
    begun: Arc<HashMap<MessageId, usize>>,
    checkpoint: Option<u64>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

fn read(
    conn: &rusqlite::Connection,
) -> Result<(Option<u64>, HashMap<MessageId, usize>), StateError> {
    let seq: Option<i64> = conn
        .query_row("SELECT seq FROM checkpoint WHERE id = 1", [], |r| r.get(0))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })
        .map_err(err("read checkpoint"))?;
    let checkpoint = seq.map(|s| u64::try_from(s).unwrap_or(0));
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
            begun.insert(
                MessageId::from_uuid(uuid),
                usize::try_from(pieces).unwrap_or(0),
            );
        }
    }
    Ok((checkpoint, begun))
}

/// One transaction of every waiting operation; the waiters answered after its commit.
fn commit(conn: &mut rusqlite::Connection, ops: Vec<Op>) {
    let result = (|| {
        let tx = conn.transaction().map_err(err("begin"))?;
        for op in &ops {
            match op {
                Op::Progress(message, pieces, _) => tx.execute(
                    "INSERT INTO begun (message, pieces_sent) VALUES (?1, ?2)
                     ON CONFLICT (message) DO UPDATE SET pieces_sent = excluded.pieces_sent",
                    rusqlite::params![message.as_uuid().as_bytes().as_slice(), pieces],
                ),
                Op::Finish(message) => tx.execute(
                    "DELETE FROM begun WHERE message = ?1",
                    [message.as_uuid().as_bytes().as_slice()],
                ),
                Op::Checkpoint(seq, _) => tx.execute(
                    "INSERT INTO checkpoint (id, seq) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
                    [seq],
                ),
            }
            .map_err(err("write"))?;
        }
        tx.commit().map_err(err("commit"))
    })();
    for op in ops {
        match op {
            Op::Progress(_, _, answer) | Op::Checkpoint(_, answer) => {
                let _ = answer.send(result.clone());
            }
            Op::Finish(_) => {}
        }
    }
}

impl State {
    pub(crate) fn open(path: &Path) -> Result<Self, StateError> {
        let mut conn = rusqlite::Connection::open(path).map_err(err("open"))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1),
                 seq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS begun (message BLOB PRIMARY KEY,
                 pieces_sent INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .map_err(err("create"))?;
        let (checkpoint, begun) = read(&conn)?;
        let (ops, receiver) = std_mpsc::channel::<Op>();
        std::thread::Builder::new()
            .name("delivery-state".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    batch.extend(receiver.try_iter().take(4096));
                    commit(&mut conn, batch);
                }
            })
            .map_err(|e| StateError {
                operation: "start the writer",
                reason: e.to_string(),
            })?;
        Ok(Self {
            ops,
            begun: Arc::new(begun),
            checkpoint,
        })
    }

    fn closed() -> StateError {
        StateError {
            operation: "write",
            reason: "the writer thread is gone".into(),
        }
    }

    /// The checkpoint as the file held it when opened (0 in a new file).
    pub(crate) fn checkpoint(&self) -> u64 {
        self.checkpoint.unwrap_or(0)
    }

    /// Whether the file held a checkpoint when opened (not a new file).
    pub(crate) fn has_checkpoint(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// The messages whose send began and whose outcome was perhaps not appended, with how many
    /// of their calls went through, as the file held them when opened.
    pub(crate) fn begun(&self) -> HashMap<MessageId, usize> {
        (*self.begun).clone()
    }

    async fn wait(
        &self,
        op: Op,
        answer: oneshot::Receiver<Result<(), StateError>>,
    ) -> Result<(), StateError> {
        self.ops.send(op).map_err(|_| Self::closed())?;
        answer.await.map_err(|_| Self::closed())?
    }

    pub(crate) async fn set_checkpoint(&self, seq: u64) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.wait(Op::Checkpoint(seq, tx), rx).await
    }

    /// Records, durably before it returns, that `pieces_sent` calls of `message` went through
    /// (0: its send begins).
    pub(crate) async fn progress(
        &self,
        message: MessageId,
        pieces_sent: usize,
    ) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        let pieces = i64::try_from(pieces_sent).unwrap_or(i64::MAX);
        self.wait(Op::Progress(message, pieces, tx), rx).await
    }

    /// The message's outcome is appended: its row goes with a later commit.
    pub(crate) fn finish(&self, message: MessageId) -> Result<(), StateError> {
        self.ops
            .send(Op::Finish(message))
            .map_err(|_| Self::closed())
    }
}
