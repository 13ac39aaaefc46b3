//! The embedded attachment store: a content-addressed directory.
//!
//! `<root>/ab/cd/<64 hex>` holds the bytes whose SHA-256 is that hex (two levels of fan-out by
//! the first four digits, so no directory grows past a few thousand entries). A put streams into
//! `<root>/tmp/<random>.part`, fsyncs it, renames it into place and fsyncs the directory: a blob
//! is either whole under its name or absent, also after a crash. What a crash leaves in `tmp/`
//! is removed when the store is opened (files older than [`super::STALE_AFTER`]: a put under way
//! in another handle is younger).

use super::{
    AttachmentError, Blob, BlobHash, ByteRange, Stored, clear_stale, io_error, sniff, spool,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

#[derive(Debug, Clone)]
pub struct DirStore {
    root: Arc<PathBuf>,
}

impl DirStore {
    /// Opens (creating) the store at `root` and clears what crashes left in its temporary
    /// directory.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, AttachmentError> {
        let root: PathBuf = root.into();
        let tmp = root.join("tmp");
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(io_error("create", &tmp))?;
        clear_stale(&tmp).await?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob of `hash` lives.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    pub(super) async fn put(
        &self,
        input: &mut (impl AsyncRead + Unpin + Send),
        limit: u64,
    ) -> Result<Stored, AttachmentError> {
        let spooled = spool(&self.root.join("tmp"), input, limit).await?;
        let target = self.path_of(&spooled.hash);
        let stored = |existed| Stored {
            hash: spooled.hash,
            size: spooled.size,
            sniffed_mime: sniff(&spooled.head),
            existed,
        };
        if tokio::fs::try_exists(&target)
            .await
            .map_err(io_error("look at", &target))?
        {
            return Ok(stored(true)); // the temporary file is removed on drop
        }
        let parent = target.parent().unwrap_or(&self.root).to_owned();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(io_error("create", &parent))?;
        tokio::fs::rename(spooled.file.path(), &target)
            .await
            .map_err(io_error("rename into", &target))?;
        let answer = stored(false);
        spooled.file.keep();
        sync_dir(parent).await?;
        Ok(answer)
    }

    pub(super) async fn remove(&self, hash: &BlobHash) -> Result<(), AttachmentError> {
        let path = self.path_of(hash);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path)(e)),
        }
    }

    pub(super) async fn exists(&self, hash: &BlobHash) -> Result<Option<u64>, AttachmentError> {
        let path = self.path_of(hash);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("look at", &path)(e)),
        }
    }

    pub(super) async fn get(
        &self,
        hash: &BlobHash,
        range: ByteRange,
    ) -> Result<Option<Blob>, AttachmentError> {
        let path = self.path_of(hash);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", &path)(e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(io_error("look at", &path))?
            .len();
        let (start, end) = range.resolve(size)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(io_error("seek", &path))?;
        Ok(Some(Blob {
            size,
            start,
            end,
            reader: Box::pin(file.take(end - start)),
        }))
    }
}

/// Makes a rename in `dir` durable.
async fn sync_dir(dir: PathBuf) -> Result<(), AttachmentError> {
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("fsync", &dir))
    })
    .await
    .map_err(|e| AttachmentError::Input(std::io::Error::other(e)))?
}
