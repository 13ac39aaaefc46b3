//! Password hashing: argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! OWASP minimum) in PHC strings, a 16-byte random salt each. Hashing and verifying take tens of
//! milliseconds, so callers run them on the blocking pool (`CredentialStore` does).
//!
//! An unknown email is answered after verifying against a fixed dummy hash of the same
//! parameters ([`verify_dummy`]), so that its time does not tell it apart from a wrong password.

use super::records::CredentialError;
use super::tokens::random_bytes;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::fmt;
use std::sync::OnceLock;

/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bytes): hashing time grows with it.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password hash as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). Debug shows none of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordPhc(String);

impl PasswordPhc {
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordPhc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordPhc(<redacted>)")
    }
}

/// Refuses a password too short or too long to be set.
pub fn check_policy(password: &str) -> Result<(), CredentialError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CredentialError::WeakPassword("shorter than 8 characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CredentialError::WeakPassword("longer than 1024 bytes"));
    }
    Ok(())
}

/// Hashes `password` with a fresh salt (blocking: tens of milliseconds).
pub fn hash(password: &str) -> Result<PasswordPhc, CredentialError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(|e| CredentialError::Storage(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| CredentialError::Storage(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|phc| PasswordPhc(phc.to_string()))
        .map_err(|e| CredentialError::Storage(format!("password hashing: {e}")))
}

/// Whether `password` matches `phc` (blocking). A stored string that does not parse matches
/// nothing; the time spent is then that of the dummy verification, not zero.
pub fn verify(password: &str, phc: &PasswordPhc) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        verify_dummy(password);
        return false;
    }
    match PasswordHash::new(phc.as_str()) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => {
            verify_dummy(password);
            false
        }
    }
}

/// The dummy hash unknown emails are verified against, made on first use.
fn dummy() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash("switchboard-dummy-password").ok().map(|p| p.0))
        .as_deref()
}

/// Makes the dummy hash now (blocking), so that the first unknown email does not pay for it.
pub fn prepare_dummy() {
    dummy();
}

/// Spends the time of one verification and matches nothing: the answer to an unknown email.
pub fn verify_dummy(password: &str) {
    let Some(dummy) = dummy() else {
        return;
    };
    let truncated = &password.as_bytes()[..password.len().min(MAX_PASSWORD_BYTES)];
    if let Ok(parsed) = PasswordHash::new(dummy) {
        let _ = Argon2::default().verify_password(truncated, &parsed);
    }
}
