//! The search read model (F2.1): a tantivy index of clients and messages, near-real-time,
//! built from the log only and driven by the same [`ProjectionRunner`] as the SQLite models.
//!
//! # Documents
//! One index, three kinds of documents, each with its kind (`type`, indexed), its project and
//! its dialog (each indexed and a fast field, as the id's 16 bytes), an order key
//! (`seq << 12 | index of the event in its log message`, as two fast fields: `seq`, and `index`
//! where it is not 0) and its time (`at`, a fast field); nothing is stored twice (see *On
//! disk*):
//! - **client**, one per live dialog: name, phone (also as digits only), email and every
//!   channel identity's external id and display name, lowercased (`ё` folded to `е`) and
//!   indexed unstemmed as 3-grams at their positions (`grams`) for substring search, and as
//!   the first two characters of each word (`words`) for two-character queries (a word that
//!   starts with them). A query of three characters is one gram; a longer one is a phrase of
//!   grams at their offsets, which matches exactly the values that contain it. Its order key
//!   is the registration's, so *newest* means the newest client. A stored `body` (postcard)
//!   holds what the document was built from: a hit shows it, an update starts from it.
//! - **message**, one per inbound message, outbound message (operator or bot) and internal note
//!   that has text: the words, stemmed for Russian and English (`заказы` finds `заказ`,
//!   `running` finds `run`), no n-grams, and **nothing stored**: the text, author and id are the
//!   timeline read model's, and a hit names the timeline's place of the same event
//!   ([`MessageHit::place`]: same log message, same position), where
//!   [`crate::query::search_items`] reads them (one row per hit). Notes are searchable because
//!   search is an operator's tool and notes are written by and for operators (F3.3); a hit says
//!   which kind it is so a caller can leave notes out. The catalog has no message edit or
//!   deletion: a message changes the index only through its dialog (merged or deleted).
//! - **merged**, one per dialog merged into another (F4.9): the absorbed dialog's id and, in
//!   `into` (indexed and a fast field), the survivor's. The absorbed dialog's messages keep
//!   their documents (the index has no text to add them again with); a hit in one is reported
//!   in the survivor, and a search narrowed to a survivor's dialogs includes the dialogs merged
//!   into it. A survivor merged away in turn hands its merge documents on, so each one names the
//!   last survivor and a hit needs one lookup.
//!
//! # Events
//! `dialog.registered` adds the client document; `client.profile_updated`, `identity.linked`,
//! `identity.unlinked` and `dialog.merged` (the survivor takes over identities) replace it
//! (a delete of the dialog's client document, by query, + add, in the same commit);
//! `client.deleted` removes every document of the dialog and of the dialogs merged into it
//! (F4.8: personal data leaves the read model); `dialog.merged_into` removes the absorbed
//! dialog's client document and adds its merge document (and moves those of the dialogs it
//! had absorbed to the survivor), or forgets it when the survivor is deleted. Everything else
//! is skipped without decoding (by the `Sb-Type` header).
//!
//! # State across batches and restarts
//! A client update needs the client's current document, and a merge needs the merge documents
//! naming the absorbed dialog, but documents added since the last commit are not visible to a
//! searcher. The index keeps **no copy of the model in memory**: what is committed is read back
//! (the client's stored `body`, the merge documents' fast fields; the reader is reloaded right
//! after each commit), and what changed since the last commit is held in a small *pending*
//! overlay (the changed clients, the changed merge documents, the dialogs whose committed
//! documents were deleted) that is dropped at each commit. Memory is bounded by the commit
//! interval (at 1M clients a full copy would cost hundreds of MB), restarts need no warm-up,
//! and the state is exact: what a commit holds is what the overlay said plus what was
//! committed before.
//!
//! # Exactly once, near-real-time
//! The checkpoint (last applied sequence) is the commit payload; at open it is read back, and
//! records at or below what was applied are skipped. Commits happen when the oldest uncommitted
//! change is [`SearchOptions::commit_interval`] old (the runner ticks the index) or when
//! [`SearchOptions::commit_docs`] operations wait, never per event; the reader is reloaded right
//! after each commit, and only then does the runner report the new checkpoint, so `wait_for(seq)`
//! means "searchable". A failed batch rolls back everything uncommitted.
//!
//! # Files, rebuild, swap
//! `root/CURRENT` names the version directory in use (`root/v000001`, …). [`rebuild`] builds a
//! new version from the log, commits it and atomically renames a new pointer file over
//! `CURRENT`; readers follow with [`SearchReader::reopen`], and opening the writer removes the
//! older versions. [`SearchReader::digest`] is a deterministic checksum of the documents, so a
//! live index can be compared with a rebuilt one (`switchboard verify`).
//!
//! # On disk
//! What a document costs is kept to what a search or an update reads back: message texts are
//! the timeline's and not stored here (at 10M messages the stored bodies were 476 MB of the
//! index's 886, mostly message and operator ids zstd could not shrink); client values are
//! 3-grams with positions, not every n-gram of 3..10 characters (a sixth of the size, and
//! exact for queries of any length, where overlapping 10-grams were not); ids are 16-byte
//! terms, not 32 hex digits; a message has no key of its own (nothing looks one up: a message
//! leaves the index only with its dialog); field norms exist only for the two scored fields
//! (`grams`, `text`); the kind, project, dialog, order and time are not stored (a dictionary
//! ordinal of a few bits per document for the ids, the columnar codecs' residuals for order
//! and time); the client bodies are zstd in 32 KiB blocks.

use crate::runtime::{
    Checkpoint, ProjectionError, ProjectionRunner, RebuildProgress, RunnerOptions, SharedRecord,
    Store, Until, rebuild_store,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_core::log::{EventLog, LogRecord};
use switchboard_schemas::{
    AggregateId, ChannelId, ChannelIdentity, ClientProfile, DialogId, Envelope, Event, ProjectId,
    Timestamp, decode_batch,
};
use tantivy::collector::{Collector, DocSetCollector, TopDocs};
use tantivy::columnar::{BytesColumn, Column};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    BytesOptions, FAST, Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, SegmentReader,
    TantivyDocument, Term,
};

/// The store's name (logs, thread name).
pub const NAME: &str = "search";

/// Client substring search: the length of the n-grams (characters), indexed with positions.
pub const GRAM: usize = 3;
/// Joins a client document's values into its one `grams` text; no gram spans it.
const VALUE_SEPARATOR: char = '\0';
/// Longest search text accepted (characters).
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits in one page.
pub const MAX_LIMIT: usize = 1000;
/// Relevance pages go at most this deep (offset paging).
pub const MAX_OFFSET: usize = 10_000;

/// The document store: zstd at this level, in blocks of this many bytes. Bodies are small
/// (≈ 100 bytes) and alike, so the block size is what makes zstd pay, and a hit fetched from a
/// block not cached costs its whole block's decompression. On the 10k-dialog bench (the whole
/// index; a word search by relevance, 20 hits, on a reader opened just before it, p50 / p99):
/// lz4 in 16 KiB blocks 17.1 MB, 0.6 / 1.0 ms; zstd level 9 in 16 KiB 14.6 MB, 1.0 / 1.4 ms;
/// 32 KiB 13.6 MB, 1.3 / 1.6 ms; 64 KiB 12.8 MB, 1.9 / 2.3 ms; 128 KiB 12.3 MB, 2.9 / 6 ms.
/// Level 19 saves 4 % more at a third of the rebuild rate. The bench's texts come from a small
/// grammar and compress far better than real ones would.
const DOCSTORE_ZSTD_LEVEL: i32 = 9;
const DOCSTORE_BLOCK_BYTES: usize = 32 << 10;

const GRAMS: &str = "sb_grams";
const WORDS: &str = "sb_words";
const TEXT: &str = "sb_text";
const POINTER: &str = "CURRENT";
const CLIENT: &str = "client";
const MESSAGE: &str = "message";
const MERGED: &str = "merged";
/// Event types that change the index; log messages with none of them are not decoded.
const RELEVANT: &[&str] = &[
    "dialog.registered",
    "client.profile_updated",
    "identity.linked",
    "identity.unlinked",
    "dialog.merged",
    "dialog.merged_into",
    "message.received",
    "message.queued",
    "note.added",
    "client.deleted",
];

/// Tuning of a [`SearchIndex`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Commit (and make searchable) at the latest this long after the oldest uncommitted
    /// change. Hits are visible within about this plus the runner's tick.
    pub commit_interval: Duration,
    /// Commit when this many document operations wait, whatever the time.
    pub commit_docs: usize,
    /// The writer's memory budget (all indexing threads together).
    pub memory_budget: usize,
    /// tantivy indexing threads.
    pub indexing_threads: usize,
    /// tantivy segment merge threads.
    pub merge_threads: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            commit_interval: Duration::from_millis(250),
            commit_docs: 50_000,
            memory_budget: 64 << 20,
            indexing_threads: 1,
            merge_threads: 1,
        }
    }
}

