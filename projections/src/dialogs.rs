//! The dialog list read model (F1, F2.2–F2.4): one row per dialog with what a list row shows
//! and what the list filters by, read state per (dialog, operator), memberships, and counters
//! kept exact on every event.
//!
//! Tables (times are microseconds since the epoch; ids are the UUID's 16 bytes in a BLOB
//! (`crate::blobid`: 17 bytes on disk instead of a 33-byte 32-hex token; at 1M dialogs the 7
//! id columns of `dialog_row` were 224 of a row's 425 bytes as tokens), except where they are
//! looked up or formatted as text: `idkey`, `project_clientnumber` and the counters keep
//! 32-hex tokens; every table keyed by a dialog other than `dialog_row` holds the dialog's
//! `dialog_row` rowid, 1–4 bytes instead of the id in each row and index entry — the activity
//! rows alone are one per message):
//! - `dialog_row`: dialog → its list row (client, last message, flags, assignee, *Unanswered*,
//!   SLA wait start) and the filtered-by columns: the client's number, the last message's
//!   author (a small integer code, `AUTHOR_*`), the funnel block, the deal's pipeline and
//!   stage. The ids every row repeats from a small set — project, assignee, the last message's
//!   operator and channel — are their `idkey` keys (1–3 bytes instead of 17: 57 MB of the
//!   1M-dialog file), read back with the row by key; the indexes hold the project's and
//!   assignee's keys and end with the rowid;
//! - `idkey`: project, operator or channel token → its small integer key, given in log order;
//! - `dialogoperator_read`: (dialog, operator key) → how many client messages the operator had read
//!   and whether they marked it unread (F4.3); no row means "never opened";
//! - `dialogoperator_draft`: (dialog, operator key) → the preview of their unsent draft (F1.2, F3.5);
//! - `dialog_tag`, `dialog_folder`, `dialog_list`: membership;
//! - `dialog_channel`: (dialog, channel key, via) → the client has an identity on the channel
//!   (`id:<external id>`) or a message went through it (`''`); unlinking an identity removes
//!   only its own row;
//! - `dialog_variable`: (dialog, name) → value;
//! - `dialog_activity`: dialog → the 15-minute buckets in which a message (either direction)
//!   was written, one BLOB (`activity`), and `dialog_activity_by_bucket` (bucket, dialog);
//! - `project_clientnumber`: project → the last client number given;
//! - `counter`: (project, operator or empty, kind, scope or tag) → value, ids as 16 bytes and
//!   the scope in 2–34 bytes (`counters::encode_scope`).
//!
//! While applying, the counter inputs of recently applied dialogs are kept in memory
//! (`counters::InputsCache`) and moved by each event; debug builds check them against the file
//! after every event.
//!
//! Client numbers (F2.2, F7.1). A client's decimal id is its position among the project's
//! registrations in the log: 1, 2, 3… given when the projection first applies a dialog's
//! `dialog.registered`. The log's order is the same for every reader, so a rebuild (also one up
//! to a past sequence or moment) and the card projection, which keeps the same counter in its
//! own file, give every client the same number; it is per project, so a node serving a subset
//! of projects numbers them the same too. Numbers are never reused (a deleted or merged-away
//! client keeps theirs). The log sequence was the alternative: deterministic as well, but shared
//! by all projects, so numbers would be huge and sparse and depend on other tenants' traffic.
//!
//! Counters. A dialog is unread for an operator when they marked it unread or it has more client
//! messages than they had read (no read row: any client message). Counting that per operator
//! without a row per (dialog, operator of the project) splits in two: the *base* row (operator
//! `''`) counts the dialogs in a scope that have client messages (unread for whoever never
//! opened them), and each operator's own row holds the correction from their read states (−1
//! when they read a dialog up, +1 when they marked unread one without client messages). An
//! operator's count is base + own row: O(1) to read, exact, never capped. Every event that can
//! change a dialog's contribution retracts it before and adds it back after, so an event costs
//! O(operators who opened the dialog × its scopes).
//!
//! Scopes of a live (not deleted, not merged away) dialog: `all`; `assignee:<op>` or `free`;
//! per custom folder `folder:<f>` and `folder:<f>:assignee:<op>` or `folder:<f>:free`; when the
//! bot is paused the same for `with_operator`. Counter names are `unread:<scope>` and
//! `unanswered:<scope>` (*Unanswered* is per dialog, so it has base rows only), and `tag:<t>`,
//! the number of live dialogs carrying a tag (F2.5). Closed dialogs count like open ones. The
//! names are what tests and [`all_counters`] show; the table keeps them in binary (kind, scope
//! codes, ids as 16 bytes): a commit of the live phase at full size rewrote 353 pages of the
//! counters when the names and ids were text (172k rows, 22 MB).
//!
//! Queries: [`unread_dialogs`] (F1.7), [`folder_badge`] (F1.5), [`unanswered_dialogs`],
//! [`tag_usage`], [`dialog_row`], [`is_unread`] and [`list_dialogs`] (tabs, folders, archive
//! switch, the three orders, a [`Filter`]; keyset pages), [`explain_list_dialogs`] (its plan).
//! F12.1 visibility is applied to lists in one place, `visibility`.
//!
//! List pages and indexes. A page is one query: `dialog_row` read in the order's index, each
//! row checked against the tab, folder and filter (membership conditions are `EXISTS` probes of
//! the `(dialog, …)` primary keys), stopping after `limit` matches; the arms pick rowids and
//! sort keys only, and the page's rows are then read by rowid and joined with the viewer's read
//! state and draft (see `list_sql`). The cursor is a row value
//! `(pinned, key…, rowid) < (…)` that the index seeks to, so a page deep in the list costs what
//! the first does (SQLite seeks on `(pinned, key…)`, the part the index names, and checks the
//! rowid, the tie-breaker every index entry ends with, on the rows tied with the cursor's).
//! Each order has one index, `dialog_row_list_by_*`, with `closed` right after `project`: the
//! default view (closed dialogs hidden, usually most of a project) reads the `closed = 0` range;
//! the archive switch reads the two ranges as two arms, each up to `limit` rows from the
//! cursor on, merged (a sort of at most 2 × `limit` rows); one index instead of one per view
//! halves what a message costs to write. The processing order sorts by two generated columns
//! so that its index serves seeks as well. `dialog_row_assignee_by_activity` serves *Mine*,
//! *Free* and an operator's own-or-free view in the activity order: the operator's view is two
//! arms (their dialogs, the free ones), each read from that index up to `limit` rows and merged,
//! so other operators' dialogs are never scanned (with the archive switch, four arms: each also
//! open and closed). `list_sql` names that index (`INDEXED BY`):
//! without statistics SQLite prefers the wider one once a cursor adds a range. A client number
//! pattern (F2.2) that the whole filter requires and at most [`MAX_NUMBER_CANDIDATES`] numbers
//! of the project hold ([`number_candidates`], from the project's last number) is looked up in
//! `dialog_row_by_number` and the matches sorted (at 200k dialogs `12345`: 90 µs instead of a
//! 0.5 s scan that found one); a commoner pattern (`10`) scans in order and fills pages fast.
//! Likewise a date range (F2.3 activity) that the filter requires and that at most
//! [`MAX_ACTIVITY_LOOKUP`] activity rows fall in (counted first, over `dialog_activity_by_bucket`)
//! reads its dialogs by rowid and sorts them, and so does a tag the filter requires or the
//! custom folder when at most [`MAX_MEMBER_LOOKUP`] dialogs are in it (the rarest one, counted
//! first over `dialog_tag_by_tag` / `dialog_folder_by_folder`).
//!
//! Measured on 200k dialogs of one project (90 % closed, a third free, the rest spread over five
//! operators), release build, 50 rows a page, every page of the list in turn (up to 400), p50
//! while four other engineers were building (p99 moved with their load, 0.3–5 ms, so only the
//! p50 says what a page costs): default view, archive switch, processing and created orders
//! 130–180 µs a page at any depth; an operator's view 310 µs; *Mine* 275 µs (p99 340 µs); a tag
//! filter matching 3 % of dialogs 1.3 ms; three filters (channel, not in a list, assignee)
//! 3.1 ms; a funnel block matching 5 % 1.5 ms; a variable value matching 2 % 9 ms. Plans (the
//! unit test `list_pages_read_in_index_order` keeps them): `SEARCH d USING INDEX
//! dialog_row_list_by_activity (project_key=? AND closed=? AND (pinned,last_activity_at)<(?,?))`
//! with `SEARCH m EXISTS USING PRIMARY KEY (dialog=? AND tag=?)` per membership condition, and no
//! `USE TEMP B-TREE FOR ORDER BY` in any arm.
//!
//! Trade-offs: every index costs writes (a message moves `last_activity_at` in three of them), and
//! scanning in order is right while matches are common: a page costs the rows it skips (~1–5 µs
//! each). A selective filter that is not looked up (a rare variable value, list or channel, a date range
//! busy in other projects but quiet in this one, a client number pattern inside an any-of group
//! or held by 0.1–1 % of a big project's numbers) makes the scan skip many rows before a page
//! fills, up to a full scan of the project when nothing matches (0.5 s at 200k dialogs). Driving
//! those from the membership tables too needs a way to tell few matches from many: counting
//! first as above, or statistics (`ANALYZE`, a hand-written `sqlite_stat1`); not done yet.

use crate::blobid::{self, BlobId};
use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx, execute_for_each};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

mod activity;
mod counters;
mod filter;
use counters::{CounterKey, FolderGroup, Inputs, InputsCache};
pub use filter::{
    ACTIVITY_BUCKET_MICROS, AuthorKind, Condition, DialogStatus, Expr, Filter, FilterError,
    MAX_DEPTH, MAX_NODES, MAX_NUMBER_CANDIDATES, MAX_NUMBER_DIGITS, MAX_TEXT, MAX_VALUES,
    activity_bucket, number_candidates,
};

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct DialogsProjection {
    /// Counter inputs of recently applied dialogs (valid with the committed file only).
    inputs: InputsCache,
    /// One event's counter changes, reused.
    changes: Vec<(CounterKey, i64)>,
    /// Counter deltas applied but not yet written (see `before_commit`).
    pending: PendingCounters,
    /// `idkey` keys this writer has read or given (valid with the committed file and this
    /// transaction; dropped on rollback).
    keys: Keys,
}

/// `idkey` keys by id (a project's, operator's or channel's 16 bytes as a number): a message
/// names its channel, an answer its operator, and asking the file each time cost a lookup by
/// a 32-hex token per id. Bounded: starts over when full.
#[derive(Debug, Default)]
struct Keys {
    known: std::collections::HashMap<u128, i64>,
}

/// At most this many ids stay in `Keys` (projects, operators and channels: a few per project).
const KEY_CACHE: usize = 1 << 16;

