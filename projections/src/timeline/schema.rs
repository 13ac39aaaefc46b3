//! The timeline's tables and the codes its columns hold.
//!
//! - `timeline_key`: a dialog's, operator's or channel's 16-byte id → a small integer key,
//!   given in log order (so a rebuild gives the same keys);
//! - `timeline_event_type`: a service entry's (event type, version) → a small integer code,
//!   given on first use in log order like the keys (nothing depends on the order of the schema
//!   crate's catalog);
//! - `dialog_timeline`: one message, note or service entry per row, its rowid the *place*
//!   (`LogPlace::timeline_key`), indexed by (dialog key, place) for the pages and, for
//!   outbound messages only, by the first 8 bytes of their id for delivery updates (see
//!   `apply::advance`); a service entry keeps its event compactly in `entry` (see `entry`);
//!   texts are TEXT or the single-byte form of a Cyrillic text (`crate::compact`); a client's
//!   edit replaces a message's text and files in place, and their reaction is kept on the row;
//! - `dialog_attachment`: (dialog key, place, index) → one attachment of a message, indexed by
//!   (dialog key, kind) for the attachments view;
//! - `dialog_absorbed`: (survivor key, absorbed key) for merged dialogs, transitively (a
//!   survivor that is merged away hands its absorbed dialogs on).

use switchboard_schemas::*;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS timeline_key (
    key INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS timeline_event_type (
    code INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    version INTEGER NOT NULL,
    UNIQUE (type, version)
);
CREATE TABLE IF NOT EXISTS dialog_timeline (
    -- seq << 20 | position of the event in its log message.
    place INTEGER PRIMARY KEY,
    -- timeline_key of the dialog.
    dialog INTEGER NOT NULL,
    -- 0 inbound, 1 outbound, 2 note, 3 service entry.
    kind INTEGER NOT NULL,
    -- µs since the epoch.
    at INTEGER NOT NULL,
    -- The message's, note's or (service entry) event's id, 16 bytes.
    item BLOB NOT NULL,
    -- timeline_key of the operator who wrote an outbound message or note, or caused a service
    -- entry; NULL for the client, the bot and the system.
    operator INTEGER,
    -- timeline_key of the channel of a message.
    channel INTEGER,
    attachments INTEGER NOT NULL DEFAULT 0,
    -- Outbound: 0 queued, 1 sent, 2 delivered, 3 read by the client, 4 failed.
    status INTEGER,
    reply_to BLOB,
    failure TEXT,
    -- A message's or note's text ('' for a service entry): TEXT, or a BLOB in the compact
    -- single-byte form of Cyrillic texts (`compact`).
    text NOT NULL,
    -- A service entry: the timeline_event_type code, the actor (one tag byte for the row's
    -- operator), then the payload's postcard (`encode_entry`).
    entry BLOB,
    -- An inbound message the client edited: when (µs); its text and files are the edit's.
    edited_at INTEGER,
    -- The client's reaction to the message (an emoji or the channel's reaction id).
    reaction TEXT
);
CREATE INDEX IF NOT EXISTS dialog_timeline_by_dialog ON dialog_timeline (dialog);
-- Outbound messages by the first 8 bytes of their id (time-ordered in UUIDv7), for their
-- delivery updates (F3.6; see `advance`): 8 bytes where the whole id took 16 (126 MB at 4.5M
-- outbound messages).
CREATE INDEX IF NOT EXISTS dialog_timeline_outbound ON dialog_timeline (substr(item, 1, 8))
    WHERE kind = 1;
CREATE TABLE IF NOT EXISTS dialog_attachment (
    dialog INTEGER NOT NULL,
    place INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    message BLOB NOT NULL,
    -- image | audio | voice | video | file
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    storage_ref TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (dialog, place, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_absorbed (
    survivor INTEGER NOT NULL,
    absorbed INTEGER NOT NULL,
    PRIMARY KEY (survivor, absorbed)
) WITHOUT ROWID;
";

pub(super) const INBOUND: i64 = 0;
pub(super) const OUTBOUND: i64 = 1;
pub(super) const NOTE: i64 = 2;
pub(super) const SERVICE: i64 = 3;

pub(super) const QUEUED: i64 = 0;
pub(super) const SENT: i64 = 1;
pub(super) const DELIVERED: i64 = 2;
pub(super) const READ: i64 = 3;
pub(super) const FAILED: i64 = 4;

pub(super) fn attachment_kind(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Audio => "audio",
        AttachmentKind::Voice => "voice",
        AttachmentKind::Video => "video",
        AttachmentKind::File => "file",
    }
}

pub(super) fn parse_attachment_kind(text: &str) -> Option<AttachmentKind> {
    Some(match text {
        "image" => AttachmentKind::Image,
        "audio" => AttachmentKind::Audio,
        "voice" => AttachmentKind::Voice,
        "video" => AttachmentKind::Video,
        "file" => AttachmentKind::File,
        _ => return None,
    })
}