impl SearchOptions {
    /// For [`rebuild`]: no timer (one commit per `commit_docs` operations and one at the end),
    /// a larger budget.
    pub fn rebuild() -> Self {
        Self {
            commit_interval: Duration::from_secs(24 * 3600),
            commit_docs: 200_000,
            memory_budget: 128 << 20,
            indexing_threads: 1,
            merge_threads: 1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema and analyzers

#[derive(Debug, Clone, Copy)]
struct Fields {
    doc_type: Field,
    project: Field,
    dialog: Field,
    /// The order key in two fast fields: `seq`, and `index` only where it is not 0 (rare): the
    /// key `seq << 12 | index` in one field costs twice as much (its low 12 bits defeat the
    /// linear codecs).
    seq: Field,
    index: Field,
    /// When: a client's registration, a message's `occurred_at` (µs). A fast field rather than
    /// in the body, where zstd can do little with 8-byte times: the column's codecs follow the
    /// log's clock.
    at: Field,
    grams: Field,
    words: Field,
    text: Field,
    /// A client document's stored body (postcard); other documents store nothing.
    body: Field,
    /// A merge document's survivor: the dialog its `dialog`'s messages now belong to.
    into: Field,
}

fn schema() -> (Schema, Fields) {
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

fn register_tokenizers(index: &Index) -> Result<(), ProjectionError> {
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
fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Client values as n-grams of [`GRAM`] characters, each at the position of its first character,
/// so that a phrase of grams at the right offsets is exactly a substring. The text is a
/// document's values joined by [`VALUE_SEPARATOR`]: no gram spans two values, and a value's first
/// gram comes `GRAM + 1` positions after the last one of the value before, farther apart than two
/// grams of a query phrase ever are (at most `GRAM`), so a phrase never matches across values.
#[derive(Clone, Debug)]
struct GramTokenizer;

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = GramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream {
        let mut tokens = Vec::new();
        let mut position = 0;
        let mut base = 0;
        for value in text.split(VALUE_SEPARATOR) {
            let bounds: Vec<usize> = value
                .char_indices()
                .map(|(i, _)| i)
                .chain([value.len()])
                .collect();
            let grams = bounds.len().saturating_sub(GRAM);
            for (start, window) in bounds.windows(GRAM + 1).enumerate() {
                let (from, to) = (window[0], window[GRAM]);
                tokens.push(Token {
                    offset_from: base + from,
                    offset_to: base + to,
                    position: position + start,
                    text: value[from..to].to_owned(),
                    position_length: 1,
                });
            }
            if grams > 0 {
                position += grams + GRAM;
            }
            base += value.len() + VALUE_SEPARATOR.len_utf8();
        }
        GramStream {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

struct GramStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl TokenStream for GramStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// The length of the word prefix a two-character client query looks for.
const WORD_START: usize = 2;

/// A token filter that keeps the first [`WORD_START`] characters of each word and drops shorter
/// words.
#[derive(Clone, Debug)]
struct WordStart;

impl TokenFilter for WordStart {
    type Tokenizer<T: Tokenizer> = WordStartFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordStartFilter<T> {
        WordStartFilter(tokenizer)
    }
}

#[derive(Clone, Debug)]
struct WordStartFilter<T>(T);

impl<T: Tokenizer> Tokenizer for WordStartFilter<T> {
    type TokenStream<'a> = WordStartStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordStartStream(self.0.token_stream(text))
    }
}

struct WordStartStream<S>(S);

impl<S: TokenStream> TokenStream for WordStartStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            let token = self.0.token_mut();
            if let Some((end, _)) = token.text.char_indices().nth(WORD_START) {
                token.text.truncate(end);
                return true;
            }
            if token.text.chars().count() == WORD_START {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// A token filter that folds `ё` into `е` (after lowercasing): Russian text is written both ways.
#[derive(Clone, Debug)]
struct YoFolder;

impl TokenFilter for YoFolder {
    type Tokenizer<T: Tokenizer> = YoFolderFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> YoFolderFilter<T> {
        YoFolderFilter(tokenizer)
    }
}

#[derive(Clone, Debug)]
struct YoFolderFilter<T>(T);

impl<T: Tokenizer> Tokenizer for YoFolderFilter<T> {
    type TokenStream<'a> = YoFolderStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        YoFolderStream(self.0.token_stream(text))
    }
}

struct YoFolderStream<S>(S);

impl<S: TokenStream> TokenStream for YoFolderStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let token = self.0.token_mut();
        if token.text.contains('ё') {
            token.text = token.text.replace('ё', "е");
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

// ---------------------------------------------------------------------------------------------
// Stored bodies

/// Everything a client document is built from (its stored body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClientBody {
    /// The `order` fast field's value, not part of the stored body.
    #[serde(skip)]
    order: u64,
    /// The `at` fast field's value, not part of the stored body.
    #[serde(skip, default = "no_time")]
    registered_at: Timestamp,
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    identities: Vec<IdentityBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IdentityBody {
    channel: ChannelId,
    external_id: String,
    display_name: Option<String>,
}

impl ClientBody {
    fn new(order: u64, registered_at: Timestamp) -> Self {
        Self {
            order,
            registered_at,
            name: None,
            phone: None,
            email: None,
            identities: Vec::new(),
        }
    }

    fn set_profile(&mut self, profile: &ClientProfile) {
        self.name.clone_from(&profile.name);
        self.phone.clone_from(&profile.phone);
        self.email.clone_from(&profile.email);
    }

    fn link(&mut self, identity: &ChannelIdentity, display_name: Option<&str>) {
        let found = self
            .identities
            .iter_mut()
            .find(|i| i.channel == identity.channel && i.external_id == identity.external_id);
        match found {
            Some(known) => {
                if let Some(name) = display_name {
                    known.display_name = Some(name.to_owned());
                }
            }
            None => self.identities.push(IdentityBody {
                channel: identity.channel,
                external_id: identity.external_id.clone(),
                display_name: display_name.map(str::to_owned),
            }),
        }
    }

    fn unlink(&mut self, identity: &ChannelIdentity) {
        self.identities
            .retain(|i| !(i.channel == identity.channel && i.external_id == identity.external_id));
    }

    /// The searchable values, normalised; a phone also as its digits alone.
    fn values(&self) -> Vec<String> {
        let mut values = Vec::with_capacity(4 + 2 * self.identities.len());
        let fields = [&self.name, &self.phone, &self.email];
        values.extend(fields.into_iter().flatten().map(|v| normalize(v)));
        if let Some(phone) = &self.phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != phone.len() && !digits.is_empty() {
                values.push(digits);
            }
        }
        for identity in &self.identities {
            values.push(normalize(&identity.external_id));
            values.extend(identity.display_name.as_deref().map(normalize));
        }
        values.retain(|v| !v.trim().is_empty());
        values
    }
}

fn no_time() -> Timestamp {
    Timestamp::from_micros(0)
}

/// Ids (project, dialog) are indexed terms and fast-field values as their 16 bytes (the UUID's,
/// big-endian), not as 32 hex digits.
fn id_term(field: Field, id: u128) -> Term {
    Term::from_field_bytes(field, &id.to_be_bytes())
}

fn id_from(bytes: &[u8]) -> Result<u128, ProjectionError> {
    <[u8; 16]>::try_from(bytes)
        .map(u128::from_be_bytes)
        .map_err(|_| corrupt("an id is not 16 bytes"))
}

fn dialog_term(fields: &Fields, dialog: DialogId) -> Term {
    id_term(fields.dialog, dialog.as_uuid().as_u128())
}

/// The documents of one kind in `dialog`: its client document, or its messages.
fn kind_in_dialog(fields: &Fields, dialog: DialogId, kind: &str) -> BooleanQuery {
    BooleanQuery::new(vec![
        (
            Occur::Must,
            Box::new(TermQuery::new(
                dialog_term(fields, dialog),
                IndexRecordOption::Basic,
            )),
        ),
        (
            Occur::Must,
            term_query(fields.doc_type, kind, IndexRecordOption::Basic),
        ),
    ])
}

/// The fast fields of one segment: what a document's stored body does not repeat.
struct Columns {
    order: OrderColumns,
    at: Column<i64>,
    project: BytesColumn,
    dialog: BytesColumn,
    /// A merge document's survivor (no value on other documents; none in a segment without
    /// merge documents).
    into: Option<BytesColumn>,
}

impl Columns {
    fn of(segment: &SegmentReader) -> Result<Self, ProjectionError> {
        let fast = segment.fast_fields();
        let bytes = |name: &str| {
            fast.bytes(name)?
                .ok_or_else(|| corrupt(format!("the fast field {name} is missing")))
        };
        Ok(Self {
            order: OrderColumns {
                seq: fast.u64("seq")?,
                index: fast.column_opt("index")?,
            },
            at: fast.i64("at")?,
            project: bytes("project")?,
            dialog: bytes("dialog")?,
            into: fast.bytes("into")?,
        })
    }

    fn order(&self, doc: DocId) -> Result<u64, ProjectionError> {
        self.order
            .key(doc)
            .ok_or_else(|| corrupt("a document has no order"))
    }

    fn id(column: &BytesColumn, doc: DocId) -> Result<u128, ProjectionError> {
        let ord = column
            .term_ords(doc)
            .next()
            .ok_or_else(|| corrupt("a document lacks an id"))?;
        let mut bytes = Vec::with_capacity(16);
        let found = column
            .ord_to_bytes(ord, &mut bytes)
            .map_err(|e| corrupt(format!("cannot read an id: {e}")))?;
        if !found {
            return Err(corrupt("an id ordinal is out of range"));
        }
        id_from(&bytes)
    }

    fn at(&self, doc: DocId) -> Result<Timestamp, ProjectionError> {
        self.at
            .first(doc)
            .map(Timestamp::from_micros)
            .ok_or_else(|| corrupt("a document has no time"))
    }

    fn project(&self, doc: DocId) -> Result<ProjectId, ProjectionError> {
        Self::id(&self.project, doc).map(ProjectId::from_u128)
    }

    fn dialog(&self, doc: DocId) -> Result<DialogId, ProjectionError> {
        Self::id(&self.dialog, doc).map(DialogId::from_u128)
    }

    /// A merge document's survivor; none for other documents.
    fn survivor(&self, doc: DocId) -> Result<Option<DialogId>, ProjectionError> {
        match &self.into {
            Some(column) if column.term_ords(doc).next().is_some() => {
                Self::id(column, doc).map(|id| Some(DialogId::from_u128(id)))
            }
            _ => Ok(None),
        }
    }
}

/// The order key's two columns in one segment.
#[derive(Clone)]
struct OrderColumns {
    seq: Column<u64>,
    /// None when no document of the segment has one.
    index: Option<Column<u64>>,
}

impl OrderColumns {
    fn key(&self, doc: DocId) -> Option<u64> {
        let seq = self.seq.first(doc)?;
        let index = self.index.as_ref().and_then(|c| c.first(doc)).unwrap_or(0);
        Some((seq << 12) | index)
    }
}

/// Every value of a bytes column by ordinal (for reading all documents of a segment).
fn id_table(column: &BytesColumn) -> Result<Vec<[u8; 16]>, ProjectionError> {
    let mut table = Vec::with_capacity(column.num_terms());
    let mut stream = column
        .dictionary()
        .stream()
        .map_err(|e| corrupt(format!("cannot read ids: {e}")))?;
    while stream.advance() {
        table.push(id_from(stream.key())?.to_be_bytes());
    }
    Ok(table)
}

/// A document of `kind` in `dialog` with its order key: what every kind has.
fn new_document(
    fields: &Fields,
    kind: &str,
    project: ProjectId,
    dialog: DialogId,
    order: u64,
) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(fields.doc_type, kind);
    doc.add_bytes(fields.project, &project.as_uuid().as_u128().to_be_bytes());
    doc.add_bytes(fields.dialog, &dialog.as_uuid().as_u128().to_be_bytes());
    add_order(&mut doc, fields, order);
    doc
}

/// Adds a document's order key (its two fast fields).
fn add_order(doc: &mut TantivyDocument, fields: &Fields, order: u64) {
    doc.add_u64(fields.seq, order >> 12);
    if order & 0xfff != 0 {
        doc.add_u64(fields.index, order & 0xfff);
    }
}

/// The `limit` documents with the highest order keys, highest first.
fn newest_first(
    searcher: &Searcher,
    limit: usize,
) -> Result<impl Collector<Fruit = Vec<(u64, DocAddress)>> + use<>, ProjectionError> {
    // Each segment's order columns, opened before the search so that a missing one is an error
    // rather than a key of 0.
    let mut orders = HashMap::new();
    for segment in searcher.segment_readers() {
        orders.insert(segment.segment_id(), Columns::of(segment)?.order);
    }
    let by_order = move |segment: &SegmentReader| {
        let columns = orders.get(&segment.segment_id()).cloned();
        move |doc: DocId| columns.as_ref().and_then(|c| c.key(doc)).unwrap_or(0)
    };
    Ok(TopDocs::with_limit(limit).order_by(by_order))
}

/// Documents whose order key is below `order`.
fn older_than(fields: &Fields, order: u64) -> Box<dyn Query> {
    let (seq, index) = (order >> 12, order & 0xfff);
    let seq_term = |seq| Term::from_field_u64(fields.seq, seq);
    let earlier: Box<dyn Query> = Box::new(RangeQuery::new(
        Bound::Unbounded,
        Bound::Excluded(seq_term(seq)),
    ));
    if index == 0 {
        return earlier;
    }
    // Or an earlier event of the same log message (no `index`: the first one).
    let same_message = BooleanQuery::new(vec![
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Included(seq_term(seq)),
                Bound::Included(seq_term(seq)),
            )),
        ),
        (
            Occur::MustNot,
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(fields.index, index)),
                Bound::Unbounded,
            )),
        ),
    ]);
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, earlier),
        (Occur::Should, Box::new(same_message)),
    ]))
}

