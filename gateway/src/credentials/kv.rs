//! The credential store in a JetStream key-value bucket (installations with `--nats`): every
//! node reads and writes the same bucket, and watches it so that a revocation through any node
//! drops the cached authentications it ends on every other node (the watch delivers within
//! milliseconds; the cache is not used while the watch or the connection is down).
//!
//! Keys (values are JSON, except sealed secrets which are their bytes):
//! - `account.<operator>` → [`Account`]; changed with compare-and-set on its revision;
//! - `email.<sha256 of the normalised email>` → the operator id: created exclusively, it makes
//!   emails unique across the installation;
//! - `session.<token hash>` → [`Session`], with a message TTL to its expiry: the server deletes
//!   it then (the bucket allows per-message TTLs; their delete markers live a minute);
//! - `token.<token hash>` → [`ApiToken`];
//! - `tokens.<project>` → the hashes of the project's API tokens (compare-and-set);
//! - `secret.<channel>` → a sealed channel secret.
//!
//! Ids are 32 lowercase hex digits and hashes 64. The watch covers `account.>`, `session.>`
//! and `token.>`.

use super::AccountChange;
use super::cache::{AuthCache, Invalidation};
use super::records::{Account, ApiToken, ApiTokenId, CredentialError, Email, Profile, Session};
use super::tokens::TokenHash;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Weak};
use std::time::Duration;
use switchboard_schemas::{ChannelId, OperatorId, ProjectId, Timestamp};

/// The bucket's default name.
pub const DEFAULT_BUCKET: &str = "switchboard-credentials";
/// Tries of a compare-and-set before giving up.
const CAS_TRIES: usize = 16;
/// How long the marker of a session the server expired stays in the bucket.
const SESSION_MARKER_TTL: Duration = Duration::from_secs(60);
/// How often the watcher checks the connection, and waits before watching again.
const WATCH_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Where the bucket is.
#[derive(Clone, Debug)]
pub struct KvOptions {
    pub bucket: String,
    /// Replicas when the bucket is created (3 on a cluster).
    pub replicas: usize,
}

impl Default for KvOptions {
    fn default() -> Self {
        Self {
            bucket: DEFAULT_BUCKET.to_owned(),
            replicas: 1,
        }
    }
}

/// A handle on the bucket. Cheap to clone.
#[derive(Clone)]
pub struct KvCredentials {
    client: async_nats::Client,
    store: Arc<kv::Store>,
}

impl std::fmt::Debug for KvCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCredentials")
            .field("bucket", &self.store.name)
            .finish()
    }
}

fn storage(what: &str, e: impl std::fmt::Display) -> CredentialError {
    CredentialError::Storage(format!("{what}: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, CredentialError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| storage("cannot encode a credential record", e))
}

/// Decodes the value of `key`; an error names the key's family only (a key may hold a token
/// hash, which no message carries).
fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, CredentialError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let family = key.split('.').next().unwrap_or_default();
        CredentialError::Corrupt(format!("a `{family}` record: {e}"))
    })
}

fn account_key(operator: OperatorId) -> String {
    format!("account.{}", operator.token())
}

fn email_key(email: &Email) -> String {
    format!(
        "email.{}",
        hex::encode(Sha256::digest(email.as_str().as_bytes()))
    )
}

fn session_key(hash: &TokenHash) -> String {
    format!("session.{}", hash.to_hex())
}

fn token_key(hash: &TokenHash) -> String {
    format!("token.{}", hash.to_hex())
}

fn project_tokens_key(project: ProjectId) -> String {
    format!("tokens.{}", project.token())
}

fn secret_key(channel: ChannelId) -> String {
    format!("secret.{}", channel.token())
}

fn profile_key(operator: OperatorId) -> String {
    format!("profile.{}", operator.token())
}

