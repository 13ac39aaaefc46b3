//! The dialog timeline read model (F3): messages in both directions with their attachments,
//! internal notes and service entries (F3.2: assigned, unassigned, closed, reopened, tags and
//! deal stage changed, blocked, blacklisted, bot paused and resumed, funnel block, merged — who
//! and when), in log order, with the delivery status of outbound messages (F3.6); a merged dialog
//! shows the history of the dialogs it absorbed (F4.9); a deleted client's history is erased
//! (F4.8). Attachments are also listed by kind (F3.7: the images / files tabs).
//!
//! # Tables
//! - `timeline_key`: a dialog's, operator's or channel's 16-byte id → a small integer key, given
//!   in log order (so a rebuild gives the same keys);
//! - `timeline_event_type`: a service entry's (event type, version) → a small integer code,
//!   given on first use in log order like the keys (so a rebuild gives the same codes; nothing
//!   depends on the order of the schema crate's catalog);
//! - `dialog_timeline`: one message, note or service entry per row, its rowid the *place*
//!   `seq << 20 | position of the event in its log message` (log order, unique), indexed by
//!   (dialog key, place) for the pages and, for outbound messages only, by the first 8 bytes
//!   of their id for delivery updates (see `advance`). A service entry keeps its event compactly in `entry`: the code of its
//!   (type, version), its actor, then the payload's postcard bytes, read back through
//!   [`Event::decode_payload`]. An operator actor is one tag byte: the row's `operator`
//!   column already holds that operator's key (see `encode_entry`);
//! - `dialog_attachment`: (dialog key, place, index) → one attachment of a message, indexed by
//!   (dialog key, kind) for the attachments view;
//! - `dialog_absorbed`: (survivor key, absorbed key) for merged dialogs, transitively (a
//!   survivor that is merged away hands its absorbed dialogs on).
//!
//! # Size and cost
//! Everything a row repeats is an integer key or 16 raw bytes, never a 32-hex token: at 10M
//! messages the table is mostly the texts, which Cyrillic ones take in a single-byte form
//! (`crate::compact`: 40–45 % less). A service entry's `entry` names neither its type (a
//! one-byte code instead of a ≈ 15-byte name) nor an operator actor (the row's column has it):
//! an operator's `dialog.assigned` takes 20 bytes instead of 53. At 100k dialogs the 240k
//! entries (94 % by operators) average 15 bytes instead of 46, the file 7.6 MB smaller (168
//! MB); the 2.39M entries at full size ≈ 74 MB less. Rows are appended in log order (the
//! rowid only grows), so a write touches the end of the table and two small indexes; pages
//! read one index range per dialog of the merge group and merge them, so a deep page costs
//! what the first does.

use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use uuid::Uuid;

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct TimelineProjection {
    /// `timeline_key` as far as this process has seen it (bounded; dropped on rollback).
    keys: HashMap<u128, i64>,
    /// `timeline_event_type` as far as this process has seen it (a few dozen at most: one per
    /// (type, version) of a service entry; dropped on rollback).
    types: HashMap<(&'static str, u16), i64>,
}

/// At most this many keys stay in memory (≈ 40 MB); the map starts over when it is full.
const KEY_CACHE: usize = 1 << 20;

/// Bits of the place that hold the event's position in its log message.
pub(crate) const POSITION_BITS: u32 = 20;

const SCHEMA: &str = "
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
    entry BLOB
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

const INBOUND: i64 = 0;
const OUTBOUND: i64 = 1;
const NOTE: i64 = 2;
const SERVICE: i64 = 3;

const QUEUED: i64 = 0;
const SENT: i64 = 1;
const DELIVERED: i64 = 2;
const READ: i64 = 3;
const FAILED: i64 = 4;

impl Projection for TimelineProjection {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    fn query_indexes(&self) -> &'static str {
        // F3.7: a dialog's attachments of one kind, for queries only (see
        // `Projection::query_indexes`).
        "CREATE INDEX IF NOT EXISTS dialog_attachment_by_kind
             ON dialog_attachment (dialog, kind, place, idx);"
    }

    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            let seq = i64::try_from(record.seq)
                .ok()
                .filter(|s| *s < 1 << (63 - POSITION_BITS))
                .ok_or_else(|| corrupt_log(format!("log sequence {} too large", record.seq)))?;
            for (pos, envelope) in record.events.iter().enumerate() {
                let AggregateId::Dialog(dialog) = &envelope.aggregate else {
                    continue;
                };
                let pos = i64::try_from(pos)
                    .ok()
                    .filter(|p| *p < 1 << POSITION_BITS)
                    .ok_or_else(|| {
                        corrupt_log(format!("log message {seq} holds over 2^20 events"))
                    })?;
                if !touches_timeline(&envelope.payload) {
                    continue;
                }
                let at = Placement {
                    dialog: self.key(tx, dialog.as_uuid())?,
                    place: seq << POSITION_BITS | pos,
                    at: envelope.occurred_at.as_micros(),
                };
                self.apply_event(tx, &at, envelope)?;
            }
        }
        Ok(())
    }

    fn rolled_back(&mut self) {
        self.keys.clear();
        self.types.clear();
    }
}

fn corrupt_log(what: String) -> ProjectionError {
    ProjectionError::Corrupt(what)
}

/// Whether the timeline does anything with an event.
fn touches_timeline(event: &Event) -> bool {
    is_service_entry(event)
        || matches!(
            event,
            Event::MessageReceived(_)
                | Event::MessageQueued(_)
                | Event::NoteAdded(_)
                | Event::MessageSent(_)
                | Event::MessageDelivered(_)
                | Event::MessageRead(_)
                | Event::MessageFailed(_)
                | Event::ClientDeleted(_)
        )
}

struct Placement {
    dialog: i64,
    place: i64,
    at: i64,
}

struct Item<'a> {
    item: &'a Uuid,
    kind: i64,
    operator: Option<i64>,
    channel: Option<i64>,
    text: &'a str,
    attachments: usize,
    reply_to: Option<&'a Uuid>,
    status: Option<i64>,
    entry: Option<Vec<u8>>,
}