/// The order key of the `index`-th event of the log message `seq`.
fn order_of(seq: u64, index: usize) -> u64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX).min(0xfff);
    (seq << 12) | index
}

fn corrupt(what: impl fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt(format!("search index: {what}"))
}

// ---------------------------------------------------------------------------------------------
// Checkpoint payload and version pointer

fn encode_checkpoint(checkpoint: Checkpoint) -> String {
    let last = checkpoint
        .last_undecodable_seq
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    format!("sb1 {} {} {last}", checkpoint.seq, checkpoint.undecodable)
}

fn decode_checkpoint(payload: Option<&str>) -> Result<Checkpoint, ProjectionError> {
    let Some(payload) = payload else {
        return Ok(Checkpoint::default());
    };
    let bad = || corrupt(format!("bad commit payload {payload:?}"));
    let parts: Vec<&str> = payload.split(' ').collect();
    let [tag, seq, undecodable, last] = parts.as_slice() else {
        return Err(bad());
    };
    if *tag != "sb1" {
        return Err(bad());
    }
    Ok(Checkpoint {
        seq: seq.parse().map_err(|_| bad())?,
        undecodable: undecodable.parse().map_err(|_| bad())?,
        last_undecodable_seq: match *last {
            "-" => None,
            n => Some(n.parse().map_err(|_| bad())?),
        },
    })
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> ProjectionError {
    corrupt(format!("cannot {what} {}: {error}", path.display()))
}

fn version_name(number: u64) -> String {
    format!("v{number:06}")
}

fn version_number(name: &str) -> Option<u64> {
    name.strip_prefix('v')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

/// The version `root/CURRENT` names, if any.
/// The version directory `root/CURRENT` names: the index in use (older versions wait there
/// until a writer opens and removes them); none before the first commit.
pub fn version_in_use(root: &Path) -> Result<Option<PathBuf>, ProjectionError> {
    Ok(read_pointer(root)?.map(|version| root.join(version_name(version))))
}

fn read_pointer(root: &Path) -> Result<Option<u64>, ProjectionError> {
    let path = root.join(POINTER);
    match std::fs::read_to_string(&path) {
        Ok(text) => version_number(text.trim())
            .map(Some)
            .ok_or_else(|| corrupt(format!("{} names no version: {text:?}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", &path, e)),
    }
}

/// Points `root/CURRENT` at `version`: a new file renamed over the old one (atomic), synced.
fn write_pointer(root: &Path, version: u64) -> Result<(), ProjectionError> {
    let path = root.join(POINTER);
    let temp = root.join(format!("{POINTER}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(|e| io_error("create", &temp, e))?;
    file.write_all(format!("{}\n", version_name(version)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", &temp, e))?;
    std::fs::rename(&temp, &path).map_err(|e| io_error("rename", &temp, e))?;
    // The rename itself is durable once the directory is synced.
    if let Ok(dir) = std::fs::File::open(root) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Version numbers of the version directories under `root`.
fn versions(root: &Path) -> Result<Vec<u64>, ProjectionError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", root, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", root, e))?;
        if let Some(number) = entry.file_name().to_str().and_then(version_number) {
            found.push(number);
        }
    }
    found.sort_unstable();
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// An opened version

/// One opened version directory: the index, its reader and the schema's fields.
struct Opened {
    version: u64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("version", &self.version)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Opened {
    fn open(root: &Path, version: u64) -> Result<Self, ProjectionError> {
        let dir = root.join(version_name(version));
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let directory = MmapDirectory::open(&dir)
            .map_err(|e| corrupt(format!("cannot open {}: {e}", dir.display())))?;
        let (schema, fields) = schema();
        let settings = tantivy::IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(DOCSTORE_ZSTD_LEVEL),
            }),
            docstore_blocksize: DOCSTORE_BLOCK_BYTES,
            ..tantivy::IndexSettings::default()
        };
        // An existing index keeps the settings it was created with (its meta.json).
        let index = Index::builder()
            .schema(schema)
            .settings(settings)
            .open_or_create(directory)
            .map_err(|e| {
                corrupt(format!(
                    "cannot open {} ({e}); rebuild the search index",
                    dir.display()
                ))
            })?;
        register_tokenizers(&index)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            version,
            dir,
            index,
            reader,
            fields,
        })
    }

    fn checkpoint(&self) -> Result<Checkpoint, ProjectionError> {
        decode_checkpoint(self.index.load_metas()?.payload.as_deref())
    }
}

/// Opens the version `CURRENT` names, creating the first one when there is none.
fn open_current(root: &Path) -> Result<Opened, ProjectionError> {
    std::fs::create_dir_all(root).map_err(|e| io_error("create", root, e))?;
    match read_pointer(root)? {
        Some(version) => Opened::open(root, version),
        None => {
            let version = versions(root)?.last().map_or(1, |v| v + 1);
            let opened = Opened::open(root, version)?;
            write_pointer(root, version)?;
            Ok(opened)
        }
    }
}

fn body_bytes<'a>(doc: &'a TantivyDocument, fields: &Fields) -> Result<&'a [u8], ProjectionError> {
    doc.get_first(fields.body)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| corrupt("a document has no body"))
}

