//! Applying events to the dialogs read model: [`change_row`] hands each event of a dialog to
//! the function of its family, and the helpers they share (the `idkey` keys, finding a row by
//! rowid or id, the counters' write-back) live here.
//!
//! Invariant: a statement that finds a row by rowid (`RowKey::Row`) only runs when the applier
//! knows the row is there and not a tombstone; otherwise it finds it by id and checks
//! `deleted` where a tombstone keeps a table empty.
//!
//! Submodules, one per event family:
//! - `registration`: registration, profile, identities, merges and deletion of a client;
//! - `messages`: messages, notes, drafts and read marks;
//! - `marks`: assignment and the lifecycle flags (closed, pinned, blocked, blacklisted, bot
//!   paused);
//! - `membership`: tags, lists, folders, variables, the deal stage and the funnel block.

use super::counters::CounterKey;
use crate::blobid::BlobId;
use crate::runtime::{ProjectionError, Tx};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// A statement on `dialog_row` in two forms, finding the row (bound as `?1`) by rowid or by
/// id: `keyed!("UPDATE dialog_row SET … WHERE ", "")`, used with [`RowKey::pick`].
macro_rules! keyed {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, "rowid = ?1", $tail),
            concat!($head, "dialog = ?1", $tail),
        ]
    };
}

mod marks;
mod membership;
mod messages;
mod registration;

pub(crate) use registration::next_client_number;

/// One event to apply to one dialog's rows: what every family's statements need.
struct Change<'a, 't> {
    tx: &'a Tx<'t>,
    keys: &'a mut Keys,
    project: ProjectId,
    dialog: &'a [u8; 16],
    envelope: &'a Envelope,
    /// See [`change_row`].
    live_row: Option<i64>,
    /// How statements find the row: by `live_row` when known, else by `dialog`.
    key: RowKey<'a>,
    /// When the event occurred, in microseconds.
    at: i64,
}

/// What one event changes in one dialog's rows, by the function of its family.
///
/// `live_row`: the rowid of the dialog's row when the applier knows it is there and not a
/// tombstone; `None` when not known (statements into the tables a tombstone keeps empty check
/// that first).
pub(super) fn change_row(
    tx: &Tx<'_>,
    keys: &mut Keys,
    project: ProjectId,
    dialog: &[u8; 16],
    envelope: &Envelope,
    live_row: Option<i64>,
) -> Result<(), ProjectionError> {
    let at = envelope.occurred_at.as_micros();
    let key = match live_row {
        Some(row) => RowKey::Row(row),
        None => RowKey::Id(dialog),
    };
    let change = Change {
        tx,
        keys,
        project,
        dialog,
        envelope,
        live_row,
        key,
        at,
    };
    match &envelope.payload {
        Event::DialogRegistered(_)
        | Event::ClientProfileUpdated(_)
        | Event::IdentityLinked(_)
        | Event::IdentityUnlinked(_)
        | Event::DialogsMerged(_)
        | Event::DialogMergedInto(_)
        | Event::ClientDeleted(_) => registration::apply(change),
        Event::MessageReceived(_)
        | Event::MessageQueued(_)
        | Event::MessageSent(_)
        | Event::MessageDelivered(_)
        | Event::MessageRead(_)
        | Event::MessageFailed(_)
        | Event::MessageResent(_)
        | Event::NoteAdded(_)
        | Event::ReadMarked(_)
        | Event::MarkedUnread(_)
        | Event::DraftSaved(_)
        | Event::DraftCleared(_) => messages::apply(change),
        Event::DialogAssigned(_)
        | Event::DialogUnassigned(_)
        | Event::DialogClosed(_)
        | Event::DialogReopened(_)
        | Event::DialogPinned(_)
        | Event::DialogUnpinned(_)
        | Event::ClientBlocked(_)
        | Event::ClientUnblocked(_)
        | Event::ClientBlacklisted(_)
        | Event::ClientUnblacklisted(_)
        | Event::BotPaused(_)
        | Event::BotResumed(_) => marks::apply(change),
        Event::TagsAdded(_)
        | Event::TagsRemoved(_)
        | Event::ListsJoined(_)
        | Event::ListsLeft(_)
        | Event::FoldersJoined(_)
        | Event::FoldersLeft(_)
        | Event::VariableSet(_)
        | Event::VariableCleared(_)
        | Event::DealStageChanged(_)
        | Event::FunnelBlockEntered(_) => membership::apply(change),
        _ => Ok(()),
    }
}

