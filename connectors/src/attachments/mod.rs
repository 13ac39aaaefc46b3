//! The attachment store: the bytes of files, kept apart from the event log and named by their
//! SHA-256, so an event's `Attachment::storage_ref` is `sha256:<hex>` ([`BlobHash::storage_ref`]).
//!
//! Two backends behind one type, [`AttachmentStore`], and one conformance suite
//! (`tests/it/attachments.rs`) over both:
//! - [`DirStore`] (embedded): a content-addressed directory, `<root>/ab/cd/<hex>`; a put streams
//!   into `<root>/tmp/` while hashing, fsyncs, renames into place and fsyncs the directory.
//! - [`NatsStore`] (`--nats`): a JetStream object store bucket (`switchboard-attachments`) shared
//!   by every node, each blob an object named by its hex hash; a put of a stream spools it into a
//!   local temporary file first (the name is the hash, known only at the end), then uploads it.
//!
//! Both are idempotent: putting content that is there already stores nothing new and answers
//! the same hash. A put refuses input over its `limit` (the channel's or the store's cap) as
//! [`AttachmentError::TooLarge`] once that many bytes were read, and keeps nothing of it.
//! Memory is bounded: input is read in [`CHUNK`] pieces, and only the first [`SNIFF_BYTES`] are
//! kept, to sniff the type.
//!
//! Types are sniffed from the bytes with `infer` (magic numbers of ~100 formats, no system
//! database, no C library): a client's or a mail's declared type is a claim, the bytes are not.

mod dir;
mod nats;

pub use dir::DirStore;
pub use nats::{NatsStore, NatsStoreOptions};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How much of a blob is read at a time.
pub const CHUNK: usize = 64 * 1024;
/// How many leading bytes are kept to sniff the type.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The SHA-256 of a blob's bytes: its name in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// What an event's `Attachment::storage_ref` holds: `sha256:<hex>`.
    pub fn storage_ref(&self) -> String {
        format!("sha256:{}", self.hex())
    }

    /// Reads a [`storage_ref`](Self::storage_ref) or bare hex; `None` for anything else (a
    /// provider's file reference such as `telegram:<file_id>`).
    pub fn parse(text: &str) -> Option<Self> {
        let hex_part = text.strip_prefix("sha256:").unwrap_or(text);
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part.to_ascii_lowercase(), &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.storage_ref())
    }
}

impl std::fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobHash({})", self.hex())
    }
}

/// What a put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub hash: BlobHash,
    pub size: u64,
    /// The type the bytes show (`infer`), `None` when no known signature matches.
    pub sniffed_mime: Option<&'static str>,
    /// The content was in the store already: nothing new was written.
    pub existed: bool,
}

/// A blob, or a byte range of it, to read.
pub struct Blob {
    /// The whole blob's size.
    pub size: u64,
    /// The bytes `reader` yields: `start..end` of the blob.
    pub start: u64,
    pub end: u64,
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// Which bytes of a blob to read: `start..end` (`end` exclusive; `None`: to the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl ByteRange {
    pub const ALL: ByteRange = ByteRange {
        start: 0,
        end: None,
    };

    /// The range within a blob of `size` bytes: `end` cut to the size; a start past the end
    /// (or an empty range of a non-empty blob) cannot be answered.
    fn resolve(self, size: u64) -> Result<(u64, u64), AttachmentError> {
        let end = self.end.unwrap_or(size).min(size);
        let empty_blob_whole = size == 0 && self.start == 0;
        if !empty_blob_whole && self.start >= end {
            return Err(AttachmentError::Unsatisfiable {
                start: self.start,
                size,
            });
        }
        Ok((self.start, end))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no byte {start} in a file of {size} bytes")]
    Unsatisfiable { start: u64, size: u64 },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the input: {0}")]
    Input(std::io::Error),
    #[error("object store: {0}")]
    ObjectStore(String),
    #[error("the object store answered digest {found} for {expected}")]
    DigestMismatch { expected: String, found: String },
}

pub(crate) fn io_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> AttachmentError + 'a {
    move |source| AttachmentError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Either backend.
#[derive(Debug, Clone)]
pub enum AttachmentStore {
    Directory(DirStore),
    ObjectStore(NatsStore),
}

impl AttachmentStore {
    /// Stores what `input` yields (at most `limit` bytes).
    pub async fn put(
        &self,
        input: &mut (impl AsyncRead + Unpin + Send),
        limit: u64,
    ) -> Result<Stored, AttachmentError> {
        match self {
            Self::Directory(store) => store.put(input, limit).await,
            Self::ObjectStore(store) => store.put(input, limit).await,
        }
    }

    /// Stores `bytes` (at most `limit` of them) without copying them.
    pub async fn put_bytes(&self, bytes: &[u8], limit: u64) -> Result<Stored, AttachmentError> {
        if bytes.len() as u64 > limit {
            return Err(AttachmentError::TooLarge { limit });
        }
        match self {
            Self::Directory(store) => store.put(&mut &bytes[..], limit).await,
            Self::ObjectStore(store) => store.put_bytes(bytes).await,
        }
    }