/// A client document's body, with its order key and time (fast fields) put back.
fn decode_client(
    doc: &TantivyDocument,
    fields: &Fields,
    columns: &Columns,
    doc_id: DocId,
) -> Result<ClientBody, ProjectionError> {
    let mut body: ClientBody = postcard::from_bytes(body_bytes(doc, fields)?)
        .map_err(|e| corrupt(format!("a client body does not decode: {e}")))?;
    body.order = columns.order(doc_id)?;
    body.registered_at = columns.at(doc_id)?;
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Queries

/// What to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Clients by a substring of their name, phone, email or channel ids.
    Clients,
    /// Messages (and notes) by words, stemmed.
    Messages,
}

/// The order of hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// Newest first (messages by log order, clients by registration); keyset pages.
    Newest,
    /// Best match first (BM25); offset pages up to [`MAX_OFFSET`].
    Relevance,
}

/// Where the next page starts; its text form (`n…`, `r…`) goes into an API cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchCursor {
    /// Newest first: hits older than this order key.
    Before(u64),
    /// By relevance: skip this many hits.
    Offset(usize),
}

impl fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchCursor::Before(order) => write!(f, "n{order}"),
            SearchCursor::Offset(offset) => write!(f, "r{offset}"),
        }
    }
}

impl FromStr for SearchCursor {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SearchError::BadCursor(s.to_owned());
        if let Some(order) = s.strip_prefix('n') {
            return order.parse().map(SearchCursor::Before).map_err(|_| bad());
        }
        if let Some(offset) = s.strip_prefix('r') {
            return offset.parse().map(SearchCursor::Offset).map_err(|_| bad());
        }
        Err(bad())
    }
}

/// One search. Always within one project (F12.2); `dialogs` narrows it further (e.g. to the
/// dialogs an operator may see, or one dialog).
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub project: ProjectId,
    pub target: Target,
    pub text: String,
    pub dialogs: Option<Vec<DialogId>>,
    pub order: SearchOrder,
    /// Hits per page, 1..=[`MAX_LIMIT`].
    pub limit: usize,
    pub after: Option<SearchCursor>,
}

impl SearchQuery {
    /// Newest first, 20 a page, every dialog of the project.
    pub fn new(project: ProjectId, target: Target, text: impl Into<String>) -> Self {
        Self {
            project,
            target,
            text: text.into(),
            dialogs: None,
            order: SearchOrder::Newest,
            limit: 20,
            after: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search text is empty")]
    Empty,
    #[error("the search text needs at least {min} characters")]
    TooShort { min: usize },
    #[error("the search text is longer than {max} characters")]
    TooLong { max: usize },
    #[error("bad search cursor {0:?}")]
    BadCursor(String),
    #[error(transparent)]
    Index(#[from] ProjectionError),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(error: tantivy::TantivyError) -> Self {
        SearchError::Index(error.into())
    }
}

/// A client found: what the document holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHit {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// (channel, external id, display name).
    pub identities: Vec<(ChannelId, String, Option<String>)>,
    pub registered_at: Timestamp,
}

/// A message or note found. The index holds its words, not its text: the timeline read model
/// has its text, author and id at [`MessageHit::place`] ([`crate::query::search_items`] reads
/// them from there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHit {
    /// Its place in the timeline (`crate::timeline::item_at`).
    pub place: i64,
    /// The dialog it was written in: [`SearchHit::dialog`] unless that one was merged into
    /// another since (F4.9).
    pub written_in: DialogId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HitDetail {
    Client(ClientHit),
    Message(MessageHit),
}

/// One hit. Apply F12 visibility with `dialog` against the dialogs read model.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub dialog: DialogId,
    /// The log sequence of the event the document comes from (a message's, a client's
    /// registration).
    pub seq: u64,
    /// BM25 score, for relevance order.
    pub score: Option<f32>,
    pub detail: HitDetail,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, if there may be one.
    pub next: Option<SearchCursor>,
}

fn filter(query: Box<dyn Query>) -> (Occur, Box<dyn Query>) {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

fn term_query(field: Field, text: &str, record: IndexRecordOption) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), record))
}

/// The text part of a client search: a word prefix for two characters, the one gram for
/// [`GRAM`], beyond that a phrase of grams that covers every character at its offset (exactly
/// the values that contain the text); `None` when nothing can match.
fn client_match(fields: &Fields, text: &str) -> Result<Option<Box<dyn Query>>, SearchError> {
    let text = normalize(text.trim());
    let chars: Vec<char> = text.chars().collect();
    match chars.len() {
        0 => Err(SearchError::Empty),
        1 => Err(SearchError::TooShort { min: 2 }),
        WORD_START => {
            // Words are alphanumeric: a query with anything else cannot match one.
            if !chars.iter().all(|c| c.is_alphanumeric()) {
                return Ok(None);
            }
            // A word's start is its term; every hit scores alike.
            Ok(Some(Box::new(ConstScoreQuery::new(
                term_query(fields.words, &text, IndexRecordOption::Basic),
                1.0,
            ))))
        }
        n if n > MAX_QUERY_CHARS => Err(SearchError::TooLong {
            max: MAX_QUERY_CHARS,
        }),
        // No value holds the separator.
        _ if chars.contains(&VALUE_SEPARATOR) => Ok(None),
        GRAM => Ok(Some(term_query(
            fields.grams,
            &text,
            IndexRecordOption::WithFreqs,
        ))),
        n => {
            // Grams at 0, GRAM, 2·GRAM, … and one ending at the last character.
            let mut offsets: Vec<usize> = (0..=n - GRAM).step_by(GRAM).collect();
            if offsets.last() != Some(&(n - GRAM)) {
                offsets.push(n - GRAM);
            }
            let terms = offsets
                .into_iter()
                .map(|offset| {
                    let gram: String = chars[offset..offset + GRAM].iter().collect();
                    (offset, Term::from_field_text(fields.grams, &gram))
                })
                .collect();
            Ok(Some(Box::new(PhraseQuery::new_with_offset(terms))))
        }
    }
}

/// The text part of a message search: every word (stemmed) must be there.
fn message_match(opened: &Opened, text: &str) -> Result<Option<Box<dyn Query>>, SearchError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::TooLong {
            max: MAX_QUERY_CHARS,
        });
    }
    let mut analyzer = opened
        .index
        .tokenizers()
        .get(TEXT)
        .ok_or_else(|| corrupt("the text analyzer is not registered"))?;
    let mut words = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |token: &Token| words.push(token.text.clone()));
    words.sort_unstable();
    words.dedup();
    if words.is_empty() {
        return Err(SearchError::Empty);
    }
    let parts = words
        .iter()
        .map(|w| {
            (
                Occur::Must,
                term_query(opened.fields.text, w, IndexRecordOption::WithFreqs),
            )
        })
        .collect();
    Ok(Some(Box::new(BooleanQuery::new(parts))))
}