fn insert(tx: &Tx<'_>, at: &Placement, item: Item<'_>) -> rusqlite::Result<usize> {
    // An outbound message id seen before keeps its first place (its delivery updates find it
    // by id). Inbound ids are not checked here: a channel's redelivery is dropped by the dialog
    // (by the channel's external id) before it reaches the log, and an index of every inbound
    // id cost 130 MB at 10M messages for no lookup.
    tx.prepare_cached(
        "INSERT INTO dialog_timeline (place, dialog, kind, at, item, operator, channel,
             attachments, status, reply_to, text, entry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        at.place,
        at.dialog,
        item.kind,
        at.at,
        item.item.as_bytes(),
        item.operator,
        item.channel,
        i64::try_from(item.attachments).unwrap_or(i64::MAX),
        item.status,
        item.reply_to.map(|r| r.as_bytes()),
        crate::compact::value(item.text),
        item.entry,
    ])
}

fn attachment_kind(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Audio => "audio",
        AttachmentKind::Voice => "voice",
        AttachmentKind::Video => "video",
        AttachmentKind::File => "file",
    }
}

fn parse_attachment_kind(text: &str) -> Option<AttachmentKind> {
    Some(match text {
        "image" => AttachmentKind::Image,
        "audio" => AttachmentKind::Audio,
        "voice" => AttachmentKind::Voice,
        "video" => AttachmentKind::Video,
        "file" => AttachmentKind::File,
        _ => return None,
    })
}

fn insert_attachments(
    tx: &Tx<'_>,
    at: &Placement,
    message: MessageId,
    attachments: &[Attachment],
) -> rusqlite::Result<()> {
    if attachments.is_empty() {
        return Ok(());
    }
    let mut statement = tx.prepare_cached(
        "INSERT INTO dialog_attachment (dialog, place, idx, message, kind, file_name,
             mime_type, size_bytes, storage_ref, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT DO NOTHING",
    )?;
    for (idx, a) in attachments.iter().enumerate() {
        statement.execute(params![
            at.dialog,
            at.place,
            idx as i64,
            message.as_uuid().as_bytes(),
            attachment_kind(a.kind),
            a.file_name,
            a.mime_type,
            i64::try_from(a.size_bytes).unwrap_or(i64::MAX),
            a.storage_ref,
            at.at
        ])?;
    }
    Ok(())
}

/// Whether an event is a service entry of the timeline (F3.2).
fn is_service_entry(event: &Event) -> bool {
    matches!(
        event,
        Event::DialogAssigned(_)
            | Event::DialogUnassigned(_)
            | Event::DialogClosed(_)
            | Event::DialogReopened(_)
            | Event::ClientBlocked(_)
            | Event::ClientUnblocked(_)
            | Event::ClientBlacklisted(_)
            | Event::ClientUnblacklisted(_)
            | Event::BotPaused(_)
            | Event::BotResumed(_)
            | Event::BotScenarioStarted(_)
            | Event::TagsAdded(_)
            | Event::TagsRemoved(_)
            | Event::DealStageChanged(_)
            | Event::FunnelBlockEntered(_)
            | Event::DialogsMerged(_)
    )
}

/// Delivery only moves forward (a late "delivered" after "read" changes nothing); a failure
/// is recorded whatever came before.
///
/// The message is found through `dialog_timeline_outbound`, which keeps the first 8 bytes of
/// each outbound id; the whole id is then compared on the few rows (almost always one) sharing
/// them. The first bytes, because the ids are UUIDv7: a millisecond timestamp and 12 random
/// bits, so new entries go to the index's newest end and a status, which follows its message,
/// finds it among recently written pages. The last 6 bytes (random) were measured: the
/// full-size rebuild fell from 244k to 173k events/s, every insert and lookup a random page.
/// Walking the dialog back from its newest item instead (no index at all) was measured and
/// taken out too: statuses may come long after their message (the bench reports a dialog's
/// statuses when it ends), and the rebuild fell to 106k events/s walking dialogs of up to 47k
/// items.
fn advance(
    tx: &Tx<'_>,
    message: MessageId,
    status: i64,
    failure: Option<&str>,
) -> rusqlite::Result<usize> {
    let item = message.as_uuid().as_bytes();
    tx.prepare_cached(
        "UPDATE dialog_timeline SET status = ?3, failure = ?4
         WHERE substr(item, 1, 8) = ?1 AND kind = 1 AND item = ?2 AND (?3 = 4 OR status < ?3)",
    )?
    .execute(params![&item[..8], item, status, failure])
}

/// The actor byte of an entry whose actor is the operator in the row's `operator` column.
///
/// It is postcard's variant index of [`Actor::Operator`] (0), which no other actor's postcard
/// starts with: their variant indexes are varints of 1 and up (new variants are only appended,
/// see `switchboard_schemas::common`), and no varint of a non-zero value starts with a zero
/// byte. So the byte after the code is either this tag alone or a whole postcard [`Actor`].
const ROW_OPERATOR: u8 = 0;

/// A service entry's stored form: the code of its (type, version) in `timeline_event_type`
/// (a varint), its actor, then the payload's postcard bytes.
///
/// An [`Actor::Operator`] is only the [`ROW_OPERATOR`] tag: the caller stores that operator's
/// key in the row's `operator` column (as [`TimelineProjection::operator_key`] gives it), and
/// the page query joins its id back, so the 17 bytes of the id are not kept twice. Any other
/// actor (its row has no operator) is kept whole.
fn encode_entry(code: i64, envelope: &Envelope) -> Result<Vec<u8>, ProjectionError> {
    let failed = |e: &dyn std::fmt::Display| {
        ProjectionError::Corrupt(format!("cannot encode a service entry: {e}"))
    };
    let code = u32::try_from(code).map_err(|e| failed(&e))?;
    let mut bytes = postcard::to_allocvec(&code).map_err(|e| failed(&e))?;
    match &envelope.actor {
        Actor::Operator(_) => bytes.push(ROW_OPERATOR),
        other => bytes = postcard::to_extend(other, bytes).map_err(|e| failed(&e))?,
    }
    let event = &envelope.payload;
    bytes.extend(event.encode_payload_bytes().map_err(|e| failed(&e))?);
    Ok(bytes)
}