/// What a watched change revokes, if anything. New sessions and tokens, touches of sessions
/// and changes of accounts that never revoked anything (both epochs 0, active) end nothing; a
/// record that does not decode is taken as a revocation.
fn revocation_of(entry: &kv::Entry) -> Option<Invalidation> {
    let Some((family, rest)) = entry.key.split_once('.') else {
        return Some(Invalidation::All);
    };
    let put = entry.operation == Operation::Put;
    match family {
        "session" => {
            let hash = TokenHash::from_hex(rest)?;
            (!put).then_some(Invalidation::Token(hash))
        }
        "token" => {
            let hash = TokenHash::from_hex(rest)?;
            let live = put
                && serde_json::from_slice::<ApiToken>(&entry.value)
                    .is_ok_and(|token| !token.revoked);
            (!live).then_some(Invalidation::Token(hash))
        }
        "account" => {
            let operator = rest.parse::<OperatorId>().ok()?;
            let untouched = put
                && serde_json::from_slice::<Account>(&entry.value).is_ok_and(|account| {
                    account.active && account.epoch == 0 && account.session_epoch == 0
                });
            (!untouched).then_some(Invalidation::Operator(operator))
        }
        // A person's settings end no credential.
        "profile" => None,
        _ => Some(Invalidation::All),
    }
}

impl KvCredentials {
    /// Opens the bucket, creating it when missing.
    pub async fn open(
        client: async_nats::Client,
        options: KvOptions,
    ) -> Result<Self, CredentialError> {
        let config = kv::Config {
            bucket: options.bucket.clone(),
            description: "Switchboard credentials and channel secrets".into(),
            history: 1,
            num_replicas: options.replicas.max(1),
            // Per-message TTLs (sessions), their delete markers kept a minute.
            limit_markers: Some(SESSION_MARKER_TTL),
            ..Default::default()
        };
        let store = crate::backend::open_bucket(client.clone(), config)
            .await
            .map_err(CredentialError::Storage)?;
        Ok(Self {
            client,
            store: Arc::new(store),
        })
    }

    /// The bucket's raw value of `key` (for tests that look at what is stored).
    pub async fn raw(&self, key: &str) -> Result<Option<Bytes>, CredentialError> {
        self.store
            .get(key)
            .await
            .map_err(|e| storage("cannot read the credential bucket", e))
    }

