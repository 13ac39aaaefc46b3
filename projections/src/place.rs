//! An event's place in the log: the sequence of its log message and its position among that
//! message's events, and the two integer forms the read models store it in.
//!
//! Both packings are on disk, so both stay, as methods of the one type:
//! - the timeline's key ([`LogPlace::timeline_key`]), `seq << 20 | index`: the rowid of
//!   `dialog_timeline` and the place a search hit names; exact for up to 2^20 events a message
//!   and sequences below 2^43;
//! - the search index's order key ([`LogPlace::search_order`]), `seq << 12 | index` with the
//!   index clamped at 0xfff: stored as the `seq` and `index` fast fields and written into
//!   search cursors (`n<order>`); positions past 4095 in one message share the last key.
//!
//! Making them one would rewrite every timeline file and search index and break the cursors
//! clients hold. [`LogPlace::timeline_key_of_search_order`] converts a search hit's order key
//! to the timeline's place of the same event.

/// The `index`-th event of the log message `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogPlace {
    pub(crate) seq: u64,
    pub(crate) index: u64,
}

impl LogPlace {
    /// Bits of the timeline key that hold the index.
    pub(crate) const TIMELINE_INDEX_BITS: u32 = 20;
    /// Bits of the search order key that hold the index.
    const SEARCH_INDEX_BITS: u32 = 12;
    /// The largest index a search order key holds.
    const SEARCH_INDEX_MAX: u64 = (1 << Self::SEARCH_INDEX_BITS) - 1;

    pub(crate) fn new(seq: u64, index: usize) -> Self {
        Self {
            seq,
            index: u64::try_from(index).unwrap_or(u64::MAX),
        }
    }

    /// Whether the timeline key holds places of the log message `seq` (below 2^43).
    pub(crate) fn timeline_holds_seq(seq: u64) -> bool {
        seq < 1 << (63 - Self::TIMELINE_INDEX_BITS)
    }

    /// The timeline's key of this place, `seq << 20 | index`; `None` when it does not fit
    /// (see [`LogPlace::timeline_holds_seq`], and an index of 2^20 or more).
    pub(crate) fn timeline_key(self) -> Option<i64> {
        if !Self::timeline_holds_seq(self.seq) || self.index >= 1 << Self::TIMELINE_INDEX_BITS {
            return None;
        }
        i64::try_from(self.seq << Self::TIMELINE_INDEX_BITS | self.index).ok()
    }

    /// The search index's order key of this place: `seq << 12 | index`, the index clamped at
    /// 0xfff.
    pub(crate) fn search_order(self) -> u64 {
        (self.seq << Self::SEARCH_INDEX_BITS) | self.index.min(Self::SEARCH_INDEX_MAX)
    }

    /// The place a search order key names (its index as clamped).
    pub(crate) fn from_search_order(order: u64) -> Self {
        Self {
            seq: order >> Self::SEARCH_INDEX_BITS,
            index: order & Self::SEARCH_INDEX_MAX,
        }
    }

    /// The timeline's key of the event a search order key names: the same log message and
    /// position, `i64::MAX` when it does not fit (the timeline has no row there).
    pub(crate) fn timeline_key_of_search_order(order: u64) -> i64 {
        let place = Self::from_search_order(order);
        i64::try_from(place.seq << Self::TIMELINE_INDEX_BITS | place.index).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::LogPlace;

    #[test]
    fn both_packings_keep_their_layout() {
        let place = LogPlace::new(5, 2);
        assert_eq!(place.timeline_key(), Some(5 << 20 | 2));
        assert_eq!(place.search_order(), 5 << 12 | 2);
        assert_eq!(LogPlace::from_search_order(place.search_order()), place);
        assert_eq!(
            LogPlace::timeline_key_of_search_order(place.search_order()),
            5 << 20 | 2
        );
        // The search key clamps the index; the timeline key refuses what it cannot hold.
        assert_eq!(LogPlace::new(5, 5000).search_order(), 5 << 12 | 0xfff);
        assert_eq!(LogPlace::new(5, 1 << 20).timeline_key(), None);
        assert_eq!(LogPlace::new(1 << 43, 0).timeline_key(), None);
        assert!(LogPlace::timeline_holds_seq((1 << 43) - 1));
    }
}