fn hit_of(
    searcher: &Searcher,
    target: Target,
    fields: &Fields,
    columns: &Columns,
    address: DocAddress,
    score: Option<f32>,
) -> Result<(SearchHit, u64), ProjectionError> {
    let doc_id = address.doc_id;
    let dialog = columns.dialog(doc_id)?;
    let order = columns.order(doc_id)?;
    let detail = match target {
        Target::Clients => {
            let doc: TantivyDocument = searcher.doc(address)?;
            let c = decode_client(&doc, fields, columns, doc_id)?;
            HitDetail::Client(ClientHit {
                name: c.name,
                phone: c.phone,
                email: c.email,
                identities: c
                    .identities
                    .into_iter()
                    .map(|i| (i.channel, i.external_id, i.display_name))
                    .collect(),
                registered_at: c.registered_at,
            })
        }
        // Nothing stored: everything else is in the timeline at this place.
        Target::Messages => HitDetail::Message(MessageHit {
            place: timeline_place(order),
            written_in: dialog,
        }),
    };
    Ok((
        SearchHit {
            dialog,
            seq: order >> 12,
            score,
            detail,
        },
        order,
    ))
}

/// The timeline's place of the event with this order key: the same log message and position
/// (`seq << 20 | position` there).
fn timeline_place(order: u64) -> i64 {
    let place = (order >> 12) << crate::timeline::POSITION_BITS | (order & 0xfff);
    i64::try_from(place).unwrap_or(i64::MAX)
}

/// The merge documents whose `field` (`dialog`: the absorbed one, `into`: the survivor) is one
/// of `ids`, as (absorbed, survivor) pairs.
fn merges(
    searcher: &Searcher,
    fields: &Fields,
    field: Field,
    ids: impl IntoIterator<Item = DialogId>,
) -> Result<Vec<(DialogId, DialogId)>, ProjectionError> {
    let terms: Vec<Term> = ids
        .into_iter()
        .map(|id| id_term(field, id.as_uuid().as_u128()))
        .collect();
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let query = BooleanQuery::new(vec![
        (
            Occur::Must,
            term_query(fields.doc_type, MERGED, IndexRecordOption::Basic),
        ),
        (Occur::Must, Box::new(TermSetQuery::new(terms))),
    ]);
    let mut addresses: Vec<DocAddress> = searcher
        .search(&query, &DocSetCollector)?
        .into_iter()
        .collect();
    addresses.sort_unstable();
    let mut found = Vec::with_capacity(addresses.len());
    let mut columns: Option<(u32, Columns)> = None;
    for address in addresses {
        let segment_columns = match columns.take() {
            Some((segment, c)) if segment == address.segment_ord => c,
            _ => Columns::of(searcher.segment_reader(address.segment_ord))?,
        };
        let absorbed = segment_columns.dialog(address.doc_id)?;
        let survivor = segment_columns
            .survivor(address.doc_id)?
            .ok_or_else(|| corrupt("a merge document names no survivor"))?;
        found.push((absorbed, survivor));
        columns = Some((address.segment_ord, segment_columns));
    }
    Ok(found)
}

fn run_search(opened: &Opened, query: &SearchQuery) -> Result<SearchPage, SearchError> {
    let fields = &opened.fields;
    let empty = SearchPage {
        hits: Vec::new(),
        next: None,
    };
    let matching = match query.target {
        Target::Clients => client_match(fields, &query.text)?,
        Target::Messages => message_match(opened, &query.text)?,
    };
    let Some(matching) = matching else {
        return Ok(empty);
    };
    let doc_type = match query.target {
        Target::Clients => CLIENT,
        Target::Messages => MESSAGE,
    };
    let mut parts = vec![
        (Occur::Must, matching),
        filter(Box::new(TermQuery::new(
            id_term(fields.project, query.project.as_uuid().as_u128()),
            IndexRecordOption::Basic,
        ))),
        filter(term_query(
            fields.doc_type,
            doc_type,
            IndexRecordOption::Basic,
        )),
    ];
    let searcher = opened.reader.searcher();
    if let Some(dialogs) = &query.dialogs {
        if dialogs.is_empty() {
            return Ok(empty);
        }
        let mut narrowed = dialogs.clone();
        if query.target == Target::Messages {
            // A dialog's messages include those written in the dialogs it absorbed (F4.9).
            let absorbed = merges(&searcher, fields, fields.into, dialogs.iter().copied())?;
            narrowed.extend(absorbed.into_iter().map(|(absorbed, _)| absorbed));
        }
        let terms = narrowed.iter().map(|d| dialog_term(fields, *d));
        parts.push(filter(Box::new(TermSetQuery::new(terms))));
    }
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let mut found: Vec<(Option<f32>, DocAddress)> = match query.order {
        SearchOrder::Newest => {
            match query.after {
                None => {}
                Some(SearchCursor::Before(before)) => {
                    parts.push(filter(older_than(fields, before)))
                }
                Some(other) => return Err(SearchError::BadCursor(other.to_string())),
            }
            let collector = newest_first(&searcher, limit + 1)?;
            searcher
                .search(&BooleanQuery::new(parts), &collector)?
                .into_iter()
                .map(|(_, address)| (None, address))
                .collect()
        }
        SearchOrder::Relevance => {
            let offset = match query.after {
                None => 0,
                Some(SearchCursor::Offset(offset)) if offset <= MAX_OFFSET => offset,
                Some(other) => return Err(SearchError::BadCursor(other.to_string())),
            };
            let collector = TopDocs::with_limit(limit + 1)
                .and_offset(offset)
                .order_by_score();
            searcher
                .search(&BooleanQuery::new(parts), &collector)?
                .into_iter()
                .map(|(score, address)| (Some(score), address))
                .collect()
        }
    };
    let more = found.len() > limit;
    found.truncate(limit);
    let mut hits = Vec::with_capacity(found.len());
    let mut last_order = None;
    let mut columns: HashMap<u32, Columns> = HashMap::new();
    for (score, address) in found {
        let segment_columns = match columns.entry(address.segment_ord) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Columns::of(searcher.segment_reader(address.segment_ord))?)
            }
        };
        let (hit, order) = hit_of(
            &searcher,
            query.target,
            fields,
            segment_columns,
            address,
            score,
        )?;
        last_order = Some(order);
        hits.push(hit);
    }
    if query.target == Target::Messages {
        // Messages written in a dialog merged away since live on in its survivor.
        let written: HashSet<DialogId> = hits.iter().map(|h| h.dialog).collect();
        let moved: HashMap<DialogId, DialogId> = merges(&searcher, fields, fields.dialog, written)?
            .into_iter()
            .collect();
        for hit in &mut hits {
            if let Some(survivor) = moved.get(&hit.dialog) {
                hit.dialog = *survivor;
            }
        }
    }
    let next = match (more, query.order, last_order) {
        (true, SearchOrder::Newest, Some(order)) => Some(SearchCursor::Before(order)),
        (true, SearchOrder::Relevance, _) => {
            let offset = match query.after {
                Some(SearchCursor::Offset(offset)) => offset,
                _ => 0,
            } + limit;
            (offset <= MAX_OFFSET).then_some(SearchCursor::Offset(offset))
        }
        _ => None,
    };
    Ok(SearchPage { hits, next })
}

/// A deterministic checksum of an index's documents, for comparing a live index with a rebuilt
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDigest {
    /// The commit's checkpoint.
    pub checkpoint: Checkpoint,
    pub documents: u64,
    /// SHA-256 (hex) over the multiset of documents: each document's hash (project, dialog,
    /// order key, time, and a client's body, a merge's survivor or a message's number of
    /// words) summed lane-wise, so the order of segments and documents does not matter and a
    /// duplicate changes it.
    pub sha256: String,
}

fn digest_of(opened: &Opened) -> Result<IndexDigest, ProjectionError> {
    let fields = &opened.fields;
    let searcher = opened.reader.searcher();
    let mut lanes = [0u64; 4];
    let mut documents = 0u64;
    for segment in searcher.segment_readers() {
        let store = segment
            .get_store_reader(64)
            .map_err(|e| corrupt(format!("cannot read stored documents: {e}")))?;
        let columns = Columns::of(segment)?;
        let projects = id_table(&columns.project)?;
        let dialogs = id_table(&columns.dialog)?;
        let id = |table: &[[u8; 16]], column: &BytesColumn, doc_id: DocId| {
            column
                .term_ords(doc_id)
                .next()
                .and_then(|ord| table.get(usize::try_from(ord).ok()?).copied())
                .ok_or_else(|| corrupt("a document lacks an id"))
        };
        let norms = segment.get_fieldnorms_reader(fields.text)?;
        for doc_id in segment.doc_ids_alive() {
            let doc: TantivyDocument = store.get(doc_id)?;
            let mut hasher = Sha256::new();
            let project = id(&projects, &columns.project, doc_id)?;
            let dialog = id(&dialogs, &columns.dialog, doc_id)?;
            let order = columns.order(doc_id)?.to_le_bytes();
            let at = columns.at.first(doc_id).unwrap_or(0).to_le_bytes();
            // What the document is besides: a client's body; a merge's survivor; a message's
            // number of words (its field norm: the text itself is not stored).
            let into = columns
                .survivor(doc_id)?
                .map(|d| d.as_uuid().as_u128().to_be_bytes());
            let words;
            let rest: &[u8] = match (doc.get_first(fields.body), &into) {
                (Some(_), _) => body_bytes(&doc, fields)?,
                (None, Some(survivor)) => &survivor[..],
                (None, None) => {
                    words = [norms.fieldnorm_id(doc_id)];
                    &words[..]
                }
            };
            for part in [&project[..], &dialog[..], &order[..], &at[..], rest] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            let hash = hasher.finalize();
            for (lane, chunk) in lanes.iter_mut().zip(hash.chunks_exact(8)) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                *lane = lane.wrapping_add(u64::from_le_bytes(word));
            }
            documents += 1;
        }
    }
    let mut total = Sha256::new();
    total.update(documents.to_le_bytes());
    for lane in lanes {
        total.update(lane.to_le_bytes());
    }
    Ok(IndexDigest {
        checkpoint: opened.checkpoint()?,
        documents,
        sha256: hex::encode(total.finalize()),
    })
}