/// A service entry's stored parts: the code of its (type, version), its actor (`None`: the
/// row's operator) and the payload's postcard bytes.
fn split_entry(bytes: &[u8]) -> Result<(i64, Option<Actor>, &[u8]), String> {
    let (code, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| e.to_string())?;
    let (actor, payload) = match rest.split_first() {
        Some((&ROW_OPERATOR, payload)) => (None, payload),
        _ => {
            let (actor, payload) =
                postcard::take_from_bytes::<Actor>(rest).map_err(|e| e.to_string())?;
            (Some(actor), payload)
        }
    };
    Ok((i64::from(code), actor, payload))
}

/// The `entry` column of the page query.
const ENTRY_COLUMN: usize = 10;

/// A service entry's actor and event, given the row's operator and the (type, version) of a
/// code (`type_of`, from `timeline_event_type`).
fn decode_entry(
    bytes: &[u8],
    row_operator: Option<OperatorId>,
    type_of: impl FnOnce(i64) -> rusqlite::Result<Option<(String, u16)>>,
) -> rusqlite::Result<(Actor, Event)> {
    let bad = |what: String| corrupt(ENTRY_COLUMN, format!("service entry: {what}"));
    let (code, actor, payload) = split_entry(bytes).map_err(bad)?;
    let actor = match (actor, row_operator) {
        (Some(actor), _) => actor,
        (None, Some(operator)) => Actor::Operator(operator),
        (None, None) => return Err(bad("an operator's, in a row without an operator".into())),
    };
    let (event_type, version) =
        type_of(code)?.ok_or_else(|| bad(format!("unknown event type code {code}")))?;
    let event =
        Event::decode_payload(&event_type, version, payload).map_err(|e| bad(e.to_string()))?;
    Ok((actor, event))
}

impl TimelineProjection {
    /// The `timeline_key` of an id, given now if it has none.
    fn key(&mut self, tx: &Tx<'_>, id: &Uuid) -> rusqlite::Result<i64> {
        if let Some(key) = self.keys.get(&id.as_u128()) {
            return Ok(*key);
        }
        let known: Option<i64> = tx
            .prepare_cached("SELECT key FROM timeline_key WHERE id = ?1")?
            .query_row([id.as_bytes()], |r| r.get(0))
            .optional()?;
        let key = match known {
            Some(key) => key,
            None => {
                tx.prepare_cached("INSERT INTO timeline_key (id) VALUES (?1)")?
                    .execute([id.as_bytes()])?;
                tx.last_insert_rowid()
            }
        };
        if self.keys.len() >= KEY_CACHE {
            self.keys.clear();
        }
        self.keys.insert(id.as_u128(), key);
        Ok(key)
    }

    /// The `timeline_event_type` code of an event's (type, version), given now if it has none.
    fn type_code(&mut self, tx: &Tx<'_>, event: &Event) -> rusqlite::Result<i64> {
        let name = (event.event_type(), event.version());
        if let Some(code) = self.types.get(&name) {
            return Ok(*code);
        }
        let known: Option<i64> = tx
            .prepare_cached(
                "SELECT code FROM timeline_event_type WHERE type = ?1 AND version = ?2",
            )?
            .query_row(params![name.0, name.1], |r| r.get(0))
            .optional()?;
        let code = match known {
            Some(code) => code,
            None => {
                tx.prepare_cached(
                    "INSERT INTO timeline_event_type (type, version) VALUES (?1, ?2)",
                )?
                .execute(params![name.0, name.1])?;
                tx.last_insert_rowid()
            }
        };
        self.types.insert(name, code);
        Ok(code)
    }

    fn operator_key(&mut self, tx: &Tx<'_>, actor: &Actor) -> rusqlite::Result<Option<i64>> {
        match actor {
            Actor::Operator(op) => self.key(tx, op.as_uuid()).map(Some),
            _ => Ok(None),
        }
    }

    fn apply_event(
        &mut self,
        tx: &Tx<'_>,
        at: &Placement,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        match &envelope.payload {
            Event::MessageReceived(e) => {
                let channel = self.key(tx, e.channel.as_uuid())?;
                insert(
                    tx,
                    at,
                    Item {
                        item: e.message.as_uuid(),
                        kind: INBOUND,
                        operator: None,
                        channel: Some(channel),
                        text: &e.text,
                        attachments: e.attachments.len(),
                        reply_to: e.reply_to.as_ref().map(MessageId::as_uuid),
                        status: None,
                        entry: None,
                    },
                )?;
                insert_attachments(tx, at, e.message, &e.attachments)?;
            }
            Event::MessageQueued(e) => {
                let operator = match e.author {
                    MessageAuthor::Operator(op) => Some(self.key(tx, op.as_uuid())?),
                    MessageAuthor::Client | MessageAuthor::Bot => None,
                };
                let channel = self.key(tx, e.channel.as_uuid())?;
                insert(
                    tx,
                    at,
                    Item {
                        item: e.message.as_uuid(),
                        kind: OUTBOUND,
                        operator,
                        channel: Some(channel),
                        text: &e.text,
                        attachments: e.attachments.len(),
                        reply_to: e.reply_to.as_ref().map(MessageId::as_uuid),
                        status: Some(QUEUED),
                        entry: None,
                    },
                )?;
                insert_attachments(tx, at, e.message, &e.attachments)?;
            }
            Event::NoteAdded(e) => {
                let operator = self.operator_key(tx, &envelope.actor)?;
                insert(
                    tx,
                    at,
                    Item {
                        item: e.note.as_uuid(),
                        kind: NOTE,
                        operator,
                        channel: None,
                        text: &e.text,
                        attachments: 0,
                        reply_to: None,
                        status: None,
                        entry: None,
                    },
                )?;
            }
            Event::MessageSent(e) => {
                advance(tx, e.message, SENT, None)?;
            }
            Event::MessageDelivered(e) => {
                advance(tx, e.message, DELIVERED, None)?;
            }
            Event::MessageRead(e) => {
                advance(tx, e.message, READ, None)?;
            }
            Event::MessageFailed(e) => {
                advance(tx, e.message, FAILED, Some(&e.detail))?;
            }
            Event::ClientDeleted(_) => {
                // F4.8: what the client wrote, and what was written to them, is personal data.
                for table in ["dialog_timeline", "dialog_attachment"] {
                    tx.prepare_cached(&format!(
                        "DELETE FROM {table} WHERE dialog = ?1
                             OR dialog IN (SELECT absorbed FROM dialog_absorbed
                                           WHERE survivor = ?1)"
                    ))?
                    .execute([at.dialog])?;
                }
            }
            Event::DialogsMerged(e) => {
                // The survivor shows the absorbed dialog and whatever that one had absorbed.
                let absorbed = self.key(tx, e.absorbed.as_uuid())?;
                tx.prepare_cached(
                    "INSERT INTO dialog_absorbed (survivor, absorbed)
                     SELECT ?1, ?2 UNION SELECT ?1, absorbed FROM dialog_absorbed
                                         WHERE survivor = ?2
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![at.dialog, absorbed])?;
            }
            _ => {}
        }
        if is_service_entry(&envelope.payload) {
            // `encode_entry` leaves an operator actor to this column.
            let operator = self.operator_key(tx, &envelope.actor)?;
            let code = self.type_code(tx, &envelope.payload)?;
            insert(
                tx,
                at,
                Item {
                    item: envelope.event_id.as_uuid(),
                    kind: SERVICE,
                    operator,
                    channel: None,
                    text: "",
                    attachments: 0,
                    reply_to: None,
                    status: None,
                    entry: Some(encode_entry(code, envelope)?),
                },
            )?;
        }
        Ok(())
    }
}

