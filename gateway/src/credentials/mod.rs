//! The credential store (issue 16): operator accounts with argon2id passwords, sessions, API
//! tokens, the root token and channel secrets. Credentials are not events: nothing here writes
//! to the event log. No password or token is stored (only argon2id and SHA-256 hashes), a token
//! exists in clear only in the answer that hands it out ([`IssuedToken`]), and no type prints a
//! secret or a hash in its `Debug`.
//!
//! [`CredentialStore`] is the one API the HTTP layer calls; underneath, a [`Backend`] keeps the
//! records in a SQLite file (embedded) or a JetStream key-value bucket (`--nats`), which every
//! node sees. Authentication is an in-memory hit most of the time ([`cache`]): a token's
//! SHA-256, one map lookup.
//!
//! Revocation: an account's `epoch` is bumped by deactivation and by signing out everywhere, and
//! a session or token issued at another epoch is dead, so ending all of an operator's
//! credentials is one write; a new password bumps the `session_epoch`, which only sessions
//! carry. Each handle learns of revocations by others through its backend's
//! feed (SQLite: a revision counter polled every 100 ms; KV: a watch of the bucket) and drops
//! the cached answers they end.
//!
//! Submodules: [`records`] (the types), [`tokens`], [`password`], [`throttle`], [`root`],
//! [`secrets`], [`cache`], [`backend`] with [`sqlite`] and [`kv`].

pub mod backend;
pub mod cache;
pub mod kv;
pub mod password;
pub mod records;
pub mod root;
pub mod secrets;
pub mod sqlite;
pub mod throttle;
pub mod tokens;

#[cfg(test)]
mod tests;

pub use backend::Backend;
pub use kv::{KvCredentials, KvOptions};
pub use password::PasswordPhc;
pub use records::{
    Account, ApiToken, ApiTokenId, AuthMethod, Authenticated, CredentialError, Email, LoginError,
    NewApiToken, NewSession, Profile, Session,
};
pub use root::{RootToken, RootTokenOrigin};
pub use secrets::{SecretBytes, SecretKey, SecretKeyOrigin};
pub use sqlite::SqliteCredentials;
pub use throttle::ThrottleConfig;
pub use tokens::{Csrf, IssuedToken, TokenHash, TokenKind};

use cache::{AuthCache, Cached, Invalidation};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_schemas::{ChannelId, OperatorId, ProjectId, Timestamp};
use throttle::Throttle;

/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's `last_seen` is written when it is older than this (the default of
/// [`CredentialOptions::last_seen_every`]). Cached lookups write nothing: it moves at most once
/// per cache lifetime of an entry ([`cache::MAX_AGE`]).
pub const LAST_SEEN_EVERY: Duration = Duration::from_secs(300);
/// Longest API token name (characters).
pub const MAX_TOKEN_NAME_CHARS: usize = 100;

/// What a store is opened with.
#[derive(Clone, Debug)]
pub struct CredentialOptions {
    pub session_ttl: Duration,
    pub throttle: ThrottleConfig,
    /// The root token, when this node accepts it.
    pub root: Option<RootToken>,
    /// The key of channel secrets; without it the `secrets` calls answer `NoSecretKey`.
    pub secret_key: Option<SecretKey>,
    /// A session's `last_seen` is rewritten when a lookup from the backend finds it older.
    pub last_seen_every: Duration,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            session_ttl: SESSION_TTL,
            throttle: ThrottleConfig::default(),
            root: None,
            secret_key: None,
            last_seen_every: LAST_SEEN_EVERY,
        }
    }
}

impl CredentialOptions {
    /// The options `serve` starts with: the root token and the secret key from the environment
    /// or `data_dir` (each generated there, 0600, at the first start), the other settings at
    /// their defaults. The caller prints a generated root token once
    /// ([`RootTokenOrigin::Generated`]).
    pub fn from_environment(
        data_dir: &Path,
    ) -> Result<(Self, RootTokenOrigin, SecretKeyOrigin), CredentialError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CredentialError::Storage(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let (root, root_origin) = RootToken::from_environment(data_dir)?;
        let (key, key_origin) = SecretKey::from_environment(data_dir)?;
        let options = Self {
            root: Some(root),
            secret_key: Some(key),
            ..Self::default()
        };
        Ok((options, root_origin, key_origin))
    }
}

