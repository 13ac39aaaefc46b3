//! The credential store in one SQLite file (the embedded installation): WAL, every statement on
//! the blocking pool through one connection per handle. Several handles (processes) may share
//! the file; each polls the revision counter every [`POLL_EVERY`] on a thread of its own and
//! forgets its cached authentications when another handle revoked something.
//!
//! Tables:
//! - `accounts`: operator id → project, email (unique), password PHC, active, epochs, created;
//! - `sessions`: session token hash → operator, project, epochs, created, expires, CSRF, last
//!   seen;
//! - `api_tokens`: token id → token hash (unique), name, operator, project, epoch, created,
//!   revoked;
//! - `channel_secrets`: channel id → sealed secret;
//! - `revision`: one counter, bumped in the transaction of every revocation.

use super::AccountChange;
use super::cache::{AuthCache, Invalidation};
use super::password::PasswordPhc;
use super::records::{Account, ApiToken, ApiTokenId, CredentialError, Email, Profile, Session};
use super::tokens::{Csrf, TokenHash};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use switchboard_schemas::{ChannelId, OperatorId, ProjectId, Timestamp};
use uuid::Uuid;

/// The credential file's name in the data directory.
pub const CREDENTIALS_FILE: &str = "credentials.sqlite";

/// How often a handle reads the revision counter.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    operator BLOB PRIMARY KEY,
    project BLOB NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    active INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    session_epoch INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    hash BLOB PRIMARY KEY,
    operator BLOB NOT NULL,
    project BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    csrf TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    session_epoch INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_operator ON sessions (operator);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id BLOB PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    operator BLOB NOT NULL,
    project BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_tokens_by_project ON api_tokens (project);
CREATE TABLE IF NOT EXISTS channel_secrets (
    channel BLOB PRIMARY KEY,
    sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profiles (
    operator BLOB PRIMARY KEY,
    profile TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO revision (id, value) VALUES (1, 0);
";

/// A handle on the credential file. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteCredentials {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn storage(what: &str, e: impl std::fmt::Display) -> CredentialError {
    CredentialError::Storage(format!("{what}: {e}"))
}

fn open_connection(path: &Path) -> Result<Connection, CredentialError> {
    let conn = Connection::open(path).map_err(|e| storage("cannot open the credential file", e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
        .map_err(|e| storage("cannot set up the credential file", e))?;
    Ok(conn)
}

/// Creates an empty file at `path` readable by its owner only, unless there is one.
fn create_private(path: &Path) -> Result<(), CredentialError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(storage("cannot create the credential file", e)),
    }
}

fn id_blob(uuid: &Uuid) -> &[u8] {
    uuid.as_bytes()
}

fn uuid_of(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let bytes: Vec<u8> = row.get(column)?;
    Uuid::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn hash_of(row: &Row<'_>, column: usize) -> rusqlite::Result<TokenHash> {
    let bytes: Vec<u8> = row.get(column)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(TokenHash::from_bytes)
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Blob,
                Box::new(e),
            )
        })
}

fn epoch_of(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn stored_epoch(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

const ACCOUNT_COLUMNS: &str =
    "operator, project, email, password, active, epoch, created_at, session_epoch";

fn account_of(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        operator: OperatorId::from_uuid(uuid_of(row, 0)?),
        project: ProjectId::from_uuid(uuid_of(row, 1)?),
        email: Email::parse(&row.get::<_, String>(2)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        password: PasswordPhc::from_stored(row.get(3)?),
        active: row.get(4)?,
        epoch: epoch_of(row, 5)?,
        created_at: Timestamp::from_micros(row.get(6)?),
        session_epoch: epoch_of(row, 7)?,
    })
}

const SESSION_COLUMNS: &str =
    "hash, operator, project, epoch, created_at, expires_at, csrf, last_seen, session_epoch";

fn session_of(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        hash: hash_of(row, 0)?,
        operator: OperatorId::from_uuid(uuid_of(row, 1)?),
        project: ProjectId::from_uuid(uuid_of(row, 2)?),
        epoch: epoch_of(row, 3)?,
        created_at: Timestamp::from_micros(row.get(4)?),
        expires_at: Timestamp::from_micros(row.get(5)?),
        csrf: Csrf::from_stored(row.get(6)?),
        last_seen: Timestamp::from_micros(row.get(7)?),
        session_epoch: epoch_of(row, 8)?,
    })
}

