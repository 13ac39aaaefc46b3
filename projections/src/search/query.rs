//! One search: [`SearchQuery`] (clients or messages, within one project, newest first or by
//! relevance, keyset or offset pages) run on an opened version, and its hits.
//!
//! A client query is normalised like client values and matched as grams (one gram, a phrase
//! of grams, or a word start for two characters); a message query is analysed like message
//! texts. A hit in a dialog merged away is reported in its survivor (one lookup of the merge
//! documents), and a search narrowed to dialogs includes the dialogs merged into them.

use super::body::decode_client;
use super::documents::{Columns, corrupt, dialog_term, id_term, newest_first, older_than};
use super::schema::{CLIENT, Fields, MERGED, MESSAGE, TEXT, normalize};
use super::tokenizers::{VALUE_SEPARATOR, WORD_START};
use super::versions::Opened;
use super::{GRAM, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS};
use crate::place::LogPlace;
use crate::runtime::ProjectionError;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use switchboard_schemas::{ChannelId, DialogId, ProjectId, Timestamp};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{Token, TokenStream};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

/// Which documents a search reads: clients or messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchTarget {
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
    pub target: SearchTarget,
    pub text: String,
    pub dialogs: Option<Vec<DialogId>>,
    pub order: SearchOrder,
    /// Hits per page, 1..=[`MAX_LIMIT`].
    pub limit: usize,
    pub after: Option<SearchCursor>,
}

impl SearchQuery {
    /// Newest first, 20 a page, every dialog of the project.
    pub fn new(project: ProjectId, target: SearchTarget, text: impl Into<String>) -> Self {
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

pub(super) fn term_query(field: Field, text: &str, record: IndexRecordOption) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), record))
}

/// The text part of a client search: a word prefix for two characters, the one gram for
/// [`GRAM`], beyond that a phrase of grams that covers every character at its offset (exactly
/// the values that contain the text); `None` when nothing can match.
pub(super) fn client_match(
    fields: &Fields,
    text: &str,
) -> Result<Option<Box<dyn Query>>, SearchError> {
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
    target: SearchTarget,
    fields: &Fields,
    columns: &Columns,
    address: DocAddress,
    score: Option<f32>,
) -> Result<(SearchHit, u64), ProjectionError> {
    let doc_id = address.doc_id;
    let dialog = columns.dialog(doc_id)?;
    let order = columns.order(doc_id)?;
    let detail = match target {
        SearchTarget::Clients => {
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
        SearchTarget::Messages => HitDetail::Message(MessageHit {
            place: LogPlace::timeline_key_of_search_order(order),
            written_in: dialog,
        }),
    };
    Ok((
        SearchHit {
            dialog,
            seq: LogPlace::from_search_order(order).seq,
            score,
            detail,
        },
        order,
    ))
}

/// The merge documents whose `field` (`dialog`: the absorbed one, `into`: the survivor) is one
/// of `ids`, as (absorbed, survivor) pairs.
pub(super) fn merges(
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

pub(super) fn run_search(opened: &Opened, query: &SearchQuery) -> Result<SearchPage, SearchError> {
    let fields = &opened.fields;
    let empty = SearchPage {
        hits: Vec::new(),
        next: None,
    };
    let matching = match query.target {
        SearchTarget::Clients => client_match(fields, &query.text)?,
        SearchTarget::Messages => message_match(opened, &query.text)?,
    };
    let Some(matching) = matching else {
        return Ok(empty);
    };
    let doc_type = match query.target {
        SearchTarget::Clients => CLIENT,
        SearchTarget::Messages => MESSAGE,
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
        if query.target == SearchTarget::Messages {
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
    if query.target == SearchTarget::Messages {
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