impl Keys {
    /// The `idkey` key of `id`, given now if it has none.
    fn of(&mut self, tx: &Tx<'_>, id: uuid::Uuid) -> rusqlite::Result<i64> {
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
}

/// The stored codes of `last_message_author` and `last_sender`.
const AUTHOR_CLIENT: i64 = 1;
const AUTHOR_OPERATOR: i64 = 2;
const AUTHOR_BOT: i64 = 3;
/// `last_message_author` only: notes are not messages.
const AUTHOR_NOTE: i64 = 4;

/// Longest last-message preview kept, in characters.
pub const PREVIEW_CHARS: usize = 160;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dialog_row (
    -- Ids (`dialog`, `merged_into`, `deal_pipeline`, `deal_stage`) are the UUID's 16 bytes
    -- (`blobid`); the project, the assignee and the last message's operator and channel are
    -- their `idkey` keys (the `*_key` columns).
    dialog BLOB PRIMARY KEY,
    client_name TEXT,
    client_phone TEXT,
    client_email TEXT,
    client_avatar_url TEXT,
    -- The first identity's id on its channel: the title when there is no name or phone.
    client_external_id TEXT,
    client_created_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    -- TEXT, or the compact single-byte form of a Cyrillic text (`compact`), as the draft's.
    last_message_preview,
    -- 1 client, 2 operator, 3 bot, 4 note (`AUTHOR_*`); NULL before the first message.
    last_message_author INTEGER,
    last_message_operator_key INTEGER,
    last_message_channel_key INTEGER,
    last_message_attachments INTEGER NOT NULL DEFAULT 0,
    last_message_at INTEGER,
    -- The keys (`idkey`) of the project and the assignee: what the indexes hold, and in 1–3
    -- bytes where a 16-byte id took 17.
    project_key INTEGER NOT NULL,
    assignee_key INTEGER,
    closed INTEGER NOT NULL DEFAULT 0,
    blocked INTEGER NOT NULL DEFAULT 0,
    blacklisted INTEGER NOT NULL DEFAULT 0,
    bot_paused INTEGER NOT NULL DEFAULT 0,
    pinned INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    merged_into BLOB,
    -- Client messages received so far.
    inbound_count INTEGER NOT NULL DEFAULT 0,
    -- F1.4: a client message no operator has read or answered.
    unanswered INTEGER NOT NULL DEFAULT 0,
    -- F9: the first client message since (re)opening that no operator answered yet.
    sla_wait_since INTEGER,
    -- F2.2: the client's decimal number, see `project_clientnumber`.
    client_number INTEGER NOT NULL DEFAULT 0,
    -- 1 client, 2 operator, 3 bot (`AUTHOR_*`): the last message's author (notes are not
    -- messages); NULL before the first message.
    last_sender INTEGER,
    -- F2.3: the bot's current funnel block id (the bot's text, not ours); the deal's pipeline
    -- and stage.
    funnel_block TEXT,
    deal_pipeline BLOB,
    deal_stage BLOB,
    -- F1.3 processing order, as columns so that its index serves keyset seeks: the waiting
    -- first, longest wait first, then the others by last activity.
    processing_waiting INTEGER GENERATED ALWAYS AS (sla_wait_since IS NOT NULL) VIRTUAL,
    processing_key INTEGER GENERATED ALWAYS AS
        (CASE WHEN sla_wait_since IS NULL THEN last_activity_at ELSE -sla_wait_since END) VIRTUAL
);
-- Small integer keys of the projects, operators and channels `dialog_row` holds: index
-- entries of 32-hex tokens made every seek compare 32 equal bytes first (a third of a rebuild's
-- time), and 16-byte ids were 4 of a row's 17 bytes each. Keys are given in log order, so a
-- rebuild gives the same ones.
CREATE TABLE IF NOT EXISTS idkey (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS project_clientnumber (
    project TEXT PRIMARY KEY,
    -- The last number given (numbers start at 1).
    last INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_list (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    -- The list's id (16 bytes, as every id below).
    list BLOB NOT NULL,
    PRIMARY KEY (dialog, list)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_channel (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    -- The channel's `idkey` key.
    channel INTEGER NOT NULL,
    -- '' for messages through the channel, 'id:<external id>' for an identity on it.
    via TEXT NOT NULL,
    PRIMARY KEY (dialog, channel, via)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_variable (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (dialog, name)
) WITHOUT ROWID;
-- F2.3 activity: the 15-minute buckets (µs since the epoch / 900 000 000) in which the dialog
-- had a message (see `activity`).
CREATE TABLE IF NOT EXISTS dialog_activity (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER PRIMARY KEY,
    -- The newest bucket.
    last INTEGER NOT NULL,
    -- Every bucket, ascending: a zigzag varint, then the gaps as varints.
    buckets BLOB NOT NULL
);
-- A date range few messages fall in is looked up here (see `Narrowing`).
CREATE TABLE IF NOT EXISTS dialog_activity_by_bucket (
    bucket INTEGER NOT NULL,
    dialog INTEGER NOT NULL,
    PRIMARY KEY (bucket, dialog)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialogoperator_read (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    -- The operator's `idkey` key (as in the draft table).
    operator INTEGER NOT NULL,
    inbound_read INTEGER NOT NULL,
    marked_unread INTEGER NOT NULL,
    PRIMARY KEY (dialog, operator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialogoperator_draft (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    operator INTEGER NOT NULL,
    preview NOT NULL,
    PRIMARY KEY (dialog, operator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_tag (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    tag BLOB NOT NULL,
    PRIMARY KEY (dialog, tag)
) WITHOUT ROWID;
-- A list page that requires a tag or folder few dialogs have reads them from here (see
-- `Narrowing`); deleting a tag or folder finds its rows here.
CREATE INDEX IF NOT EXISTS dialog_tag_by_tag ON dialog_tag (tag, dialog);
CREATE TABLE IF NOT EXISTS dialog_folder (
    -- The dialog's `dialog_row` rowid.
    dialog INTEGER NOT NULL,
    folder BLOB NOT NULL,
    PRIMARY KEY (dialog, folder)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dialog_folder_by_folder ON dialog_folder (folder, dialog);
CREATE TABLE IF NOT EXISTS counter (
    -- The project's 16 bytes.
    project BLOB NOT NULL,
    -- The operator's 16 bytes; empty for the base rows, shared by every operator.
    operator BLOB NOT NULL,
    -- 1 unread, 2 unanswered, 3 tag usage (`counters::KIND_*`).
    kind INTEGER NOT NULL,
    -- A tag's 16 bytes, or a scope: a group code (then a folder's 16 bytes) and an owner code
    -- (then an operator's 16 bytes), see `counters::encode_scope`.
    scope BLOB NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (project, operator, kind, scope)
) WITHOUT ROWID;
";

/// The indexes only list queries read (never the applier): a rebuild file gets them once at
/// the end, built from sorted rows, instead of keeping them through every batch.
const QUERY_INDEXES: &str = "
-- The list orders (F1.3), each as a keyset over (pinned, key…, rowid) after (project, closed):
-- the default view reads the `closed = 0` range, the archive switch reads both ranges and
-- merges them (see `list_sql`), so one index per order serves both. See the module doc.
-- SQLite ends every index entry with the rowid, the last tie-breaker: rows are inserted when
-- the log registers a dialog and never deleted, so it is registration order, the same on a
-- rebuild (an 8-byte integer instead of the 32-hex token made the entries a third the size).
CREATE INDEX IF NOT EXISTS dialog_row_list_by_activity
    ON dialog_row (project_key, closed, pinned, last_activity_at);
CREATE INDEX IF NOT EXISTS dialog_row_list_by_created
    ON dialog_row (project_key, closed, pinned, client_created_at);
CREATE INDEX IF NOT EXISTS dialog_row_list_by_processing
    ON dialog_row (project_key, closed, pinned, processing_waiting, processing_key);
-- F2.2: a client number pattern that few numbers hold is looked up, not scanned for.
CREATE INDEX IF NOT EXISTS dialog_row_by_number ON dialog_row (project_key, client_number);
-- *Mine*, the assignee filter and *Free* (assignee IS NULL) in the default view and order.
CREATE INDEX IF NOT EXISTS dialog_row_assignee_by_activity
    ON dialog_row (project_key, assignee_key, closed, pinned, last_activity_at);
";

impl Projection for DialogsProjection {
    fn name(&self) -> &'static str {
        "dialogs"
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    fn query_indexes(&self) -> &'static str {
        QUERY_INDEXES
    }

    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        // Counter deltas summed until the transaction commits (`before_commit`): a counter many
        // events touch (a project's `all` scope, a busy operator's) is written once, in key
        // order, per batch, or per many batches while a rebuild file is built.
        let mut pending = std::mem::take(&mut self.pending);
        for record in records {
            for envelope in record.events {
                match (&envelope.aggregate, &envelope.payload) {
                    (AggregateId::Dialog(dialog), _) => {
                        self.apply_event(tx, *dialog, envelope, &mut pending)?;
                    }
                    (AggregateId::Project, Event::FolderDeleted(e)) => {
                        write_counters(tx, std::mem::take(&mut pending))?;
                        forget_folder(tx, envelope.project, e.folder)?;
                        self.inputs.clear();
                    }
                    (AggregateId::Project, Event::TagDeleted(e)) => {
                        write_counters(tx, std::mem::take(&mut pending))?;
                        forget_tag(tx, envelope.project, e.tag)?;
                        self.inputs.clear();
                    }
                    _ => {}
                }
            }
        }
        self.pending = pending;
        Ok(())
    }

    fn before_commit(&mut self, tx: &Tx<'_>) -> Result<(), ProjectionError> {
        write_counters(tx, std::mem::take(&mut self.pending))
    }

    fn rolled_back(&mut self) {
        self.inputs.clear();
        self.pending.clear();
        self.keys.known.clear();
    }

    fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
        register_functions(conn)
    }
}

impl DialogsProjection {
    fn apply_event(
        &mut self,
        tx: &Tx<'_>,
        dialog: DialogId,
        envelope: &Envelope,
        pending: &mut PendingCounters,
    ) -> Result<(), ProjectionError> {
        let event = &envelope.payload;
        let project = envelope.project;
        let id = dialog.blob();
        if !counters::affects(event) {
            return change_row(tx, &mut self.keys, project, &id, envelope, None);
        }
        let changes = &mut self.changes;
        match self.inputs.get(tx, dialog)? {
            Some(inputs) => {
                inputs.contribute(envelope.project, -1, changes);
                let live_row = (!inputs.deleted()).then(|| inputs.row());
                change_row(tx, &mut self.keys, project, &id, envelope, live_row)?;
                inputs.apply(event);
                inputs.contribute(envelope.project, 1, changes);
                if cfg!(debug_assertions) {
                    let stored = Inputs::load(tx, &id)?;
                    if stored.as_ref() != Some(inputs) {
                        return Err(ProjectionError::Corrupt(format!(
                            "counter inputs of {dialog:?} after {}: memory {inputs:?}, \
                             file {stored:?}",
                            event.event_type()
                        )));
                    }
                }
            }
            None => {
                change_row(tx, &mut self.keys, project, &id, envelope, None)?;
                if matches!(event, Event::DialogRegistered(_))
                    && let Some(inputs) = self.inputs.get(tx, dialog)?
                {
                    inputs.contribute(envelope.project, 1, changes);
                }
            }
        }
        counters::add_changes(changes, pending);
        Ok(())
    }
}

/// A deleted folder: its memberships and every counter of its scopes go (each dialog's other
/// scopes are untouched, so the counters stay exact).
fn forget_folder(tx: &Tx<'_>, project: ProjectId, folder: FolderId) -> Result<(), ProjectionError> {
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
fn forget_tag(tx: &Tx<'_>, project: ProjectId, tag: TagId) -> Result<(), ProjectionError> {
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
type PendingCounters = BTreeMap<CounterKey, i64>;

fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// How a statement finds a dialog's row: by its rowid when the applier knows it (a seek on
/// an integer key) or by its id (a seek in the 17-byte unique index, comparing ids).
#[derive(Debug, Clone, Copy)]
enum RowKey<'a> {
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

fn flag(tx: &Tx<'_>, key: RowKey<'_>, column: &str, value: bool) -> rusqlite::Result<usize> {
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

fn mark_read(
    tx: &Tx<'_>,
    keys: &mut Keys,
    key: RowKey<'_>,
    operator: OperatorId,
) -> rusqlite::Result<usize> {
    let operator = keys.of(tx, *operator.as_uuid())?;
    tx.prepare_cached(key.pick(keyed!(
        "INSERT INTO dialogoperator_read (dialog, operator, inbound_read, marked_unread)
         SELECT rowid, ?2, inbound_count, 0 FROM dialog_row WHERE ",
        " ON CONFLICT (dialog, operator) DO UPDATE
             SET inbound_read = excluded.inbound_read, marked_unread = 0"
    )))?
    .execute(params![key, operator])
}

/// `live_row`: the rowid of the dialog's row when it is known to be there and not a tombstone
/// into the tables a tombstone keeps empty check that first).
fn change_row(
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
    match &envelope.payload {
        Event::DialogRegistered(e) => {
            let project_token = project.token();
            let project_key = keys.of(tx, *project.as_uuid())?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO dialog_row (dialog, project_key, client_name,
                         client_phone, client_email, client_avatar_url, client_external_id,
                         client_created_at, last_activity_at)
                     VALUES (?1, ?8, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (dialog) DO NOTHING",
                )?
                .execute(params![
                    dialog,
                    e.profile.name,
                    e.profile.phone,
                    e.profile.email,
                    e.profile.avatar_url,
                    e.identity.as_ref().map(|i| i.external_id.as_str()),
                    at,
                    project_key
                ])?;
            if inserted > 0 {
                let number = next_client_number(tx, &project_token)?;
                tx.prepare_cached("UPDATE dialog_row SET client_number = ?2 WHERE dialog = ?1")?
                    .execute(params![dialog, number])?;
                if let Some(identity) = &e.identity {
                    add_identity_channel(tx, keys, dialog, identity)?;
                }
            }
        }
        Event::ClientProfileUpdated(e) => {
            tx.prepare_cached(
                "UPDATE dialog_row SET client_name = ?2, client_phone = ?3, client_email = ?4,
                     client_avatar_url = coalesce(?5, client_avatar_url)
                 WHERE dialog = ?1 AND deleted = 0",
            )?
            .execute(params![
                dialog,
                e.profile.name,
                e.profile.phone,
                e.profile.email,
                e.profile.avatar_url
            ])?;
        }
        Event::IdentityLinked(e) => {
            // F1.2: the avatar from the first channel that has one; the name when none is known.
            tx.prepare_cached(
                "UPDATE dialog_row SET
                     client_external_id = coalesce(client_external_id, ?2),
                     client_avatar_url = coalesce(client_avatar_url, ?3),
                     client_name = coalesce(client_name, ?4)
                 WHERE dialog = ?1 AND deleted = 0",
            )?
            .execute(params![
                dialog,
                e.identity.external_id,
                e.avatar_url,
                e.display_name
            ])?;
            add_identity_channel(tx, keys, dialog, &e.identity)?;
        }
        Event::IdentityUnlinked(e) => {
            tx.prepare_cached(
                "DELETE FROM dialog_channel
                 WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1)
                     AND channel = (SELECT key FROM idkey WHERE id = ?2) AND via = ?3",
            )?
            .execute(params![
                dialog,
                e.identity.channel.token(),
                identity_via(&e.identity)
            ])?;
        }
        Event::DialogsMerged(e) => {
            for identity in &e.identities {
                add_identity_channel(tx, keys, dialog, identity)?;
            }
        }
        Event::MessageReceived(e) => {
            tx.prepare_cached(key.pick(keyed!(
                "UPDATE dialog_row SET
                     last_activity_at = max(last_activity_at, ?2),
                     last_message_preview = ?3, last_message_author = ?6,
                     last_message_operator_key = NULL, last_message_channel_key = ?4,
                     last_message_attachments = ?5, last_message_at = ?2,
                     inbound_count = inbound_count + 1, unanswered = 1,
                     sla_wait_since = coalesce(sla_wait_since, ?2), last_sender = ?6
                 WHERE ",
                ""
            )))?
            .execute(params![
                key,
                at,
                crate::compact::value(&preview(&e.text)),
                keys.of(tx, *e.channel.as_uuid())?,
                e.attachments.len() as i64,
                AUTHOR_CLIENT
            ])?;
            message_written(tx, keys, dialog, e.channel, envelope.occurred_at, live_row)?;
        }
        Event::MessageQueued(e) => {
            let (author, operator) = match e.author {
                MessageAuthor::Client => (AUTHOR_CLIENT, None),
                MessageAuthor::Operator(op) => (AUTHOR_OPERATOR, Some(op)),
                MessageAuthor::Bot => (AUTHOR_BOT, None),
            };
            // An operator's answer: the client no longer waits (and writing means reading).
            let sql = if operator.is_some() {
                keyed!(
                    "UPDATE dialog_row SET
                         last_activity_at = max(last_activity_at, ?2),
                         last_message_preview = ?3, last_message_author = ?4,
                         last_message_operator_key = ?5, last_message_channel_key = ?6,
                         last_message_attachments = ?7, last_message_at = ?2, last_sender = ?4,
                         unanswered = 0, sla_wait_since = NULL
                     WHERE ",
                    ""
                )
            } else {
                keyed!(
                    "UPDATE dialog_row SET
                         last_activity_at = max(last_activity_at, ?2),
                         last_message_preview = ?3, last_message_author = ?4,
                         last_message_operator_key = ?5, last_message_channel_key = ?6,
                         last_message_attachments = ?7, last_message_at = ?2, last_sender = ?4
                     WHERE ",
                    ""
                )
            };
            tx.prepare_cached(key.pick(sql))?.execute(params![
                key,
                at,
                crate::compact::value(&preview(&e.text)),
                author,
                operator.map(|op| keys.of(tx, *op.as_uuid())).transpose()?,
                keys.of(tx, *e.channel.as_uuid())?,
                e.attachments.len() as i64
            ])?;
            message_written(tx, keys, dialog, e.channel, envelope.occurred_at, live_row)?;
            if let Some(operator) = operator {
                mark_read(tx, keys, key, operator)?;
            }
        }
        Event::NoteAdded(e) => {
            tx.prepare_cached(key.pick(keyed!(
                "UPDATE dialog_row SET
                     last_activity_at = max(last_activity_at, ?2),
                     last_message_preview = ?3, last_message_author = ?5,
                     last_message_operator_key = ?4, last_message_channel_key = NULL,
                     last_message_attachments = 0, last_message_at = ?2
                 WHERE ",
                ""
            )))?
            .execute(params![
                key,
                at,
                crate::compact::value(&preview(&e.text)),
                operator_of(envelope.actor)
                    .map(|op| keys.of(tx, *op.as_uuid()))
                    .transpose()?,
                AUTHOR_NOTE
            ])?;
        }
        Event::ReadMarked(e) => {
            tx.prepare_cached(key.pick(keyed!("UPDATE dialog_row SET unanswered = 0 WHERE ", "")))?
                .execute([key])?;
            mark_read(tx, keys, key, e.operator)?;
        }
        Event::MarkedUnread(e) => {
            tx.prepare_cached(key.pick(keyed!(
                "INSERT INTO dialogoperator_read (dialog, operator, inbound_read, marked_unread)
                 SELECT rowid, ?2, 0, 1 FROM dialog_row WHERE ",
                " ON CONFLICT (dialog, operator) DO UPDATE SET marked_unread = 1"
            )))?
            .execute(params![key, keys.of(tx, *e.operator.as_uuid())?])?;
        }
        Event::DialogAssigned(e) => {
            let operator = keys.of(tx, *e.operator.as_uuid())?;
            tx.prepare_cached(
                key.pick(keyed!("UPDATE dialog_row SET assignee_key = ?2 WHERE ", "")),
            )?
            .execute(params![key, operator])?;
        }
        Event::DialogUnassigned(_) => {
            tx.prepare_cached(key.pick(keyed!(
                "UPDATE dialog_row SET assignee_key = NULL WHERE ",
                ""
            )))?
            .execute([key])?;
        }
        Event::DialogClosed(_) => {
            // A closed dialog waits for nobody (F9).
            tx.prepare_cached(
                "UPDATE dialog_row SET closed = 1, sla_wait_since = NULL WHERE dialog = ?1",
            )?
            .execute([dialog])?;
        }
        Event::DialogReopened(_) => {
            flag(tx, key, "closed", false)?;
        }
        Event::DialogPinned(_) => {
            flag(tx, key, "pinned", true)?;
        }
        Event::DialogUnpinned(_) => {
            flag(tx, key, "pinned", false)?;
        }
        Event::ClientBlocked(_) => {
            flag(tx, key, "blocked", true)?;
        }
        Event::ClientUnblocked(_) => {
            flag(tx, key, "blocked", false)?;
        }
        Event::ClientBlacklisted(_) => {
            flag(tx, key, "blacklisted", true)?;
        }
        Event::ClientUnblacklisted(_) => {
            flag(tx, key, "blacklisted", false)?;
        }
        Event::BotPaused(_) => {
            flag(tx, key, "bot_paused", true)?;
        }
        Event::BotResumed(_) => {
            flag(tx, key, "bot_paused", false)?;
        }
        Event::TagsAdded(e) => {
            execute_for_each(
                tx,
                "INSERT INTO dialog_tag (dialog, tag) SELECT rowid, ?2 FROM dialog_row WHERE dialog = ?1
                 ON CONFLICT DO NOTHING",
                dialog,
                e.tags.iter().map(|id| id.blob()),
            )?;
        }
        Event::TagsRemoved(e) => {
            execute_for_each(
                tx,
                "DELETE FROM dialog_tag WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) AND tag = ?2",
                dialog,
                e.tags.iter().map(|id| id.blob()),
            )?;
        }
        Event::ListsJoined(e) => {
            execute_for_each(
                tx,
                "INSERT INTO dialog_list (dialog, list)
                 SELECT rowid, ?2 FROM dialog_row WHERE dialog = ?1 AND deleted = 0
                 ON CONFLICT DO NOTHING",
                dialog,
                e.lists.iter().map(|id| id.blob()),
            )?;
        }
        Event::ListsLeft(e) => {
            execute_for_each(
                tx,
                "DELETE FROM dialog_list WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) AND list = ?2",
                dialog,
                e.lists.iter().map(|id| id.blob()),
            )?;
        }
        Event::VariableSet(e) => {
            tx.prepare_cached(
                "INSERT INTO dialog_variable (dialog, name, value)
                 SELECT rowid, ?2, ?3 FROM dialog_row WHERE dialog = ?1 AND deleted = 0
                 ON CONFLICT (dialog, name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![dialog, e.name, e.value])?;
        }
        Event::VariableCleared(e) => {
            tx.prepare_cached(
                "DELETE FROM dialog_variable
                 WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) AND name = ?2",
            )?
            .execute(params![dialog, e.name])?;
        }
        Event::DealStageChanged(e) => {
            tx.prepare_cached(
                "UPDATE dialog_row SET deal_pipeline = ?2, deal_stage = ?3
                 WHERE dialog = ?1 AND deleted = 0",
            )?
            .execute(params![dialog, e.pipeline.blob(), e.stage.blob()])?;
        }
        Event::FunnelBlockEntered(e) => {
            tx.prepare_cached(
                "UPDATE dialog_row SET funnel_block = ?2 WHERE dialog = ?1 AND deleted = 0",
            )?
            .execute(params![dialog, e.block])?;
        }
        Event::FoldersJoined(e) => {
            execute_for_each(
                tx,
                "INSERT INTO dialog_folder (dialog, folder) SELECT rowid, ?2 FROM dialog_row WHERE dialog = ?1
                 ON CONFLICT DO NOTHING",
                dialog,
                e.folders.iter().map(|id| id.blob()),
            )?;
        }
        Event::FoldersLeft(e) => {
            execute_for_each(
                tx,
                "DELETE FROM dialog_folder WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1) AND folder = ?2",
                dialog,
                e.folders.iter().map(|id| id.blob()),
            )?;
        }
        Event::ClientDeleted(_) => {
            // F4.8: personal data leaves the read model; the row stays as a tombstone, out of
            // every list and counter.
            tx.prepare_cached(
                "UPDATE dialog_row SET deleted = 1, client_name = NULL, client_phone = NULL,
                     client_email = NULL, client_avatar_url = NULL, client_external_id = NULL,
                     last_message_preview = NULL, unanswered = 0, sla_wait_since = NULL,
                     funnel_block = NULL, deal_pipeline = NULL, deal_stage = NULL
                 WHERE dialog = ?1",
            )?
            .execute([dialog])?;
            for table in PERSONAL {
                // `table` is one of this module's literals, never input.
                tx.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1)"
                ))?
                    .execute([dialog])?;
            }
            if let Some(row) = row_of(tx, dialog, false)? {
                activity::forget(tx, row)?;
            }
        }
        Event::DraftSaved(e) => {
            tx.prepare_cached(
                "INSERT INTO dialogoperator_draft (dialog, operator, preview)
                 SELECT rowid, ?2, ?3 FROM dialog_row WHERE dialog = ?1
                 ON CONFLICT (dialog, operator) DO UPDATE SET preview = excluded.preview",
            )?
            .execute(params![
                dialog,
                keys.of(tx, *e.operator.as_uuid())?,
                crate::compact::value(&preview(&e.text))
            ])?;
        }
        Event::DraftCleared(e) => {
            tx.prepare_cached(
                "DELETE FROM dialogoperator_draft
                 WHERE dialog = (SELECT rowid FROM dialog_row WHERE dialog = ?1)
                     AND operator = (SELECT key FROM idkey WHERE id = ?2)",
            )?
            .execute(params![dialog, e.operator.token()])?;
        }
        Event::DialogMergedInto(e) => {
            tx.prepare_cached("UPDATE dialog_row SET merged_into = ?2 WHERE dialog = ?1")?
                .execute(params![dialog, e.survivor.blob()])?;
        }
        _ => {}
    }
    Ok(())
}

/// The tables holding a client's personal data (or what their conversation was about),
/// erased on deletion (F4.8).
/// (`dialog_activity` too, through `activity::forget`.)
const PERSONAL: [&str; 4] = [
    "dialogoperator_draft",
    "dialog_list",
    "dialog_channel",
    "dialog_variable",
];

/// Registers the SQL functions list queries use (`activity`) on a reader connection.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    activity::register(conn)
}

/// The `idkey` key of `id` (a project's, operator's or channel's token), given now if it has
/// none.
fn key_of(tx: &Tx<'_>, id: &str) -> rusqlite::Result<i64> {
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

/// F2.2: the next decimal number of a client of `project`: 1, 2, 3… in the order the log
/// registers the project's dialogs, so a rebuild (and the card, which keeps the same counter in
/// its own file) gives every client the same number. Numbers are never reused: a deleted or
/// merged-away client keeps theirs.
pub(crate) fn next_client_number(tx: &Tx<'_>, project: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO project_clientnumber (project, last) VALUES (?1, 1)
         ON CONFLICT (project) DO UPDATE SET last = last + 1
         RETURNING last",
    )?
    .query_row([project], |r| r.get(0))
}

fn identity_via(identity: &ChannelIdentity) -> String {
    format!("id:{}", identity.external_id)
}

fn add_channel(
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

fn add_identity_channel(
    tx: &Tx<'_>,
    keys: &mut Keys,
    dialog: &[u8; 16],
    identity: &ChannelIdentity,
) -> rusqlite::Result<usize> {
    add_channel(tx, keys, dialog, identity.channel, &identity_via(identity))
}

/// A message went through `channel` at `at`: the channel filter and the activity filter.
/// `live_row`: see [`change_row`].
fn message_written(
    tx: &Tx<'_>,
    keys: &mut Keys,
    dialog: &[u8; 16],
    channel: ChannelId,
    at: Timestamp,
    live_row: Option<i64>,
) -> rusqlite::Result<()> {
    let bucket = activity_bucket(at);
    if let Some(row) = live_row {
        tx.prepare_cached(
            "INSERT INTO dialog_channel (dialog, channel, via) VALUES (?1, ?2, '')
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![row, keys.of(tx, *channel.as_uuid())?])?;
        activity::note(tx, row, bucket)?;
    } else {
        add_channel(tx, keys, dialog, channel, "")?;
        if let Some(row) = row_of(tx, dialog, true)? {
            activity::note(tx, row, bucket)?;
        }
    }
    Ok(())
}

/// The `dialog_row` rowid of `dialog` (`live`: only while it is not deleted).
fn row_of(tx: &Tx<'_>, dialog: &[u8; 16], live: bool) -> rusqlite::Result<Option<i64>> {
    let sql = if live {
        "SELECT rowid FROM dialog_row WHERE dialog = ?1 AND deleted = 0"
    } else {
        "SELECT rowid FROM dialog_row WHERE dialog = ?1"
    };
    tx.prepare_cached(sql)?
        .query_row([dialog], |r| r.get(0))
        .optional()
}

fn operator_of(actor: Actor) -> Option<OperatorId> {
    match actor {
        Actor::Operator(op) => Some(op),
        _ => None,
    }
}

fn write_counters(tx: &Tx<'_>, deltas: PendingCounters) -> Result<(), ProjectionError> {
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

// ---------------------------------------------------------------------------------------------
// Queries (on a reader connection, see `runtime::open_reader`).

/// Who looks: admins count over the whole project, operators over the dialogs assigned to
/// them (the header, F1.7) or assigned to them and free (folders and tabs, F1.4, F12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub operator: OperatorId,
    pub admin: bool,
}

/// A folder whose badge is asked for (F1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Folder {
    /// Built-in *All chats*.
    All,
    /// Built-in *With operator*: the bot is paused.
    WithOperator,
    Custom(FolderId),
}

impl Folder {
    /// The counters' group of this folder (`None`: the whole project).
    fn group(self) -> Option<FolderGroup> {
        match self {
            Folder::All => None,
            Folder::WithOperator => Some(FolderGroup::WithOperator),
            Folder::Custom(f) => Some(FolderGroup::Custom(f)),
        }
    }
}

/// One stored counter (0 when it has no row).
fn counter(conn: &Connection, key: &CounterKey) -> Result<i64, ProjectionError> {
    let (project, operator, kind, scope) = key.stored();
    Ok(conn
        .prepare_cached(
            "SELECT value FROM counter
             WHERE project = ?1 AND operator = ?2 AND kind = ?3 AND scope = ?4",
        )?
        .query_row(params![project, operator, kind, scope], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Unread dialogs of a scope for `operator`: the base row plus their own correction.
fn unread_in(
    conn: &Connection,
    project: ProjectId,
    operator: OperatorId,
    folder: Option<FolderGroup>,
    owner: Option<Option<OperatorId>>,
) -> Result<u64, ProjectionError> {
    let value = counter(conn, &CounterKey::unread(project, None, folder, owner))?
        + counter(
            conn,
            &CounterKey::unread(project, Some(operator), folder, owner),
        )?;
    u64::try_from(value).map_err(|_| {
        ProjectionError::Corrupt(format!(
            "negative unread counter {folder:?} {owner:?}: {value}"
        ))
    })
}

/// F1.7: the header counter, the number of unread dialogs for this viewer.
pub fn unread_dialogs(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
) -> Result<u64, ProjectionError> {
    let owner = (!viewer.admin).then_some(Some(viewer.operator));
    unread_in(conn, project, viewer.operator, None, owner)
}

/// F1.5: the badge of a folder, unread dialogs in it among those the viewer sees.
pub fn folder_badge(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
    folder: Folder,
) -> Result<u64, ProjectionError> {
    let group = folder.group();
    if viewer.admin {
        return unread_in(conn, project, viewer.operator, group, None);
    }
    Ok(unread_in(
        conn,
        project,
        viewer.operator,
        group,
        Some(Some(viewer.operator)),
    )? + unread_in(conn, project, viewer.operator, group, Some(None))?)
}

/// F1.4: how many dialogs the viewer sees in *Unanswered*.
pub fn unanswered_dialogs(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
) -> Result<u64, ProjectionError> {
    let value = if viewer.admin {
        counter(conn, &CounterKey::unanswered(project, None, None))?
    } else {
        counter(
            conn,
            &CounterKey::unanswered(project, None, Some(Some(viewer.operator))),
        )? + counter(conn, &CounterKey::unanswered(project, None, Some(None)))?
    };
    u64::try_from(value)
        .map_err(|_| ProjectionError::Corrupt(format!("negative unanswered counter: {value}")))
}

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
    "(SELECT id FROM idkey WHERE key = {a}.project_key)",
    "client_name",
    "client_phone",
    "client_email",
    "client_avatar_url",
    "client_external_id",
    "client_created_at",
    "last_activity_at",
    "last_message_preview",
    "last_message_author",
    "(SELECT id FROM idkey WHERE key = {a}.last_message_operator_key)",
    "(SELECT id FROM idkey WHERE key = {a}.last_message_channel_key)",
    "last_message_attachments",
    "last_message_at",
    "(SELECT id FROM idkey WHERE key = {a}.assignee_key)",
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
];

/// [`ROW_COLUMN_NAMES`] of the table aliased `alias`, for a select list (a keyed id is read
/// back from `idkey` as its token).
fn row_columns(alias: &str) -> String {
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

/// A keyed id column of [`row_columns`]: the token `idkey` holds, parsed; NULL is none.
fn keyed_id<T: std::str::FromStr>(
    r: &rusqlite::Row<'_>,
    index: usize,
    column: &str,
) -> Result<Option<T>, ProjectionError> {
    match r.get::<_, Option<String>>(index) {
        Ok(None) => Ok(None),
        Ok(Some(token)) => token
            .parse()
            .map(Some)
            .map_err(|_| ProjectionError::Corrupt(format!("{column}: not an id token: {token:?}"))),
        Err(error) => Err(ProjectionError::Corrupt(format!("{column}: {error}"))),
    }
}

const ROW_COLUMN_COUNT: usize = 27;

/// A row of [`ROW_COLUMNS`]; an id that is not 16 bytes or an unknown author code is
/// [`ProjectionError::Corrupt`], naming the column.
fn read_row(r: &rusqlite::Row<'_>) -> Result<DialogRow, ProjectionError> {
    let author: Option<i64> = r.get(10)?;
    let author_operator: Option<OperatorId> =
        keyed_id(r, 11, "dialog_row.last_message_operator_key")?;
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
        project: keyed_id(r, 1, "dialog_row.project_key")?.ok_or_else(|| {
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
        last_message_channel: keyed_id(r, 12, "dialog_row.last_message_channel_key")?,
        last_message_attachments: r.get(13)?,
        last_message_at: r.get::<_, Option<i64>>(14)?.map(Timestamp::from_micros),
        assignee: keyed_id(r, 15, "dialog_row.assignee_key")?,
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
    })
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
    rows.next()?.map(read_row).transpose()
}

/// F1.4 tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    All,
    /// The client waits: client messages no operator has read or answered.
    Unanswered,
    Mine,
    /// Assigned to someone else (admins only; empty for operators, F12.1).
    Others,
    Free,
}

/// F1.3 orders; pinned dialogs come first in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Last activity, newest first.
    Activity,
    /// Longest waiting for an answer first (F9); dialogs that wait for nobody follow by last
    /// activity.
    Processing,
    /// Client creation, newest first.
    Created,
}

impl Order {
    /// The sort keys between `pinned` and `dialog`, all descending. Written exactly as in the
    /// `dialog_row_*_by_*` indexes, so that SQLite reads pages in index order.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Order::Activity => &["d.last_activity_at"],
            Order::Created => &["d.client_created_at"],
            Order::Processing => &["d.processing_waiting", "d.processing_key"],
        }
    }
}

/// Where the previous page ended (keyset pagination: never OFFSET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pinned: bool,
    /// The order's keys (the second is 0 for one-key orders).
    keys: [i64; 2],
    /// The row's rowid: the last tie-breaker (registration order, see `dialog_row`).
    row: i64,
}

/// A page of the dialog list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub project: ProjectId,
    pub viewer: Viewer,
    pub tab: Tab,
    pub folder: Folder,
    /// F1.6: closed (archived) dialogs are hidden unless asked for.
    pub include_closed: bool,
    pub order: Order,
    /// F2.2–F2.4, checked by [`Filter::new`].
    pub filter: Filter,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// Most rows of one page.
pub const MAX_PAGE: usize = 500;

/// A list row with the viewer's own read state (F1.2, F4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub row: DialogRow,
    /// Client messages the viewer has not read.
    pub unread_messages: u64,
    /// Unread for the viewer: unread messages or marked unread.
    pub unread: bool,
    /// The viewer's unsent draft, shortened.
    pub draft: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<ListRow>,
    /// Pass as `after` for the next page; none when this was the last.
    pub next: Option<Cursor>,
}

/// The viewer's own dialogs (`?2`: the viewer's token), by key so that indexes serve it.
const MINE: &str = "d.assignee_key = (SELECT key FROM idkey WHERE id = ?2)";

/// F12.1, the one place where lists apply it: an admin sees every dialog of the project (no
/// condition), an operator the ones assigned to them (`?2`) and the free ones: one SQL
/// condition per alternative.
fn visibility(viewer: Viewer) -> &'static [&'static str] {
    if viewer.admin {
        &[]
    } else {
        &[MINE, "d.assignee_key IS NULL"]
    }
}

/// F1.1–F1.6, F2: one page of the dialog list as the viewer sees it: the tab, the folder, the
/// archive switch and the filter, in the chosen order, after the cursor.
pub fn list_dialogs(conn: &Connection, query: &ListQuery) -> Result<Page, ProjectionError> {
    let narrowing = narrowing(conn, query)?;
    let (sql, values, limit) = list_sql(query, &narrowing);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    let mut page = Vec::with_capacity(limit);
    while let Some(r) = rows.next()? {
        let row = read_row(r)?;
        let inbound_read: i64 = r.get(ROW_COLUMN_COUNT)?;
        let marked_unread: bool = r.get(ROW_COLUMN_COUNT + 1)?;
        let unread_messages = row
            .inbound_count
            .saturating_sub(u64::try_from(inbound_read).unwrap_or(0));
        let place = Cursor {
            pinned: r.get(ROW_COLUMN_COUNT + 2)?,
            keys: [r.get(ROW_COLUMN_COUNT + 3)?, r.get(ROW_COLUMN_COUNT + 4)?],
            row: r.get(ROW_COLUMN_COUNT + 6)?,
        };
        let row = ListRow {
            unread: marked_unread || unread_messages > 0,
            unread_messages,
            draft: crate::compact::optional_column(r, ROW_COLUMN_COUNT + 5)?,
            row,
        };
        page.push((place, row));
    }
    // The query picked the page's rows in order; the rows are read after (see `list_sql`) and
    // put back in that order here: pinned first, then the keys, then the rowid, descending.
    page.sort_unstable_by(|(a, _), (b, _)| {
        (b.pinned, b.keys, b.row).cmp(&(a.pinned, a.keys, a.row))
    });
    let next = match page.last() {
        Some((place, _)) if page.len() == limit => Some(place.clone()),
        _ => None,
    };
    Ok(Page {
        rows: page.into_iter().map(|(_, row)| row).collect(),
        next,
    })
}

/// SQLite's plan for a list page (`EXPLAIN QUERY PLAN`, one line per step): how to check that
/// a query reads in index order (no `USE TEMP B-TREE FOR ORDER BY`).
pub fn explain_list_dialogs(
    conn: &Connection,
    query: &ListQuery,
) -> Result<Vec<String>, ProjectionError> {
    let narrowing = narrowing(conn, query)?;
    let (sql, values, _) = list_sql(query, &narrowing);
    let lines = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
        .query_map(rusqlite::params_from_iter(values), |r| {
            r.get::<_, String>(3)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines)
}

/// Most activity rows a date range may hold to be looked up rather than scanned for.
pub const MAX_ACTIVITY_LOOKUP: i64 = 2_000;

/// Most dialogs a required tag or the folder may hold to be read from the membership rows
/// rather than scanned for in the order's index.
pub const MAX_MEMBER_LOOKUP: i64 = 2_000;

/// How a page can be narrowed down before it is sorted, when the filter requires something few
/// dialogs have (decided from the data, since SQLite has no statistics here).
#[derive(Debug, Default)]
struct Narrowing {
    /// F2.2: the client numbers that hold the required pattern.
    numbers: Option<Vec<u64>>,
    /// F2.3: the activity buckets of a required date range that few messages fall in.
    active: Option<(i64, i64)>,
    /// F2.3 / F1.5: a required tag or the folder that few dialogs are in: (the membership
    /// table, its member column, the member's stored id).
    member: Option<Member>,
}

/// A membership a page can be read from: (table, member column, the member's stored id).
type Member = (&'static str, &'static str, [u8; 16]);

fn narrowing(conn: &Connection, query: &ListQuery) -> Result<Narrowing, ProjectionError> {
    let mut narrowing = Narrowing::default();
    if let Some(digits) = query.filter.required_number() {
        let max: i64 = conn
            .prepare_cached("SELECT last FROM project_clientnumber WHERE project = ?1")?
            .query_row([query.project.token()], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        narrowing.numbers = number_candidates(digits, u64::try_from(max).unwrap_or(0));
        if narrowing.numbers.is_some() {
            return Ok(narrowing);
        }
    }
    if let Some((first, last)) = query.filter.required_activity() {
        // Every project's rows count: a busy range elsewhere only means scanning here.
        let rows: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM dialog_activity_by_bucket
                     WHERE bucket BETWEEN ?1 AND ?2 LIMIT ?3 + 1)",
            )?
            .query_row(params![first, last, MAX_ACTIVITY_LOOKUP], |r| r.get(0))?;
        if rows <= MAX_ACTIVITY_LOOKUP {
            narrowing.active = Some((first, last));
            return Ok(narrowing);
        }
    }
    // The rarest required membership, counted up to the limit in its `(member, dialog)` index
    // (rows of deleted or merged-away dialogs count too: they are read and dropped).
    let mut members: Vec<Member> = query
        .filter
        .required_tags()
        .iter()
        .map(|t| ("dialog_tag", "tag", t.blob()))
        .collect();
    if let Folder::Custom(folder) = query.folder {
        members.push(("dialog_folder", "folder", folder.blob()));
    }
    let mut rarest: Option<(i64, Member)> = None;
    for (table, column, token) in members {
        // `table` and `column` are this module's literals, never input.
        let rows: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} = ?1 LIMIT ?2 + 1)"
            ))?
            .query_row(params![token, MAX_MEMBER_LOOKUP], |r| r.get(0))?;
        if rows <= MAX_MEMBER_LOOKUP && rarest.as_ref().is_none_or(|(least, _)| rows < *least) {
            rarest = Some((rows, (table, column, token)));
        }
    }
    narrowing.member = rarest.map(|(_, member)| member);
    Ok(narrowing)
}

