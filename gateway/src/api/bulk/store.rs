//! Where bulk jobs are kept: a store every node sees, with compare-and-set, like the credential
//! store — one SQLite file beside the embedded log (`<data>/jobs.sqlite`, `synchronous=FULL`),
//! or the JetStream key-value bucket `switchboard-jobs` with `--nats`. Values are JSON.
//!
//! Keys: `job.<id>` → the job's record (`super::JobRecord`), changed with compare-and-set on
//! its revision (progress and the runner's lease); `selection.<id>.<n>` → the `n`th chunk of
//! the job's frozen selection, written before the record; `running.<id>` → nothing: the job is
//! not done (what a node's scan for jobs to take reads, instead of every job ever run).

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The job file's name in the data directory.
pub const JOBS_FILE: &str = "jobs.sqlite";
/// The bucket's name with `--nats`.
pub const JOBS_BUCKET: &str = "switchboard-jobs";

#[derive(Debug, Clone, thiserror::Error)]
#[error("job store: {0}")]
pub struct StoreError(pub String);

fn storage(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

/// A handle on the store. Cheap to clone.
#[derive(Clone)]
pub enum JobStore {
    Sqlite(Arc<Mutex<Connection>>),
    Kv(Arc<kv::Store>),
}

impl std::fmt::Debug for JobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobStore::Sqlite(_) => f.write_str("JobStore::Sqlite"),
            JobStore::Kv(store) => write!(f, "JobStore::Kv({})", store.name),
        }
    }
}

impl JobStore {
    /// Opens (creating) the job file.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| storage("cannot open the job file", e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| {
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS job_value (
                         key TEXT PRIMARY KEY,
                         value BLOB NOT NULL,
                         revision INTEGER NOT NULL
                     ) WITHOUT ROWID;",
                )
            })
            .map_err(|e| storage("cannot set up the job file", e))?;
        Ok(JobStore::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// Opens the bucket, creating it when missing.
    pub async fn open_kv(client: async_nats::Client, replicas: usize) -> Result<Self, StoreError> {
        let config = kv::Config {
            bucket: JOBS_BUCKET.to_owned(),
            description: "Switchboard bulk jobs".into(),
            history: 1,
            num_replicas: replicas.max(1),
            ..Default::default()
        };
        let store = crate::backend::open_bucket(client, config)
            .await
            .map_err(StoreError)?;
        Ok(JobStore::Kv(Arc::new(store)))
    }

    /// Whether one process holds the store alone (the embedded installation: `DIR/LOCK` keeps a
    /// second `serve` away), so that a lease found at the start is a dead process's.
    pub fn exclusive(&self) -> bool {
        matches!(self, JobStore::Sqlite(_))
    }

    async fn blocking<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || work(&conn.lock()))
            .await
            .map_err(|e| storage("job store task failed", e))?
            .map_err(|e| storage("job file", e))
    }

    /// Stores `value` under a new `key`; `false` when the key exists (nothing written).
    pub async fn create(&self, key: &str, value: Bytes) -> Result<bool, StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let key = key.to_owned();
                Self::blocking(conn, move |conn| {
                    conn.execute(
                        "INSERT OR IGNORE INTO job_value (key, value, revision) VALUES (?1, ?2, 1)",
                        params![key, &value[..]],
                    )
                    .map(|inserted| inserted == 1)
                })
                .await
            }
            JobStore::Kv(store) => match store.create(key, value).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(storage("cannot store a job value", e)),
            },
        }
    }

    /// Stores `value` under `key`, over any value it had.
    pub async fn put(&self, key: &str, value: Bytes) -> Result<(), StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let key = key.to_owned();
                Self::blocking(conn, move |conn| {
                    conn.execute(
                        "INSERT INTO job_value (key, value, revision) VALUES (?1, ?2, 1)
                         ON CONFLICT (key) DO UPDATE SET value = ?2, revision = revision + 1",
                        params![key, &value[..]],
                    )
                    .map(|_| ())
                })
                .await
            }
            JobStore::Kv(store) => store
                .put(key, value)
                .await
                .map(|_| ())
                .map_err(|e| storage("cannot store a job value", e)),
        }
    }

    /// Removes `key` (nothing when it is not there).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let key = key.to_owned();
                Self::blocking(conn, move |conn| {
                    conn.execute("DELETE FROM job_value WHERE key = ?1", [key])
                        .map(|_| ())
                })
                .await
            }
            JobStore::Kv(store) => store
                .delete(key)
                .await
                .map_err(|e| storage("cannot delete a job value", e)),
        }
    }

    /// The value of `key` with its revision.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, u64)>, StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let key = key.to_owned();
                Self::blocking(conn, move |conn| {
                    conn.query_row(
                        "SELECT value, revision FROM job_value WHERE key = ?1",
                        [key],
                        |row| {
                            Ok((
                                Bytes::from(row.get::<_, Vec<u8>>(0)?),
                                row.get::<_, i64>(1)?.unsigned_abs(),
                            ))
                        },
                    )
                    .optional()
                })
                .await
            }
            JobStore::Kv(store) => Ok(store
                .entry(key)
                .await
                .map_err(|e| storage("cannot read a job value", e))?
                .filter(|entry| entry.operation == Operation::Put)
                .map(|entry| (entry.value, entry.revision))),
        }
    }

    /// Replaces `key`'s value if it is still at `revision`: the new revision, or `None` when
    /// someone else changed it first.
    pub async fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> Result<Option<u64>, StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let key = key.to_owned();
                let revision = i64::try_from(revision).unwrap_or(i64::MAX);
                Self::blocking(conn, move |conn| {
                    conn.execute(
                        "UPDATE job_value SET value = ?2, revision = revision + 1
                         WHERE key = ?1 AND revision = ?3",
                        params![key, &value[..], revision],
                    )
                    .map(|changed| (changed == 1).then(|| revision.unsigned_abs() + 1))
                })
                .await
            }
            JobStore::Kv(store) => match store.update(key, value, revision).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(storage("cannot change a job value", e)),
            },
        }
    }

    /// Every key that starts with `prefix`.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            JobStore::Sqlite(conn) => {
                let prefix = prefix.to_owned();
                Self::blocking(conn, move |conn| {
                    let mut statement = conn.prepare(
                        // A range of the primary key, not a scan of every job's values.
                        "SELECT key FROM job_value WHERE key >= ?1 AND key < ?1 || x'ff'",
                    )?;
                    statement
                        .query_map([prefix], |row| row.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .await
            }
            JobStore::Kv(store) => {
                let mut keys = store
                    .keys()
                    .await
                    .map_err(|e| storage("cannot list the job bucket", e))?;
                let mut found = Vec::new();
                while let Some(key) = keys.next().await {
                    let key = key.map_err(|e| storage("cannot list the job bucket", e))?;
                    if key.starts_with(prefix) {
                        found.push(key);
                    }
                }
                Ok(found)
            }
        }
    }
}
