//! The dialogs read model's tables and indexes, the stored codes its columns hold and the SQL
//! functions its list queries call.
//!
//! Times are microseconds since the epoch. Ids are the UUID's 16 bytes in a BLOB
//! (`crate::blobid`), except where they are looked up or formatted as text: `idkey`,
//! `project_clientnumber` and the counters keep 32-hex tokens. Every table keyed by a dialog
//! other than `dialog_row` holds the dialog's `dialog_row` rowid (1–4 bytes) instead of its id.
//! - `dialog_row`: dialog → its list row (client, last message, flags, assignee, *Unanswered*,
//!   SLA wait start) and the filtered-by columns: the client's number, the last message's
//!   author (`AUTHOR_*`), the funnel block, the deal's pipeline and stage, the last outbound
//!   message with its channel and, while it is failed, why and when (F6.5, F6.6). The project, the
//!   assignee and the last message's operator and channel are their `idkey` keys, read back
//!   with the row by key; the indexes hold the project's and assignee's keys and end with the
//!   rowid;
//! - `idkey`: project, operator or channel token → its small integer key, given in log order;
//! - `dialogoperator_read`: (dialog, operator key) → how many client messages the operator had
//!   read and whether they marked it unread (F4.3); no row means "never opened";
//! - `dialogoperator_draft`: (dialog, operator key) → the preview of their unsent draft;
//! - `dialog_tag`, `dialog_folder`, `dialog_list`: membership;
//! - `dialog_channel`: (dialog, channel key, via) → the client has an identity on the channel
//!   (`id:<external id>`) or a message went through it (`''`);
//! - `dialog_variable`: (dialog, name) → value;
//! - `dialog_activity` and `dialog_activity_by_bucket`: see `activity`;
//! - `project_clientnumber`: project → the last client number given;
//! - `counter`: (project, operator or empty, kind, scope or tag) → value, see `counters`.
//!
//! [`QUERY_INDEXES`] are the indexes only list queries read: a rebuild builds them once at
//! the end.

use super::activity;
use rusqlite::Connection;

/// The stored codes of `last_message_author` and `last_sender`.
pub(super) const AUTHOR_CLIENT: i64 = 1;
pub(super) const AUTHOR_OPERATOR: i64 = 2;
pub(super) const AUTHOR_BOT: i64 = 3;
/// `last_message_author` only: notes are not messages.
pub(super) const AUTHOR_NOTE: i64 = 4;

/// The stored code of `last_out_failure` (F3.6's reasons).
pub(super) fn failure_code(reason: switchboard_schemas::FailureReason) -> i64 {
    use switchboard_schemas::FailureReason as R;
    match reason {
        R::ChannelError => 1,
        R::BlockedByClient => FAILURE_BLOCKED_BY_CLIENT,
        R::RateLimited => FAILURE_RATE_LIMITED,
        R::NoRights => 4,
        R::OutsideWindow => 5,
        R::TooLarge => 6,
    }
}
pub(super) const FAILURE_BLOCKED_BY_CLIENT: i64 = 2;
pub(super) const FAILURE_RATE_LIMITED: i64 = 3;

pub(super) const SCHEMA: &str = "
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
    -- F6.5, F6.6: the last outbound message (bot or operator; 16 bytes) and its channel's
    -- `idkey` key; while it is failed, why (`failure_code`) and when, else NULL.
    last_out_message BLOB,
    last_out_channel_key INTEGER,
    last_out_failure INTEGER,
    last_out_failed_at INTEGER,
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
pub(super) const QUERY_INDEXES: &str = "
-- The list orders (F1.3), each as a keyset over (pinned, key…, rowid) after (project, closed):
-- the default view reads the `closed = 0` range, the archive switch reads both ranges and
-- merges them (see `list_sql`), so one index per order serves both. See the module doc.
-- SQLite ends every index entry with the rowid, the last tie-breaker: rows are inserted when
-- the log registers a dialog and never deleted, so it is registration order, the same on a
-- rebuild (an 8-byte integer instead of the 32-hex token made the entries a third the size).
-- Lists never show deleted or merged-away dialogs: the list indexes hold only the others
-- (partial), and hold those two columns too (constant there, 2 bytes an entry) right after the
-- equality columns, so that a page of the *All* tab is read from its index alone, not from the
-- index and every row it names: SQLite treats an index as covering only when it holds every
-- column the query names, and keeps the keyset order only through columns it seeks by.
CREATE INDEX IF NOT EXISTS dialog_row_list_by_activity
    ON dialog_row (project_key, closed, deleted, merged_into, pinned, last_activity_at)
    WHERE deleted = 0 AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS dialog_row_list_by_created
    ON dialog_row (project_key, closed, deleted, merged_into, pinned, client_created_at)
    WHERE deleted = 0 AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS dialog_row_list_by_processing
    ON dialog_row (project_key, closed, deleted, merged_into, pinned, processing_waiting,
        processing_key)
    WHERE deleted = 0 AND merged_into IS NULL;
-- F2.2: a client number pattern that few numbers hold is looked up, not scanned for.
CREATE INDEX IF NOT EXISTS dialog_row_by_number ON dialog_row (project_key, client_number);
-- *Mine*, the assignee filter and *Free* (assignee IS NULL) in the default view and order.
CREATE INDEX IF NOT EXISTS dialog_row_assignee_by_activity
    ON dialog_row (project_key, assignee_key, closed, deleted, merged_into, pinned,
        last_activity_at)
    WHERE deleted = 0 AND merged_into IS NULL;
-- The admin's *Unanswered* tab and *With operator* folder in the default order: the dialogs
-- they hold, in order (scanning the order's index skipped every other dialog, reading each).
CREATE INDEX IF NOT EXISTS dialog_row_unanswered_by_activity
    ON dialog_row (project_key, closed, unanswered, deleted, merged_into, pinned,
        last_activity_at)
    WHERE unanswered = 1 AND deleted = 0 AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS dialog_row_bot_paused_by_activity
    ON dialog_row (project_key, closed, bot_paused, deleted, merged_into, pinned,
        last_activity_at)
    WHERE bot_paused = 1 AND deleted = 0 AND merged_into IS NULL;
";

/// Registers the SQL functions list queries use (`activity`) on a reader connection.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    activity::register(conn)
}
