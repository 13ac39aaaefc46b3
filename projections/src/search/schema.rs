//! The index's schema: its fields and the analyzers registered on it.
//!
//! Documents, each with its kind (`type`, indexed), its project and its dialog (each indexed
//! and a fast field, as the id's 16 bytes), an order key (`LogPlace`, as two fast fields:
//! `seq`, and `index` where it is not 0) and its time (`at`, a fast field):
//! - **client**, one per live dialog: name, phone (also as digits only), email and every
//!   channel identity's external id and display name, lowercased (`ё` folded to `е`) and
//!   indexed unstemmed as 3-grams at their positions (`grams`) for substring search, and as
//!   the first two characters of each word (`words`) for two-character queries. A query of
//!   three characters is one gram; a longer one is a phrase of grams at their offsets, which
//!   matches exactly the values that contain it. Its order key is the registration's, so
//!   *newest* means the newest client. Its stored `body` holds what it was built from.
//! - **message**, one per inbound message, outbound message (operator or bot) and internal
//!   note that has text: the words, stemmed for Russian and English (`заказы` finds `заказ`,
//!   `running` finds `run`), no n-grams, and nothing stored: the text, author and id are the
//!   timeline read model's, and a hit names the timeline's place of the same event, where
//!   [`crate::query::search_items`] reads them. Notes are searchable (F3.3: written by and for
//!   operators); a hit says which kind it is. A message changes the index only through its
//!   dialog (merged or deleted).
//! - **merged**, one per dialog merged into another (F4.9): the absorbed dialog's id and, in
//!   `into` (indexed and a fast field), the survivor's. The absorbed dialog's messages keep
//!   their documents; a hit in one is reported in the survivor, and a search narrowed to a
//!   survivor's dialogs includes the dialogs merged into it. A survivor merged away in turn
//!   hands its merge documents on, so each one names the last survivor.
//!
//! Field norms exist only for the two scored fields (`grams`, `text`); the kind, project,
//! dialog, order and time are not stored.

use super::tokenizers::{GramTokenizer, WordStart, YoFolder};
use crate::runtime::ProjectionError;
use tantivy::Index;
use tantivy::schema::{
    BytesOptions, FAST, Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

const GRAMS: &str = "sb_grams";
pub(super) const WORDS: &str = "sb_words";
pub(super) const TEXT: &str = "sb_text";
pub(super) const CLIENT: &str = "client";
pub(super) const MESSAGE: &str = "message";
pub(super) const MERGED: &str = "merged";

#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) doc_type: Field,
    pub(super) project: Field,
    pub(super) dialog: Field,
    /// The order key in two fast fields: `seq`, and `index` only where it is not 0 (rare): the
    /// key `seq << 12 | index` in one field costs twice as much (its low 12 bits defeat the
    /// linear codecs).
    pub(super) seq: Field,
    pub(super) index: Field,
    /// When: a client's registration, a message's `occurred_at` (µs). A fast field rather than
    /// in the body, where zstd can do little with 8-byte times: the column's codecs follow the
    /// log's clock.
    pub(super) at: Field,
    pub(super) grams: Field,
    pub(super) words: Field,
    pub(super) text: Field,
    /// A client document's stored body (postcard); other documents store nothing.
    pub(super) body: Field,
    /// A merge document's survivor: the dialog its `dialog`'s messages now belong to.
    pub(super) into: Field,
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Field norms (one byte per document and field) only where BM25 scores: `grams` and `text`.
    let text_field = |tokenizer: &str, record: IndexRecordOption, norms: bool| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(record)
                .set_fieldnorms(norms),
        )
    };
    let id = BytesOptions::default().set_indexed();
    let into = id.clone().set_fast();
    let fields = Fields {
        doc_type: builder
            .add_text_field("type", text_field("raw", IndexRecordOption::Basic, false)),
        project: builder.add_bytes_field("project", id.clone().set_fast()),
        dialog: builder.add_bytes_field("dialog", id.set_fast()),
        seq: builder.add_u64_field("seq", FAST),
        index: builder.add_u64_field("index", FAST),
        at: builder.add_i64_field("at", FAST),
        grams: builder.add_text_field(
            "grams",
            text_field(GRAMS, IndexRecordOption::WithFreqsAndPositions, true),
        ),
        words: builder.add_text_field("words", text_field(WORDS, IndexRecordOption::Basic, false)),
        text: builder.add_text_field("text", text_field(TEXT, IndexRecordOption::WithFreqs, true)),
        body: builder.add_bytes_field("body", STORED),
        into: builder.add_bytes_field("into", into),
    };
    (builder.build(), fields)
}

pub(super) fn register_tokenizers(index: &Index) -> Result<(), ProjectionError> {
    let manager = index.tokenizers();
    // Client values are normalised (lowercase, ё → е) before they reach these two, so that
    // the query can be normalised by the same function.
    manager.register(GRAMS, TextAnalyzer::builder(GramTokenizer).build());
    // Two-character queries look for a word that starts with them: its first two characters
    // are all that is indexed of a word (a word of one character is not).
    manager.register(
        WORDS,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(100))
            .filter(WordStart)
            .build(),
    );
    // Russian then English: each stemmer leaves words of the other alphabet alone (the
    // snowball algorithms only act on their own vowels and suffixes).
    manager.register(
        TEXT,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(100))
            .filter(LowerCaser)
            .filter(YoFolder)
            .filter(Stemmer::new(Language::Russian))
            .filter(Stemmer::new(Language::English))
            .build(),
    );
    Ok(())
}

/// Lowercase and fold `ё` into `е`: client values and client queries alike.
pub(super) fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}