/// The SQL of a list page, its bound values and the page size.
///
/// Where the assignee decides (the *Mine* and *Free* tabs, an operator's own-or-free view) in
/// the activity order, the page reads `dialog_row_assignee_by_activity`, named with
/// `INDEXED BY` because without statistics SQLite prefers the wider index once a cursor adds a
/// range. An operator's view is then two arms, their own dialogs and the free ones (four with
/// the archive switch: each also open and closed), each read in index order up to `limit` rows
/// and merged (`UNION ALL … ORDER BY`), instead of one scan that skips every dialog of the
/// other operators.
///
/// `narrowing`: the client numbers the filter allows, read through `dialog_row_by_number`, or
/// a date range few messages fall in, whose dialogs are read by id; either way the few rows
/// are then sorted.
///
/// Two steps: the arms select only rowids and sort keys (`rid`, `pinned`, `k1`, `k2`), so
/// that what sorts or merges candidates carries four integers; the page's ≤ `limit` rows are
/// then read by rowid and joined with the viewer's read state and draft. Reading and joining
/// every candidate before the sort cost 2.3× the time on the full-size bench's rare-tag page
/// (558 members: 2.8 → 1.3 ms).
fn list_sql(
    query: &ListQuery,
    narrowing: &Narrowing,
) -> (String, Vec<rusqlite::types::Value>, usize) {
    use rusqlite::types::Value;
    let numbers = narrowing.numbers.as_deref();
    let active = narrowing.active;
    let member = narrowing.member.as_ref();
    let narrowed = numbers.is_some() || active.is_some() || member.is_some();
    let keys = query.order.keys();
    let me = query.viewer.operator.token();
    let by_assignee = !narrowed
        && query.order == Order::Activity
        && (matches!(query.tab, Tab::Mine | Tab::Free) || !query.viewer.admin);
    // An arm picks rowids and sort keys only; the page's rows are read and joined after.
    let select = format!(
        "SELECT d.rowid AS rid, d.pinned AS pinned, {}
         FROM dialog_row d{}
         WHERE d.project_key = (SELECT key FROM idkey WHERE id = ?1)",
        if keys.len() == 1 {
            format!("{} AS k1, 0 AS k2", keys[0])
        } else {
            format!("{} AS k1, {} AS k2", keys[0], keys[1])
        },
        if numbers.is_some() {
            " INDEXED BY dialog_row_by_number"
        } else if active.is_some() || member.is_some() {
            // No index: the dialogs are read by rowid (which NOT INDEXED still allows), the
            // key the activity and membership rows hold.
            " NOT INDEXED"
        } else if by_assignee {
            " INDEXED BY dialog_row_assignee_by_activity"
        } else {
            ""
        }
    );
    // The conditions after `project`, shared by every arm.
    let mut sql = String::new();
    // ?1, ?2: the project's and the viewer's tokens (`idkey`).
    let mut values = vec![Value::Text(query.project.token()), Value::Text(me)];
    sql.push_str(" AND d.deleted = 0 AND d.merged_into IS NULL");
    match query.tab {
        Tab::All => {}
        Tab::Unanswered => sql.push_str(" AND d.unanswered = 1"),
        Tab::Mine => {
            sql.push_str(" AND ");
            sql.push_str(MINE);
        }
        Tab::Others => sql.push_str(
            " AND d.assignee_key IS NOT NULL
              AND d.assignee_key IS NOT (SELECT key FROM idkey WHERE id = ?2)",
        ),
        Tab::Free => sql.push_str(" AND d.assignee_key IS NULL"),
    }
    match query.folder {
        Folder::All => {}
        Folder::WithOperator => sql.push_str(" AND d.bot_paused = 1"),
        Folder::Custom(folder) => {
            values.push(Value::Blob(folder.blob().to_vec()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM dialog_folder f
                              WHERE f.dialog = d.rowid AND f.folder = ?{})",
                values.len()
            ));
        }
    }
    if let Some(numbers) = numbers {
        let first = values.len() + 1;
        values.extend(
            numbers
                .iter()
                .map(|n| Value::Integer(i64::try_from(*n).unwrap_or(i64::MAX))),
        );
        let placeholders: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
        if placeholders.is_empty() {
            sql.push_str(" AND 0");
        } else {
            sql.push_str(&format!(
                " AND d.client_number IN ({})",
                placeholders.join(", ")
            ));
        }
    }
    if let Some((first, last)) = active {
        values.push(Value::Integer(first));
        values.push(Value::Integer(last));
        sql.push_str(&format!(
            " AND d.rowid IN (SELECT a.dialog FROM dialog_activity_by_bucket a
                               WHERE a.bucket BETWEEN ?{} AND ?{})",
            values.len() - 1,
            values.len()
        ));
    }
    if let Some((table, column, id)) = member {
        values.push(Value::Blob(id.to_vec()));
        sql.push_str(&format!(
            " AND d.rowid IN (SELECT m.dialog FROM {table} m WHERE m.{column} = ?{})",
            values.len()
        ));
    }
    query.filter.push_sql(&mut sql, &mut values);
    let mut columns = vec!["d.pinned"];
    columns.extend_from_slice(keys);
    columns.push("d.rowid");
    if let Some(cursor) = &query.after {
        values.push(Value::Integer(i64::from(cursor.pinned)));
        values.extend(
            cursor
                .keys
                .iter()
                .take(keys.len())
                .map(|k| Value::Integer(*k)),
        );
        values.push(Value::Integer(cursor.row));
        let first = values.len() + 1 - columns.len();
        let placeholders: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
        sql.push_str(&format!(
            " AND ({}) < ({})",
            columns.join(", "),
            placeholders.join(", ")
        ));
    }
    let limit = query.limit.clamp(1, MAX_PAGE);
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(500)));
    let order = format!(
        " ORDER BY {} DESC LIMIT ?{}",
        columns.join(" DESC, "),
        values.len()
    );
    // The `closed` ranges read (see the module doc): the default view's, or both in turn for
    // the archive switch; a narrowed page sorts its few rows whatever their state.
    let closed: &[&str] = if !query.include_closed {
        &[" AND d.closed = 0"]
    } else if !narrowed {
        &[" AND d.closed = 0", " AND d.closed = 1"]
    } else {
        &[""]
    };
    // *Mine* and *Free* hold only dialogs every viewer may see (F12.1): no second condition on
    // the assignee, which would make an assignee-index arm read the other arm's rows.
    let visible = if matches!(query.tab, Tab::Mine | Tab::Free) {
        &[][..]
    } else {
        visibility(query.viewer)
    };
    let alternatives: Vec<String> = if visible.is_empty() {
        vec![String::new()]
    } else if by_assignee {
        visible.iter().map(|v| format!(" AND {v}")).collect()
    } else {
        vec![format!(" AND ({})", visible.join(" OR "))]
    };
    let mut arms = Vec::with_capacity(closed.len() * alternatives.len());
    for state in closed {
        for alternative in &alternatives {
            arms.push(format!("{select}{state}{sql}{alternative}{order}"));
        }
    }
    let picks = if arms.len() == 1 {
        arms.swap_remove(0)
    } else {
        // Each arm read in its index order up to `limit` rows; merged by pinned, the two keys,
        // then the rowid.
        let arms: Vec<String> = arms
            .iter()
            .map(|arm| format!("SELECT * FROM ({arm})"))
            .collect();
        format!(
            "{} ORDER BY pinned DESC, k1 DESC, k2 DESC, rid DESC LIMIT ?{}",
            arms.join(" UNION ALL "),
            values.len()
        )
    };
    // The ≤ `limit` picked rows are read and joined with the viewer's read state and draft
    // once the page is known: a page that sorts many candidates (a rare tag's members, the
    // archive switch's arms) reads and joins 50 rows, not all of them. `list_dialogs` puts
    // them in order.
    let sql = format!(
        "SELECT {}, coalesce(r.inbound_read, 0), coalesce(r.marked_unread, 0),
                p.pinned, p.k1, p.k2, dr.preview, p.rid
         FROM ({picks}) p
         CROSS JOIN dialog_row shown ON shown.rowid = p.rid
         LEFT JOIN dialogoperator_read r
             ON r.dialog = p.rid AND r.operator = (SELECT key FROM idkey WHERE id = ?2)
         LEFT JOIN dialogoperator_draft dr
             ON dr.dialog = p.rid AND dr.operator = (SELECT key FROM idkey WHERE id = ?2)",
        row_columns("shown")
    );
    (sql, values, limit)
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

