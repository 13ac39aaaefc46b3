//! The `--nats` attachment store: a JetStream object store bucket every node shares.
//!
//! Each blob is the object named by its 64-hex SHA-256; the sniffed type rides in the object's
//! metadata (`mime`). A put of a stream spools it into a local temporary file first (the object's
//! name is the hash, known only at the end; memory stays bounded), then uploads it; bytes already
//! in memory are hashed and uploaded directly. The object store computes its own SHA-256 of what
//! it received, and a put whose digest differs from ours is an error.
//!
//! A range is served by reading the object from its start and discarding the bytes before the
//! range (the object store reads chunks in order): a `Range` near the end of a large file costs
//! reading the file once on the server side.

use super::{
    AttachmentError, Blob, BlobHash, ByteRange, Stored, clear_stale, io_error, sniff, spool,
};
use async_nats::jetstream::object_store::{
    self, GetErrorKind, InfoErrorKind, ObjectMetadata, ObjectStore,
};
use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How the bucket is made when missing.
#[derive(Debug, Clone)]
pub struct NatsStoreOptions {
    pub bucket: String,
    /// Copies in a cluster (the log's replica count; 1 on one server).
    pub replicas: usize,
    /// Where streamed puts are spooled before upload.
    pub spool_dir: PathBuf,
}

impl NatsStoreOptions {
    pub fn new(spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            bucket: "switchboard-attachments".into(),
            replicas: 1,
            spool_dir: spool_dir.into(),
        }
    }
}

#[derive(Clone)]
pub struct NatsStore {
    store: Arc<ObjectStore>,
    spool_dir: Arc<PathBuf>,
}

impl std::fmt::Debug for NatsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsStore")
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

fn store_error(what: &str, error: impl std::fmt::Display) -> AttachmentError {
    AttachmentError::ObjectStore(format!("{what}: {error}"))
}

impl NatsStore {
    /// Opens the bucket, creating it when missing (the way `serve` sets the log up).
    pub async fn open(
        client: async_nats::Client,
        options: NatsStoreOptions,
    ) -> Result<Self, AttachmentError> {
        let jetstream = async_nats::jetstream::new(client);
        let store = match jetstream.get_object_store(&options.bucket).await {
            Ok(store) => store,
            Err(_) => {
                let created = jetstream
                    .create_object_store(object_store::Config {
                        bucket: options.bucket.clone(),
                        description: Some("Switchboard attachments, named by SHA-256".into()),
                        num_replicas: options.replicas.max(1),
                        ..Default::default()
                    })
                    .await;
                match created {
                    Ok(store) => store,
                    // Another node may have created it meanwhile.
                    Err(e) => jetstream
                        .get_object_store(&options.bucket)
                        .await
                        .map_err(|_| store_error("cannot create the attachment bucket", e))?,
                }
            }
        };
        tokio::fs::create_dir_all(&options.spool_dir)
            .await
            .map_err(io_error("create", &options.spool_dir))?;
        clear_stale(&options.spool_dir).await?;
        Ok(Self {
            store: Arc::new(store),
            spool_dir: Arc::new(options.spool_dir),
        })
    }

    pub(super) async fn put(
        &self,
        input: &mut (impl AsyncRead + Unpin + Send),
        limit: u64,
    ) -> Result<Stored, AttachmentError> {
        let spooled = spool(&self.spool_dir, input, limit).await?;
        let path = spooled.file.path().to_owned();
        let mime = sniff(&spooled.head);
        let existed = self
            .upload(spooled.hash, spooled.size, mime, || async {
                tokio::fs::File::open(&path)
                    .await
                    .map_err(io_error("open", &path))
            })
            .await?;
        Ok(Stored {
            hash: spooled.hash,
            size: spooled.size,
            sniffed_mime: mime,
            existed,
        })
    }

    pub(super) async fn remove(&self, hash: &BlobHash) -> Result<(), AttachmentError> {
        match self.exists(hash).await? {
            None => Ok(()),
            Some(_) => self
                .store
                .delete(hash.hex())
                .await
                .map_err(|e| AttachmentError::ObjectStore(format!("delete: {e}"))),
        }
    }

    pub(super) async fn put_bytes(&self, bytes: &[u8]) -> Result<Stored, AttachmentError> {
        let hash = BlobHash::of(bytes);
        let mime = sniff(&bytes[..bytes.len().min(super::SNIFF_BYTES)]);
        let existed = self
            .upload(hash, bytes.len() as u64, mime, || async { Ok(bytes) })
            .await?;
        Ok(Stored {
            hash,
            size: bytes.len() as u64,
            sniffed_mime: mime,
            existed,
        })
    }

    /// Uploads what `open` gives unless the object is there whole; answers whether it was.
    async fn upload<R, F>(
        &self,
        hash: BlobHash,
        size: u64,
        mime: Option<&'static str>,
        open: impl FnOnce() -> F,
    ) -> Result<bool, AttachmentError>
    where
        R: AsyncRead + Unpin,
        F: Future<Output = Result<R, AttachmentError>>,
    {
        if self.exists(&hash).await? == Some(size) {
            return Ok(true);
        }
        let mut metadata = HashMap::new();
        if let Some(mime) = mime {
            metadata.insert("mime".to_owned(), mime.to_owned());
        }
        let meta = ObjectMetadata {
            name: hash.hex(),
            metadata,
            ..Default::default()
        };
        let mut reader = open().await?;
        let info = self
            .store
            .put(meta, &mut reader)
            .await
            .map_err(|e| store_error("cannot upload", e))?;
        // The object store's digest: `SHA-256=` and base64url (padded) of the hash.
        let expected = format!(
            "SHA-256={}",
            base64::engine::general_purpose::URL_SAFE.encode(hash.as_bytes())
        );
        match info.digest {
            Some(found) if found == expected => Ok(false),
            found => Err(AttachmentError::DigestMismatch {
                expected,
                found: found.unwrap_or_default(),
            }),
        }
    }

    pub(super) async fn exists(&self, hash: &BlobHash) -> Result<Option<u64>, AttachmentError> {
        match self.store.info(hash.hex()).await {
            Ok(info) if !info.deleted => Ok(Some(info.size as u64)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == InfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_error("cannot look up", e)),
        }
    }

    pub(super) async fn get(
        &self,
        hash: &BlobHash,
        range: ByteRange,
    ) -> Result<Option<Blob>, AttachmentError> {
        let mut object = match self.store.get(hash.hex()).await {
            Ok(object) => object,
            Err(e) if e.kind() == GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(store_error("cannot read", e)),
        };
        if object.info().deleted {
            return Ok(None);
        }
        let size = object.info().size as u64;
        let (start, end) = range.resolve(size)?;
        if start > 0 {
            let skipped = tokio::io::copy(&mut (&mut object).take(start), &mut tokio::io::sink())
                .await
                .map_err(|e| store_error("cannot read", e))?;
            if skipped != start {
                return Err(store_error("cannot read", "the object ended early"));
            }
        }
        Ok(Some(Blob {
            size,
            start,
            end,
            reader: Box::pin(object.take(end - start)),
        }))
    }
}