    /// Removes a blob (nothing when it is not stored). Only for a blob a put just created
    /// (`Stored::existed` false) and that is refused after all: content-addressed blobs are
    /// otherwise shared by whatever refers to the same bytes.
    pub async fn remove(&self, hash: &BlobHash) -> Result<(), AttachmentError> {
        match self {
            Self::Directory(store) => store.remove(hash).await,
            Self::ObjectStore(store) => store.remove(hash).await,
        }
    }

    /// The blob's size, `None` when it is not stored.
    pub async fn exists(&self, hash: &BlobHash) -> Result<Option<u64>, AttachmentError> {
        match self {
            Self::Directory(store) => store.exists(hash).await,
            Self::ObjectStore(store) => store.exists(hash).await,
        }
    }

    /// A reader of `range` of the blob, `None` when it is not stored.
    pub async fn get(
        &self,
        hash: &BlobHash,
        range: ByteRange,
    ) -> Result<Option<Blob>, AttachmentError> {
        match self {
            Self::Directory(store) => store.get(hash, range).await,
            Self::ObjectStore(store) => store.get(hash, range).await,
        }
    }
}

/// The MIME type `head` (a blob's first bytes) shows, if any.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    infer::get(head).map(|kind| kind.mime_type())
}

/// A temporary file this old was left by a crash: no put takes this long.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the `.part` files of `dir` older than [`STALE_AFTER`].
pub(crate) async fn clear_stale(dir: &Path) -> Result<(), AttachmentError> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(io_error("list", dir))?;
    while let Some(entry) = entries.next_entry().await.map_err(io_error("list", dir))? {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "part") {
            continue;
        }
        let age = entry
            .metadata()
            .await
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if age.is_some_and(|age| age > STALE_AFTER) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path)(e)),
            }
        }
    }
    Ok(())
}

/// A file in a temporary directory, removed when dropped unless [`TempBlob::keep`] took it.
#[derive(Debug)]
pub(crate) struct TempBlob {
    path: Option<PathBuf>,
}

impl TempBlob {
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The file is renamed away: nothing to remove.
    pub(crate) fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What [`spool`] wrote.
#[derive(Debug)]
pub(crate) struct Spooled {
    pub(crate) file: TempBlob,
    pub(crate) hash: BlobHash,
    pub(crate) size: u64,
    pub(crate) head: Vec<u8>,
}

/// Copies `input` into a new file of `tmp_dir` (mode 0600), hashing as it goes, at most
/// `limit` bytes, and fsyncs it.
pub(crate) async fn spool(
    tmp_dir: &Path,
    input: &mut (impl AsyncRead + Unpin + Send),
    limit: u64,
) -> Result<Spooled, AttachmentError> {
    let path = tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&path)
        .await
        .map_err(io_error("create", &path))?;
    let temp = TempBlob {
        path: Some(path.clone()),
    };
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut size = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = input
            .read(&mut buffer)
            .await
            .map_err(AttachmentError::Input)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limit {
            return Err(AttachmentError::TooLarge { limit });
        }
        let chunk = &buffer[..n];
        hasher.update(chunk);
        let wanted = SNIFF_BYTES.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&chunk[..wanted]);
        file.write_all(chunk)
            .await
            .map_err(io_error("write", &path))?;
    }
    file.flush().await.map_err(io_error("write", &path))?;
    file.sync_all().await.map_err(io_error("fsync", &path))?;
    Ok(Spooled {
        file: temp,
        hash: BlobHash(hasher.finalize().into()),
        size,
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_reads_back_from_its_storage_ref_and_nothing_else_parses() {
        let hash = BlobHash::of(b"abc");
        assert_eq!(
            hash.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(BlobHash::parse(&hash.storage_ref()), Some(hash));
        assert_eq!(BlobHash::parse(&hash.hex().to_uppercase()), Some(hash));
        assert_eq!(BlobHash::parse("telegram:AgADBAAD"), None);
        assert_eq!(BlobHash::parse(&format!("sha256:{}", "g".repeat(64))), None);
        assert_eq!(BlobHash::parse("sha256:ab"), None);
    }

    #[test]
    fn ranges_are_cut_to_the_size_and_a_start_past_it_is_refused() {
        let range = |start, end| ByteRange { start, end };
        assert_eq!(range(0, None).resolve(10).unwrap(), (0, 10));
        assert_eq!(range(3, Some(100)).resolve(10).unwrap(), (3, 10));
        assert_eq!(range(9, Some(10)).resolve(10).unwrap(), (9, 10));
        assert!(range(10, None).resolve(10).is_err());
        assert!(range(4, Some(4)).resolve(10).is_err());
        assert_eq!(range(0, None).resolve(0).unwrap(), (0, 0));
    }

    #[test]
    fn sniffing_reads_the_bytes_not_the_name() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        assert_eq!(sniff(&png), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"just some words"), None);
    }
}
