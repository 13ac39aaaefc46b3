//! The attachment store's conformance suite: every property over both backends, a real directory
//! and a real nats-server's object store.

use switchboard_connectors::attachments::{
    AttachmentError, AttachmentStore, BlobHash, ByteRange, DirStore, NatsStore, NatsStoreOptions,
};
use switchboard_tests::{NatsCluster, NatsServer};
use tokio::io::AsyncReadExt;

/// A backend and what keeps it alive.
struct Backend {
    store: AttachmentStore,
    _dir: tempfile::TempDir,
    _server: Option<NatsServer>,
}

async fn directory() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirStore::open(dir.path().join("attachments"))
        .await
        .expect("open");
    Backend {
        store: AttachmentStore::Directory(store),
        _dir: dir,
        _server: None,
    }
}

async fn object_store() -> Backend {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let client = async_nats::connect(server.url()).await.expect("connect");
    let store = NatsStore::open(client, NatsStoreOptions::new(dir.path().join("spool")))
        .await
        .expect("open");
    Backend {
        store: AttachmentStore::ObjectStore(store),
        _dir: dir,
        _server: Some(server),
    }
}

/// Bytes that are not all alike, `len` of them.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn read_all(store: &AttachmentStore, hash: &BlobHash, range: ByteRange) -> Vec<u8> {
    let mut blob = store.get(hash, range).await.expect("get").expect("stored");
    let mut out = Vec::new();
    blob.reader.read_to_end(&mut out).await.expect("read");
    assert_eq!(out.len() as u64, blob.end - blob.start, "{blob:?}");
    out
}

const LIMIT: u64 = 10 * 1024 * 1024;

async fn stores_and_reads_back_by_hash(backend: Backend) {
    let store = &backend.store;
    // Larger than one read chunk and than the object store's 128 KiB chunks.
    let bytes = pattern(300_000, 7);
    let stored = store.put(&mut &bytes[..], LIMIT).await.expect("put");
    assert_eq!(stored.hash, BlobHash::of(&bytes));
    assert_eq!(stored.size, bytes.len() as u64);
    assert!(!stored.existed);
    assert_eq!(
        store.exists(&stored.hash).await.expect("exists"),
        Some(300_000)
    );
    assert_eq!(read_all(store, &stored.hash, ByteRange::ALL).await, bytes);
    let absent = BlobHash::of(b"never stored");
    assert_eq!(store.exists(&absent).await.expect("exists"), None);
    assert!(
        store
            .get(&absent, ByteRange::ALL)
            .await
            .expect("get")
            .is_none()
    );
}

async fn the_same_content_twice_is_one_blob(backend: Backend) {
    let store = &backend.store;
    let bytes = pattern(50_000, 1);
    let first = store.put_bytes(&bytes, LIMIT).await.expect("put");
    let second = store.put(&mut &bytes[..], LIMIT).await.expect("put again");
    assert_eq!(first.hash, second.hash);
    assert!(!first.existed);
    assert!(second.existed, "the second put stores nothing new");
    assert_eq!(read_all(store, &first.hash, ByteRange::ALL).await, bytes);
    let other = store
        .put_bytes(&pattern(50_000, 2), LIMIT)
        .await
        .expect("put");
    assert_ne!(other.hash, first.hash);
}

async fn ranges_read_exactly_their_bytes(backend: Backend) {
    let store = &backend.store;
    let bytes = pattern(200_000, 3);
    let hash = store.put_bytes(&bytes, LIMIT).await.expect("put").hash;
    let cases = [
        (0, Some(1)),
        (0, Some(200_000)),
        (131_071, Some(131_073)), // across an object store chunk boundary
        (199_999, None),
        (150_000, Some(10_000_000)), // end past the size: cut to it
    ];
    for (start, end) in cases {
        let range = ByteRange { start, end };
        let got = read_all(store, &hash, range).await;
        let stop = end.unwrap_or(200_000).min(200_000) as usize;
        assert_eq!(got, &bytes[start as usize..stop], "{range:?}");
    }
    let past = store
        .get(
            &hash,
            ByteRange {
                start: 200_000,
                end: None,
            },
        )
        .await;
    assert!(
        matches!(
            past,
            Err(AttachmentError::Unsatisfiable { size: 200_000, .. })
        ),
        "{past:?}"
    );
}