/// F2.5: tags with the number of dialogs carrying each, most used first.
pub fn tag_usage(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<(TagId, u64)>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT scope, value FROM counter
         WHERE project = ?1 AND operator = x'' AND kind = 3
         ORDER BY value DESC, scope",
    )?;
    let mut found = statement.query([project.blob()])?;
    let mut rows = Vec::new();
    while let Some(r) = found.next()? {
        let tag: TagId = blobid::get_required(r, 0, "counter.scope")?;
        rows.push((tag, r.get::<_, i64>(1)?));
    }
    rows.into_iter()
        .map(|(tag, count)| {
            let count = u64::try_from(count)
                .map_err(|_| ProjectionError::Corrupt(format!("negative tag count {count}")))?;
            Ok((tag, count))
        })
        .collect()
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

/// Every counter row, for tests and the rebuild comparison: (project, operator or '', name) →
/// value.
pub fn all_counters(
    conn: &Connection,
) -> Result<BTreeMap<(String, String, String), i64>, ProjectionError> {
    let mut statement =
        conn.prepare("SELECT project, operator, kind, scope, value FROM counter")?;
    let mut found = statement.query([])?;
    let mut rows = BTreeMap::new();
    while let Some(r) = found.next()? {
        let key = CounterKey::from_stored(
            &r.get::<_, Vec<u8>>(0)?,
            &r.get::<_, Vec<u8>>(1)?,
            r.get(2)?,
            &r.get::<_, Vec<u8>>(3)?,
        )?;
        rows.insert(key.row(), r.get(4)?);
    }
    Ok(rows)
}