/// What an item of the timeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// From the client.
    Inbound,
    /// To the client, by an operator (`Some`) or the bot (`None`).
    Outbound(Option<OperatorId>),
    /// An internal comment (F3.3).
    Note(Option<OperatorId>),
    /// A service entry (F3.2), caused by this actor; the event is [`TimelineItem::entry`].
    Service(Actor),
}

/// Which items a timeline page shows (F7.6: chat display settings). Messages from the client
/// and operators always show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Show {
    pub bot_messages: bool,
    pub notes: bool,
    pub service_entries: bool,
}

impl Default for Show {
    fn default() -> Self {
        Self {
            bot_messages: true,
            notes: true,
            service_entries: true,
        }
    }
}

/// Delivery of an outbound message (F3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

/// Where a page of the timeline ended (keyset pagination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    place: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    pub id: ItemId,
    pub dialog: DialogId,
    pub kind: ItemKind,
    pub channel: Option<ChannelId>,
    /// A message's or note's text (empty for service entries).
    pub text: String,
    /// How many attachments the message has; they are in [`Self::files`].
    pub attachments: u32,
    pub files: Vec<Attachment>,
    /// The message this one answers (quoted reply), if any.
    pub reply_to: Option<MessageId>,
    /// A service entry's event.
    pub entry: Option<Event>,
    pub delivery: Option<Delivery>,
    pub failure: Option<String>,
    pub at: Timestamp,
}

/// A timeline item's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemId {
    Message(MessageId),
    Note(NoteId),
    /// The event of a service entry.
    Service(EventId),
}

#[derive(Debug, Clone)]
pub struct TimelinePage {
    /// Newest first.
    pub items: Vec<TimelineItem>,
    /// Pass as `before` for older items; none when this was the oldest.
    pub next: Option<TimelineCursor>,
}

fn corrupt(column: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, what.into())
}

/// A 16-byte id column.
fn uuid_at(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let bytes: Vec<u8> = row.get(column)?;
    Uuid::from_slice(&bytes).map_err(|_| corrupt(column, format!("not a 16-byte id: {bytes:?}")))
}

fn optional_uuid_at(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Option<Uuid>> {
    match row.get_ref(column)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => uuid_at(row, column).map(Some),
    }
}

/// The keys of a dialog and of every dialog it absorbed, with their ids (none if the timeline
/// never saw the dialog).
fn merge_group(conn: &Connection, dialog: DialogId) -> rusqlite::Result<Vec<(i64, DialogId)>> {
    let mut statement = conn.prepare_cached(
        "SELECT s.key, s.id FROM timeline_key s WHERE s.id = ?1
         UNION ALL
         SELECT k.key, k.id FROM timeline_key s
             JOIN dialog_absorbed a ON a.survivor = s.key
             JOIN timeline_key k ON k.key = a.absorbed
         WHERE s.id = ?1",
    )?;
    let rows = statement.query_map([dialog.as_uuid().as_bytes()], |r| {
        Ok((r.get::<_, i64>(0)?, DialogId::from_uuid(uuid_at(r, 1)?)))
    })?;
    rows.collect()
}

/// The timeline of a dialog with the dialogs it absorbed, newest first, `limit` at a time.
pub fn timeline(
    conn: &Connection,
    dialog: DialogId,
    before: Option<TimelineCursor>,
    limit: usize,
) -> Result<TimelinePage, ProjectionError> {
    timeline_showing(conn, dialog, Show::default(), before, limit)
}

/// [`timeline`] with only the kinds of items `show` asks for; pages stay keyset pages.
pub fn timeline_showing(
    conn: &Connection,
    dialog: DialogId,
    show: Show,
    before: Option<TimelineCursor>,
    limit: usize,
) -> Result<TimelinePage, ProjectionError> {
    let limit = limit.clamp(1, 500);
    let before = before.map_or(i64::MAX, |c| c.place);
    let mut hidden = Vec::new();
    if !show.bot_messages {
        hidden.push("(t.kind = 1 AND t.operator IS NULL)");
    }
    if !show.notes {
        hidden.push("t.kind = 2");
    }
    if !show.service_entries {
        hidden.push("t.kind = 3");
    }
    let hide = if hidden.is_empty() {
        String::new()
    } else {
        format!(" AND NOT ({})", hidden.join(" OR "))
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT t.place, t.kind, t.item, o.id, c.id, t.text, t.attachments, t.status, t.failure,
                t.at, t.entry, t.reply_to
         FROM dialog_timeline t
             LEFT JOIN timeline_key o ON o.key = t.operator
             LEFT JOIN timeline_key c ON c.key = t.channel
         WHERE t.dialog = ?1 AND t.place < ?2{hide}
         ORDER BY t.place DESC
         LIMIT ?3"
    ))?;
    let group = merge_group(conn, dialog)?;
    let mut types = EntryTypes::default();
    // (place, dialog key, item): each dialog's newest `limit`, merged.
    let mut found = Vec::new();
    for (key, id) in &group {
        let mut rows =
            statement.query(params![key, before, i64::try_from(limit).unwrap_or(500)])?;
        while let Some(r) = rows.next()? {
            found.push((
                r.get::<_, i64>(0)?,
                *key,
                read_item(r, *id, conn, &mut types)?,
            ));
        }
    }
    if group.len() > 1 {
        found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(limit);
    }
    let next = if found.len() == limit {
        found
            .last()
            .map(|(place, _, _)| TimelineCursor { place: *place })
    } else {
        None
    };
    // The files of the page's messages, one range read per dialog.
    let mut files = HashMap::new();
    for (key, _) in &group {
        let places = found
            .iter()
            .filter(|(_, k, item)| k == key && item.attachments > 0)
            .map(|(place, _, _)| *place);
        if let (Some(oldest), Some(newest)) = (places.clone().min(), places.max()) {
            files_between(conn, *key, oldest, newest, &mut files)?;
        }
    }
    let items = found
        .into_iter()
        .map(|(place, _, mut item)| {
            if item.attachments > 0 {
                item.files = files.remove(&place).unwrap_or_default();
            }
            item
        })
        .collect();
    Ok(TimelinePage { items, next })
}