async fn over_the_limit_is_refused_and_nothing_kept(backend: Backend) {
    let store = &backend.store;
    let bytes = pattern(100_001, 4);
    let refused = store.put(&mut &bytes[..], 100_000).await;
    assert!(
        matches!(refused, Err(AttachmentError::TooLarge { limit: 100_000 })),
        "{refused:?}"
    );
    let refused = store.put_bytes(&bytes, 100_000).await;
    assert!(matches!(refused, Err(AttachmentError::TooLarge { .. })));
    let hash = BlobHash::of(&bytes);
    assert_eq!(store.exists(&hash).await.expect("exists"), None);
    // Exactly at the limit is fine.
    let at = store
        .put(&mut &bytes[..100_000], 100_000)
        .await
        .expect("put");
    assert_eq!(at.size, 100_000);
}

async fn the_type_is_sniffed_from_the_bytes(backend: Backend) {
    let store = &backend.store;
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend(b"IHDR rest of an image");
    let stored = store.put(&mut &png[..], LIMIT).await.expect("put");
    assert_eq!(stored.sniffed_mime, Some("image/png"));
    let text = store.put_bytes(b"plain words", LIMIT).await.expect("put");
    assert_eq!(text.sniffed_mime, None);
    let empty = store.put_bytes(b"", LIMIT).await.expect("put");
    assert_eq!(empty.size, 0);
    assert_eq!(read_all(store, &empty.hash, ByteRange::ALL).await, b"");
}

async fn a_removed_blob_is_gone_and_others_stay(backend: Backend) {
    let store = &backend.store;
    let gone = store
        .put_bytes(&pattern(70_000, 7), LIMIT)
        .await
        .expect("put");
    let kept = store
        .put_bytes(&pattern(1_000, 8), LIMIT)
        .await
        .expect("put");
    store.remove(&gone.hash).await.expect("remove");
    assert_eq!(store.exists(&gone.hash).await.expect("exists"), None);
    assert!(
        store
            .get(&gone.hash, ByteRange::ALL)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(store.exists(&kept.hash).await.expect("exists"), Some(1_000));
    // Removing what is not there is no error; putting it again stores it anew.
    store.remove(&gone.hash).await.expect("remove again");
    let again = store
        .put_bytes(&pattern(70_000, 7), LIMIT)
        .await
        .expect("put");
    assert!(!again.existed);
    assert_eq!(
        read_all(store, &again.hash, ByteRange::ALL).await,
        pattern(70_000, 7)
    );
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod directory_backend {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::directory().await).await;
            })*
        }
        mod object_store_backend {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::object_store().await).await;
            })*
        }
    };
}

conformance!(
    stores_and_reads_back_by_hash,
    the_same_content_twice_is_one_blob,
    ranges_read_exactly_their_bytes,
    over_the_limit_is_refused_and_nothing_kept,
    the_type_is_sniffed_from_the_bytes,
    a_removed_blob_is_gone_and_others_stay,
);

