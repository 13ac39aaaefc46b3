//! The attachments view (F3.7): a dialog's attachments of some kinds, newest first, in
//! keyset pages over `dialog_attachment`'s (dialog key, kind) index.

use super::read::{corrupt, merge_group};
use super::schema::{attachment_kind, parse_attachment_kind};
use crate::blobid;
use crate::runtime::ProjectionError;
use rusqlite::{Connection, params};
use switchboard_schemas::*;

/// One attachment in the attachments view (F3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentItem {
    pub message: MessageId,
    /// The dialog it was sent in (an absorbed one after a merge).
    pub dialog: DialogId,
    pub attachment: Attachment,
    pub at: Timestamp,
}

/// Where a page of attachments ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentCursor {
    place: i64,
    idx: i64,
}

impl AttachmentCursor {
    /// An opaque token for clients.
    pub fn to_token(self) -> String {
        format!("a1.{}.{}", self.place, self.idx)
    }

    /// Reads a token of [`Self::to_token`]; `None` when it is not one.
    pub fn from_token(token: &str) -> Option<Self> {
        let (place, idx) = token.strip_prefix("a1.")?.split_once('.')?;
        let place: i64 = place.parse().ok()?;
        let idx: i64 = idx.parse().ok()?;
        (place > 0 && idx >= 0).then_some(Self { place, idx })
    }
}

#[derive(Debug, Clone)]
pub struct AttachmentPage {
    /// Newest first.
    pub items: Vec<AttachmentItem>,
    pub next: Option<AttachmentCursor>,
}

/// F3.7: the attachments of a dialog (with the dialogs it absorbed) of the given kinds (all
/// kinds when empty), newest first.
pub fn attachments(
    conn: &Connection,
    dialog: DialogId,
    kinds: &[AttachmentKind],
    before: Option<AttachmentCursor>,
    limit: usize,
) -> Result<AttachmentPage, ProjectionError> {
    let limit = limit.clamp(1, 500);
    let c = before.unwrap_or(AttachmentCursor {
        place: i64::MAX,
        idx: i64::MAX,
    });
    let mut kinds: Vec<&str> = kinds.iter().map(|k| attachment_kind(*k)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let filter = if kinds.is_empty() {
        String::new()
    } else {
        // Only fixed names from `attachment_kind`, never caller text.
        let list: Vec<String> = kinds.iter().map(|k| format!("'{k}'")).collect();
        format!(" AND kind IN ({})", list.join(", "))
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT message, kind, file_name, mime_type, size_bytes, storage_ref, at, place, idx
         FROM dialog_attachment
         WHERE dialog = ?1 AND (place, idx) < (?2, ?3){filter}
         ORDER BY place DESC, idx DESC
         LIMIT ?4"
    ))?;
    let group = merge_group(conn, dialog)?;
    // ((place, idx), item): each dialog's newest `limit`, merged.
    let mut found = Vec::new();
    for (key, id) in &group {
        let mut rows = statement.query(params![
            key,
            c.place,
            c.idx,
            i64::try_from(limit).unwrap_or(500)
        ])?;
        while let Some(r) = rows.next()? {
            let kind: String = r.get(1)?;
            let item = AttachmentItem {
                message: blobid::get_required(r, 0, "dialog_timeline.item")?,
                dialog: *id,
                attachment: Attachment {
                    kind: parse_attachment_kind(&kind)
                        .ok_or_else(|| corrupt(1, format!("attachment kind {kind:?}")))?,
                    file_name: r.get(2)?,
                    mime_type: r.get(3)?,
                    size_bytes: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    storage_ref: r.get(5)?,
                },
                at: Timestamp::from_micros(r.get(6)?),
            };
            found.push(((r.get::<_, i64>(7)?, r.get::<_, i64>(8)?), item));
        }
    }
    if group.len() > 1 {
        found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(limit);
    }
    let next = if found.len() == limit {
        found.last().map(|((place, idx), _)| AttachmentCursor {
            place: *place,
            idx: *idx,
        })
    } else {
        None
    };
    Ok(AttachmentPage {
        items: found.into_iter().map(|(_, item)| item).collect(),
        next,
    })
}

/// The attachment of the dialog (with the dialogs it absorbed) whose bytes are `storage_ref`,
/// the newest when several messages sent the same file; `None` when none of its messages did.
/// (A dialog's attachments are read by its primary key prefix: a few rows per dialog.)
pub fn find_attachment(
    conn: &Connection,
    dialog: DialogId,
    storage_ref: &str,
) -> Result<Option<Attachment>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT kind, file_name, mime_type, size_bytes, storage_ref, place, idx
         FROM dialog_attachment
         WHERE dialog = ?1 AND storage_ref = ?2
         ORDER BY place DESC, idx DESC
         LIMIT 1",
    )?;
    let mut newest: Option<((i64, i64), Attachment)> = None;
    for (key, _) in merge_group(conn, dialog)? {
        let mut rows = statement.query(params![key, storage_ref])?;
        if let Some(r) = rows.next()? {
            let kind: String = r.get(0)?;
            let at = (r.get::<_, i64>(5)?, r.get::<_, i64>(6)?);
            let attachment = Attachment {
                kind: parse_attachment_kind(&kind)
                    .ok_or_else(|| corrupt(0, format!("attachment kind {kind:?}")))?,
                file_name: r.get(1)?,
                mime_type: r.get(2)?,
                size_bytes: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                storage_ref: r.get(4)?,
            };
            if newest.as_ref().is_none_or(|(seen, _)| at > *seen) {
                newest = Some((at, attachment));
            }
        }
    }
    Ok(newest.map(|(_, attachment)| attachment))
}