/// The item at `place` (a search hit's, see [`crate::search::MessageHit`]) with its files; none
/// when the timeline has no such item (erased with its client, or not applied yet).
pub fn item_at(conn: &Connection, place: i64) -> Result<Option<TimelineItem>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT t.place, t.kind, t.item, o.id, c.id, t.text, t.attachments, t.status, t.failure,
                t.at, t.entry, t.reply_to, d.id, t.dialog
         FROM dialog_timeline t
             JOIN timeline_key d ON d.key = t.dialog
             LEFT JOIN timeline_key o ON o.key = t.operator
             LEFT JOIN timeline_key c ON c.key = t.channel
         WHERE t.place = ?1",
    )?;
    let found = statement
        .query_row([place], |r| {
            let dialog = DialogId::from_uuid(uuid_at(r, 12)?);
            Ok((
                r.get::<_, i64>(13)?,
                read_item(r, dialog, conn, &mut EntryTypes::default())?,
            ))
        })
        .optional()?;
    let Some((key, mut item)) = found else {
        return Ok(None);
    };
    if item.attachments > 0 {
        let mut files = HashMap::new();
        files_between(conn, key, place, place, &mut files)?;
        item.files = files.remove(&place).unwrap_or_default();
    }
    Ok(Some(item))
}

/// `timeline_event_type` as one page reads it: the whole table (a few dozen rows) at the
/// page's first service entry, not a query per entry, and again if an entry names a code that
/// was given after that (codes are only ever added, in the entry's own transaction or before).
#[derive(Default)]
struct EntryTypes {
    loaded: HashMap<i64, (String, u16)>,
}

