//! The two storages behind one set of primitives: [`Backend`] dispatches each to the SQLite
//! file or the JetStream bucket. The account logic above it (`mod.rs`) is written once, and is
//! the only caller: the primitives are private to the module, so nothing can write around the
//! cache's invalidation.

use super::AccountChange;
use super::cache::AuthCache;
use super::kv::KvCredentials;
use super::records::{Account, ApiToken, ApiTokenId, CredentialError, Email, Profile, Session};
use super::sqlite::SqliteCredentials;
use super::tokens::TokenHash;
use std::sync::Weak;
use switchboard_schemas::{ChannelId, OperatorId, ProjectId, Timestamp};

/// Where credentials are kept.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqliteCredentials),
    Kv(KvCredentials),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Backend::Sqlite(store) => store.$method($($arg),*).await,
            Backend::Kv(store) => store.$method($($arg),*).await,
        }
    };
}

impl Backend {
    pub(super) async fn insert_account(&self, account: Account) -> Result<(), CredentialError> {
        dispatch!(self.insert_account(account))
    }

    pub(super) async fn account(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Account>, CredentialError> {
        dispatch!(self.account(operator))
    }

    pub(super) async fn account_by_email(
        &self,
        email: Email,
    ) -> Result<Option<Account>, CredentialError> {
        dispatch!(self.account_by_email(email))
    }

    pub(super) async fn change_account(
        &self,
        operator: OperatorId,
        change: AccountChange,
    ) -> Result<Option<Account>, CredentialError> {
        dispatch!(self.change_account(operator, change))
    }

    pub(super) async fn insert_session(&self, session: Session) -> Result<(), CredentialError> {
        dispatch!(self.insert_session(session))
    }

    pub(super) async fn session(
        &self,
        hash: TokenHash,
    ) -> Result<Option<Session>, CredentialError> {
        dispatch!(self.session(hash))
    }

    pub(super) async fn touch_session(&self, session: Session) -> Result<(), CredentialError> {
        dispatch!(self.touch_session(session))
    }

    pub(super) async fn delete_session(&self, hash: TokenHash) -> Result<bool, CredentialError> {
        dispatch!(self.delete_session(hash))
    }

    /// Deletes expired sessions where that is one statement (SQLite); the bucket's are deleted
    /// when a lookup finds them dead.
    pub(super) async fn delete_expired_sessions(
        &self,
        now: Timestamp,
    ) -> Result<usize, CredentialError> {
        match self {
            Backend::Sqlite(store) => store.delete_expired_sessions(now).await,
            Backend::Kv(_) => Ok(0),
        }
    }

    pub(super) async fn insert_token(&self, token: ApiToken) -> Result<(), CredentialError> {
        dispatch!(self.insert_token(token))
    }

    pub(super) async fn token(&self, hash: TokenHash) -> Result<Option<ApiToken>, CredentialError> {
        dispatch!(self.token(hash))
    }

    pub(super) async fn tokens_of(
        &self,
        project: ProjectId,
    ) -> Result<Vec<ApiToken>, CredentialError> {
        dispatch!(self.tokens_of(project))
    }

    pub(super) async fn revoke_token(
        &self,
        project: ProjectId,
        id: ApiTokenId,
    ) -> Result<Option<TokenHash>, CredentialError> {
        dispatch!(self.revoke_token(project, id))
    }

    pub(super) async fn put_secret(
        &self,
        channel: ChannelId,
        sealed: Vec<u8>,
    ) -> Result<(), CredentialError> {
        dispatch!(self.put_secret(channel, sealed))
    }

    pub(super) async fn secret(
        &self,
        channel: ChannelId,
    ) -> Result<Option<Vec<u8>>, CredentialError> {
        dispatch!(self.secret(channel))
    }

    pub(super) async fn delete_secret(&self, channel: ChannelId) -> Result<bool, CredentialError> {
        dispatch!(self.delete_secret(channel))
    }

    pub(super) async fn profile(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Profile>, CredentialError> {
        dispatch!(self.profile(operator))
    }

    pub(super) async fn put_profile(
        &self,
        operator: OperatorId,
        profile: Profile,
    ) -> Result<(), CredentialError> {
        dispatch!(self.put_profile(operator, profile))
    }

    /// Starts the invalidation feed of `cache` (a poller thread or a watch task).
    pub(super) fn watch(&self, cache: Weak<AuthCache>) -> Result<(), CredentialError> {
        match self {
            Backend::Sqlite(store) => store.watch(cache),
            Backend::Kv(store) => {
                store.watch(cache);
                Ok(())
            }
        }
    }
}
