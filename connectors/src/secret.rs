//! Channel secrets (webhook secret tokens, app secrets, verify tokens, VK secret keys): kept in a
//! type whose `Debug` never shows the value, compared in constant time.

use subtle::ConstantTimeEq;

/// A secret string. `Debug` prints `Secret(***)`; there is no `Display`. Equality (of two
/// secrets, or with a candidate by [`Secret::matches`]) is compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the few places that must send or key with it (an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` equals the secret, in time that does not depend on where they differ
    /// (it depends on the lengths only).
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