/// A change of one account, applied atomically by a backend.
#[derive(Clone, Debug)]
pub(crate) enum AccountChange {
    /// A new password; every session ended (session epoch bumped), API tokens kept.
    Password(PasswordPhc),
    /// Inactive, and every session and token ended (epoch bumped).
    Deactivate,
    Activate,
    /// Every session and token ended (epoch bumped).
    EndAll,
}

impl AccountChange {
    pub fn apply(&self, account: &mut Account) {
        match self {
            Self::Password(phc) => {
                account.password = phc.clone();
                account.session_epoch += 1;
            }
            Self::Deactivate => {
                account.active = false;
                account.epoch += 1;
            }
            Self::Activate => account.active = true,
            Self::EndAll => account.epoch += 1,
        }
    }

    /// Whether it ends some of the account's credentials (sessions at least).
    pub fn revokes(&self) -> bool {
        !matches!(self, Self::Activate)
    }
}

/// The credential store. Cheap to clone; every clone shares one cache and one throttle.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    cache: Arc<AuthCache>,
    throttle: Throttle,
    options: CredentialOptions,
}

fn later(at: Timestamp, by: Duration) -> Timestamp {
    let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(at.as_micros().saturating_add(micros))
}

fn blocking_failed(e: tokio::task::JoinError) -> CredentialError {
    CredentialError::Storage(format!("a password task failed: {e}"))
}

impl CredentialStore {
    /// A store on the SQLite file at `path` (created when missing).
    pub async fn open_sqlite(
        path: &Path,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let path = path.to_owned();
        let store = tokio::task::spawn_blocking(move || SqliteCredentials::open(&path))
            .await
            .map_err(blocking_failed)??;
        Self::new(Backend::Sqlite(store), options)
    }

    /// A store on the bucket of `kv` over `client` (created when missing).
    pub async fn open_kv(
        client: async_nats::Client,
        kv: KvOptions,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let store = KvCredentials::open(client, kv).await?;
        Self::new(Backend::Kv(store), options)
    }

