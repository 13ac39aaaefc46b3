//! [`IndexDigest`]: a deterministic checksum of an index's documents, so that a live index can
//! be compared with a rebuilt one (`switchboard verify`).

use super::body::body_bytes;
use super::documents::{Columns, corrupt, id_table};
use super::versions::Opened;
use crate::runtime::{Checkpoint, ProjectionError};
use sha2::{Digest, Sha256};
use tantivy::columnar::BytesColumn;
use tantivy::{DocId, TantivyDocument};

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

pub(super) fn digest_of(opened: &Opened) -> Result<IndexDigest, ProjectionError> {
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
