//! A dialog's list row (F1.2) as the read model holds it, how it is read back (keyed ids
//! resolved through `idkey`, 16-byte ids checked by `crate::blobid`), and the other per-dialog
//! reads: whether it is unread for an operator, its tags and folders.
//!
//! Invariant: [`ROW_COLUMN_NAMES`] and [`read_row`] name the same columns in the same order;
//! an id that is not 16 bytes, a key with no `idkey` row or an unknown author code is
//! [`ProjectionError::Corrupt`], naming the column.

use super::schema::{AUTHOR_BOT, AUTHOR_CLIENT, AUTHOR_NOTE, AUTHOR_OPERATOR};
use crate::blobid::{self, BlobId};
use crate::runtime::ProjectionError;
use rusqlite::{Connection, OptionalExtension, params};
use switchboard_schemas::*;

/// Who wrote the last message of a row (F1.2 author label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastAuthor {
    Client,
    Operator(OperatorId),
    Bot,
    /// An internal comment, by this operator when an operator wrote it.
    Note(Option<OperatorId>),
}

/// A dialog list row (F1.2) as the read model holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogRow {
    pub dialog: DialogId,
    pub project: ProjectId,
    pub client_name: Option<String>,
    pub client_phone: Option<String>,
    pub client_email: Option<String>,
    pub client_avatar_url: Option<String>,
    pub client_external_id: Option<String>,
    /// F2.2: the client's decimal number in the project: registrations counted per project in
    /// log order (see the module documentation).
    pub client_number: u64,
    pub client_created_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub last_message_preview: Option<String>,
    pub last_message_author: Option<LastAuthor>,
    pub last_message_channel: Option<ChannelId>,
    pub last_message_attachments: u32,
    pub last_message_at: Option<Timestamp>,
    pub assignee: Option<OperatorId>,
    pub closed: bool,
    pub blocked: bool,
    pub blacklisted: bool,
    pub bot_paused: bool,
    pub pinned: bool,
    pub deleted: bool,
    pub merged_into: Option<DialogId>,
    pub inbound_count: u64,
    pub unanswered: bool,
    pub sla_wait_since: Option<Timestamp>,
    /// F1.2/F2.5: the dialog's tags (the row shows them with their colours), by id.
    pub tags: Vec<TagId>,
}

impl DialogRow {
    /// F1.2: the client's name, else the phone, else the id on the first channel.
    pub fn title(&self) -> Option<&str> {
        self.client_name
            .as_deref()
            .or(self.client_phone.as_deref())
            .or(self.client_external_id.as_deref())
    }
}

/// The columns [`read_row`] expects, in its order (prefixed by `d.`).
/// The columns [`read_row`] reads, in its order (each prefixed with the table's alias where used).
const ROW_COLUMN_NAMES: [&str; ROW_COLUMN_COUNT] = [
    "dialog",
    "project_key",
    "client_name",
    "client_phone",
    "client_email",
    "client_avatar_url",
    "client_external_id",
    "client_created_at",
    "last_activity_at",
    "last_message_preview",
    "last_message_author",
    "last_message_operator_key",
    "last_message_channel_key",
    "last_message_attachments",
    "last_message_at",
    "assignee_key",
    "closed",
    "blocked",
    "blacklisted",
    "bot_paused",
    "pinned",
    "deleted",
    "merged_into",
    "inbound_count",
    "unanswered",
    "sla_wait_since",
    "client_number",
    "(SELECT group_concat(hex(tag)) FROM dialog_tag WHERE dialog_tag.dialog = {a}.rowid)",
];

