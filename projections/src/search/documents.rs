//! What every document has: ids as 16-byte terms and fast-field values (not 32 hex digits),
//! the fast-field columns of a segment read back with their checks, the order key (a
//! `LogPlace` packed as `seq << 12 | index`) with the newest-first collector and the keyset
//! condition, and a new document of a kind.
//!
//! Invariant: a missing column or an id that is not 16 bytes is
//! [`ProjectionError::Corrupt`], never a default.

use super::query::term_query;
use super::schema::Fields;
use crate::place::LogPlace;
use crate::runtime::ProjectionError;
use std::collections::HashMap;
use std::fmt;
use std::ops::Bound;
use switchboard_schemas::{DialogId, ProjectId, Timestamp};
use tantivy::collector::{Collector, TopDocs};
use tantivy::columnar::{BytesColumn, Column};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, Searcher, SegmentReader, TantivyDocument, Term};

/// Ids (project, dialog) are indexed terms and fast-field values as their 16 bytes (the UUID's,
/// big-endian), not as 32 hex digits.
pub(super) fn id_term(field: Field, id: u128) -> Term {
    Term::from_field_bytes(field, &id.to_be_bytes())
}

fn id_from(bytes: &[u8]) -> Result<u128, ProjectionError> {
    <[u8; 16]>::try_from(bytes)
        .map(u128::from_be_bytes)
        .map_err(|_| corrupt("an id is not 16 bytes"))
}

pub(super) fn dialog_term(fields: &Fields, dialog: DialogId) -> Term {
    id_term(fields.dialog, dialog.as_uuid().as_u128())
}

/// The documents of one kind in `dialog`: its client document, or its messages.
pub(super) fn kind_in_dialog(fields: &Fields, dialog: DialogId, kind: &str) -> BooleanQuery {
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
pub(super) struct Columns {
    order: OrderColumns,
    pub(super) at: Column<i64>,
    pub(super) project: BytesColumn,
    pub(super) dialog: BytesColumn,
    /// A merge document's survivor (no value on other documents; none in a segment without
    /// merge documents).
    into: Option<BytesColumn>,
}

impl Columns {
    pub(super) fn of(segment: &SegmentReader) -> Result<Self, ProjectionError> {
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

    pub(super) fn order(&self, doc: DocId) -> Result<u64, ProjectionError> {
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

    pub(super) fn at(&self, doc: DocId) -> Result<Timestamp, ProjectionError> {
        self.at
            .first(doc)
            .map(Timestamp::from_micros)
            .ok_or_else(|| corrupt("a document has no time"))
    }

    pub(super) fn project(&self, doc: DocId) -> Result<ProjectId, ProjectionError> {
        Self::id(&self.project, doc).map(ProjectId::from_u128)
    }

    pub(super) fn dialog(&self, doc: DocId) -> Result<DialogId, ProjectionError> {
        Self::id(&self.dialog, doc).map(DialogId::from_u128)
    }

    /// A merge document's survivor; none for other documents.
    pub(super) fn survivor(&self, doc: DocId) -> Result<Option<DialogId>, ProjectionError> {
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
        Some(LogPlace { seq, index }.search_order())
    }
}

/// Every value of a bytes column by ordinal (for reading all documents of a segment).
pub(super) fn id_table(column: &BytesColumn) -> Result<Vec<[u8; 16]>, ProjectionError> {
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
pub(super) fn new_document(
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
pub(super) fn add_order(doc: &mut TantivyDocument, fields: &Fields, order: u64) {
    let place = LogPlace::from_search_order(order);
    doc.add_u64(fields.seq, place.seq);
    if place.index != 0 {
        doc.add_u64(fields.index, place.index);
    }
}

/// The `limit` documents with the highest order keys, highest first.
pub(super) fn newest_first(
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
pub(super) fn older_than(fields: &Fields, order: u64) -> Box<dyn Query> {
    let LogPlace { seq, index } = LogPlace::from_search_order(order);
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
pub(super) fn order_of(seq: u64, index: usize) -> u64 {
    LogPlace::new(seq, index).search_order()
}

pub(super) fn corrupt(what: impl fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt(format!("search index: {what}"))
}
