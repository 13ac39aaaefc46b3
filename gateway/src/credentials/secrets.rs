//! Channel secrets (issue 17): one encrypted blob per channel id. The key is 32 bytes from
//! `SWITCHBOARD_SECRET_KEY` (base64url, no padding) or `<data>/secret-key` (generated 0600 at
//! the first start); it never enters the log or the credential store.
//!
//! Sealing is XChaCha20-Poly1305: a random 24-byte nonce per write (random nonces of that size
//! never repeat in practice), the channel id in the associated data so that a blob copied to
//! another channel's key fails to open. Stored form: `version (1) | nonce (24) | ciphertext+tag`.

use super::records::CredentialError;
use super::root::read_or_create_secret_file;
use super::tokens::random_bytes;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use std::path::{Path, PathBuf};
use switchboard_schemas::ChannelId;

/// The environment variable that sets the secret key.
pub const SECRET_KEY_ENV: &str = "SWITCHBOARD_SECRET_KEY";
/// The file in the data directory that holds it otherwise.
pub const SECRET_KEY_FILE: &str = "secret-key";

const FORMAT_V1: u8 = 1;
const NONCE_BYTES: usize = 24;
const AAD_LABEL: &[u8] = b"switchboard channel secret v1:";
/// Largest secret accepted (a service account's JSON key is a few KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The key channel secrets are sealed with. Debug shows none of it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Where the secret key came from.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretKeyOrigin {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// A decrypted secret. Debug shows its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl SecretKey {
    /// [`SecretKey::load`] with the process environment's [`SECRET_KEY_ENV`].
    pub fn from_environment(data_dir: &Path) -> Result<(Self, SecretKeyOrigin), CredentialError> {
        Self::load(std::env::var(SECRET_KEY_ENV).ok(), data_dir)
    }

    /// `env_value` when set, else the file in `data_dir`, generated when missing.
    pub fn load(
        env_value: Option<String>,
        data_dir: &Path,
    ) -> Result<(Self, SecretKeyOrigin), CredentialError> {
        if let Some(value) = env_value {
            return Ok((Self::decode(&value)?, SecretKeyOrigin::Environment));
        }
        let path = data_dir.join(SECRET_KEY_FILE);
        let (text, created) = read_or_create_secret_file(&path, || {
            let mut key = [0u8; 32];
            random_bytes(&mut key)?;
            Ok(URL_SAFE_NO_PAD.encode(key))
        })?;
        let key = Self::decode(&text)?;
        let origin = if created {
            SecretKeyOrigin::Generated(path)
        } else {
            SecretKeyOrigin::File(path)
        };
        Ok((key, origin))
    }

    /// A key from its text form: 32 bytes in base64url without padding.
    pub fn decode(text: &str) -> Result<Self, CredentialError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or(CredentialError::Misconfigured(
                "the secret key is not 32 bytes in base64url without padding",
            ))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| CredentialError::Misconfigured("the secret key is not 32 bytes"))?;
        Ok(Self { cipher })
    }

    /// Encrypts `secret` for `channel` under a fresh random nonce.
    pub fn seal(&self, channel: ChannelId, secret: &[u8]) -> Result<Vec<u8>, CredentialError> {
        if secret.len() > MAX_SECRET_BYTES {
            return Err(CredentialError::SecretTooLarge);
        }
        let mut nonce = [0u8; NONCE_BYTES];
        random_bytes(&mut nonce).map_err(|e| CredentialError::Storage(e.to_string()))?;
        let aad = associated_data(channel);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| CredentialError::Storage("sealing a secret failed".into()))?;
        let mut blob = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        blob.push(FORMAT_V1);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Decrypts a blob [`SecretKey::seal`] made for `channel`; another key, another channel or
    /// a changed byte is [`CredentialError::SecretUndecryptable`].
    pub fn open(&self, channel: ChannelId, blob: &[u8]) -> Result<SecretBytes, CredentialError> {
        let (&format, rest) = blob
            .split_first()
            .ok_or(CredentialError::SecretUndecryptable)?;
        if format != FORMAT_V1 || rest.len() < NONCE_BYTES {
            return Err(CredentialError::SecretUndecryptable);
        }
        let (nonce, sealed) = rest.split_at(NONCE_BYTES);
        let aad = associated_data(channel);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(SecretBytes)
            .map_err(|_| CredentialError::SecretUndecryptable)
    }
}

fn associated_data(channel: ChannelId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 16);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(channel.as_uuid().as_bytes());
    aad
}