/// `idkey` keys by id (a project's, operator's or channel's 16 bytes as a number): a message
/// names its channel, an answer its operator, and asking the file each time cost a lookup by
/// a 32-hex token per id. Bounded: starts over when full.
#[derive(Debug, Default)]
pub(super) struct Keys {
    known: std::collections::HashMap<u128, i64>,
}

/// At most this many ids stay in `Keys` (projects, operators and channels: a few per project).
const KEY_CACHE: usize = 1 << 16;

impl Keys {
    /// The `idkey` key of `id`, given now if it has none.
    pub(super) fn of(&mut self, tx: &Tx<'_>, id: uuid::Uuid) -> rusqlite::Result<i64> {
        if let Some(key) = self.known.get(&id.as_u128()) {
            return Ok(*key);
        }
        let key = key_of(tx, &id.simple().to_string())?;
        if self.known.len() >= KEY_CACHE {
            self.known.clear();
        }
        self.known.insert(id.as_u128(), key);
        Ok(key)
    }

    /// Forgets every key (after a rollback: keys given in it are gone).
    pub(super) fn clear(&mut self) {
        self.known.clear();
    }
}

/// Longest last-message preview kept, in characters.
pub const PREVIEW_CHARS: usize = 160;

/// A deleted folder: its memberships and every counter of its scopes go (each dialog's other
/// scopes are untouched, so the counters stay exact).
pub(super) fn forget_folder(
    tx: &Tx<'_>,
    project: ProjectId,
    folder: FolderId,
) -> Result<(), ProjectionError> {
    tx.prepare_cached(
        // Its members from `dialog_folder_by_folder`, each checked to be of the project by
        // rowid (no index by project is kept while a rebuild applies).
        "DELETE FROM dialog_folder WHERE folder = ?1
             AND (SELECT d.project_key FROM dialog_row d WHERE d.rowid = dialog_folder.dialog)
                 = (SELECT key FROM idkey WHERE id = ?2)",
    )?
    .execute(params![folder.blob(), project.token()])?;
    tx.prepare_cached(
        "DELETE FROM counter WHERE project = ?1 AND kind IN (1, 2)
             AND substr(scope, 1, 17) = ?2",
    )?
    .execute(params![project.blob(), CounterKey::folder_prefix(folder)])?;
    Ok(())
}

/// A deleted tag: its memberships and its usage count go.
pub(super) fn forget_tag(
    tx: &Tx<'_>,
    project: ProjectId,
    tag: TagId,
) -> Result<(), ProjectionError> {
    tx.prepare_cached(
        "DELETE FROM dialog_tag WHERE tag = ?1
             AND (SELECT d.project_key FROM dialog_row d WHERE d.rowid = dialog_tag.dialog)
                 = (SELECT key FROM idkey WHERE id = ?2)",
    )?
    .execute(params![tag.blob(), project.token()])?;
    tx.prepare_cached(
        "DELETE FROM counter WHERE project = ?1 AND operator = x'' AND kind = 3 AND scope = ?2",
    )?
    .execute(params![project.blob(), tag.blob()])?;
    Ok(())
}

/// Counter changes not yet written, summed per counter.
pub(super) type PendingCounters = BTreeMap<CounterKey, i64>;