// ---------------------------------------------------------------------------------------------
// Readers

/// Queries the index: cheap to clone, shared with the [`SearchIndex`] that writes it (which
/// reloads it right after each commit). Searches are synchronous (tantivy work); from async code
/// use [`SearchReader::query`], which runs them on the blocking pool.
#[derive(Debug, Clone)]
pub struct SearchReader {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    current: RwLock<Arc<Opened>>,
}

impl SearchReader {
    /// Opens the version `root/CURRENT` names (an empty index when there is none yet).
    pub fn open(root: &Path) -> Result<Self, ProjectionError> {
        let opened = open_current(root)?;
        Ok(Self {
            shared: Arc::new(Shared {
                root: root.to_path_buf(),
                current: RwLock::new(Arc::new(opened)),
            }),
        })
    }

    fn current(&self) -> Arc<Opened> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn replace(&self, opened: Arc<Opened>) {
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = opened;
    }

    /// The index's root directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Follows `CURRENT` after a [`rebuild`]: opens the version it names if that is not the one
    /// open. True when it switched.
    pub fn reopen(&self) -> Result<bool, ProjectionError> {
        let current = self.current();
        match read_pointer(&self.shared.root)? {
            Some(version) if version != current.version => {
                let opened = Opened::open(&self.shared.root, version)?;
                self.replace(Arc::new(opened));
                Ok(true)
            }
            _ => {
                // The same version, possibly written by another process: see its last commit.
                current.reader.reload()?;
                Ok(false)
            }
        }
    }

    /// One search, synchronously.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError> {
        run_search(&self.current(), query)
    }

    /// One search, off the async threads.
    pub async fn query(&self, query: SearchQuery) -> Result<SearchPage, SearchError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.search(&query))
            .await
            .map_err(|e| {
                SearchError::Index(ProjectionError::Stopped {
                    projection: NAME.to_owned(),
                    reason: format!("search task failed: {e}"),
                })
            })?
    }

    /// The checkpoint of the last commit (what searches see).
    pub fn checkpoint(&self) -> Result<Checkpoint, ProjectionError> {
        self.current().checkpoint()
    }

    /// How many documents searches see (clients and messages).
    pub fn num_docs(&self) -> u64 {
        self.current().reader.searcher().num_docs()
    }

    /// The checksum of every document (reads them all: for `verify`, not for a hot path).
    pub fn digest(&self) -> Result<IndexDigest, ProjectionError> {
        digest_of(&self.current())
    }
}

// ---------------------------------------------------------------------------------------------
// The writer

/// What changed since the last commit, which a searcher cannot see yet.
#[derive(Debug, Default)]
struct Pending {
    /// Clients changed: their document as it now is (None: removed).
    clients: HashMap<DialogId, Option<(ProjectId, ClientBody)>>,
    /// Merge documents changed, by the absorbed dialog: its survivor (None: removed).
    merges: HashMap<DialogId, Option<DialogId>>,
    /// Dialogs whose committed documents are all deleted.
    cleared: HashSet<DialogId>,
    /// Document operations (adds and deletes) waiting.
    operations: usize,
}

/// The search index's writer: a [`Store`] for [`ProjectionRunner::start_store`] (or driven
/// directly). One per index directory (tantivy's lock file refuses a second).
pub struct SearchIndex {
    reader: SearchReader,
    opened: Arc<Opened>,
    writer: IndexWriter<TantivyDocument>,
    options: SearchOptions,
    committed: Checkpoint,
    applied: Checkpoint,
    pending: Pending,
    dirty_since: Option<Instant>,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("opened", &self.opened)
            .field("committed", &self.committed)
            .field("applied", &self.applied)
            .field("pending_operations", &self.pending.operations)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens (creating if needed) the index under `root` and removes versions older than the
    /// current one.
    pub fn open(root: &Path, options: SearchOptions) -> Result<Self, ProjectionError> {
        Self::open_with(&SearchReader::open(root)?, options)
    }

