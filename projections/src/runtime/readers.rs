//! [`Readers`]: the pool of read-only connections queries from async code run on.

use super::{Projection, ProjectionError, open_reader};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A pool of read-only connections to one projection file, for queries from async code: each
/// query runs on the blocking pool with a connection of its own.
///
/// At most `max_idle` queries of [`Self::query`] run at once; the others wait for a turn
/// (asynchronously). Without the bound a burst of concurrent requests ran one blocking thread
/// and one connection each: every connection beyond the idle ones was opened for one query
/// (the schema parsed, the page and statement caches cold) and closed after it, and the
/// threads outnumbered the cores many times over.
#[derive(Debug, Clone)]
pub struct Readers {
    inner: Arc<ReadersInner>,
}

#[derive(Debug)]
struct ReadersInner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    /// Turns of [`Readers::query`]: `max_idle` of them.
    turns: tokio::sync::Semaphore,
    /// Run on each new connection (a projection's [`Projection::register_functions`]).
    set_up: fn(&Connection) -> rusqlite::Result<()>,
}

impl Readers {
    /// Connections are opened on demand; at most `max_idle` are kept between queries. They
    /// have no SQL functions of a projection (see [`Self::for_projection`]).
    pub fn new(path: &Path, max_idle: usize) -> Self {
        Self::with_set_up(path, max_idle, |_| Ok(()))
    }

    /// [`Self::new`] for the file of the projection `P`: each connection has the SQL functions
    /// its queries use.
    pub fn for_projection<P: Projection>(path: &Path, max_idle: usize) -> Self {
        Self::with_set_up(path, max_idle, P::register_functions)
    }

    fn with_set_up(
        path: &Path,
        max_idle: usize,
        set_up: fn(&Connection) -> rusqlite::Result<()>,
    ) -> Self {
        Self {
            inner: Arc::new(ReadersInner {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
                max_idle,
                turns: tokio::sync::Semaphore::new(max_idle.max(1)),
                set_up,
            }),
        }
    }

    /// Runs `query` on the calling thread (one that may block: inside another reader's
    /// [`Self::query`], for a query that reads two read models).
    pub fn run<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, ProjectionError>,
    ) -> Result<T, ProjectionError> {
        let inner = &self.inner;
        let idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = open_reader(&inner.path)?;
                (inner.set_up)(&conn)?;
                conn
            }
        };
        let answer = query(&conn);
        let mut idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < inner.max_idle {
            idle.push(conn);
        }
        answer
    }

    /// Runs `query` off the async threads.
    pub async fn query<T, F>(&self, query: F) -> Result<T, ProjectionError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ProjectionError> + Send + 'static,
    {
        let stopped = |reason: String| ProjectionError::Stopped {
            projection: self.inner.path.display().to_string(),
            reason,
        };
        let _turn = self
            .inner
            .turns
            .acquire()
            .await
            .map_err(|e| stopped(format!("no turn for the query: {e}")))?;
        let readers = self.clone();
        tokio::task::spawn_blocking(move || readers.run(query))
            .await
            .map_err(|e| stopped(format!("query task failed: {e}")))?
    }
}
