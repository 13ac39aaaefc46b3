//! Ids as the SQLite read models store them: the UUID's 16 bytes in a BLOB column, not the
//! 32-hex token (17 bytes a value on disk instead of 33, in the row and in every index entry
//! that holds it). A lowercase hex token sorts like the bytes it spells, so `ORDER BY` over
//! such a column gives the order the tokens gave.
//!
//! Reading one back checks it: NULL is "none", anything but a 16-byte BLOB is
//! [`ProjectionError::Corrupt`], naming the column.

use crate::error::ProjectionError;
use rusqlite::types::ValueRef;
use switchboard_schemas::*;
use uuid::Uuid;

/// An id type stored as its 16 bytes.
pub(crate) trait BlobId: Copy {
    fn from_blob(bytes: [u8; 16]) -> Self;
    fn uuid(&self) -> &Uuid;

    /// The stored form: the UUID's bytes.
    fn blob(&self) -> [u8; 16] {
        *self.uuid().as_bytes()
    }
}

macro_rules! blob_id {
    ($($name:ident),* $(,)?) => {$(
        impl BlobId for $name {
            fn from_blob(bytes: [u8; 16]) -> Self {
                $name::from_uuid(Uuid::from_bytes(bytes))
            }
            fn uuid(&self) -> &Uuid {
                self.as_uuid()
            }
        }
    )*};
}

blob_id!(
    ProjectId, DialogId, OperatorId, ChannelId, FolderId, TagId, ListId, PipelineId, StageId,
    TaskId, MessageId, NoteId, EventId,
);

/// The id stored in `column`; `None` for NULL.
pub(crate) fn optional<T: BlobId>(
    column: &str,
    value: ValueRef<'_>,
) -> Result<Option<T>, ProjectionError> {
    let (kind, len) = match value {
        ValueRef::Null => return Ok(None),
        ValueRef::Blob(bytes) => match <[u8; 16]>::try_from(bytes) {
            Ok(bytes) => return Ok(Some(T::from_blob(bytes))),
            Err(_) => ("a BLOB", bytes.len()),
        },
        ValueRef::Text(text) => ("TEXT", text.len()),
        ValueRef::Integer(_) => ("an INTEGER", 8),
        ValueRef::Real(_) => ("a REAL", 8),
    };
    Err(ProjectionError::Corrupt(format!(
        "{column}: not an id (a 16-byte BLOB) but {kind} of {len} bytes"
    )))
}

/// The id stored in `column`, which must not be NULL.
pub(crate) fn required<T: BlobId>(column: &str, value: ValueRef<'_>) -> Result<T, ProjectionError> {
    optional(column, value)?
        .ok_or_else(|| ProjectionError::Corrupt(format!("{column}: NULL where an id belongs")))
}

/// The id in column `index` (named `column`) of a result row; `None` for NULL.
pub(crate) fn get<T: BlobId>(
    row: &rusqlite::Row<'_>,
    index: usize,
    column: &str,
) -> Result<Option<T>, ProjectionError> {
    optional(column, row.get_ref(index)?)
}

/// The id in column `index` (named `column`) of a result row, which must not be NULL.
pub(crate) fn get_required<T: BlobId>(
    row: &rusqlite::Row<'_>,
    index: usize,
    column: &str,
) -> Result<T, ProjectionError> {
    required(column, row.get_ref(index)?)
}

/// The ids in the first column (named `column`) of every row `sql` (a cached statement)
/// answers for `params`, none NULL.
pub(crate) fn all<T: BlobId>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    column: &str,
) -> Result<Vec<T>, ProjectionError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut ids = Vec::new();
    while let Some(r) = rows.next()? {
        ids.push(get_required(r, 0, column)?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_anything_else_is_corrupt() {
        let id = ChannelId::new();
        let blob = id.blob();
        assert_eq!(
            optional::<ChannelId>("c", ValueRef::Blob(&blob)).expect("id"),
            Some(id)
        );
        assert_eq!(
            optional::<ChannelId>("c", ValueRef::Null).expect("null"),
            None
        );
        // Tokens sort like their bytes: `ORDER BY` over the blobs keeps the tokens' order.
        let other = ChannelId::new();
        assert_eq!(id.token().cmp(&other.token()), id.blob().cmp(&other.blob()));
        let token = id.token();
        for bad in [
            ValueRef::Blob(&blob[..15]),
            ValueRef::Blob(&[]),
            ValueRef::Text(token.as_bytes()),
            ValueRef::Integer(7),
            ValueRef::Real(1.5),
        ] {
            match optional::<ChannelId>("dialog_row.assignee", bad) {
                Err(ProjectionError::Corrupt(message)) => {
                    assert!(message.starts_with("dialog_row.assignee: "), "{message}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(matches!(
            required::<ChannelId>("x", ValueRef::Null),
            Err(ProjectionError::Corrupt(m)) if m.contains("NULL")
        ));
    }
}