/// [`ROW_COLUMN_NAMES`] of the table aliased `alias`, for a select list (keyed ids as their
/// `idkey` keys, which [`read_row`] resolves through [`KeyNames`]).
pub(super) fn row_columns(alias: &str) -> String {
    ROW_COLUMN_NAMES
        .iter()
        .map(|c| {
            if c.contains("{a}") {
                c.replace("{a}", alias)
            } else {
                format!("{alias}.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column holding an id's token (`idkey.id`), parsed; NULL is none.
pub(super) fn keyed_id<T: std::str::FromStr>(
    r: &rusqlite::Row<'_>,
    index: usize,
    column: &str,
) -> Result<Option<T>, ProjectionError> {
    match r.get::<_, Option<String>>(index) {
        Ok(None) => Ok(None),
        Ok(Some(token)) => parse_token(&token, column).map(Some),
        Err(error) => Err(ProjectionError::Corrupt(format!("{column}: {error}"))),
    }
}

fn parse_token<T: std::str::FromStr>(token: &str, column: &str) -> Result<T, ProjectionError> {
    token
        .parse()
        .map_err(|_| ProjectionError::Corrupt(format!("{column}: not an id token: {token:?}")))
}

/// The ids of `idkey` keys, each looked up once per query: a page of rows names one project
/// and a few operators and channels, where a sub-select per row and column looked the same
/// few keys up hundreds of times (and parsed their tokens as often).
pub(super) struct KeyNames<'c> {
    conn: &'c Connection,
    tokens: Vec<(i64, Option<uuid::Uuid>)>,
}

impl<'c> KeyNames<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            tokens: Vec::new(),
        }
    }

    /// The id of the key in column `index` (NULL: none); a key with no `idkey` row is
    /// [`ProjectionError::Corrupt`].
    fn get<T: From<uuid::Uuid>>(
        &mut self,
        r: &rusqlite::Row<'_>,
        index: usize,
        column: &str,
    ) -> Result<Option<T>, ProjectionError> {
        let Some(key) = r
            .get::<_, Option<i64>>(index)
            .map_err(|e| ProjectionError::Corrupt(format!("{column}: {e}")))?
        else {
            return Ok(None);
        };
        let uuid = match self.tokens.iter().find(|(k, _)| *k == key) {
            Some((_, uuid)) => *uuid,
            None => {
                let token: Option<String> = self
                    .conn
                    .prepare_cached("SELECT id FROM idkey WHERE key = ?1")?
                    .query_row([key], |r| r.get(0))
                    .optional()?;
                let uuid = token
                    .map(|t| parse_token::<uuid::Uuid>(&t, column))
                    .transpose()?;
                self.tokens.push((key, uuid));
                uuid
            }
        };
        match uuid {
            Some(uuid) => Ok(Some(T::from(uuid))),
            None => Err(ProjectionError::Corrupt(format!(
                "{column}: no such key {key}"
            ))),
        }
    }
}

pub(super) const ROW_COLUMN_COUNT: usize = 28;

/// A row of [`ROW_COLUMN_NAMES`]; an id that is not 16 bytes or an unknown author code is
/// [`ProjectionError::Corrupt`], naming the column.
pub(super) fn read_row(
    r: &rusqlite::Row<'_>,
    keys: &mut KeyNames<'_>,
) -> Result<DialogRow, ProjectionError> {
    let author: Option<i64> = r.get(10)?;
    let author_operator: Option<OperatorId> =
        keys.get(r, 11, "dialog_row.last_message_operator_key")?;
    let last_message_author = match author {
        None => None,
        Some(AUTHOR_CLIENT) => Some(LastAuthor::Client),
        Some(AUTHOR_OPERATOR) => Some(LastAuthor::Operator(author_operator.ok_or_else(|| {
            ProjectionError::Corrupt(
                "dialog_row.last_message_operator_key: NULL for an operator's message".to_owned(),
            )
        })?)),
        Some(AUTHOR_BOT) => Some(LastAuthor::Bot),
        Some(AUTHOR_NOTE) => Some(LastAuthor::Note(author_operator)),
        Some(other) => {
            return Err(ProjectionError::Corrupt(format!(
                "dialog_row.last_message_author: unknown author code {other}"
            )));
        }
    };
    Ok(DialogRow {
        dialog: blobid::get_required(r, 0, "dialog_row.dialog")?,
        project: keys.get(r, 1, "dialog_row.project_key")?.ok_or_else(|| {
            ProjectionError::Corrupt("dialog_row.project_key: no such key".to_owned())
        })?,
        client_name: r.get(2)?,
        client_phone: r.get(3)?,
        client_email: r.get(4)?,
        client_avatar_url: r.get(5)?,
        client_external_id: r.get(6)?,
        client_created_at: Timestamp::from_micros(r.get(7)?),
        last_activity_at: Timestamp::from_micros(r.get(8)?),
        last_message_preview: crate::compact::optional_column(r, 9)?,
        last_message_author,
        last_message_channel: keys.get(r, 12, "dialog_row.last_message_channel_key")?,
        last_message_attachments: r.get(13)?,
        last_message_at: r.get::<_, Option<i64>>(14)?.map(Timestamp::from_micros),
        assignee: keys.get(r, 15, "dialog_row.assignee_key")?,
        closed: r.get(16)?,
        blocked: r.get(17)?,
        blacklisted: r.get(18)?,
        bot_paused: r.get(19)?,
        pinned: r.get(20)?,
        deleted: r.get(21)?,
        merged_into: blobid::get(r, 22, "dialog_row.merged_into")?,
        inbound_count: u64::try_from(r.get::<_, i64>(23)?).unwrap_or(0),
        unanswered: r.get(24)?,
        sla_wait_since: r.get::<_, Option<i64>>(25)?.map(Timestamp::from_micros),
        client_number: u64::try_from(r.get::<_, i64>(26)?).unwrap_or(0),
        tags: tags_of(r.get(27)?)?,
    })
}

/// The tags column of [`ROW_COLUMN_NAMES`]: the ids in hex, comma-separated (none: NULL), sorted.
fn tags_of(hex: Option<String>) -> Result<Vec<TagId>, ProjectionError> {
    let mut tags = hex
        .iter()
        .flat_map(|hex| hex.split(','))
        .map(|id| {
            uuid::Uuid::try_parse(id)
                .map(TagId::from_uuid)
                .map_err(|_| ProjectionError::Corrupt(format!("dialog_tag.tag: not an id: {id:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    tags.sort();
    Ok(tags)
}

/// One dialog's row, if the read model knows the dialog.
pub fn dialog_row(
    conn: &Connection,
    dialog: DialogId,
) -> Result<Option<DialogRow>, ProjectionError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {} FROM dialog_row d WHERE d.dialog = ?1",
        row_columns("d")
    ))?;
    let mut rows = statement.query([dialog.blob()])?;
    let mut keys = KeyNames::new(conn);
    rows.next()?.map(|r| read_row(r, &mut keys)).transpose()
}

/// F4.3: whether the dialog is unread for this operator.
pub fn is_unread(
    conn: &Connection,
    dialog: DialogId,
    operator: OperatorId,
) -> Result<bool, ProjectionError> {
    let unread = conn
        .prepare_cached(
            "SELECT coalesce(r.marked_unread, 0) = 1
                    OR coalesce(r.inbound_read, 0) < d.inbound_count
             FROM dialog_row d
             LEFT JOIN dialogoperator_read r
                 ON r.dialog = d.rowid AND r.operator = (SELECT key FROM idkey WHERE id = ?2)
             WHERE d.dialog = ?1",
        )?
        .query_row(params![dialog.blob(), operator.token()], |r| r.get(0))
        .optional()?;
    Ok(unread.unwrap_or(false))
}

/// One operator's own state of a dialog: what the list row shows them alone (F1.2, F3.5, F4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorMarks {
    pub operator: OperatorId,
    /// Client messages the operator has read.
    pub inbound_read: u64,
    pub marked_unread: bool,
    /// Their unsent draft, shortened.
    pub draft: Option<String>,
}

impl OperatorMarks {
    /// Client messages of `row` the operator has not read.
    pub fn unread_messages(&self, row: &DialogRow) -> u64 {
        row.inbound_count.saturating_sub(self.inbound_read)
    }
}

/// Every operator's own state of a dialog (those who never opened it and have no draft have
/// none): one read for all the operators a change of the dialog is shown to.
pub fn operator_marks(
    conn: &Connection,
    dialog: DialogId,
) -> Result<Vec<OperatorMarks>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "WITH d AS (SELECT rowid AS rid FROM dialog_row WHERE dialog = ?1),
              o AS (SELECT operator FROM dialogoperator_read, d WHERE dialog = d.rid
                    UNION SELECT operator FROM dialogoperator_draft, d WHERE dialog = d.rid)
         SELECT (SELECT id FROM idkey WHERE key = o.operator),
                coalesce(r.inbound_read, 0), coalesce(r.marked_unread, 0), dr.preview
         FROM o CROSS JOIN d
         LEFT JOIN dialogoperator_read r ON r.dialog = d.rid AND r.operator = o.operator
         LEFT JOIN dialogoperator_draft dr ON dr.dialog = d.rid AND dr.operator = o.operator",
    )?;
    let mut rows = statement.query([dialog.blob()])?;
    let mut marks = Vec::new();
    while let Some(r) = rows.next()? {
        let Some(operator) = keyed_id(r, 0, "dialogoperator_read.operator")? else {
            return Err(ProjectionError::Corrupt(
                "dialogoperator_read.operator: no such key".to_owned(),
            ));
        };
        marks.push(OperatorMarks {
            operator,
            inbound_read: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            marked_unread: r.get(2)?,
            draft: crate::compact::optional_column(r, 3)?,
        });
    }
    Ok(marks)
}

/// The tags of a dialog.
pub fn dialog_tags(conn: &Connection, dialog: DialogId) -> Result<Vec<TagId>, ProjectionError> {
    blobid::all(
        conn,
        "SELECT tag FROM dialog_tag
             WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) ORDER BY tag",
        [dialog.blob()],
        "dialog_tag.tag",
    )
}

/// The custom folders a dialog is in.
pub fn dialog_folders(
    conn: &Connection,
    dialog: DialogId,
) -> Result<Vec<FolderId>, ProjectionError> {
    blobid::all(
        conn,
        "SELECT folder FROM dialog_folder
             WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) ORDER BY folder",
        [dialog.blob()],
        "dialog_folder.folder",
    )
}