    /// Opens the writer for the index `reader` reads, first following `CURRENT` (after a
    /// rebuild): every clone of `reader` then sees this writer's commits.
    pub fn open_with(
        reader: &SearchReader,
        options: SearchOptions,
    ) -> Result<Self, ProjectionError> {
        reader.reopen()?;
        let opened = reader.current();
        let root = reader.root();
        for version in versions(root)? {
            if version < opened.version {
                let dir = root.join(version_name(version));
                if let Err(error) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), %error, "cannot remove an old search index version");
                }
            }
        }
        Self::writer_for(reader.clone(), opened, options)
    }

    fn writer_for(
        reader: SearchReader,
        opened: Arc<Opened>,
        options: SearchOptions,
    ) -> Result<Self, ProjectionError> {
        let threads = options.indexing_threads.max(1);
        let writer_options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread((options.memory_budget / threads).max(16 << 20))
            .num_merge_threads(options.merge_threads.max(1))
            .build();
        let writer = opened.index.writer_with_options(writer_options)?;
        let committed = opened.checkpoint()?;
        Ok(Self {
            reader,
            opened,
            writer,
            options,
            committed,
            applied: committed,
            pending: Pending::default(),
            dirty_since: None,
        })
    }

    /// A reader of this index (searches see each commit as soon as it is made).
    pub fn reader(&self) -> SearchReader {
        self.reader.clone()
    }

    /// What is applied, committed or not.
    pub fn applied(&self) -> Checkpoint {
        self.applied
    }

    /// Commits what is applied, waits for background merges and closes the writer.
    pub fn close(mut self) -> Result<Checkpoint, ProjectionError> {
        self.commit()?;
        let checkpoint = self.committed;
        self.writer.wait_merging_threads()?;
        Ok(checkpoint)
    }

    fn commit(&mut self) -> Result<(), ProjectionError> {
        if self.applied == self.committed && self.pending.operations == 0 {
            return Ok(());
        }
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&encode_checkpoint(self.applied));
        prepared.commit()?;
        self.opened.reader.reload()?;
        self.committed = self.applied;
        self.pending = Pending::default();
        self.dirty_since = None;
        Ok(())
    }

    fn commit_due(&self) -> bool {
        self.pending.operations >= self.options.commit_docs
            || self
                .dirty_since
                .is_some_and(|since| since.elapsed() >= self.options.commit_interval)
    }

    /// Forgets everything uncommitted (after a failure): the next record applied is the one
    /// after the committed checkpoint.
    fn roll_back(&mut self) {
        if let Err(error) = self.writer.rollback() {
            tracing::error!(%error, "search index rollback failed");
        }
        self.applied = self.committed;
        self.pending = Pending::default();
        self.dirty_since = None;
    }

    fn apply_records<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a LogRecord>,
    ) -> Result<(), ProjectionError> {
        for record in records {
            if record.seq <= self.applied.seq {
                continue;
            }
            self.applied.seq = record.seq;
            let relevant = record
                .batch
                .types
                .split(',')
                .any(|t| RELEVANT.contains(&t.trim()));
            if !relevant {
                continue;
            }
            match decode_batch(&record.batch) {
                Ok(events) => {
                    for (index, envelope) in events.into_iter().enumerate() {
                        self.apply_event(order_of(record.seq, index), envelope)?;
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        projection = NAME,
                        seq = record.seq,
                        types = record.batch.types.as_str(),
                        %error,
                        "skipping a record that does not decode"
                    );
                    self.applied.undecodable += 1;
                    self.applied.last_undecodable_seq = Some(record.seq);
                }
            }
        }
        Ok(())
    }

    fn apply_event(&mut self, order: u64, envelope: Envelope) -> Result<(), ProjectionError> {
        let AggregateId::Dialog(dialog) = envelope.aggregate else {
            return Ok(());
        };
        let project = envelope.project;
        let at = envelope.occurred_at;
        match envelope.payload {
            Event::DialogRegistered(e) => {
                let mut body = ClientBody::new(order, at);
                body.set_profile(&e.profile);
                if let Some(identity) = &e.identity {
                    body.link(identity, None);
                }
                self.put_client(project, dialog, body)?;
            }
            Event::ClientProfileUpdated(e) => {
                self.update_client(dialog, |c| c.set_profile(&e.profile))?;
            }
            Event::IdentityLinked(e) => {
                self.update_client(dialog, |c| c.link(&e.identity, e.display_name.as_deref()))?;
            }
            Event::IdentityUnlinked(e) => {
                self.update_client(dialog, |c| c.unlink(&e.identity))?;
            }
            Event::DialogsMerged(e) => {
                self.update_client(dialog, |c| {
                    for identity in &e.identities {
                        c.link(identity, None);
                    }
                })?;
            }
            Event::DialogMergedInto(e) => self.merge(project, dialog, e.survivor, order)?,
            Event::ClientDeleted(_) => self.forget(dialog)?,
            Event::MessageReceived(e) => self.add_message(project, dialog, order, &e.text)?,
            Event::MessageQueued(e) => self.add_message(project, dialog, order, &e.text)?,
            Event::NoteAdded(e) => self.add_message(project, dialog, order, &e.text)?,
            _ => {}
        }
        Ok(())
    }

    fn touch(&mut self, operations: usize) {
        self.pending.operations += operations;
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// The client document of `dialog` as it now is (pending overlay, then the last commit).
    fn client(&self, dialog: DialogId) -> Result<Option<(ProjectId, ClientBody)>, ProjectionError> {
        if let Some(pending) = self.pending.clients.get(&dialog) {
            return Ok(pending.clone());
        }
        if self.pending.cleared.contains(&dialog) {
            return Ok(None);
        }
        let fields = &self.opened.fields;
        let searcher = self.opened.reader.searcher();
        let found = searcher.search(&kind_in_dialog(fields, dialog, CLIENT), &DocSetCollector)?;
        let Some(address) = found.into_iter().min() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address)?;
        let columns = Columns::of(searcher.segment_reader(address.segment_ord))?;
        let project = columns.project(address.doc_id)?;
        let body = decode_client(&doc, fields, &columns, address.doc_id)?;
        Ok(Some((project, body)))
    }

    /// The dialogs merged into `survivor` (their merge documents name it), committed or
    /// pending.
    fn absorbed_by(&self, survivor: DialogId) -> Result<Vec<DialogId>, ProjectionError> {
        let fields = &self.opened.fields;
        let searcher = self.opened.reader.searcher();
        let mut absorbed: Vec<DialogId> = merges(&searcher, fields, fields.into, [survivor])?
            .into_iter()
            .map(|(absorbed, _)| absorbed)
            .filter(|a| !self.pending.merges.contains_key(a) && !self.pending.cleared.contains(a))
            .collect();
        absorbed.extend(
            self.pending
                .merges
                .iter()
                .filter(|(_, into)| **into == Some(survivor))
                .map(|(absorbed, _)| *absorbed),
        );
        absorbed.sort_unstable();
        absorbed.dedup();
        Ok(absorbed)
    }

    fn put_client(
        &mut self,
        project: ProjectId,
        dialog: DialogId,
        body: ClientBody,
    ) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        // The dialog's client document, if any, goes (a delete by query is tantivy's delete by
        // term generalised: it applies to what was added before it, this commit included).
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, dialog, CLIENT)))?;
        let mut doc = new_document(&fields, CLIENT, project, dialog, body.order);
        doc.add_i64(fields.at, body.registered_at.as_micros());
        let values = body.values();
        for value in &values {
            doc.add_text(fields.words, value);
        }
        let separator = VALUE_SEPARATOR.to_string();
        doc.add_text(fields.grams, values.join(&separator));
        let bytes = postcard::to_allocvec(&body)
            .map_err(|e| corrupt(format!("cannot encode a client: {e}")))?;
        doc.add_bytes(fields.body, &bytes);
        self.writer.add_document(doc)?;
        self.pending.clients.insert(dialog, Some((project, body)));
        self.touch(2);
        Ok(())
    }

    fn update_client(
        &mut self,
        dialog: DialogId,
        change: impl FnOnce(&mut ClientBody),
    ) -> Result<(), ProjectionError> {
        // No document: the dialog is deleted, merged away or unknown; nothing to update.
        let Some((project, mut body)) = self.client(dialog)? else {
            return Ok(());
        };
        let before = body.clone();
        change(&mut body);
        if body != before {
            self.put_client(project, dialog, body)?;
        }
        Ok(())
    }

    /// A message or note: its words only (the timeline has the rest, at the same place).
    fn add_message(
        &mut self,
        project: ProjectId,
        dialog: DialogId,
        order: u64,
        text: &str,
    ) -> Result<(), ProjectionError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let fields = self.opened.fields;
        let mut doc = new_document(&fields, MESSAGE, project, dialog, order);
        doc.add_text(fields.text, text);
        self.writer.add_document(doc)?;
        self.touch(1);
        Ok(())
    }

    /// Every document of `dialog` and of the dialogs it absorbed leaves the index.
    fn forget(&mut self, dialog: DialogId) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        let mut gone = self.absorbed_by(dialog)?;
        gone.push(dialog);
        for dialog in gone {
            // The dialog's client, messages and merge document (all carry its id).
            self.writer.delete_term(dialog_term(&fields, dialog));
            self.pending.cleared.insert(dialog);
            self.pending.clients.insert(dialog, None);
            self.pending.merges.insert(dialog, None);
            self.touch(1);
        }
        Ok(())
    }

    /// The merge document of `absorbed`, naming `survivor` (replacing one it had).
    fn put_merge(
        &mut self,
        project: ProjectId,
        absorbed: DialogId,
        survivor: DialogId,
        order: u64,
    ) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, absorbed, MERGED)))?;
        let mut doc = new_document(&fields, MERGED, project, absorbed, order);
        doc.add_bytes(fields.into, &survivor.as_uuid().as_u128().to_be_bytes());
        self.writer.add_document(doc)?;
        self.pending.merges.insert(absorbed, Some(survivor));
        self.touch(2);
        Ok(())
    }

    /// `absorbed` lives on in `survivor` (F4.9): its client document goes; its messages stay
    /// as they are, and a merge document sends them (and those of the dialogs it had absorbed)
    /// on to the survivor. Nothing is re-indexed: the index does not keep texts.
    fn merge(
        &mut self,
        project: ProjectId,
        absorbed: DialogId,
        survivor: DialogId,
        order: u64,
    ) -> Result<(), ProjectionError> {
        if absorbed == survivor {
            return Ok(());
        }
        // A survivor without a client document (deleted) keeps nothing (F4.8).
        if self.client(survivor)?.is_none() {
            return self.forget(absorbed);
        }
        let fields = self.opened.fields;
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, absorbed, CLIENT)))?;
        self.pending.clients.insert(absorbed, None);
        self.touch(1);
        for earlier in self.absorbed_by(absorbed)? {
            self.put_merge(project, earlier, survivor, order)?;
        }
        self.put_merge(project, absorbed, survivor, order)
    }
}

impl Store for SearchIndex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn path(&self) -> &Path {
        self.reader.root()
    }

    fn checkpoint(&self) -> Checkpoint {
        self.committed
    }

    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError> {
        let applied = self
            .apply_records(records.iter().map(|r| &r.record))
            .and_then(|()| {
                if self.applied != self.committed && self.dirty_since.is_none() {
                    self.dirty_since = Some(Instant::now());
                }
                if self.commit_due() {
                    self.commit()?;
                }
                Ok(())
            });
        if let Err(error) = applied {
            self.roll_back();
            return Err(error);
        }
        Ok(self.committed)
    }

    fn applied_seq(&self) -> u64 {
        self.applied.seq
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.options.commit_interval / 4).max(Duration::from_millis(10)))
    }

    fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
        if !self.commit_due() {
            return Ok(self.committed);
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        if let Err(error) = self.commit() {
            self.roll_back();
            return Err(error);
        }
        Ok(self.committed)
    }
}

/// Opens the index under `root` off the async threads and starts a runner feeding it from
/// `log`. The reader sees every commit of the runner.
pub async fn start<L: EventLog>(
    log: L,
    root: &Path,
    options: SearchOptions,
    runner: RunnerOptions,
) -> Result<(ProjectionRunner<L>, SearchReader), ProjectionError> {
    let root = root.to_path_buf();
    let index = tokio::task::spawn_blocking(move || SearchIndex::open(&root, options))
        .await
        .map_err(|e| ProjectionError::Stopped {
            projection: NAME.to_owned(),
            reason: format!("open task failed: {e}"),
        })??;
    let reader = index.reader();
    let runner = ProjectionRunner::start_store(log, index, runner)?;
    Ok((runner, reader))
}