    /// Every key of the bucket with its raw value (for tests that look at what is stored).
    pub async fn raw_entries(&self) -> Result<Vec<(String, Bytes)>, CredentialError> {
        let mut keys = self
            .store
            .keys()
            .await
            .map_err(|e| storage("cannot list the credential bucket", e))?;
        let mut entries = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| storage("cannot list the credential bucket", e))?;
            if let Some(value) = self.raw(&key).await? {
                entries.push((key, value));
            }
        }
        Ok(entries)
    }

    async fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CredentialError> {
        match self.raw(key).await? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn insert_account(&self, account: Account) -> Result<(), CredentialError> {
        let email = email_key(&account.email);
        match self
            .store
            .create(&email, Bytes::from(account.operator.token()))
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                return Err(CredentialError::EmailTaken);
            }
            Err(e) => return Err(storage("cannot claim the email", e)),
        }
        let created = self
            .store
            .create(account_key(account.operator), encode(&account)?)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) => {
                // The email stays free for a retry; a failure to free it is reported below.
                let _ = self.store.delete(&email).await;
                if e.kind() == CreateErrorKind::AlreadyExists {
                    Err(CredentialError::OperatorExists)
                } else {
                    Err(storage("cannot store the account", e))
                }
            }
        }
    }

    pub(super) async fn account(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Account>, CredentialError> {
        self.read(&account_key(operator)).await
    }

    pub(super) async fn account_by_email(
        &self,
        email: Email,
    ) -> Result<Option<Account>, CredentialError> {
        let key = email_key(&email);
        let Some(operator) = self.raw(&key).await? else {
            return Ok(None);
        };
        let operator = std::str::from_utf8(&operator)
            .ok()
            .and_then(|text| text.parse::<OperatorId>().ok())
            .ok_or_else(|| {
                CredentialError::Corrupt("an `email` record: not an operator id".into())
            })?;
        // An email claimed by an account whose creation failed half-way has no account.
        Ok(self
            .account(operator)
            .await?
            .filter(|account| account.email == email))
    }

    /// Applies `change` with compare-and-set; the account after it, or none when unknown.
    pub(super) async fn change_account(
        &self,
        operator: OperatorId,
        change: AccountChange,
    ) -> Result<Option<Account>, CredentialError> {
        let key = account_key(operator);
        for _ in 0..CAS_TRIES {
            let Some(entry) = self
                .store
                .entry(&key)
                .await
                .map_err(|e| storage("cannot read the account", e))?
                .filter(|entry| entry.operation == Operation::Put)
            else {
                return Ok(None);
            };
            let mut account: Account = decode(&key, &entry.value)?;
            change.apply(&mut account);
            match self
                .store
                .update(&key, encode(&account)?, entry.revision)
                .await
            {
                Ok(_) => return Ok(Some(account)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(storage("cannot change the account", e)),
            }
        }
        Err(CredentialError::Storage(format!(
            "a record kept changing under {CAS_TRIES} tries"
        )))
    }

    /// Stores a session with a message TTL running to its expiry, so the server deletes it then
    /// (a session never presented again would otherwise stay forever). With `revision`, only
    /// over that revision of the key (a touch must not bring back a deleted session).
    async fn put_session(
        &self,
        session: &Session,
        revision: Option<u64>,
    ) -> Result<bool, CredentialError> {
        let remaining = session.expires_at.as_micros() - Timestamp::now().as_micros();
        // Whole seconds, rounded up, at least one.
        let ttl_secs = u64::try_from(remaining)
            .unwrap_or(0)
            .div_ceil(1_000_000)
            .max(1);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_TTL,
            ttl_secs.to_string().as_str(),
        );
        if let Some(revision) = revision {
            headers.insert(
                async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                revision.to_string().as_str(),
            );
        }
        let subject = format!("{}{}", self.store.prefix, session_key(&session.hash));
        // A context is a few fields over the client: made per sign-in rather than kept.
        let acked = async_nats::jetstream::new(self.client.clone())
            .publish_with_headers(subject, headers, encode(session)?)
            .await
            .map_err(|e| storage("cannot store the session", e))?
            .await;
        match acked {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(false),
            Err(e) => Err(storage("cannot store the session", e)),
        }
    }

    pub(super) async fn insert_session(&self, session: Session) -> Result<(), CredentialError> {
        self.put_session(&session, None).await.map(drop)
    }

    pub(super) async fn session(
        &self,
        hash: TokenHash,
    ) -> Result<Option<Session>, CredentialError> {
        self.read(&session_key(&hash)).await
    }

    /// Rewrites a session's `last_seen`, unless it changed or was deleted meanwhile (a touch
    /// must not bring back a session signed out under it).
    pub(super) async fn touch_session(&self, session: Session) -> Result<(), CredentialError> {
        let key = session_key(&session.hash);
        let entry = self
            .store
            .entry(&key)
            .await
            .map_err(|e| storage("cannot read the session", e))?
            .filter(|entry| entry.operation == Operation::Put);
        let Some(entry) = entry else {
            return Ok(());
        };
        self.put_session(&session, Some(entry.revision))
            .await
            .map(drop)
    }

    /// Deletes a session; whether there was one.
    pub(super) async fn delete_session(&self, hash: TokenHash) -> Result<bool, CredentialError> {
        let key = session_key(&hash);
        if self.raw(&key).await?.is_none() {
            return Ok(false);
        }
        self.store
            .delete(&key)
            .await
            .map_err(|e| storage("cannot delete the session", e))?;
        Ok(true)
    }

    pub(super) async fn insert_token(&self, token: ApiToken) -> Result<(), CredentialError> {
        self.store
            .create(token_key(&token.hash), encode(&token)?)
            .await
            .map_err(|e| storage("cannot store the API token", e))?;
        let key = project_tokens_key(token.project);
        for _ in 0..CAS_TRIES {
            let entry = self
                .store
                .entry(&key)
                .await
                .map_err(|e| storage("cannot read the token list", e))?
                .filter(|entry| entry.operation == Operation::Put);
            let (mut hashes, revision): (Vec<TokenHash>, u64) = match &entry {
                Some(entry) => (decode(&key, &entry.value)?, entry.revision),
                None => (Vec::new(), 0),
            };
            hashes.push(token.hash);
            let written = match entry {
                Some(_) => match self.store.update(&key, encode(&hashes)?, revision).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                    Err(e) => Err(storage("cannot list the API token", e)),
                },
                None => match self.store.create(&key, encode(&hashes)?).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(storage("cannot list the API token", e)),
                },
            };
            if written? {
                return Ok(());
            }
        }
        Err(CredentialError::Storage(format!(
            "a record kept changing under {CAS_TRIES} tries"
        )))
    }

    pub(super) async fn token(&self, hash: TokenHash) -> Result<Option<ApiToken>, CredentialError> {
        self.read(&token_key(&hash)).await
    }

    pub(super) async fn tokens_of(
        &self,
        project: ProjectId,
    ) -> Result<Vec<ApiToken>, CredentialError> {
        let hashes: Vec<TokenHash> = self
            .read(&project_tokens_key(project))
            .await?
            .unwrap_or_default();
        let mut tokens = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(token) = self.token(hash).await? {
                tokens.push(token);
            }
        }
        tokens.sort_by_key(|token| token.id.as_uuid().as_u128());
        Ok(tokens)
    }

    /// Marks a token of `project` revoked; its hash when it was live.
    pub(super) async fn revoke_token(
        &self,
        project: ProjectId,
        id: ApiTokenId,
    ) -> Result<Option<TokenHash>, CredentialError> {
        let Some(token) = self
            .tokens_of(project)
            .await?
            .into_iter()
            .find(|token| token.id == id && !token.revoked)
        else {
            return Ok(None);
        };
        let revoked = ApiToken {
            revoked: true,
            ..token
        };
        self.store
            .put(token_key(&revoked.hash), encode(&revoked)?)
            .await
            .map_err(|e| storage("cannot revoke the API token", e))?;
        Ok(Some(revoked.hash))
    }

    pub(super) async fn put_secret(
        &self,
        channel: ChannelId,
        sealed: Vec<u8>,
    ) -> Result<(), CredentialError> {
        self.store
            .put(secret_key(channel), Bytes::from(sealed))
            .await
            .map(drop)
            .map_err(|e| storage("cannot store the secret", e))
    }

    pub(super) async fn secret(
        &self,
        channel: ChannelId,
    ) -> Result<Option<Vec<u8>>, CredentialError> {
        Ok(self
            .raw(&secret_key(channel))
            .await?
            .map(|bytes| bytes.to_vec()))
    }

    pub(super) async fn delete_secret(&self, channel: ChannelId) -> Result<bool, CredentialError> {
        let key = secret_key(channel);
        if self.raw(&key).await?.is_none() {
            return Ok(false);
        }
        self.store
            .delete(&key)
            .await
            .map_err(|e| storage("cannot delete the secret", e))?;
        Ok(true)
    }

    pub(super) async fn put_profile(
        &self,
        operator: OperatorId,
        profile: Profile,
    ) -> Result<(), CredentialError> {
        self.store
            .put(profile_key(operator), encode(&profile)?)
            .await
            .map(drop)
            .map_err(|e| storage("cannot store the profile", e))
    }

    pub(super) async fn profile(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Profile>, CredentialError> {
        let key = profile_key(operator);
        self.raw(&key)
            .await?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    /// Starts the task that watches the bucket for `cache`; it ends when the cache is dropped.
    pub(super) fn watch(&self, cache: Weak<AuthCache>) {
        let this = self.clone();
        tokio::spawn(async move { this.watch_loop(cache).await });
    }

    async fn watch_loop(self, cache: Weak<AuthCache>) {
        loop {
            match self
                .store
                .watch_many(["account.>", "session.>", "token.>"])
                .await
            {
                Ok(mut watch) => {
                    let Some(live) = cache.upgrade() else {
                        return;
                    };
                    live.set_live(true);
                    drop(live);
                    let mut check = tokio::time::interval(WATCH_CHECK_EVERY);
                    loop {
                        tokio::select! {
                            entry = watch.next() => match entry {
                                Some(Ok(entry)) => {
                                    let Some(cache) = cache.upgrade() else { return };
                                    if let Some(revoked) = revocation_of(&entry) {
                                        cache.revoke(revoked);
                                    }
                                }
                                Some(Err(e)) => {
                                    tracing::warn!(error = %e, "credential watch failed");
                                    break;
                                }
                                None => break,
                            },
                            _ = check.tick() => {
                                if cache.strong_count() == 0 {
                                    return;
                                }
                                if self.client.connection_state()
                                    != async_nats::connection::State::Connected
                                {
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot watch the credential bucket"),
            }
            let Some(live) = cache.upgrade() else {
                return;
            };
            live.set_live(false);
            drop(live);
            tokio::time::sleep(WATCH_CHECK_EVERY).await;
        }
    }
}
