//! The credential store, proven for both backends by one suite: every property is a generic
//! async fn over a [`Harness`]; `conformance!` instantiates each one as `sqlite::<property>` (a
//! temporary file) and `kv::<property>` (a bucket on a nats-server started for the test). A
//! harness opens as many handles on one storage as a test wants: two handles are two nodes.
//!
//! Revocation across handles is asserted within a generous 5 s; the measured delay is printed
//! (`--no-capture` shows it).
//!
//! - [`sign_in`]: accounts, passwords, throttling, the root token, expiry, reopening;
//! - [`revocation`]: logout, sign-out of everything, deactivation, two nodes;
//! - [`stored`]: API tokens, channel secrets, what lies in the storage.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard_gateway::credentials::{
    AuthMethod, Authenticated, Backend, CredentialError, CredentialOptions, CredentialStore,
    KvOptions, LoginError, Profile, RootToken, SecretKey, ThrottleConfig, TokenKind,
};
use switchboard_schemas::{ChannelId, OperatorId, ProjectId};
use switchboard_tests::NatsServer;

mod revocation;
mod sign_in;
mod stored;

use revocation::*;
use sign_in::*;
use stored::*;

const ROOT: &str = "root-token-of-the-tests-0001";
const PASSWORD: &str = "correct horse battery";
/// The bound a revocation must be seen within by another handle (the target is 1 s).
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

fn client() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
}

fn key(byte: u8) -> SecretKey {
    use base64::Engine;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32]);
    SecretKey::decode(&text).expect("key")
}

fn options() -> CredentialOptions {
    let (root, _) = RootToken::load(Some(ROOT.into()), Path::new("/nonexistent")).expect("root");
    CredentialOptions {
        root: Some(root),
        secret_key: Some(key(7)),
        ..Default::default()
    }
}

/// A storage under test.
trait Harness {
    /// A new handle on the storage, as one more node would open it.
    fn open(&self, options: CredentialOptions) -> impl Future<Output = CredentialStore>;
    /// Every byte stored so far, as it lies on disk (and, for the bucket, as its values read).
    fn stored_bytes(&self) -> impl Future<Output = Vec<u8>>;
}

struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("credentials.sqlite")
    }
}

impl Harness for SqliteHarness {
    async fn open(&self, options: CredentialOptions) -> CredentialStore {
        CredentialStore::open_sqlite(&self.path(), options)
            .await
            .expect("open the credential file")
    }

    async fn stored_bytes(&self) -> Vec<u8> {
        files_bytes(self.dir.path())
    }
}

struct KvHarness {
    server: NatsServer,
}

impl KvHarness {
    async fn new() -> Self {
        Self {
            server: tokio::task::block_in_place(NatsServer::start),
        }
    }
}

impl Harness for KvHarness {
    async fn open(&self, options: CredentialOptions) -> CredentialStore {
        let client = async_nats::connect(self.server.url())
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", self.server.log_tail()));
        CredentialStore::open_kv(client, KvOptions::default(), options)
            .await
            .expect("open the credential bucket")
    }

    async fn stored_bytes(&self) -> Vec<u8> {
        let store = self.open(options()).await;
        let Backend::Kv(kv) = store.backend() else {
            panic!("not a bucket");
        };
        let mut bytes = Vec::new();
        for (key, value) in kv.raw_entries().await.expect("entries") {
            bytes.extend_from_slice(key.as_bytes());
            bytes.extend_from_slice(&value);
        }
        bytes.extend(files_bytes(&self.server.store_dir()));
        bytes
    }
}

/// The contents of every file under `dir`.
fn files_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(content) = std::fs::read(&path) {
                bytes.extend(content);
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An account in a new project; its project and operator.
async fn account(store: &CredentialStore, email: &str) -> (ProjectId, OperatorId) {
    let (project, operator) = (ProjectId::new(), OperatorId::new());
    store
        .create_account(project, operator, email, PASSWORD)
        .await
        .expect("create account");
    (project, operator)
}

/// Whether `token` authenticates as a bearer token on `store`.
async fn lives(store: &CredentialStore, token: &str) -> bool {
    store
        .authenticate_bearer(token)
        .await
        .expect("authenticate")
        .is_some()
}

/// Polls `check` until it holds; the time it took, or a panic past [`REVOCATION_BOUND`].
async fn seen_within<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            let took = start.elapsed();
            println!("{what}: seen after {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < REVOCATION_BOUND,
            "{what}: not seen within {REVOCATION_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

macro_rules! conformance {
    ($($property:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let harness = super::SqliteHarness::new();
                    super::$property(&harness).await;
                }
            )+
        }

        mod kv {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let harness = super::KvHarness::new().await;
                    super::$property(&harness).await;
                }
            )+
        }
    };
}

conformance!(
    sign_in_and_authenticate,
    one_email_one_account_across_nodes,
    wrong_password_and_unknown_email_fail_alike,
    throttling_kicks_in_and_recovers,
    set_password_replaces_it,
    expired_sessions_end,
    credentials_outlive_the_handle,
    last_use_is_recorded,
    logout_ends_one_session,
    logout_all_ends_sessions_and_tokens,
    deactivation_ends_everything,
    revocations_reach_the_other_node,
    api_tokens_are_listed_and_revoked,
    only_hashes_are_stored,
    channel_secrets,
    profiles_are_kept_per_person,
);
