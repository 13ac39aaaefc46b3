//! The command service's caches of aggregate state: the dialogs' LRU (moved to the front only
//! when an entry has drifted out of its first quarter) and the cached project settings. An entry
//! taken out by the command under way is `None` until it is put back; the identity claims'
//! LRU.

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

/// The identity claims by their subject: popped by the command under way (which holds the
/// subject's stripe) and put back with the state it leaves.
pub(super) type IdentityCache = LruCache<Subject, Cached<IdentityState>>;

/// A dialog's cache key: its ids, not its subject (hashing and comparing 32 bytes, not ~75).
pub(super) type DialogKey = (ProjectId, DialogId);

/// The dialog states: an LRU whose entries are moved to the front only when they have drifted
/// out of its first quarter. Moving an entry relinks its neighbours in the LRU's list, which are
/// nowhere else in the cache; most commands find their dialog near the front and skip that.
pub(super) struct DialogCache {
    pub(super) lru: LruCache<DialogKey, CachedDialog>,
    /// Counts the moves to the front (insertions included): an entry moved at `promoted` has at
    /// most `clock - promoted` entries before it.
    pub(super) clock: u64,
}

pub(super) struct CachedDialog {
    /// `None`: taken by the command under way on the dialog (which holds its stripe), or left
    /// unknown by a command that failed; either way, not cached.
    slot: Option<Cached<DialogState>>,
    promoted: u64,
}

impl DialogCache {
    pub(super) fn take(&mut self, key: &DialogKey) -> Option<Cached<DialogState>> {
        self.lru.peek_mut(key).and_then(|entry| entry.slot.take())
    }

    pub(super) fn put_back(&mut self, key: DialogKey, state: Cached<DialogState>) {
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
                    CachedDialog {
                        slot: Some(state),
                        promoted: clock,
                    },
                );
            }
        }
        self.clock += 1;
    }
}