impl EntryTypes {
    fn get(&mut self, conn: &Connection, code: i64) -> rusqlite::Result<Option<(String, u16)>> {
        if !self.loaded.contains_key(&code) {
            let mut statement =
                conn.prepare_cached("SELECT code, type, version FROM timeline_event_type")?;
            self.loaded = statement
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(self.loaded.get(&code).cloned())
    }
}

fn read_item(
    r: &rusqlite::Row<'_>,
    dialog: DialogId,
    conn: &Connection,
    types: &mut EntryTypes,
) -> rusqlite::Result<TimelineItem> {
    let item = uuid_at(r, 2)?;
    let operator = optional_uuid_at(r, 3)?.map(OperatorId::from_uuid);
    let (kind, id, entry) = match r.get::<_, i64>(1)? {
        INBOUND => (
            ItemKind::Inbound,
            ItemId::Message(MessageId::from_uuid(item)),
            None,
        ),
        OUTBOUND => (
            ItemKind::Outbound(operator),
            ItemId::Message(MessageId::from_uuid(item)),
            None,
        ),
        NOTE => (
            ItemKind::Note(operator),
            ItemId::Note(NoteId::from_uuid(item)),
            None,
        ),
        SERVICE => {
            let bytes: Vec<u8> = r
                .get::<_, Option<Vec<u8>>>(ENTRY_COLUMN)?
                .ok_or_else(|| corrupt(ENTRY_COLUMN, "a service entry without its event".into()))?;
            // The row's operator (`o.id`) stands for an operator actor the entry leaves out.
            let (actor, event) = decode_entry(&bytes, operator, |code| types.get(conn, code))?;
            (
                ItemKind::Service(actor),
                ItemId::Service(EventId::from_uuid(item)),
                Some(event),
            )
        }
        other => return Err(corrupt(1, format!("unknown item kind {other}"))),
    };
    let delivery = match r.get::<_, Option<i64>>(7)? {
        None => None,
        Some(QUEUED) => Some(Delivery::Queued),
        Some(SENT) => Some(Delivery::Sent),
        Some(DELIVERED) => Some(Delivery::Delivered),
        Some(READ) => Some(Delivery::Read),
        Some(_) => Some(Delivery::Failed),
    };
    Ok(TimelineItem {
        id,
        dialog,
        kind,
        channel: optional_uuid_at(r, 4)?.map(ChannelId::from_uuid),
        text: crate::compact::column(r, 5)?,
        attachments: r.get(6)?,
        files: Vec::new(),
        reply_to: optional_uuid_at(r, 11)?.map(MessageId::from_uuid),
        entry,
        delivery,
        failure: r.get(8)?,
        at: Timestamp::from_micros(r.get(9)?),
    })
}

/// Adds the attachments of one dialog's messages placed in `oldest..=newest` to `files`, each
/// message's in order.
fn files_between(
    conn: &Connection,
    dialog: i64,
    oldest: i64,
    newest: i64,
    files: &mut HashMap<i64, Vec<Attachment>>,
) -> Result<(), ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT place, kind, file_name, mime_type, size_bytes, storage_ref
         FROM dialog_attachment
         WHERE dialog = ?1 AND place BETWEEN ?2 AND ?3
         ORDER BY place, idx",
    )?;
    let mut rows = statement.query(params![dialog, oldest, newest])?;
    while let Some(f) = rows.next()? {
        let kind: String = f.get(1)?;
        files.entry(f.get(0)?).or_default().push(Attachment {
            kind: parse_attachment_kind(&kind)
                .ok_or_else(|| corrupt(1, format!("attachment kind {kind:?}")))?,
            file_name: f.get(2)?,
            mime_type: f.get(3)?,
            size_bytes: u64::try_from(f.get::<_, i64>(4)?).unwrap_or(0),
            storage_ref: f.get(5)?,
        });
    }
    Ok(())
}

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
                message: MessageId::from_uuid(uuid_at(r, 0)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ProjectionStore, open_reader};
    use crate::test_support::query_plan;
    use switchboard_core::log::{LogRecord, Subject};

    struct Log {
        project: ProjectId,
        seq: u64,
        records: Vec<LogRecord>,
    }

    impl Log {
        fn push(&mut self, dialog: DialogId, actor: Actor, payload: Event) -> EventId {
            self.seq += 1;
            let event_id = EventId::new();
            let envelope = Envelope {
                event_id,
                project: self.project,
                aggregate: AggregateId::Dialog(dialog),
                occurred_at: Timestamp::from_micros(i64::try_from(self.seq).unwrap_or(0)),
                actor,
                causation_id: None,
                correlation_id: None,
                payload,
            };
            self.records.push(LogRecord {
                seq: self.seq,
                subject: Subject::dialog(self.project, dialog),
                msg_id: format!("m{}", self.seq),
                appended_at: Timestamp::from_micros(1),
                batch: encode_batch(&[envelope]).expect("encode"),
            });
            event_id
        }
    }

    fn received(message: MessageId, channel: ChannelId, text: &str) -> Event {
        Event::MessageReceived(MessageReceived {
            message,
            channel,
            external_id: message.token(),
            text: text.into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::from_micros(1),
        })
    }

    fn queued(message: MessageId, channel: ChannelId, author: MessageAuthor) -> Event {
        Event::MessageQueued(MessageQueued {
            message,
            channel,
            author,
            text: "answer".into(),
            attachments: vec![],
            reply_to: None,
            template: None,
        })
    }

    fn all(conn: &Connection, dialog: DialogId) -> Vec<TimelineItem> {
        let mut items = Vec::new();
        let mut before = None;
        loop {
            let page = timeline(conn, dialog, before, 2).expect("timeline");
            assert!(page.items.len() <= 2);
            items.extend(page.items);
            match page.next {
                Some(next) => before = Some(next),
                None => return items,
            }
        }
    }

    #[test]
    fn messages_notes_statuses_merges_and_erasure() {
        let channel = ChannelId::new();
        let operator = OperatorId::new();
        let (survivor, absorbed) = (DialogId::new(), DialogId::new());
        let (question, answer, bot, old) = (
            MessageId::new(),
            MessageId::new(),
            MessageId::new(),
            MessageId::new(),
        );
        let note = NoteId::new();
        let mut log = Log {
            project: ProjectId::new(),
            seq: 0,
            records: Vec::new(),
        };
        let connector = Actor::Connector(channel);
        let by_operator = MessageAuthor::Operator(operator);
        log.push(absorbed, connector, received(old, channel, "from before"));
        // Answered in the dialog that is merged away; delivered after the merge, to the survivor.
        let early = MessageId::new();
        log.push(
            absorbed,
            Actor::Operator(operator),
            queued(early, channel, by_operator),
        );
        log.push(survivor, connector, received(question, channel, "price?"));
        log.push(
            survivor,
            Actor::Operator(operator),
            queued(answer, channel, by_operator),
        );
        log.push(
            survivor,
            Actor::Bot,
            queued(bot, channel, MessageAuthor::Bot),
        );
        let sent = Event::MessageSent(MessageSent {
            message: answer,
            external_id: "x".into(),
        });
        log.push(survivor, connector, sent);
        let read = Event::MessageRead(MessageRead { message: answer });
        log.push(survivor, connector, read);
        // Late: must not move the status back.
        let delivered = Event::MessageDelivered(MessageDelivered { message: answer });
        log.push(survivor, connector, delivered);
        let failed = Event::MessageFailed(MessageFailed {
            message: bot,
            reason: FailureReason::RateLimited,
            detail: "too many requests".into(),
            retry_after_secs: Some(3),
        });
        log.push(survivor, connector, failed);
        let added = Event::NoteAdded(NoteAdded {
            note,
            text: "VIP".into(),
        });
        log.push(survivor, Actor::Operator(operator), added);
        let merged = Event::DialogsMerged(DialogsMerged {
            absorbed,
            identities: vec![],
        });
        let merge = log.push(survivor, Actor::Operator(operator), merged);
        let delivered_late = Event::MessageDelivered(MessageDelivered { message: early });
        log.push(survivor, connector, delivered_late);

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
        store.apply(log.records.clone()).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let items = all(&conn, survivor);
        let summary: Vec<_> = items
            .iter()
            .map(|i| (i.id, i.kind, i.delivery, i.dialog))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    ItemId::Service(merge),
                    ItemKind::Service(Actor::Operator(operator)),
                    None,
                    survivor
                ),
                (
                    ItemId::Note(note),
                    ItemKind::Note(Some(operator)),
                    None,
                    survivor
                ),
                (
                    ItemId::Message(bot),
                    ItemKind::Outbound(None),
                    Some(Delivery::Failed),
                    survivor
                ),
                (
                    ItemId::Message(answer),
                    ItemKind::Outbound(Some(operator)),
                    Some(Delivery::Read),
                    survivor
                ),
                (ItemId::Message(question), ItemKind::Inbound, None, survivor),
                (
                    ItemId::Message(early),
                    ItemKind::Outbound(Some(operator)),
                    Some(Delivery::Delivered),
                    absorbed
                ),
                (ItemId::Message(old), ItemKind::Inbound, None, absorbed),
            ]
        );
        assert!(matches!(items[0].entry, Some(Event::DialogsMerged(_))));
        assert_eq!(items[2].failure.as_deref(), Some("too many requests"));
        assert_eq!(items[4].text, "price?");

        log.push(
            survivor,
            Actor::Operator(operator),
            Event::ClientDeleted(ClientDeleted {}),
        );
        let last = log.records.split_off(log.records.len() - 1);
        store.apply(last).expect("apply");
        assert!(
            all(&conn, survivor).is_empty(),
            "the deleted client's messages stay"
        );
        assert!(all(&conn, absorbed).is_empty());
    }

    fn file(kind: AttachmentKind, name: &str) -> Attachment {
        Attachment {
            kind,
            file_name: name.into(),
            mime_type: "application/octet-stream".into(),
            size_bytes: 1234,
            storage_ref: format!("blob:{name}"),
        }
    }

    #[test]
    fn service_entries_attachments_and_display_settings() {
        let channel = ChannelId::new();
        let operator = OperatorId::new();
        let dialog = DialogId::new();
        let mut log = Log {
            project: ProjectId::new(),
            seq: 0,
            records: Vec::new(),
        };
        let photo = MessageId::new();
        log.push(
            dialog,
            Actor::Connector(channel),
            Event::MessageReceived(MessageReceived {
                message: photo,
                channel,
                external_id: "p".into(),
                text: String::new(),
                attachments: vec![
                    file(AttachmentKind::Image, "a.jpg"),
                    file(AttachmentKind::Image, "b.jpg"),
                ],
                reply_to: None,
                sent_at: Timestamp::from_micros(1),
            }),
        );
        let assigned = log.push(
            dialog,
            Actor::Operator(operator),
            Event::DialogAssigned(DialogAssigned {
                operator,
                previous: None,
            }),
        );
        let contract = MessageId::new();
        let mut send = queued(contract, channel, MessageAuthor::Operator(operator));
        if let Event::MessageQueued(q) = &mut send {
            q.attachments = vec![file(AttachmentKind::File, "contract.pdf")];
        }
        log.push(dialog, Actor::Operator(operator), send);
        log.push(
            dialog,
            Actor::Bot,
            queued(MessageId::new(), channel, MessageAuthor::Bot),
        );
        let closed = log.push(dialog, Actor::System, Event::DialogClosed(DialogClosed {}));
        // Not a service entry: read marks are per operator, not part of the conversation.
        log.push(
            dialog,
            Actor::Operator(operator),
            Event::ReadMarked(ReadMarked {
                operator,
                up_to: Some(photo),
            }),
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
        store.apply(log.records.clone()).expect("apply");
        let conn = open_reader(&path).expect("reader");

        let items = all(&conn, dialog);
        let kinds: Vec<_> = items.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                ItemKind::Service(Actor::System),
                ItemKind::Outbound(None),
                ItemKind::Outbound(Some(operator)),
                ItemKind::Service(Actor::Operator(operator)),
                ItemKind::Inbound,
            ]
        );
        assert_eq!(items[0].id, ItemId::Service(closed));
        assert_eq!(items[3].id, ItemId::Service(assigned));
        assert!(matches!(
            items[3].entry,
            Some(Event::DialogAssigned(DialogAssigned { operator: o, previous: None })) if o == operator
        ));
        let names: Vec<_> = items[4]
            .files
            .iter()
            .map(|f| f.file_name.as_str())
            .collect();
        assert_eq!(names, ["a.jpg", "b.jpg"]);
        assert_eq!(items[4].attachments, 2);
        assert_eq!(items[2].files, [file(AttachmentKind::File, "contract.pdf")]);

        // F7.6: hide the bot and the service entries.
        let quiet = Show {
            bot_messages: false,
            notes: true,
            service_entries: false,
        };
        let page = timeline_showing(&conn, dialog, quiet, None, 10).expect("timeline");
        let kinds: Vec<_> = page.items.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [ItemKind::Outbound(Some(operator)), ItemKind::Inbound]
        );

        // F3.7: images and files on their tabs, newest first, paged.
        let images = attachments(&conn, dialog, &[AttachmentKind::Image], None, 1).expect("page");
        assert_eq!(images.items[0].attachment.file_name, "b.jpg");
        assert_eq!(images.items[0].message, photo);
        let rest =
            attachments(&conn, dialog, &[AttachmentKind::Image], images.next, 1).expect("page");
        assert_eq!(rest.items[0].attachment.file_name, "a.jpg");
        let files = attachments(&conn, dialog, &[AttachmentKind::File], None, 10).expect("page");
        assert_eq!(files.items.len(), 1);
        assert_eq!(files.items[0].message, contract);
        assert!(files.next.is_none());
        let every = attachments(&conn, dialog, &[], None, 10).expect("page");
        assert_eq!(every.items.len(), 3);
    }

    #[test]
    fn merges_chain_and_replies_are_kept() {
        let channel = ChannelId::new();
        let operator = OperatorId::new();
        let (first, second, third) = (DialogId::new(), DialogId::new(), DialogId::new());
        let mut log = Log {
            project: ProjectId::new(),
            seq: 0,
            records: Vec::new(),
        };
        let connector = Actor::Connector(channel);
        let (a, b, c) = (MessageId::new(), MessageId::new(), MessageId::new());
        log.push(
            first,
            connector,
            received(a, channel, "В первом — «тот самый» заказ №1"),
        );
        log.push(second, connector, received(b, channel, "in the second"));
        let mut reply = received(c, channel, "in the third");
        if let Event::MessageReceived(r) = &mut reply {
            r.reply_to = Some(b);
        }
        log.push(third, connector, reply);
        let merge = |absorbed| {
            Event::DialogsMerged(DialogsMerged {
                absorbed,
                identities: vec![],
            })
        };
        // `first` into `second`, then `second` into `third`: `third` shows all three.
        log.push(second, Actor::Operator(operator), merge(first));
        log.push(third, Actor::Operator(operator), merge(second));

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
        store.apply(log.records.clone()).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let messages: Vec<_> = all(&conn, third)
            .into_iter()
            .filter(|i| matches!(i.kind, ItemKind::Inbound))
            .map(|i| (i.id, i.dialog, i.reply_to))
            .collect();
        assert_eq!(
            messages,
            [
                (ItemId::Message(c), third, Some(b)),
                (ItemId::Message(b), second, None),
                (ItemId::Message(a), first, None),
            ]
        );
        // Stored in the compact form and read back whole.
        let texts: Vec<_> = all(&conn, third).into_iter().map(|i| i.text).collect();
        assert!(
            texts.iter().any(|t| t == "В первом — «тот самый» заказ №1"),
            "{texts:?}"
        );
        let compact: i64 = conn
            .query_row(
                "SELECT count(*) FROM dialog_timeline WHERE typeof(text) = 'blob'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(compact, 1);
        // The service entries of both merges show under `third` (one of them via `second`).
        let merges = all(&conn, third)
            .into_iter()
            .filter(|i| matches!(i.entry, Some(Event::DialogsMerged(_))))
            .count();
        assert_eq!(merges, 2);
    }

    /// Service entries of several types and actors come back whole through `encode_entry` and
    /// `decode_entry`: an operator actor from the row's `operator` column, the type from its
    /// code. Codes are given in log order, and an operator's `dialog.assigned` is stored in
    /// fewer bytes than the old (type name, version, actor) head took.
    #[test]
    fn service_entries_store_a_type_code_and_leave_the_operator_to_the_row() {
        let (alice, bob) = (OperatorId::new(), OperatorId::new());
        let dialog = DialogId::new();
        let mut log = Log {
            project: ProjectId::new(),
            seq: 0,
            records: Vec::new(),
        };
        let assigned = Event::DialogAssigned(DialogAssigned {
            operator: bob,
            previous: None,
        });
        let entries = [
            (Actor::Operator(alice), assigned.clone()),
            (
                Actor::Bot,
                Event::TagsAdded(TagsAdded {
                    tags: vec![TagId::new(), TagId::new()],
                }),
            ),
            (Actor::System, Event::DialogClosed(DialogClosed {})),
            (
                Actor::Operator(bob),
                Event::DealStageChanged(DealStageChanged {
                    pipeline: PipelineId::new(),
                    stage: StageId::new(),
                    previous: None,
                }),
            ),
            (
                Actor::Connector(ChannelId::new()),
                Event::ClientBlocked(ClientBlocked {}),
            ),
            (Actor::Client, Event::BotPaused(BotPaused {})),
            (
                Actor::Operator(bob),
                Event::DialogAssigned(DialogAssigned {
                    operator: alice,
                    previous: Some(bob),
                }),
            ),
        ];
        let ids: Vec<EventId> = entries
            .iter()
            .map(|(actor, event)| log.push(dialog, *actor, event.clone()))
            .collect();

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
        store.apply(log.records.clone()).expect("apply");
        let conn = open_reader(&path).expect("reader");
        // Pages of two: each page looks the codes up on its own.
        let mut read: Vec<_> = all(&conn, dialog)
            .into_iter()
            .map(|i| (i.id, i.kind, i.entry))
            .collect();
        read.reverse();
        let expected: Vec<_> = ids
            .iter()
            .zip(&entries)
            .map(|(id, (actor, event))| {
                (
                    ItemId::Service(*id),
                    ItemKind::Service(*actor),
                    Some(event.clone()),
                )
            })
            .collect();
        assert_eq!(read, expected);

        let codes: Vec<(i64, String, u16)> = conn
            .prepare("SELECT code, type, version FROM timeline_event_type ORDER BY code")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("codes");
        let first_use = [
            "dialog.assigned",
            "tags.added",
            "dialog.closed",
            "deal.stage_changed",
            "client.blocked",
            "bot.paused",
        ];
        assert_eq!(
            codes,
            first_use
                .iter()
                .zip(1..)
                .map(|(name, code)| (code, (*name).to_owned(), 1))
                .collect::<Vec<_>>()
        );

        // The operator's `dialog.assigned`: its code, the row-operator tag, the payload.
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT entry FROM dialog_timeline WHERE item = ?1",
                [ids[0].as_uuid().as_bytes()],
                |r| r.get(0),
            )
            .expect("entry");
        let payload = assigned.encode_payload_bytes().expect("payload");
        assert_eq!(stored, [&[1, ROW_OPERATOR][..], &payload].concat());
        let mut old = postcard::to_allocvec(&(
            assigned.event_type(),
            assigned.version(),
            Actor::Operator(alice),
        ))
        .expect("old head");
        old.extend(&payload);
        assert!(
            stored.len() < old.len(),
            "{} bytes, {} before",
            stored.len(),
            old.len()
        );
        let known = |code| Ok((code == 1).then(|| ("dialog.assigned".to_owned(), 1)));
        assert_eq!(
            decode_entry(&stored, Some(alice), known).expect("decode"),
            (Actor::Operator(alice), assigned)
        );
        // The tag needs the row's operator; an unknown code is corrupt, not a panic.
        assert!(decode_entry(&stored, None, known).is_err());
        assert!(decode_entry(&stored, Some(alice), |_| Ok(None)).is_err());
    }

    /// `ROW_OPERATOR` is postcard's first byte of an operator actor and of no other actor, so
    /// an entry's actor byte is never ambiguous.
    #[test]
    fn the_row_operator_tag_starts_no_other_actor() {
        let operator = postcard::to_allocvec(&Actor::Operator(OperatorId::new())).expect("encode");
        assert_eq!(operator[0], ROW_OPERATOR);
        for actor in [
            Actor::Client,
            Actor::Bot,
            Actor::Connector(ChannelId::new()),
            Actor::System,
        ] {
            let bytes = postcard::to_allocvec(&actor).expect("encode");
            assert_ne!(bytes[0], ROW_OPERATOR, "{actor:?}");
        }
    }

    /// A page is one index range per dialog of the merge group: no sort of a dialog's whole
    /// history, so a deep page costs what the first does.
    #[test]
    fn pages_read_an_index_range_without_sorting() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
        drop(store);
        let conn = open_reader(&path).expect("reader");
        for hide in ["", " AND NOT (t.kind = 3)"] {
            let plan = query_plan(
                &conn,
                &format!(
                    "SELECT t.place FROM dialog_timeline t
                         LEFT JOIN timeline_key o ON o.key = t.operator
                     WHERE t.dialog = ?1 AND t.place < ?2{hide}
                     ORDER BY t.place DESC LIMIT ?3"
                ),
                params![1, i64::MAX, 50],
            );
            assert!(
                plan.iter()
                    .any(|step| step.contains("dialog_timeline_by_dialog")),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
    }

    /// A delivery update finds its outbound message through the partial index on the ids'
    /// first bytes (the only index by item), not by scanning the table or a dialog.
    #[test]
    fn delivery_updates_look_the_message_up_by_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        drop(ProjectionStore::open(&path, TimelineProjection::default()).expect("open"));
        let conn = open_reader(&path).expect("reader");
        let plan = query_plan(
            &conn,
            "UPDATE dialog_timeline SET status = ?3, failure = ?4
             WHERE substr(item, 1, 8) = ?1 AND kind = 1 AND item = ?2 AND (?3 = 4 OR status < ?3)",
            params![[0u8; 8], [0u8; 16], 2, None::<String>],
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX dialog_timeline_outbound (<expr>=?)")),
            "{plan:?}"
        );
    }
}
