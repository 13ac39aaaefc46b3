//! The command service's caches of aggregate state: the dialogs' and the identity claims'
//! LRUs (an entry moved to the front only when it has drifted out of its first quarter; taken
//! out by the command under way, `None` until it is put back) and the cached project settings.

use crate::domain::dialog::DialogState;
use crate::domain::identity::IdentityState;
use crate::domain::project::ProjectState;
use crate::log::Subject;
use lru::LruCache;
use std::sync::Arc;
use std::time::Instant;
use switchboard_schemas::{DialogId, ProjectId};

#[derive(Clone)]
/// An aggregate's state with the sequence it reflects. Boxed so that moving it in and out of
/// the cache and through futures copies a pointer.
pub(super) struct Cached<S> {
    pub(super) state: Box<S>,
    pub(super) last_seq: u64,
}

pub(super) struct CachedProject {
    pub(super) state: Arc<ProjectState>,
    pub(super) last_seq: u64,
    pub(super) checked: Instant,
}

/// The identity claims by their subject, taken by the command under way (which holds the
/// subject's stripe) and put back with the state it leaves.
pub(super) type IdentityCache = SlotCache<Subject, IdentityState>;

/// A dialog's cache key: its ids, not its subject (hashing and comparing 32 bytes, not ~75).
pub(super) type DialogKey = (ProjectId, DialogId);

/// The dialog states.
pub(super) type DialogCache = SlotCache<DialogKey, DialogState>;

/// Aggregate states by key: an LRU whose entries are moved to the front only when they have
/// drifted out of its first quarter. Moving an entry relinks its neighbours in the LRU's list,
/// which are nowhere else in the cache; most commands find their aggregate near the front and
/// skip that. Taking a state out and putting it back keeps its entry: nothing is allocated.
pub(super) struct SlotCache<K, S> {
    pub(super) lru: LruCache<K, CachedSlot<S>>,
    /// Counts the moves to the front (insertions included): an entry moved at `promoted` has at
    /// most `clock - promoted` entries before it.
    pub(super) clock: u64,
}

pub(super) struct CachedSlot<S> {
    /// `None`: taken by the command under way on the aggregate (which holds its stripe), or
    /// left unknown by a command that failed; either way, not cached.
    slot: Option<Cached<S>>,
    promoted: u64,
}

impl<K: std::hash::Hash + Eq, S> SlotCache<K, S> {
    pub(super) fn new(capacity: std::num::NonZeroUsize) -> Self {
        Self {
            lru: LruCache::new(capacity),
            clock: 0,
        }
    }

    pub(super) fn take(&mut self, key: &K) -> Option<Cached<S>> {
        self.lru.peek_mut(key).and_then(|entry| entry.slot.take())
    }

    pub(super) fn put_back(&mut self, key: K, state: Cached<S>) {
        let near_front = self.lru.cap().get() as u64 / 4;
        let clock = self.clock;
        match self.lru.peek_mut(&key) {
            Some(entry) if clock - entry.promoted < near_front => {
                entry.slot = Some(state);
                return;
            }
            Some(entry) => {
                entry.slot = Some(state);
                entry.promoted = clock;
                self.lru.promote(&key);
            }
            None => {
                self.lru.put(
                    key,
                    CachedSlot {
                        slot: Some(state),
                        promoted: clock,
                    },
                );
            }
        }
        self.clock += 1;
    }
}
