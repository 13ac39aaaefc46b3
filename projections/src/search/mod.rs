//! The search read model (F2.1): a tantivy index of clients and messages, near-real-time,
//! built from the log only and driven by the same [`ProjectionRunner`] as the SQLite models.
//!
//! One index, three kinds of documents (see `schema`): a **client** per live dialog (its
//! values as positioned 3-grams for substring search, its body stored), a **message** per
//! message or note with text (words stemmed for Russian and English, nothing stored: a hit
//! names the timeline's place of the same event, [`MessageHit::place`]), and a **merge** per
//! dialog merged into another (naming its last survivor).
//!
//! Invariants: built from the log only, exactly once (the checkpoint is the commit payload);
//! a change is searchable within [`SearchOptions::commit_interval`] and the runner's tick, and
//! `wait_for(seq)` means "searchable"; every query is within one project (F12.2); no tantivy
//! type leaves this module except through [`SearchError`].
//!
//! Submodules:
//! - `schema`: the fields, the schema and the analyzers; `tokenizers`: grams, word starts,
//!   `ё` folding;
//! - `body`: a client document's stored body; `documents`: ids as terms, the fast-field
//!   columns, order keys, new documents;
//! - `versions`: the checkpoint payload, the `CURRENT` pointer and the version directories, an
//!   opened version;
//! - `query`: [`SearchQuery`] and its hits, run on an opened version; `digest`: a checksum of
//!   the documents;
//! - `reader`: [`SearchReader`]; `writer`: [`SearchIndex`], the [`Store`] the runner drives,
//!   [`start`] and [`rebuild`];
//! - `tests`: the unit tests.
//!
//! [`ProjectionRunner`]: crate::runtime::ProjectionRunner
//! [`Store`]: crate::runtime::Store

mod body;
mod digest;
mod documents;
mod query;
mod reader;
mod schema;
#[cfg(test)]
mod tests;
mod tokenizers;
mod versions;
mod writer;

pub use digest::IndexDigest;
pub use query::{
    ClientHit, HitDetail, MessageHit, SearchCursor, SearchError, SearchHit, SearchOrder,
    SearchPage, SearchQuery, SearchTarget,
};
pub use reader::SearchReader;
pub use versions::version_in_use;
pub use writer::{SearchIndex, SearchOptions, rebuild, start};

/// The store's name (logs, thread name).
pub const NAME: &str = "search";

/// Client substring search: the length of the n-grams (characters), indexed with positions.
pub const GRAM: usize = 3;
/// Longest search text accepted (characters).
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits in one page.
pub const MAX_LIMIT: usize = 1000;
/// Relevance pages go at most this deep (offset paging).
pub const MAX_OFFSET: usize = 10_000;