#[tokio::test]
async fn the_directory_fans_out_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("attachments");
    let store = DirStore::open(&root).await.expect("open");
    let bytes = pattern(70_000, 9);
    let stored = AttachmentStore::Directory(store.clone())
        .put(&mut &bytes[..], LIMIT)
        .await
        .expect("put");
    let hex = stored.hash.hex();
    let path = root.join(&hex[..2]).join(&hex[2..4]).join(&hex);
    assert_eq!(store.path_of(&stored.hash), path);
    assert_eq!(std::fs::read(&path).expect("the blob's file"), bytes);
    let refused = AttachmentStore::Directory(store)
        .put(&mut &bytes[..], 10)
        .await;
    assert!(refused.is_err());
    let leftovers: Vec<_> = std::fs::read_dir(root.join("tmp")).expect("tmp").collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A crash's leftover is cleared when the store opens again; a young file may be a put under
    // way in another handle, and stays.
    let old = root.join("tmp").join("old.part");
    std::fs::write(&old, b"half").expect("write");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age the file");
    let young = root.join("tmp").join("young.part");
    std::fs::write(&young, b"half").expect("write");
    DirStore::open(&root).await.expect("reopen");
    assert!(!old.exists());
    assert!(young.exists());
}

#[tokio::test]
async fn two_object_store_handles_share_the_bucket() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let open = || async {
        let client = async_nats::connect(server.url()).await.expect("connect");
        NatsStore::open(client, NatsStoreOptions::new(dir.path().join("spool")))
            .await
            .expect("open")
    };
    let (a, b) = (open().await, open().await);
    let (a, b) = (
        AttachmentStore::ObjectStore(a),
        AttachmentStore::ObjectStore(b),
    );
    let bytes = pattern(1000, 5);
    let stored = a.put_bytes(&bytes, LIMIT).await.expect("put");
    assert_eq!(b.exists(&stored.hash).await.expect("exists"), Some(1000));
    assert!(b.put_bytes(&bytes, LIMIT).await.expect("put").existed);
    assert_eq!(read_all(&b, &stored.hash, ByteRange::ALL).await, bytes);
    assert_eq!(
        std::fs::read_dir(dir.path().join("spool"))
            .expect("spool")
            .count(),
        0
    );
}

#[tokio::test]
async fn a_replicated_bucket_keeps_a_blob_when_the_node_it_was_put_on_dies() {
    let mut cluster = NatsCluster::start();
    cluster.wait_healthy();
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |url: String, spool: std::path::PathBuf| async move {
        let client = async_nats::connect(url).await.expect("connect");
        let mut options = NatsStoreOptions::new(spool);
        options.replicas = 3;
        NatsStore::open(client, options).await.expect("open")
    };
    let writer = AttachmentStore::ObjectStore(open(cluster.url(0), dir.path().join("a")).await);
    let bytes = pattern(400_000, 11);
    let stored = writer.put(&mut &bytes[..], LIMIT).await.expect("put");
    // The bucket's stream has three replicas.
    let client = async_nats::connect(cluster.url(1)).await.expect("connect");
    let mut stream = async_nats::jetstream::new(client)
        .get_stream("OBJ_switchboard-attachments")
        .await
        .expect("the bucket's stream");
    assert_eq!(stream.info().await.expect("info").config.num_replicas, 3);
    cluster.kill(0);
    let reader = AttachmentStore::ObjectStore(open(cluster.url(2), dir.path().join("b")).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match reader.get(&stored.hash, ByteRange::ALL).await {
            Ok(Some(mut blob)) => {
                let mut out = Vec::new();
                if blob.reader.read_to_end(&mut out).await.is_ok() {
                    assert_eq!(out, bytes);
                    break;
                }
            }
            Ok(None) => panic!("the blob is gone with its node"),
            Err(_) => {} // the stream elects a new leader
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            cluster.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn concurrent_puts_of_one_content_give_one_blob() {
    for backend in [directory().await, object_store().await] {
        let bytes = pattern(150_000, 12);
        let puts = (0..4).map(|_| {
            let store = backend.store.clone();
            let bytes = bytes.clone();
            tokio::spawn(async move { store.put(&mut &bytes[..], LIMIT).await })
        });
        let results = futures::future::join_all(puts).await;
        for result in results {
            let stored = result.expect("task").expect("put");
            assert_eq!(stored.hash, BlobHash::of(&bytes));
        }
        assert_eq!(
            read_all(&backend.store, &BlobHash::of(&bytes), ByteRange::ALL).await,
            bytes
        );
    }
}
