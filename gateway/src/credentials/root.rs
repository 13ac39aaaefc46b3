//! The root token: `SWITCHBOARD_ROOT_TOKEN`, else `<data>/root-token`, else generated at the
//! first start into `<data>/root-token` (mode 0600, created exclusively: two processes starting
//! at once agree on one) and handed back once, for the caller to print. Only its SHA-256 stays
//! in memory; a presented token is compared by hash, in constant time.
//!
//! [`read_or_create_secret_file`] is also how the secret key file is made.

use super::records::CredentialError;
use super::tokens::{IssuedToken, TokenHash, TokenKind, constant_time_eq};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that sets the root token.
pub const ROOT_TOKEN_ENV: &str = "SWITCHBOARD_ROOT_TOKEN";
/// The file in the data directory that holds it otherwise.
pub const ROOT_TOKEN_FILE: &str = "root-token";
/// Shortest root token accepted from the environment or the file.
pub const MIN_ROOT_TOKEN_CHARS: usize = 16;

/// The installation's root credential (its hash only). A root token shaped like a session, API
/// or CSRF token is refused: bearer tokens of those shapes are looked up as such and never
/// compared with the root token.
#[derive(Clone)]
pub struct RootToken {
    hash: TokenHash,
}

impl fmt::Debug for RootToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootToken(<redacted>)")
    }
}

/// Where the root token came from.
#[derive(Debug)]
pub enum RootTokenOrigin {
    Environment,
    File(PathBuf),
    /// Generated now into the file: the token, to be printed once.
    Generated {
        path: PathBuf,
        token: IssuedToken,
    },
}

impl RootToken {
    /// [`RootToken::load`] with the process environment's [`ROOT_TOKEN_ENV`].
    pub fn from_environment(data_dir: &Path) -> Result<(Self, RootTokenOrigin), CredentialError> {
        Self::load(std::env::var(ROOT_TOKEN_ENV).ok(), data_dir)
    }

    /// `env_value` when set, else the file in `data_dir`, created when missing.
    pub fn load(
        env_value: Option<String>,
        data_dir: &Path,
    ) -> Result<(Self, RootTokenOrigin), CredentialError> {
        if let Some(value) = env_value {
            return Ok((Self::from_text(value.trim())?, RootTokenOrigin::Environment));
        }
        let path = data_dir.join(ROOT_TOKEN_FILE);
        let mut generated = None;
        let (text, created) = read_or_create_secret_file(&path, || {
            let token = IssuedToken::generate(TokenKind::Root)?;
            let text = token.expose().to_owned();
            generated = Some(token);
            Ok(text)
        })?;
        let root = Self::from_text(text.trim())?;
        let origin = match generated {
            Some(token) if created => RootTokenOrigin::Generated { path, token },
            _ => RootTokenOrigin::File(path),
        };
        Ok((root, origin))
    }

    fn from_text(text: &str) -> Result<Self, CredentialError> {
        if text.chars().count() < MIN_ROOT_TOKEN_CHARS {
            return Err(CredentialError::Misconfigured(
                "the root token is shorter than 16 characters",
            ));
        }
        if matches!(
            TokenKind::of(text),
            Some(TokenKind::Session | TokenKind::Api | TokenKind::Csrf)
        ) {
            return Err(CredentialError::Misconfigured(
                "the root token looks like a session, API or CSRF token",
            ));
        }
        Ok(Self {
            hash: TokenHash::of(text),
        })
    }

    /// Whether `presented` is the root token (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(TokenHash::of(presented).as_bytes(), self.hash.as_bytes())
    }
}

/// The text of a secret file and whether it was made now, with `generate`, because it was
/// missing: created exclusively with mode 0600 (so a racing process's file wins and is read
/// back), written and synced with its directory. An existing file readable by others is used
/// with a warning.
pub(crate) fn read_or_create_secret_file(
    path: &Path,
    generate: impl FnOnce() -> Result<String, std::io::Error>,
) -> Result<(String, bool), CredentialError> {
    let io = |what: &str, e: std::io::Error| {
        CredentialError::Storage(format!("{what} {}: {e}", path.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path);
            return Ok((text, false));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot read", e)),
    }
    let text = generate().map_err(|e| io("cannot generate", e))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| io("cannot write", e))?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)
                    .and_then(|dir| dir.sync_all())
                    .map_err(|e| io("cannot sync the directory of", e))?;
            }
            Ok((text, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(|text| (text, false))
            .map_err(|e| io("cannot read", e)),
        Err(e) => Err(io("cannot create", e)),
    }
}

fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "secret file is readable by others than its owner");
        }
    }
}
