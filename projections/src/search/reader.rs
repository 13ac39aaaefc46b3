//! [`SearchReader`]: queries on the version in use, shared with the [`super::SearchIndex`] that
//! writes it (which reloads it right after each commit), following `CURRENT` on
//! [`SearchReader::reopen`].

use super::NAME;
use super::digest::{IndexDigest, digest_of};
use super::query::{SearchError, SearchPage, SearchQuery, run_search};
use super::versions::{Opened, open_current, read_pointer};
use crate::runtime::{Checkpoint, ProjectionError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Queries the index: cheap to clone, shared with the [`SearchIndex`](super::SearchIndex) that writes it (which
/// reloads it right after each commit). Searches are synchronous (tantivy work); from async code
/// use [`SearchReader::query`], which runs them on the blocking pool.
#[derive(Debug, Clone)]
pub struct SearchReader {
    pub(super) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) root: PathBuf,
    pub(super) current: RwLock<Arc<Opened>>,
}

impl SearchReader {
    /// Opens the version `root/CURRENT` names (an empty index when there is none yet).
    pub fn open(root: &Path) -> Result<Self, ProjectionError> {
        let opened = open_current(root)?;
        Ok(Self {
            shared: Arc::new(Shared {
                root: root.to_path_buf(),
                current: RwLock::new(Arc::new(opened)),
            }),
        })
    }

    pub(super) fn current(&self) -> Arc<Opened> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn replace(&self, opened: Arc<Opened>) {
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = opened;
    }

    /// The index's root directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Follows `CURRENT` after a [`rebuild`](super::rebuild): opens the version it names if that is not the one
    /// open. True when it switched.
    pub fn reopen(&self) -> Result<bool, ProjectionError> {
        let current = self.current();
        match read_pointer(&self.shared.root)? {
            Some(version) if version != current.version => {
                let opened = Opened::open(&self.shared.root, version)?;
                self.replace(Arc::new(opened));
                Ok(true)
            }
            _ => {
                // The same version, possibly written by another process: see its last commit.
                current.reader.reload()?;
                Ok(false)
            }
        }
    }

    /// One search, synchronously.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError> {
        run_search(&self.current(), query)
    }

    /// One search, off the async threads.
    pub async fn query(&self, query: SearchQuery) -> Result<SearchPage, SearchError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.search(&query))
            .await
            .map_err(|e| {
                SearchError::Index(ProjectionError::Stopped {
                    projection: NAME.to_owned(),
                    reason: format!("search task failed: {e}"),
                })
            })?
    }

    /// The checkpoint of the last commit (what searches see).
    pub fn checkpoint(&self) -> Result<Checkpoint, ProjectionError> {
        self.current().checkpoint()
    }

    /// How many documents searches see (clients and messages).
    pub fn num_docs(&self) -> u64 {
        self.current().reader.searcher().num_docs()
    }

    /// The checksum of every document (reads them all: for `verify`, not for a hot path).
    pub fn digest(&self) -> Result<IndexDigest, ProjectionError> {
        digest_of(&self.current())
    }
}
