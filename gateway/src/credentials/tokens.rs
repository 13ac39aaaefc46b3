//! Bearer secrets: session tokens (`sb_s_…`), API tokens (`sb_t_…`), CSRF tokens (`sb_c_…`) and
//! a generated root token (`sb_r_…`),
//! each 32 random bytes from the operating system's generator, base64url without padding after
//! the prefix. Only a token's SHA-256 ([`TokenHash`]) is ever stored; lookups are by hash.
//!
//! No type here prints its secret: [`IssuedToken`], [`Csrf`] and [`TokenHash`] have redacting
//! `Debug` impls, and the secret is reached only through an explicit `expose`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Random bytes in every token.
pub const TOKEN_BYTES: usize = 32;
/// The length of a token's base64url body.
const BODY_CHARS: usize = 43;

/// What a token is for, told by its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A signed-in operator's session (cookie or bearer).
    Session,
    /// An integration's API token.
    Api,
    /// The CSRF token of a cookie session.
    Csrf,
    /// The installation's root token, when generated.
    Root,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Session => "sb_s_",
            Self::Api => "sb_t_",
            Self::Csrf => "sb_c_",
            Self::Root => "sb_r_",
        }
    }

    /// The kind a presented token claims by its prefix, when its shape is right (prefix, 43
    /// base64url characters); anything else is no token of ours.
    pub fn of(token: &str) -> Option<Self> {
        [Self::Session, Self::Api, Self::Csrf, Self::Root]
            .into_iter()
            .find(|kind| {
                token.strip_prefix(kind.prefix()).is_some_and(|body| {
                    body.len() == BODY_CHARS
                        && body
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
            })
    }
}

/// Fills `out` from the operating system's random generator. Failing to read it is an error
/// the caller reports, never a weaker secret.
pub fn random_bytes(out: &mut [u8]) -> Result<(), std::io::Error> {
    OsRng
        .try_fill_bytes(out)
        .map_err(|e| std::io::Error::other(format!("the system random generator failed: {e}")))
}

/// A token as handed to its holder, once: the only place its secret exists in the service.
#[derive(Clone)]
pub struct IssuedToken(String);

impl IssuedToken {
    /// A new random token of `kind`.
    pub fn generate(kind: TokenKind) -> Result<Self, std::io::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        random_bytes(&mut bytes)?;
        let mut text = String::with_capacity(kind.prefix().len() + BODY_CHARS);
        text.push_str(kind.prefix());
        URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
        Ok(Self(text))
    }

    /// The secret, to show to its holder (an answer body, a cookie).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedToken(<redacted>)")
    }
}

/// The CSRF token of a cookie session: cookie-authenticated writes must present it (a header),
/// compared with [`Csrf::matches`] in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Csrf(String);

impl Csrf {
    pub(crate) fn generate() -> Result<Self, std::io::Error> {
        IssuedToken::generate(TokenKind::Csrf).map(|token| Self(token.0))
    }

    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The secret, to hand to the browser (the sign-in answer).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for Csrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Csrf(<redacted>)")
    }
}

/// The SHA-256 of a token: the stored form and the lookup key. Debug shows none of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits (the KV key form).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// Equality of two byte strings in time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
