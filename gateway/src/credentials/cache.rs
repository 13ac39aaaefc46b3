//! The authentication cache: what a token hash resolved to, so that most requests authenticate
//! with one SHA-256 and one map lookup.
//!
//! Invariants:
//! - an entry is used only while the backend's invalidation feed is live (the SQLite poller
//!   read the revision counter lately; the KV watcher's subscription stands), and for at most
//!   [`MAX_AGE`] after it was loaded;
//! - every invalidation bumps the generation under the write lock, and a lookup that read the
//!   backend inserts its answer only if the generation is still the one it saw before reading,
//!   so an answer read before a revocation is never cached after it;
//! - for [`SETTLE`] after a token's or an operator's revocation ([`AuthCache::revoke`]), answers
//!   about them are not cached at all: a replica of a clustered bucket may serve the state before
//!   the change for a moment after the watch reported it, and such an answer must not be kept
//!   for [`MAX_AGE`].

use super::records::Authenticated;
use super::tokens::{Csrf, TokenHash};
use parking_lot::RwLock;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_schemas::{OperatorId, Timestamp};

/// How long an entry is used before it is read again from the backend (a bound on a revocation
/// missed by the feed, and how often `last_seen` can move).
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// How long answers about a just-invalidated token or operator are not cached.
pub const SETTLE: Duration = Duration::from_secs(5);
/// Entries kept at most; past it the cache starts over.
pub const MAX_ENTRIES: usize = 100_000;

/// What one token hash resolved to.
#[derive(Debug)]
pub struct Cached {
    pub principal: Authenticated,
    /// The operator whose sign-out or deactivation ends the entry (none for root).
    pub operator: Option<OperatorId>,
    /// A session's CSRF token (none for API tokens).
    pub csrf: Option<Csrf>,
    pub expires_at: Option<Timestamp>,
    pub loaded_at: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<TokenHash, Arc<Cached>>,
    /// Token and operator revocations of the last [`SETTLE`], oldest first.
    settling: VecDeque<(Invalidation, Instant)>,
}

impl Entries {
    /// Whether `entry` is about something invalidated within [`SETTLE`] (forgetting older ones).
    fn is_settling(&mut self, hash: &TokenHash, entry: &Cached) -> bool {
        while self
            .settling
            .front()
            .is_some_and(|(_, at)| at.elapsed() >= SETTLE)
        {
            self.settling.pop_front();
        }
        self.settling.iter().any(|(what, _)| match what {
            Invalidation::Token(settling) => settling == hash,
            Invalidation::Operator(settling) => entry.operator == Some(*settling),
            Invalidation::All => false,
        })
    }
}

/// What to forget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    Token(TokenHash),
    Operator(OperatorId),
    All,
}

#[derive(Debug, Default)]
pub struct AuthCache {
    entries: RwLock<Entries>,
    generation: AtomicU64,
    live: AtomicBool,
}

impl AuthCache {
    /// The entry of `hash`, when the feed is live and the entry young enough.
    pub fn get(&self, hash: &TokenHash) -> Option<Arc<Cached>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.read().by_hash.get(hash).cloned()?;
        (entry.loaded_at.elapsed() < MAX_AGE).then_some(entry)
    }

    /// The generation to pass to [`AuthCache::insert`] after reading the backend.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `entry` unless something was invalidated since `seen_generation`, or its token or
    /// operator lately.
    pub fn insert(&self, seen_generation: u64, hash: TokenHash, entry: Arc<Cached>) {
        let mut entries = self.entries.write();
        if self.generation.load(Ordering::Acquire) != seen_generation
            || entries.is_settling(&hash, &entry)
        {
            return;
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            entries.by_hash.clear();
        }
        entries.by_hash.insert(hash, entry);
    }

    /// Forgets what `what` covers.
    pub fn invalidate(&self, what: Invalidation) {
        self.forget(what, false);
    }

    /// Forgets what a revocation covers, and caches nothing about it for [`SETTLE`].
    pub fn revoke(&self, what: Invalidation) {
        self.forget(what, true);
    }

    fn forget(&self, what: Invalidation, settle: bool) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        match what {
            Invalidation::Token(hash) => {
                entries.by_hash.remove(&hash);
            }
            Invalidation::Operator(operator) => {
                entries
                    .by_hash
                    .retain(|_, entry| entry.operator != Some(operator));
            }
            Invalidation::All => entries.by_hash.clear(),
        }
        if settle && what != Invalidation::All {
            entries.settling.push_back((what, Instant::now()));
        }
    }

    /// Whether entries may be used: the feed says so. Going live forgets everything first
    /// (what happened while it was not live is unknown).
    pub fn set_live(&self, live: bool) {
        if live && !self.live.load(Ordering::Acquire) {
            self.invalidate(Invalidation::All);
        }
        self.live.store(live, Ordering::Release);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }
}