pub(super) fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// How a statement finds a dialog's row: by its rowid when the applier knows it (a seek on
/// an integer key) or by its id (a seek in the 17-byte unique index, comparing ids).
#[derive(Debug, Clone, Copy)]
pub(super) enum RowKey<'a> {
    Row(i64),
    Id(&'a [u8; 16]),
}

impl RowKey<'_> {
    /// The statement of a [`keyed!`] pair that fits this key.
    fn pick(self, pair: [&'static str; 2]) -> &'static str {
        match self {
            RowKey::Row(_) => pair[0],
            RowKey::Id(_) => pair[1],
        }
    }
}

impl rusqlite::ToSql for RowKey<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self {
            RowKey::Row(row) => rusqlite::types::ToSqlOutput::from(*row),
            RowKey::Id(id) => {
                rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(&id[..]))
            }
        })
    }
}

pub(super) fn flag(
    tx: &Tx<'_>,
    key: RowKey<'_>,
    column: &str,
    value: bool,
) -> rusqlite::Result<usize> {
    // `column` is one of this module's literals, never input.
    let by = match key {
        RowKey::Row(_) => "rowid",
        RowKey::Id(_) => "dialog",
    };
    tx.prepare_cached(&format!(
        "UPDATE dialog_row SET {column} = ?2 WHERE {by} = ?1"
    ))?
    .execute(params![key, value])
}

/// The `idkey` key of `id` (a project's, operator's or channel's token), given now if it has
/// none.
pub(super) fn key_of(tx: &Tx<'_>, id: &str) -> rusqlite::Result<i64> {
    let known = tx
        .prepare_cached("SELECT key FROM idkey WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match known {
        Some(key) => Ok(key),
        None => {
            tx.prepare_cached("INSERT INTO idkey (id) VALUES (?1)")?
                .execute([id])?;
            Ok(tx.last_insert_rowid())
        }
    }
}

pub(super) fn add_channel(
    tx: &Tx<'_>,
    keys: &mut Keys,
    dialog: &[u8; 16],
    channel: ChannelId,
    via: &str,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO dialog_channel (dialog, channel, via)
         SELECT rowid, ?2, ?3 FROM dialog_row WHERE dialog = ?1 AND deleted = 0
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![dialog, keys.of(tx, *channel.as_uuid())?, via])
}

/// The `dialog_row` rowid of `dialog` (`live`: only while it is not deleted).
pub(super) fn row_of(tx: &Tx<'_>, dialog: &[u8; 16], live: bool) -> rusqlite::Result<Option<i64>> {
    let sql = if live {
        "SELECT rowid FROM dialog_row WHERE dialog = ?1 AND deleted = 0"
    } else {
        "SELECT rowid FROM dialog_row WHERE dialog = ?1"
    };
    tx.prepare_cached(sql)?
        .query_row([dialog], |r| r.get(0))
        .optional()
}

pub(super) fn write_counters(tx: &Tx<'_>, deltas: PendingCounters) -> Result<(), ProjectionError> {
    let mut add = tx.prepare_cached(
        "INSERT INTO counter (project, operator, kind, scope, value)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (project, operator, kind, scope) DO UPDATE SET value = value + excluded.value
         RETURNING value",
    )?;
    let mut drop_zero = tx.prepare_cached(
        "DELETE FROM counter
         WHERE project = ?1 AND operator = ?2 AND kind = ?3 AND scope = ?4 AND value = 0",
    )?;
    for (key, delta) in deltas {
        if delta == 0 {
            continue;
        }
        let (project, operator, kind, scope) = key.stored();
        let value: i64 =
            add.query_row(params![project, operator, kind, scope, delta], |r| r.get(0))?;
        if value == 0 {
            drop_zero.execute(params![project, operator, kind, scope])?;
        }
        debug_assert!(
            key.stored().1.is_empty() || key.is_unread(),
            "only unread counters have per-operator rows"
        );
    }
    Ok(())
}
