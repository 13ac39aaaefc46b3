//! What the credential store keeps and answers: accounts, sessions, API tokens, the principal an
//! authentication resolves to, and the errors. A leaf: it uses no other module of the store but
//! the secret types of `tokens` and `password`.
//!
//! Every record holding a secret or a hash has a redacting `Debug`.

use super::password::PasswordPhc;
use super::tokens::{Csrf, IssuedToken, TokenHash};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;
use switchboard_schemas::{OperatorId, ProjectId, Timestamp};
use uuid::Uuid;

/// An email address normalised for comparison: trimmed and lower-cased. Unique per installation.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks the shape: `local@domain`, both parts non-empty, no whitespace or
    /// control characters, at most 254 bytes.
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let normalised = text.trim().to_lowercase();
        if normalised.is_empty() || normalised.len() > 254 {
            return Err(CredentialError::InvalidEmail(
                "empty or longer than 254 bytes",
            ));
        }
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(CredentialError::InvalidEmail("contains whitespace"));
        }
        match normalised.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(normalised))
            }
            _ => Err(CredentialError::InvalidEmail("not of the form name@domain")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// An operator's sign-in account. `epoch` counts the operator's sign-outs of everything and
/// deactivations: a session or token issued at another epoch is dead. `session_epoch` counts
/// password changes, which end sessions only (an integration's token outlives its admin's new
/// password).
#[derive(Clone, Serialize, Deserialize)]
pub struct Account {
    pub operator: OperatorId,
    pub project: ProjectId,
    pub email: Email,
    pub password: PasswordPhc,
    pub active: bool,
    pub epoch: u64,
    pub session_epoch: u64,
    pub created_at: Timestamp,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("operator", &self.operator)
            .field("project", &self.project)
            .field("email", &self.email)
            .field("password", &self.password)
            .field("active", &self.active)
            .field("epoch", &self.epoch)
            .field("session_epoch", &self.session_epoch)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A person's own settings of the web inbox (`/v1/profile`): not a fact about dialogs, nothing
/// another operator sees, so kept with the account rather than in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// `en` or `ru`; none: the browser's language.
    pub language: Option<String>,
    /// Browser notifications of new client messages.
    pub notifications: bool,
    /// A sound with each notification.
    pub sound: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            language: None,
            notifications: true,
            sound: true,
        }
    }
}

/// A signed-in operator's session, stored under the hash of its token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub hash: TokenHash,
    pub operator: OperatorId,
    pub project: ProjectId,
    /// The account's epochs when the session began.
    pub epoch: u64,
    pub session_epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub csrf: Csrf,
    pub last_seen: Timestamp,
}

/// The id of an API token (UUIDv7), how admins name one to revoke it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiTokenId(Uuid);

impl ApiTokenId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for ApiTokenId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiTokenId({})", self.0.simple())
    }
}

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// An integration's API token: it acts as the operator who created it, in their project, and
/// dies with their sign-out of everything or deactivation as well as by its own revocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    pub hash: TokenHash,
    pub operator: OperatorId,
    pub project: ProjectId,
    pub epoch: u64,
    pub created_at: Timestamp,
    pub revoked: bool,
}

/// Who a credential belongs to, as the store resolved it. The HTTP layer turns it into its
/// `api::caller::Principal` (which says cookie or bearer, from the call it made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticated {
    /// The installation's root: creates projects and their first admins.
    Root,
    Operator {
        operator: OperatorId,
        project: ProjectId,
        method: AuthMethod,
    },
}

/// Which credential an operator presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    ApiToken(ApiTokenId),
}

/// A session just begun: its token and CSRF token are shown once (cookie and answer body).
#[derive(Debug)]
pub struct NewSession {
    pub token: IssuedToken,
    pub csrf: Csrf,
    pub operator: OperatorId,
    pub project: ProjectId,
    pub expires_at: Timestamp,
}

/// An API token just created: `token` is shown once, `record` is what is kept (hash only).
#[derive(Debug)]
pub struct NewApiToken {
    pub token: IssuedToken,
    pub record: ApiToken,
}

/// Why a sign-in failed. An unknown email and a wrong password are the same
/// [`LoginError::BadCredentials`]; [`LoginError::Deactivated`] is told only to whoever gave
/// the right password.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong email or password")]
    BadCredentials,
    #[error("too many sign-in attempts, retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    #[error("the account is deactivated")]
    Deactivated,
    #[error(transparent)]
    Store(#[from] CredentialError),
}

/// The credential store's errors: refusals of the request (the 4xx kind) and failures of the
/// storage underneath (`Storage`, `Corrupt`: the 5xx kind).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the email is taken")]
    EmailTaken,
    #[error("the operator already has an account")]
    OperatorExists,
    #[error("no such operator")]
    UnknownOperator,
    #[error("invalid email: {0}")]
    InvalidEmail(&'static str),
    #[error("password refused: {0}")]
    WeakPassword(&'static str),
    #[error("invalid token name: {0}")]
    InvalidName(&'static str),
    #[error("misconfigured: {0}")]
    Misconfigured(&'static str),
    #[error("a secret is larger than 64 KiB")]
    SecretTooLarge,
    #[error("no secret key is configured")]
    NoSecretKey,
    #[error("a stored secret does not decrypt with the configured key")]
    SecretUndecryptable,
    #[error("credential storage failed: {0}")]
    Storage(String),
    #[error("a stored credential record is unreadable: {0}")]
    Corrupt(String),
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TokenHash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("not a token hash"))
    }
}

impl Serialize for PasswordPhc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PasswordPhc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(PasswordPhc::from_stored)
    }
}

impl Serialize for Csrf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Csrf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Csrf::from_stored)
    }
}