/// Rebuilds the index under `root` from the log (to the end, a sequence or a moment) into a new
/// version directory, then points `CURRENT` at it atomically. Stop the index's runner first;
/// afterwards open it again ([`SearchIndex::open_with`] an existing reader, or
/// [`SearchReader::reopen`] on readers) and it resumes from the rebuilt checkpoint. A crash
/// before the swap leaves the old version in use.
pub async fn rebuild<L: EventLog>(
    log: &L,
    root: &Path,
    until: Until,
    max_batch: usize,
    options: SearchOptions,
    progress: impl FnMut(RebuildProgress) + Send,
) -> Result<Checkpoint, ProjectionError> {
    let root = root.to_path_buf();
    let build_root = root.clone();
    let index = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&build_root).map_err(|e| io_error("create", &build_root, e))?;
        let current = read_pointer(&build_root)?.unwrap_or(0);
        let existing = versions(&build_root)?;
        // Leftovers of rebuilds that never swapped (a crash) are not in use.
        for version in existing.iter().filter(|v| **v > current) {
            let dir = build_root.join(version_name(*version));
            std::fs::remove_dir_all(&dir).map_err(|e| io_error("remove", &dir, e))?;
        }
        let next = existing.iter().copied().chain([current]).max().unwrap_or(0) + 1;
        let opened = Arc::new(Opened::open(&build_root, next)?);
        // A reader of the new version only: nothing else sees it before the swap.
        let reader = SearchReader {
            shared: Arc::new(Shared {
                root: build_root.clone(),
                current: RwLock::new(Arc::clone(&opened)),
            }),
        };
        SearchIndex::writer_for(reader, opened, options)
    })
    .await
    .map_err(|e| ProjectionError::Stopped {
        projection: NAME.to_owned(),
        reason: format!("rebuild task failed: {e}"),
    })??;
    let index = rebuild_store(log, index, until, max_batch, progress).await?;
    tokio::task::spawn_blocking(move || {
        let version = index.opened.version;
        let checkpoint = index.close()?;
        write_pointer(&root, version)?;
        tracing::info!(root = %root.display(), version, checkpoint = checkpoint.seq, "search index rebuilt");
        Ok(checkpoint)
    })
    .await
    .map_err(|e| ProjectionError::Stopped {
        projection: NAME.to_owned(),
        reason: format!("rebuild task failed: {e}"),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(index: &Index, name: &str, text: &str) -> Vec<String> {
        let mut analyzer = index.tokenizers().get(name).expect("registered");
        let mut out = Vec::new();
        analyzer
            .token_stream(text)
            .process(&mut |t: &Token| out.push(t.text.clone()));
        out
    }

    #[test]
    fn the_text_analyzer_stems_russian_and_english_alike() {
        let (schema, _) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index).expect("tokenizers");
        assert_eq!(
            tokens(&index, TEXT, "заказы"),
            tokens(&index, TEXT, "Заказ")
        );
        assert_eq!(tokens(&index, TEXT, "running"), tokens(&index, TEXT, "run"));
        assert_eq!(tokens(&index, TEXT, "Ёлка"), tokens(&index, TEXT, "елки"));
        // Each stemmer leaves the other alphabet alone.
        assert_eq!(
            tokens(&index, TEXT, "iphone заказы"),
            vec!["iphon", "заказ"]
        );
    }

    #[test]
    fn grams_are_positioned_and_never_span_values() {
        let mut stream = GramTokenizer.token_stream("ёлка\0ab\0xyz1");
        let mut grams = Vec::new();
        while stream.advance() {
            let t = stream.token();
            grams.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        // ё is two bytes; "ab" has no gram; the next value starts GRAM + 1 positions on.
        assert_eq!(
            grams,
            vec![
                ("ёлк".to_owned(), 0, 0, 6),
                ("лка".to_owned(), 1, 2, 8),
                ("xyz".to_owned(), 5, 12, 15),
                ("yz1".to_owned(), 6, 13, 16),
            ]
        );
    }

    #[test]
    fn a_client_query_matches_a_substring_of_one_value_only() {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index).expect("tokenizers");
        let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).expect("writer");
        // Every gram of "abcdef" is there, but in two values, or not in a row.
        for (n, grams) in [
            "xabc\0zdef",
            "abc\0bcd\0cde\0def",
            "abcdef",
            "zabcdefz",
            "abcxdef",
            "zzzzzz",
            "zzzz\0zzzz",
        ]
        .into_iter()
        .enumerate()
        {
            let mut doc = TantivyDocument::new();
            add_order(&mut doc, &fields, (n as u64) << 12);
            doc.add_text(fields.grams, grams);
            writer.add_document(doc).expect("add");
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let found = |text: &str| {
            let query = client_match(&fields, text).expect("query").expect("some");
            let mut orders: Vec<u64> = searcher
                .search(&query, &DocSetCollector)
                .expect("search")
                .into_iter()
                .map(|address| {
                    let segment = searcher.segment_reader(address.segment_ord);
                    let column = segment.fast_fields().u64("seq").expect("seq");
                    column.first(address.doc_id).expect("seq")
                })
                .collect();
            orders.sort_unstable();
            orders
        };
        assert_eq!(found("abcdef"), vec![2, 3]);
        assert_eq!(found("bcde"), vec![2, 3]);
        assert_eq!(found("def"), vec![0, 1, 2, 3, 4]);
        assert_eq!(found("cdefz"), vec![3]);
        assert_eq!(found("zdef"), vec![0]);
        assert_eq!(found("abczdef"), Vec::<u64>::new());
        // A gram repeated in the query.
        assert_eq!(found("zzzzzz"), vec![5]);
        assert_eq!(found("zzzz"), vec![5, 6]);
    }

    #[test]
    fn order_keys_sort_and_page_by_sequence_then_index() {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index).expect("tokenizers");
        let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).expect("writer");
        let keys = [(5, 1), (4, 0), (6, 0), (5, 0), (5, 2), (4, 3)];
        for (n, (seq, event)) in keys.into_iter().enumerate() {
            let mut doc = TantivyDocument::new();
            add_order(&mut doc, &fields, order_of(seq, event));
            doc.add_bytes(fields.project, &[0; 16]);
            doc.add_bytes(fields.dialog, &(n as u128).to_be_bytes());
            writer.add_document(doc).expect("add");
            if n == 2 {
                writer.commit().expect("commit"); // two segments
            }
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let newest = |query: &dyn Query| -> Vec<(u64, usize)> {
            searcher
                .search(query, &newest_first(&searcher, 10).expect("collector"))
                .expect("search")
                .into_iter()
                .map(|(key, _)| (key >> 12, (key & 0xfff) as usize))
                .collect()
        };
        assert_eq!(
            newest(&tantivy::query::AllQuery),
            vec![(6, 0), (5, 2), (5, 1), (5, 0), (4, 3), (4, 0)]
        );
        assert_eq!(
            newest(&*older_than(&fields, order_of(5, 2))),
            vec![(5, 1), (5, 0), (4, 3), (4, 0)]
        );
        assert_eq!(
            newest(&*older_than(&fields, order_of(5, 0))),
            vec![(4, 3), (4, 0)]
        );
        assert_eq!(newest(&*older_than(&fields, order_of(4, 1))), vec![(4, 0)]);
    }

    #[test]
    fn words_are_indexed_by_their_first_two_characters() {
        let (schema, _) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index).expect("tokenizers");
        assert_eq!(
            tokens(&index, WORDS, "vasya1988 и петр x+7 (912)"),
            vec!["va", "пе", "91"]
        );
    }

    #[test]
    fn client_values_are_normalised_with_phone_digits() {
        let body = ClientBody {
            name: Some("Пётр Vasya1988".into()),
            phone: Some("+7 (777) 198-87-77".into()),
            ..ClientBody::new(1, Timestamp::from_micros(1))
        };
        assert_eq!(
            body.values(),
            vec!["петр vasya1988", "+7 (777) 198-87-77", "77771988777"]
        );
    }

    #[test]
    fn checkpoints_round_trip_through_the_payload() {
        for checkpoint in [
            Checkpoint::default(),
            Checkpoint {
                seq: 42,
                undecodable: 2,
                last_undecodable_seq: Some(40),
            },
        ] {
            let payload = encode_checkpoint(checkpoint);
            assert_eq!(
                decode_checkpoint(Some(&payload)).expect("decode"),
                checkpoint
            );
        }
        assert_eq!(
            decode_checkpoint(None).expect("none"),
            Checkpoint::default()
        );
        assert!(decode_checkpoint(Some("garbage")).is_err());
    }

    #[test]
    fn cursors_have_a_text_form() {
        for cursor in [SearchCursor::Before(77), SearchCursor::Offset(20)] {
            assert_eq!(
                cursor.to_string().parse::<SearchCursor>().expect("parse"),
                cursor
            );
        }
        assert!("x1".parse::<SearchCursor>().is_err());
        assert!("n".parse::<SearchCursor>().is_err());
    }
}