    /// A store on `backend`; starts its invalidation feed (SQLite: a thread; KV: a task of the
    /// current tokio runtime) and prepares the dummy password hash on the blocking pool.
    pub fn new(backend: Backend, options: CredentialOptions) -> Result<Self, CredentialError> {
        tokio::task::spawn_blocking(password::prepare_dummy);
        let cache = Arc::new(AuthCache::default());
        backend.watch(Arc::downgrade(&cache))?;
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                cache,
                throttle: Throttle::new(options.throttle),
                options,
            }),
        })
    }

    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// Whether the cache is in use (its invalidation feed is up).
    pub fn cache_is_live(&self) -> bool {
        self.inner.cache.is_live()
    }

    /// Whether `token` is the root token (constant time); false when this node has none.
    pub fn is_root(&self, token: &str) -> bool {
        self.inner
            .options
            .root
            .as_ref()
            .is_some_and(|root| root.matches(token))
    }

    /// Creates the sign-in account of `operator` in `project` (root creates a project's first
    /// admin, admins the others). The email must be free across the installation.
    pub async fn create_account(
        &self,
        project: ProjectId,
        operator: OperatorId,
        email: &str,
        password: &str,
    ) -> Result<Account, CredentialError> {
        let email = Email::parse(email)?;
        password::check_policy(password)?;
        let password = password.to_owned();
        let phc = tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(blocking_failed)??;
        let account = Account {
            operator,
            project,
            email,
            password: phc,
            active: true,
            epoch: 0,
            session_epoch: 0,
            created_at: Timestamp::now(),
        };
        self.inner.backend.insert_account(account.clone()).await?;
        Ok(account)
    }

    pub async fn account(&self, operator: OperatorId) -> Result<Option<Account>, CredentialError> {
        self.inner.backend.account(operator).await
    }

    /// Sets a new password and ends every session of the operator (a stolen cookie dies with
    /// the old password); API tokens stay ([`CredentialStore::logout_all`] ends them too). A
    /// caller changing its own password signs in again with the new one.
    pub async fn set_password(
        &self,
        operator: OperatorId,
        password: &str,
    ) -> Result<(), CredentialError> {
        password::check_policy(password)?;
        let password = password.to_owned();
        let phc = tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(blocking_failed)??;
        self.change(operator, AccountChange::Password(phc)).await
    }

    /// Deactivates `operator`: no sign-in, and every session and token of theirs ends at once.
    pub async fn deactivate(&self, operator: OperatorId) -> Result<(), CredentialError> {
        self.change(operator, AccountChange::Deactivate).await
    }

    /// Lets a deactivated operator sign in again (their old sessions and tokens stay dead).
    pub async fn reactivate(&self, operator: OperatorId) -> Result<(), CredentialError> {
        self.change(operator, AccountChange::Activate).await
    }

    /// Signs `operator` out everywhere: every session and API token of theirs ends.
    pub async fn logout_all(&self, operator: OperatorId) -> Result<(), CredentialError> {
        self.change(operator, AccountChange::EndAll).await
    }

    async fn change(
        &self,
        operator: OperatorId,
        change: AccountChange,
    ) -> Result<(), CredentialError> {
        let revokes = change.revokes();
        let changed = self.inner.backend.change_account(operator, change).await?;
        if revokes {
            self.inner.cache.revoke(Invalidation::Operator(operator));
        }
        changed.map(drop).ok_or(CredentialError::UnknownOperator)
    }

    /// Signs in with email and password from `client`: throttled per email and per address,
    /// the password verified on the blocking pool; an unknown email costs the same time as a
    /// wrong password and fails the same way.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<NewSession, LoginError> {
        let throttle_key = email.trim().to_lowercase();
        self.inner
            .throttle
            .attempt(&throttle_key, client)
            .map_err(|retry_after| LoginError::Throttled { retry_after })?;
        let account = match Email::parse(email) {
            Ok(email) => self.inner.backend.account_by_email(email).await?,
            Err(_) => None,
        };
        let password = password.to_owned();
        let (account, verified) = tokio::task::spawn_blocking(move || match account {
            Some(account) => {
                let verified = password::verify(&password, &account.password);
                (Some(account), verified)
            }
            None => {
                password::verify_dummy(&password);
                (None, false)
            }
        })
        .await
        .map_err(blocking_failed)?;
        let Some(account) = account.filter(|_| verified) else {
            return Err(LoginError::BadCredentials);
        };
        if !account.active {
            return Err(LoginError::Deactivated);
        }
        Ok(self.begin_session(&account).await?)
    }

    async fn begin_session(&self, account: &Account) -> Result<NewSession, CredentialError> {
        let token = IssuedToken::generate(TokenKind::Session)
            .map_err(|e| CredentialError::Storage(e.to_string()))?;
        let csrf = Csrf::generate().map_err(|e| CredentialError::Storage(e.to_string()))?;
        let now = Timestamp::now();
        let session = Session {
            hash: token.hash(),
            operator: account.operator,
            project: account.project,
            epoch: account.epoch,
            session_epoch: account.session_epoch,
            created_at: now,
            expires_at: later(now, self.inner.options.session_ttl),
            csrf: csrf.clone(),
            last_seen: now,
        };
        let expires_at = session.expires_at;
        self.inner.backend.insert_session(session).await?;
        // Sessions that ran out are swept at sign-ins (an indexed delete, usually of nothing);
        // the session is stored by now, so a failed sweep is only logged.
        if let Err(e) = self.inner.backend.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "cannot delete expired sessions");
        }
        Ok(NewSession {
            token,
            csrf,
            operator: account.operator,
            project: account.project,
            expires_at,
        })
    }

    /// The stored record of a session token (its expiry, last use and CSRF token), read from the
    /// backend; `None` when there is none, also for an ended one still stored.
    pub async fn session(&self, session_token: &str) -> Result<Option<Session>, CredentialError> {
        if TokenKind::of(session_token) != Some(TokenKind::Session) {
            return Ok(None);
        }
        let Some(session) = self
            .inner
            .backend
            .session(TokenHash::of(session_token))
            .await?
        else {
            return Ok(None);
        };
        let live = session.expires_at > Timestamp::now()
            && self
                .live_account(
                    session.operator,
                    session.project,
                    session.epoch,
                    Some(session.session_epoch),
                )
                .await?;
        Ok(live.then_some(session))
    }

    /// Ends one session; whether it was there.
    pub async fn logout(&self, session_token: &str) -> Result<bool, CredentialError> {
        if TokenKind::of(session_token) != Some(TokenKind::Session) {
            return Ok(false);
        }
        let hash = TokenHash::of(session_token);
        let deleted = self.inner.backend.delete_session(hash).await?;
        self.inner.cache.revoke(Invalidation::Token(hash));
        Ok(deleted)
    }

    /// Who a bearer token (`Authorization: Bearer …`) is: the root token, a session token or an
    /// API token. `None` for anything else, expired or revoked.
    pub async fn authenticate_bearer(
        &self,
        token: &str,
    ) -> Result<Option<Authenticated>, CredentialError> {
        match TokenKind::of(token) {
            Some(TokenKind::Session | TokenKind::Api) => {
                Ok(self.resolve(token).await?.map(|cached| cached.principal))
            }
            _ => Ok(self.is_root(token).then_some(Authenticated::Root)),
        }
    }

    /// Who a session cookie is, with the session's CSRF token (which cookie-authenticated
    /// writes must present). `None` for anything but a live session token.
    pub async fn authenticate_session(
        &self,
        token: &str,
    ) -> Result<Option<(Authenticated, Csrf)>, CredentialError> {
        if TokenKind::of(token) != Some(TokenKind::Session) {
            return Ok(None);
        }
        Ok(self.resolve(token).await?.and_then(|cached| {
            let csrf = cached.csrf.clone()?;
            Some((cached.principal, csrf))
        }))
    }

    /// The cached answer for a session or API token, read from the backend on a miss.
    async fn resolve(&self, token: &str) -> Result<Option<Arc<Cached>>, CredentialError> {
        let hash = TokenHash::of(token);
        let now = Timestamp::now();
        if let Some(cached) = self.inner.cache.get(&hash) {
            if cached.expires_at.is_some_and(|expires| expires <= now) {
                self.inner.cache.invalidate(Invalidation::Token(hash));
                return Ok(None);
            }
            return Ok(Some(cached));
        }
        let generation = self.inner.cache.generation();
        let loaded = match TokenKind::of(token) {
            Some(TokenKind::Session) => self.load_session(hash, now).await?,
            Some(TokenKind::Api) => self.load_api_token(hash).await?,
            _ => None,
        };
        Ok(loaded.map(|cached| {
            let cached = Arc::new(cached);
            self.inner
                .cache
                .insert(generation, hash, Arc::clone(&cached));
            cached
        }))
    }

    /// Whether the account of a session or token is active in `project` at `epoch` (and, for a
    /// session, at `session_epoch`).
    async fn live_account(
        &self,
        operator: OperatorId,
        project: ProjectId,
        epoch: u64,
        session_epoch: Option<u64>,
    ) -> Result<bool, CredentialError> {
        Ok(self
            .inner
            .backend
            .account(operator)
            .await?
            .is_some_and(|account| {
                account.active
                    && account.epoch == epoch
                    && account.project == project
                    && session_epoch.is_none_or(|seen| seen == account.session_epoch)
            }))
    }

    async fn load_session(
        &self,
        hash: TokenHash,
        now: Timestamp,
    ) -> Result<Option<Cached>, CredentialError> {
        let Some(session) = self.inner.backend.session(hash).await? else {
            return Ok(None);
        };
        let alive = session.expires_at > now
            && self
                .live_account(
                    session.operator,
                    session.project,
                    session.epoch,
                    Some(session.session_epoch),
                )
                .await?;
        if !alive {
            // Cleaning up is not the caller's business: a failure is only logged.
            if let Err(e) = self.inner.backend.delete_session(hash).await {
                tracing::warn!(error = %e, "cannot delete an ended session");
            }
            return Ok(None);
        }
        let seen_every =
            i64::try_from(self.inner.options.last_seen_every.as_micros()).unwrap_or(i64::MAX);
        if now.as_micros() - session.last_seen.as_micros() > seen_every {
            let backend = self.inner.backend.clone();
            let touched = Session {
                last_seen: now,
                ..session.clone()
            };
            tokio::spawn(async move {
                if let Err(e) = backend.touch_session(touched).await {
                    tracing::warn!(error = %e, "cannot record a session's last use");
                }
            });
        }
        Ok(Some(Cached {
            principal: Authenticated::Operator {
                operator: session.operator,
                project: session.project,
                method: AuthMethod::Session,
            },
            operator: Some(session.operator),
            csrf: Some(session.csrf),
            expires_at: Some(session.expires_at),
            loaded_at: Instant::now(),
        }))
    }

    async fn load_api_token(&self, hash: TokenHash) -> Result<Option<Cached>, CredentialError> {
        let Some(token) = self.inner.backend.token(hash).await? else {
            return Ok(None);
        };
        if token.revoked
            || !self
                .live_account(token.operator, token.project, token.epoch, None)
                .await?
        {
            return Ok(None);
        }
        Ok(Some(Cached {
            principal: Authenticated::Operator {
                operator: token.operator,
                project: token.project,
                method: AuthMethod::ApiToken(token.id),
            },
            operator: Some(token.operator),
            csrf: None,
            expires_at: None,
            loaded_at: Instant::now(),
        }))
    }

    /// Creates an API token acting as `operator` (an admin, checked by the caller) in their
    /// project. The token is in the answer only; the store keeps its hash. An unknown or
    /// deactivated operator is [`CredentialError::UnknownOperator`].
    pub async fn create_api_token(
        &self,
        operator: OperatorId,
        name: &str,
    ) -> Result<NewApiToken, CredentialError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME_CHARS {
            return Err(CredentialError::InvalidName(
                "empty or longer than 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(CredentialError::InvalidName("contains control characters"));
        }
        let account = self
            .inner
            .backend
            .account(operator)
            .await?
            .filter(|account| account.active)
            .ok_or(CredentialError::UnknownOperator)?;
        let token = IssuedToken::generate(TokenKind::Api)
            .map_err(|e| CredentialError::Storage(e.to_string()))?;
        let record = ApiToken {
            id: ApiTokenId::new(),
            name: name.to_owned(),
            hash: token.hash(),
            operator,
            project: account.project,
            epoch: account.epoch,
            created_at: Timestamp::now(),
            revoked: false,
        };
        self.inner.backend.insert_token(record.clone()).await?;
        Ok(NewApiToken { token, record })
    }

    /// The API tokens of `project`, revoked ones included, oldest first.
    pub async fn list_api_tokens(
        &self,
        project: ProjectId,
    ) -> Result<Vec<ApiToken>, CredentialError> {
        self.inner.backend.tokens_of(project).await
    }

    /// Revokes a token of `project`; whether it was live.
    pub async fn revoke_api_token(
        &self,
        project: ProjectId,
        id: ApiTokenId,
    ) -> Result<bool, CredentialError> {
        let revoked = self.inner.backend.revoke_token(project, id).await?;
        if let Some(hash) = revoked {
            self.inner.cache.revoke(Invalidation::Token(hash));
        }
        Ok(revoked.is_some())
    }

    fn secret_key(&self) -> Result<&SecretKey, CredentialError> {
        self.inner
            .options
            .secret_key
            .as_ref()
            .ok_or(CredentialError::NoSecretKey)
    }

    /// Stores `secret` for `channel`, sealed (replacing the one before).
    pub async fn put_secret(
        &self,
        channel: ChannelId,
        secret: &[u8],
    ) -> Result<(), CredentialError> {
        let sealed = self.secret_key()?.seal(channel, secret)?;
        self.inner.backend.put_secret(channel, sealed).await
    }

    /// The secret of `channel`, opened.
    pub async fn get_secret(
        &self,
        channel: ChannelId,
    ) -> Result<Option<SecretBytes>, CredentialError> {
        let key = self.secret_key()?;
        match self.inner.backend.secret(channel).await? {
            Some(sealed) => key.open(channel, &sealed).map(Some),
            None => Ok(None),
        }
    }

    /// The settings of `operator`'s web inbox (the defaults until they change one).
    pub async fn profile(&self, operator: OperatorId) -> Result<Profile, CredentialError> {
        Ok(self
            .inner
            .backend
            .profile(operator)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the settings of `operator`'s web inbox.
    pub async fn set_profile(
        &self,
        operator: OperatorId,
        profile: Profile,
    ) -> Result<(), CredentialError> {
        self.inner.backend.put_profile(operator, profile).await
    }

    /// Deletes the secret of `channel`; whether there was one.
    pub async fn delete_secret(&self, channel: ChannelId) -> Result<bool, CredentialError> {
        self.inner.backend.delete_secret(channel).await
    }
}