/// The counters computed from scratch from the stored rows (O(dialogs)): what the incremental
/// counters must equal at all times.
pub fn recount(
    conn: &Connection,
) -> Result<BTreeMap<(String, String, String), i64>, ProjectionError> {
    let mut dialogs = Vec::new();
    {
        let mut statement = conn.prepare(
            "SELECT dialog, (SELECT id FROM idkey WHERE key = project_key) FROM dialog_row",
        )?;
        let mut rows = statement.query([])?;
        while let Some(r) = rows.next()? {
            let dialog: DialogId = blobid::get_required(r, 0, "dialog_row.dialog")?;
            let project: ProjectId =
                keyed_id(r, 1, "dialog_row.project_key")?.ok_or_else(|| {
                    ProjectionError::Corrupt("dialog_row.project_key: no such key".to_owned())
                })?;
            dialogs.push((dialog, project));
        }
    }
    let mut totals = BTreeMap::new();
    let tx = conn.unchecked_transaction()?;
    let mut changes = Vec::new();
    for (dialog, project) in dialogs {
        if let Some(inputs) = Inputs::load(&tx, &dialog.blob())? {
            inputs.contribute(project, 1, &mut changes);
        }
        for (key, value) in changes.drain(..) {
            *totals.entry(key.row()).or_insert(0) += value;
        }
    }
    totals.retain(|_, v| *v != 0);
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ProjectionStore, open_reader};
    use crate::test_support::dialog_records;

    fn registered() -> Event {
        Event::DialogRegistered(DialogRegistered {
            profile: ClientProfile::default(),
            source: Source::default(),
            identity: None,
        })
    }

    fn query(project: ProjectId, filter: Filter) -> ListQuery {
        ListQuery {
            project,
            viewer: Viewer {
                operator: OperatorId::new(),
                admin: true,
            },
            tab: Tab::All,
            folder: Folder::All,
            include_closed: true,
            order: Order::Created,
            filter,
            after: None,
            limit: MAX_PAGE,
        }
    }

    #[test]
    fn client_numbers_count_per_project_and_match_by_substring() {
        let (project, other) = (ProjectId::new(), ProjectId::new());
        let dialogs: Vec<DialogId> = (0..210).map(|_| DialogId::new()).collect();
        let mut events: Vec<(DialogId, Event)> =
            dialogs.iter().map(|d| (*d, registered())).collect();
        // Registered again (a replayed command): no new number.
        events.insert(50, (dialogs[3], registered()));
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        store.apply(dialog_records(project, events)).expect("apply");
        let mut elsewhere = dialog_records(other, vec![(DialogId::new(), registered())]);
        elsewhere[0].seq = 1_000;
        store.apply(elsewhere).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let filter = Filter::new(Expr::all([Condition::ClientNumber("10".into())])).expect("valid");
        let page = list_dialogs(&conn, &query(project, filter)).expect("list");
        let mut numbers: Vec<u64> = page.rows.iter().map(|r| r.row.client_number).collect();
        numbers.sort_unstable();
        let mut expected = vec![10, 110, 210];
        expected.extend(100..=109);
        expected.sort_unstable();
        assert_eq!(numbers, expected);
        let numbered = query(
            project,
            Filter::new(Expr::all([
                Condition::ClientNumber("10".into()),
                Condition::NoTags,
            ]))
            .expect("valid"),
        );
        let plan = explain_list_dialogs(&conn, &numbered)
            .expect("plan")
            .join("\n");
        assert!(
            plan.contains("USING INDEX dialog_row_by_number (project_key=? AND client_number=?)"),
            "few numbers hold the pattern: they are looked up, {plan}"
        );
        let page = list_dialogs(&conn, &numbered).expect("list");
        assert_eq!(page.rows.len(), expected.len());
        // Inside an any-of group the pattern is checked on every row instead.
        let either = Filter::new(Expr::Any(vec![
            Expr::Is(Condition::ClientNumber("10".into())),
            Expr::Is(Condition::ClientNumber("2".into())),
        ]))
        .expect("valid");
        let page = list_dialogs(&conn, &query(project, either)).expect("list");
        let with_two = (1..=210u64)
            .filter(|n| n.to_string().contains("10") || n.to_string().contains('2'))
            .count();
        assert_eq!(page.rows.len(), with_two);
        let first = dialog_row(&conn, dialogs[0]).expect("row").expect("a row");
        assert_eq!(first.client_number, 1);
        let last = dialog_row(&conn, dialogs[209])
            .expect("row")
            .expect("a row");
        assert_eq!(
            last.client_number, 210,
            "the repeated registration took no number"
        );
        let page = list_dialogs(&conn, &query(other, Filter::default())).expect("list");
        assert_eq!(
            page.rows
                .iter()
                .map(|r| r.row.client_number)
                .collect::<Vec<_>>(),
            vec![1],
            "numbers count per project"
        );
    }

    #[test]
    fn ties_list_newest_registration_first_across_pages() {
        let project = ProjectId::new();
        // Registered in this order, all at the same moment: every order key ties.
        let dialogs: Vec<DialogId> = (0..7).map(|_| DialogId::new()).collect();
        let mut records = dialog_records(
            project,
            dialogs.iter().map(|d| (*d, registered())).collect(),
        );
        for record in &mut records {
            let mut envelope = decode_batch(&record.batch).expect("decode").remove(0);
            envelope.occurred_at = Timestamp::from_micros(1_000);
            record.batch = encode_batch(&[envelope]).expect("encode");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        store.apply(records).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let newest_first: Vec<DialogId> = dialogs.iter().rev().copied().collect();
        for order in [Order::Activity, Order::Created, Order::Processing] {
            for include_closed in [false, true] {
                let mut q = ListQuery {
                    order,
                    include_closed,
                    limit: 3,
                    ..query(project, Filter::default())
                };
                let mut seen = Vec::new();
                loop {
                    let page = list_dialogs(&conn, &q).expect("list");
                    seen.extend(page.rows.iter().map(|r| r.row.dialog));
                    match page.next {
                        Some(next) => q.after = Some(next),
                        None => break,
                    }
                }
                assert_eq!(seen, newest_first, "{order:?}, archive {include_closed}");
            }
        }
    }

    #[test]
    fn a_date_range_few_messages_fall_in_is_looked_up() {
        let project = ProjectId::new();
        let (quiet, busy) = (DialogId::new(), DialogId::new());
        let channel = ChannelId::new();
        let message = |at: i64| {
            Event::MessageReceived(MessageReceived {
                message: MessageId::new(),
                channel,
                external_id: MessageId::new().token(),
                text: "hi".into(),
                attachments: vec![],
                reply_to: None,
                sent_at: Timestamp::from_micros(at),
            })
        };
        let mut all = dialog_records(
            project,
            vec![
                (quiet, registered()),
                (busy, registered()),
                (quiet, message(0)),
            ],
        );
        // Moments: the records helper stamps each with its sequence (µs); move the busy
        // dialog's message a day later.
        let mut later = dialog_records(project, vec![(busy, message(0))]);
        later[0].seq = 10;
        let mut envelope = decode_batch(&later[0].batch).expect("decode").remove(0);
        envelope.occurred_at = Timestamp::from_micros(ACTIVITY_BUCKET_MICROS * 96);
        later[0].batch = encode_batch(&[envelope]).expect("encode");
        all.extend(later);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        store.apply(all).expect("apply");
        let conn = crate::runtime::open_reader_for::<DialogsProjection>(&path).expect("reader");
        let first_day = Condition::ActiveBetween {
            from: Timestamp::from_micros(0),
            to: Timestamp::from_micros(ACTIVITY_BUCKET_MICROS * 96),
        };
        for expr in [
            Expr::all([first_day.clone()]),
            Expr::Any(vec![Expr::Is(first_day.clone())]),
        ] {
            let q = query(project, Filter::new(expr.clone()).expect("valid"));
            let page = list_dialogs(&conn, &q).expect("list");
            let found: Vec<DialogId> = page.rows.iter().map(|r| r.row.dialog).collect();
            assert_eq!(found, vec![quiet], "{expr:?}");
            let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
            let looked_up = plan.contains("SEARCH d USING INTEGER PRIMARY KEY (rowid=?)");
            assert_eq!(looked_up, matches!(expr, Expr::All(_)), "{plan}");
        }
    }

    #[test]
    fn a_tag_or_folder_few_dialogs_are_in_is_looked_up() {
        let project = ProjectId::new();
        let (common, rare) = (TagId::new(), TagId::new());
        let (big, small) = (FolderId::new(), FolderId::new());
        let dialogs: Vec<DialogId> = (0..=MAX_MEMBER_LOOKUP).map(|_| DialogId::new()).collect();
        let mut events = Vec::new();
        for (i, dialog) in dialogs.iter().enumerate() {
            events.push((*dialog, registered()));
            let mut tags = vec![common];
            let mut folders = vec![big];
            if i % 700 == 1 {
                tags.push(rare);
                folders.push(small);
            }
            events.push((*dialog, Event::TagsAdded(TagsAdded { tags })));
            events.push((*dialog, Event::FoldersJoined(FoldersJoined { folders })));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        store.apply(dialog_records(project, events)).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let tagged =
            |tags: Vec<TagId>| Filter::new(Expr::all([Condition::TagsAll(tags)])).expect("valid");
        // Newest registration first: the rare ones are dialogs 1401, 701 and 1.
        let rare_ones = vec![dialogs[1401], dialogs[701], dialogs[1]];
        for (folder, filter, looked_up) in [
            (Folder::All, tagged(vec![rare]), Some("dialog_tag_by_tag")),
            (
                Folder::All,
                tagged(vec![common, rare]),
                Some("dialog_tag_by_tag"),
            ),
            (
                Folder::Custom(small),
                tagged(vec![common]),
                Some("dialog_folder_by_folder"),
            ),
            (
                Folder::Custom(big),
                tagged(vec![rare]),
                Some("dialog_tag_by_tag"),
            ),
            (Folder::Custom(big), tagged(vec![common]), None),
            (Folder::All, tagged(vec![common]), None),
        ] {
            for include_closed in [true, false] {
                let q = ListQuery {
                    folder,
                    include_closed,
                    ..query(project, filter.clone())
                };
                let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
                match looked_up {
                    Some(index) => {
                        assert!(plan.contains(index), "{plan}");
                        assert!(
                            plan.contains("SEARCH d USING INTEGER PRIMARY KEY (rowid=?)"),
                            "{plan}"
                        );
                        let page = list_dialogs(&conn, &q).expect("list");
                        let found: Vec<DialogId> = page.rows.iter().map(|r| r.row.dialog).collect();
                        assert_eq!(found, rare_ones, "{folder:?} {filter:?}");
                    }
                    None => {
                        assert!(plan.contains("SEARCH d USING INDEX dialog_row_list_by_created"));
                        let page = list_dialogs(&conn, &q).expect("list");
                        assert_eq!(page.rows.len(), MAX_PAGE, "a full page");
                        assert_eq!(page.rows[0].row.dialog, dialogs[dialogs.len() - 1]);
                    }
                }
            }
        }
    }

    #[test]
    fn list_pages_read_in_index_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        drop(ProjectionStore::open(&path, DialogsProjection::default()).expect("open"));
        let conn = open_reader(&path).expect("reader");
        let project = ProjectId::new();
        let cursor = Cursor {
            pinned: false,
            keys: [1, 2],
            row: 7,
        };
        for order in [Order::Activity, Order::Created, Order::Processing] {
            for include_closed in [false, true] {
                for after in [None, Some(cursor.clone())] {
                    let tagged = Filter::new(Expr::all([
                        Condition::AnyTag,
                        Condition::Unanswered,
                        Condition::Channels(vec![ChannelId::new()]),
                    ]))
                    .expect("valid");
                    for filter in [Filter::default(), tagged] {
                        let q = ListQuery {
                            order,
                            include_closed,
                            after: after.clone(),
                            ..query(project, filter)
                        };
                        let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
                        // The default view reads one range of the order's index, the archive
                        // switch two (open, closed); either way in index order: the only sorts
                        // are of the ≤ `limit` rows an arm returned, to merge the arms.
                        let arms = if include_closed { 2 } else { 1 };
                        let index = format!(
                            "SEARCH d USING INDEX dialog_row_list_by_{}",
                            match order {
                                Order::Activity => "activity",
                                Order::Created => "created",
                                Order::Processing => "processing",
                            }
                        );
                        assert_eq!(plan.matches(&index).count(), arms, "{order:?}: {plan}");
                        assert_eq!(
                            plan.matches("TEMP B-TREE").count(),
                            plan.matches("SCAN (subquery-").count(),
                            "{order:?}: {plan}"
                        );
                        assert!(plan.matches("SCAN (subquery-").count() <= arms, "{plan}");
                        if after.is_some() {
                            // The cursor seeks: pages deep in the list cost what the first does
                            // (on the order's keys; the rowid, the tie-breaker, is checked on
                            // the rows tied with the cursor's).
                            assert!(plan.contains("AND (pinned,"), "{plan}");
                            assert!(plan.contains(")<(?"), "{plan}");
                        }
                        // An operator's view in the activity order: their own and the free
                        // dialogs (open, and closed with the archive switch), each read in the
                        // assignee index from the cursor on.
                        let operator = ListQuery {
                            viewer: Viewer {
                                operator: OperatorId::new(),
                                admin: false,
                            },
                            order: Order::Activity,
                            ..q
                        };
                        let plan = explain_list_dialogs(&conn, &operator)
                            .expect("plan")
                            .join("\n");
                        let seek = if after.is_some() {
                            "(project_key=? AND assignee_key=? AND closed=? AND (pinned,last_activity_at)<("
                        } else {
                            "(project_key=? AND assignee_key=? AND closed=?)"
                        };
                        let arm = format!("USING INDEX dialog_row_assignee_by_activity {seek}");
                        assert_eq!(plan.matches(&arm).count(), 2 * arms, "{plan}");
                        // The page's rows are read by rowid once picked.
                        assert!(
                            plan.contains("SEARCH shown USING INTEGER PRIMARY KEY (rowid=?)"),
                            "{plan}"
                        );
                        // *Mine* (or *Free*) as an operator: one arm per `closed` range.
                        let mine = ListQuery {
                            tab: Tab::Mine,
                            ..operator
                        };
                        let plan = explain_list_dialogs(&conn, &mine).expect("plan").join("\n");
                        assert_eq!(plan.matches(&arm).count(), arms, "{plan}");
                    }
                }
            }
        }
    }

    #[test]
    fn ids_round_trip_through_blob_columns_and_a_malformed_one_is_an_error() {
        let project = ProjectId::new();
        let (dialog, survivor) = (DialogId::new(), DialogId::new());
        let (operator, channel) = (OperatorId::new(), ChannelId::new());
        let (pipeline, stage) = (PipelineId::new(), StageId::new());
        let (tag, folder, list) = (TagId::new(), FolderId::new(), ListId::new());
        let events = vec![
            (survivor, registered()),
            (dialog, registered()),
            (
                dialog,
                Event::DialogAssigned(DialogAssigned {
                    operator,
                    previous: None,
                }),
            ),
            (
                dialog,
                Event::MessageQueued(MessageQueued {
                    message: MessageId::new(),
                    channel,
                    author: MessageAuthor::Operator(operator),
                    text: "hello".into(),
                    attachments: vec![],
                    reply_to: None,
                    template: None,
                }),
            ),
            (
                dialog,
                Event::DealStageChanged(DealStageChanged {
                    pipeline,
                    stage,
                    previous: None,
                }),
            ),
            (dialog, Event::TagsAdded(TagsAdded { tags: vec![tag] })),
            (
                dialog,
                Event::FoldersJoined(FoldersJoined {
                    folders: vec![folder],
                }),
            ),
            (
                dialog,
                Event::ListsJoined(ListsJoined { lists: vec![list] }),
            ),
            (
                dialog,
                Event::DraftSaved(DraftSaved {
                    operator,
                    text: "draft".into(),
                }),
            ),
            (
                dialog,
                Event::DialogMergedInto(DialogMergedInto { survivor }),
            ),
        ];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        store.apply(dialog_records(project, events)).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let row = dialog_row(&conn, dialog).expect("row").expect("a row");
        assert_eq!(row.dialog, dialog);
        assert_eq!(row.project, project);
        assert_eq!(row.assignee, Some(operator));
        assert_eq!(
            row.last_message_author,
            Some(LastAuthor::Operator(operator))
        );
        assert_eq!(row.last_message_channel, Some(channel));
        assert_eq!(row.merged_into, Some(survivor));
        // Every id column holds the 16 bytes, or a small key of `idkey`; the authors their codes.
        let stored: Vec<(String, i64)> = conn
            .query_row(
                "SELECT typeof(dialog), length(dialog), typeof(merged_into), length(merged_into),
                        typeof(deal_pipeline), length(deal_pipeline),
                        typeof(deal_stage), length(deal_stage)
                 FROM dialog_row WHERE dialog = ?1",
                [dialog.blob()],
                |r| {
                    (0..4)
                        .map(|i| Ok((r.get(2 * i)?, r.get(2 * i + 1)?)))
                        .collect::<rusqlite::Result<Vec<_>>>()
                },
            )
            .expect("columns");
        assert_eq!(stored, vec![("blob".to_owned(), 16); 4]);
        let keyed: Vec<String> = conn
            .query_row(
                "SELECT (SELECT id FROM idkey WHERE key = project_key),
                        (SELECT id FROM idkey WHERE key = assignee_key),
                        (SELECT id FROM idkey WHERE key = last_message_operator_key),
                        (SELECT id FROM idkey WHERE key = last_message_channel_key)
                 FROM dialog_row WHERE dialog = ?1",
                [dialog.blob()],
                |r| (0..4).map(|i| r.get(i)).collect(),
            )
            .expect("keyed");
        assert_eq!(
            keyed,
            vec![
                project.token(),
                operator.token(),
                operator.token(),
                channel.token()
            ]
        );
        let authors: (i64, i64) = conn
            .query_row(
                "SELECT last_message_author, last_sender FROM dialog_row WHERE dialog = ?1",
                [dialog.blob()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("authors");
        assert_eq!(authors, (AUTHOR_OPERATOR, AUTHOR_OPERATOR));
        let (pipeline_stored, stage_stored): (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT deal_pipeline, deal_stage FROM dialog_row WHERE dialog = ?1",
                [dialog.blob()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("deal");
        assert_eq!(pipeline_stored, pipeline.as_uuid().as_bytes());
        assert_eq!(stage_stored, stage.as_uuid().as_bytes());
        // The membership and per-operator tables hold ids as blobs too.
        assert_eq!(dialog_tags(&conn, dialog).expect("tags"), vec![tag]);
        assert_eq!(
            dialog_folders(&conn, dialog).expect("folders"),
            vec![folder]
        );
        for (table, column, id) in [
            ("dialog_tag", "tag", tag.blob()),
            ("dialog_folder", "folder", folder.blob()),
            ("dialog_list", "list", list.blob()),
        ] {
            assert_eq!(
                crate::test_support::stored_bytes(&conn, table, column),
                vec![id.to_vec()],
                "{table}.{column}"
            );
        }
        // Channels and operators, a few per project, as their `idkey` keys.
        for (table, column, token) in [
            ("dialog_channel", "channel", channel.token()),
            ("dialogoperator_read", "operator", operator.token()),
            ("dialogoperator_draft", "operator", operator.token()),
        ] {
            let stored: Vec<String> = conn
                .prepare(&format!(
                    "SELECT DISTINCT k.id FROM {table} t JOIN idkey k ON k.key = t.{column}"
                ))
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .expect("keys");
            assert_eq!(stored, vec![token], "{table}.{column}");
        }
        assert!(!is_unread(&conn, dialog, operator).expect("unread"));

        // A malformed id or an unknown author code is an error naming the column, never a panic.
        let writer = rusqlite::Connection::open(&path).expect("writer");
        let channel_key = "(SELECT last_message_channel_key FROM dialog_row WHERE dialog = ?1)";
        for (change, undo, column) in [
            (
                format!("UPDATE idkey SET id = 'not an id' WHERE key = {channel_key}"),
                format!("UPDATE idkey SET id = ?2 WHERE key = {channel_key}"),
                "dialog_row.last_message_channel_key",
            ),
            (
                "UPDATE dialog_row SET last_message_author = 9 WHERE dialog = ?1".to_owned(),
                "UPDATE dialog_row SET last_message_author = 2 WHERE dialog = ?1".to_owned(),
                "dialog_row.last_message_author",
            ),
            (
                "UPDATE dialog_row SET last_message_operator_key = NULL WHERE dialog = ?1"
                    .to_owned(),
                "UPDATE dialog_row SET last_message_operator_key = assignee_key
                 WHERE dialog = ?1"
                    .to_owned(),
                "dialog_row.last_message_operator_key",
            ),
            (
                "UPDATE dialog_row SET project_key = -project_key WHERE dialog = ?1".to_owned(),
                "UPDATE dialog_row SET project_key = -project_key WHERE dialog = ?1".to_owned(),
                "dialog_row.project_key",
            ),
        ] {
            writer.execute(&change, [dialog.blob()]).expect("corrupt");
            match dialog_row(&conn, dialog) {
                Err(ProjectionError::Corrupt(message)) => {
                    assert!(message.starts_with(column), "{change}: {message}");
                }
                other => panic!("{change}: {other:?}"),
            }
            let params: Vec<rusqlite::types::Value> = if undo.contains("?2") {
                vec![dialog.blob().to_vec().into(), channel.token().into()]
            } else {
                vec![dialog.blob().to_vec().into()]
            };
            writer
                .execute(&undo, rusqlite::params_from_iter(params))
                .expect("restore");
            assert_eq!(dialog_row(&conn, dialog).expect("row"), Some(row.clone()));
        }
        writer
            .execute("UPDATE dialog_tag SET tag = x'00'", [])
            .expect("corrupt");
        match dialog_tags(&conn, dialog) {
            Err(ProjectionError::Corrupt(message)) => {
                assert!(message.starts_with("dialog_tag.tag: "), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn preview_keeps_whole_characters() {
        let long = "я".repeat(PREVIEW_CHARS + 5);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS);
        assert_eq!(preview("short"), "short");
    }
}