const TOKEN_COLUMNS: &str = "id, hash, name, operator, project, epoch, created_at, revoked";

fn token_of(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(uuid_of(row, 0)?),
        hash: hash_of(row, 1)?,
        name: row.get(2)?,
        operator: OperatorId::from_uuid(uuid_of(row, 3)?),
        project: ProjectId::from_uuid(uuid_of(row, 4)?),
        epoch: epoch_of(row, 5)?,
        created_at: Timestamp::from_micros(row.get(6)?),
        revoked: row.get(7)?,
    })
}

fn read_error(e: rusqlite::Error) -> CredentialError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) => CredentialError::Corrupt(e.to_string()),
        e => storage("credential read failed", e),
    }
}

/// The `table.column` a UNIQUE or PRIMARY KEY constraint refused, from SQLite's message.
fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            message.strip_prefix("UNIQUE constraint failed: ")
        }
        _ => None,
    }
}

fn bump_revision(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("UPDATE revision SET value = value + 1 WHERE id = 1", [])
}

impl SqliteCredentials {
    /// Opens (creating) the credential file at `path` (blocking). A new file is made with mode
    /// 0600, which SQLite gives its `-wal` and `-shm` files too.
    pub fn open(path: &Path) -> Result<Self, CredentialError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| storage("cannot create the directory", e))?;
        }
        create_private(path)?;
        let conn = open_connection(path)?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| storage("cannot create the credential tables", e))?;
        Ok(Self {
            path: path.to_owned(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, on the blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, CredentialError> + Send + 'static,
    ) -> Result<T, CredentialError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || f(&mut conn.lock()))
            .await
            .map_err(|e| storage("a credential task failed", e))?
    }

    pub(super) async fn insert_account(&self, account: Account) -> Result<(), CredentialError> {
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO accounts ({ACCOUNT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    id_blob(account.operator.as_uuid()),
                    id_blob(account.project.as_uuid()),
                    account.email.as_str(),
                    account.password.as_str(),
                    account.active,
                    stored_epoch(account.epoch),
                    account.created_at.as_micros(),
                    stored_epoch(account.session_epoch),
                ],
            )
            .map(drop)
            .map_err(|e| match unique_violation(&e) {
                Some("accounts.email") => CredentialError::EmailTaken,
                Some("accounts.operator") => CredentialError::OperatorExists,
                _ => storage("cannot insert the account", e),
            })
        })
        .await
    }

    pub(super) async fn account(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Account>, CredentialError> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE operator = ?1"),
                [id_blob(operator.as_uuid())],
                account_of,
            )
            .optional()
            .map_err(read_error)
        })
        .await
    }

    pub(super) async fn account_by_email(
        &self,
        email: Email,
    ) -> Result<Option<Account>, CredentialError> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = ?1"),
                [email.as_str()],
                account_of,
            )
            .optional()
            .map_err(read_error)
        })
        .await
    }

    /// Applies `change` in one transaction; the account after it, or none when unknown.
    pub(super) async fn change_account(
        &self,
        operator: OperatorId,
        change: AccountChange,
    ) -> Result<Option<Account>, CredentialError> {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage("begin", e))?;
            let id = id_blob(operator.as_uuid());
            let changed = match &change {
                AccountChange::Password(phc) => tx.execute(
                    "UPDATE accounts SET password = ?2, session_epoch = session_epoch + 1 \
                     WHERE operator = ?1",
                    params![id, phc.as_str()],
                ),
                AccountChange::Deactivate => tx.execute(
                    "UPDATE accounts SET active = 0, epoch = epoch + 1 WHERE operator = ?1",
                    [id],
                ),
                AccountChange::Activate => {
                    tx.execute("UPDATE accounts SET active = 1 WHERE operator = ?1", [id])
                }
                AccountChange::EndAll => tx.execute(
                    "UPDATE accounts SET epoch = epoch + 1 WHERE operator = ?1",
                    [id],
                ),
            }
            .map_err(|e| storage("cannot change the account", e))?;
            if changed == 0 {
                return Ok(None);
            }
            if change.revokes() {
                tx.execute("DELETE FROM sessions WHERE operator = ?1", [id])
                    .and_then(|_| bump_revision(&tx))
                    .map_err(|e| storage("cannot end the sessions", e))?;
            }
            let account = tx
                .query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE operator = ?1"),
                    [id],
                    account_of,
                )
                .map_err(read_error)?;
            tx.commit().map_err(|e| storage("commit", e))?;
            Ok(Some(account))
        })
        .await
    }

    pub(super) async fn insert_session(&self, session: Session) -> Result<(), CredentialError> {
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    session.hash.as_bytes(),
                    id_blob(session.operator.as_uuid()),
                    id_blob(session.project.as_uuid()),
                    stored_epoch(session.epoch),
                    session.created_at.as_micros(),
                    session.expires_at.as_micros(),
                    session.csrf.expose(),
                    session.last_seen.as_micros(),
                    stored_epoch(session.session_epoch),
                ],
            )
            .map(drop)
            .map_err(|e| storage("cannot insert the session", e))
        })
        .await
    }

    pub(super) async fn session(
        &self,
        hash: TokenHash,
    ) -> Result<Option<Session>, CredentialError> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = ?1"),
                [hash.as_bytes()],
                session_of,
            )
            .optional()
            .map_err(read_error)
        })
        .await
    }

    pub(super) async fn touch_session(&self, session: Session) -> Result<(), CredentialError> {
        self.call(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1",
                params![session.hash.as_bytes(), session.last_seen.as_micros()],
            )
            .map(drop)
            .map_err(|e| storage("cannot touch the session", e))
        })
        .await
    }

    /// Deletes a session; whether there was one.
    pub(super) async fn delete_session(&self, hash: TokenHash) -> Result<bool, CredentialError> {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage("begin", e))?;
            let deleted = tx
                .execute("DELETE FROM sessions WHERE hash = ?1", [hash.as_bytes()])
                .map_err(|e| storage("cannot delete the session", e))?;
            if deleted > 0 {
                bump_revision(&tx).map_err(|e| storage("cannot bump the revision", e))?;
            }
            tx.commit().map_err(|e| storage("commit", e))?;
            Ok(deleted > 0)
        })
        .await
    }

    /// Deletes the sessions that expired before `now`; how many.
    pub(super) async fn delete_expired_sessions(
        &self,
        now: Timestamp,
    ) -> Result<usize, CredentialError> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                [now.as_micros()],
            )
            .map_err(|e| storage("cannot delete expired sessions", e))
        })
        .await
    }

    pub(super) async fn insert_token(&self, token: ApiToken) -> Result<(), CredentialError> {
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    id_blob(token.id.as_uuid()),
                    token.hash.as_bytes(),
                    token.name,
                    id_blob(token.operator.as_uuid()),
                    id_blob(token.project.as_uuid()),
                    stored_epoch(token.epoch),
                    token.created_at.as_micros(),
                    token.revoked,
                ],
            )
            .map(drop)
            .map_err(|e| storage("cannot insert the API token", e))
        })
        .await
    }

    pub(super) async fn token(&self, hash: TokenHash) -> Result<Option<ApiToken>, CredentialError> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?1"),
                [hash.as_bytes()],
                token_of,
            )
            .optional()
            .map_err(read_error)
        })
        .await
    }

    pub(super) async fn tokens_of(
        &self,
        project: ProjectId,
    ) -> Result<Vec<ApiToken>, CredentialError> {
        self.call(move |conn| {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE project = ?1 ORDER BY id"
                ))
                .map_err(read_error)?;
            let rows = statement
                .query_map([id_blob(project.as_uuid())], token_of)
                .map_err(read_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(read_error)
        })
        .await
    }

    /// Marks a token of `project` revoked; its hash when it was live.
    pub(super) async fn revoke_token(
        &self,
        project: ProjectId,
        id: ApiTokenId,
    ) -> Result<Option<TokenHash>, CredentialError> {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage("begin", e))?;
            let hash = tx
                .query_row(
                    "UPDATE api_tokens SET revoked = 1 \
                     WHERE id = ?1 AND project = ?2 AND revoked = 0 RETURNING hash",
                    [id_blob(id.as_uuid()), id_blob(project.as_uuid())],
                    |row| hash_of(row, 0),
                )
                .optional()
                .map_err(read_error)?;
            if hash.is_some() {
                bump_revision(&tx).map_err(|e| storage("cannot bump the revision", e))?;
            }
            tx.commit().map_err(|e| storage("commit", e))?;
            Ok(hash)
        })
        .await
    }

    pub(super) async fn put_secret(
        &self,
        channel: ChannelId,
        sealed: Vec<u8>,
    ) -> Result<(), CredentialError> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO channel_secrets (channel, sealed) VALUES (?1, ?2) \
                 ON CONFLICT (channel) DO UPDATE SET sealed = excluded.sealed",
                params![id_blob(channel.as_uuid()), sealed],
            )
            .map(drop)
            .map_err(|e| storage("cannot store the secret", e))
        })
        .await
    }

    pub(super) async fn secret(
        &self,
        channel: ChannelId,
    ) -> Result<Option<Vec<u8>>, CredentialError> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT sealed FROM channel_secrets WHERE channel = ?1",
                [id_blob(channel.as_uuid())],
                |row| row.get(0),
            )
            .optional()
            .map_err(read_error)
        })
        .await
    }

    pub(super) async fn delete_secret(&self, channel: ChannelId) -> Result<bool, CredentialError> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM channel_secrets WHERE channel = ?1",
                [id_blob(channel.as_uuid())],
            )
            .map(|deleted| deleted > 0)
            .map_err(|e| storage("cannot delete the secret", e))
        })
        .await
    }

    pub(super) async fn put_profile(
        &self,
        operator: OperatorId,
        profile: Profile,
    ) -> Result<(), CredentialError> {
        let json =
            serde_json::to_string(&profile).map_err(|e| storage("cannot encode the profile", e))?;
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO profiles (operator, profile) VALUES (?1, ?2) \
                 ON CONFLICT (operator) DO UPDATE SET profile = excluded.profile",
                params![id_blob(operator.as_uuid()), json],
            )
            .map(drop)
            .map_err(|e| storage("cannot store the profile", e))
        })
        .await
    }

    pub(super) async fn profile(
        &self,
        operator: OperatorId,
    ) -> Result<Option<Profile>, CredentialError> {
        let json: Option<String> = self
            .call(move |conn| {
                conn.query_row(
                    "SELECT profile FROM profiles WHERE operator = ?1",
                    [id_blob(operator.as_uuid())],
                    |row| row.get(0),
                )
                .optional()
                .map_err(read_error)
            })
            .await?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| CredentialError::Corrupt(format!("a profile: {e}")))
        })
        .transpose()
    }

    /// Starts the thread that polls the revision counter for `cache`; it ends when the cache is
    /// dropped. The cache is live while polls succeed.
    pub(super) fn watch(&self, cache: Weak<AuthCache>) -> Result<(), CredentialError> {
        let conn = open_connection(&self.path)?;
        std::thread::Builder::new()
            .name("sb-cred-poll".into())
            .spawn(move || poll_revisions(&conn, &cache))
            .map(drop)
            .map_err(|e| storage("cannot start the revision poller", e))
    }
}

fn poll_revisions(conn: &Connection, cache: &Weak<AuthCache>) {
    let mut last: Option<i64> = None;
    loop {
        let Some(cache) = cache.upgrade() else {
            return;
        };
        match conn.query_row("SELECT value FROM revision WHERE id = 1", [], |r| r.get(0)) {
            Ok(value) => {
                if last.is_some_and(|last| last != value) {
                    cache.invalidate(Invalidation::All);
                }
                last = Some(value);
                cache.set_live(true);
            }
            Err(e) => {
                if cache.is_live() {
                    tracing::warn!(error = %e, "cannot read the credential revision; authenticating without the cache");
                }
                cache.set_live(false);
            }
        }
        drop(cache);
        std::thread::sleep(POLL_EVERY);
    }
}
