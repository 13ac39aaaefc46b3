//! The dialog timeline read model (F3): messages in both directions with their attachments,
//! internal notes and service entries (F3.2: assigned, unassigned, closed, reopened, tags and
//! deal stage changed, blocked, blacklisted, bot paused and resumed, funnel block, merged — who
//! and when), in log order, with the delivery status of outbound messages (F3.6); a merged dialog
//! shows the history of the dialogs it absorbed (F4.9); a deleted client's history is erased
//! (F4.8). Attachments are also listed by kind (F3.7: the images / files tabs).
//!
//! Tables:
//! - `dialog_timeline`: (dialog, seq, position in the log message) → one message, note or
//!   service entry (the event itself as its JSON form, with the actor);
//! - `dialog_attachment`: (dialog, seq, position, index) → one attachment of a message, indexed
//!   by (dialog, kind) for the attachments view;
//! - `dialog_absorbed`: (survivor, absorbed) for merged dialogs.

use crate::runtime::{DecodedRecord, Projection, ProjectionError};
use rusqlite::{Connection, Transaction, params};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct TimelineProjection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dialog_timeline (
    dialog TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    -- The message or note id.
    item TEXT NOT NULL,
    -- inbound | outbound | note
    kind TEXT NOT NULL,
    -- The operator who wrote an outbound message or a note; NULL for the client and the bot.
    operator TEXT,
    channel TEXT,
    text TEXT NOT NULL,
    attachments INTEGER NOT NULL,
    reply_to TEXT,
    -- Outbound: 0 queued, 1 sent, 2 delivered, 3 read by the client, 4 failed.
    status INTEGER,
    failure TEXT,
    at INTEGER NOT NULL,
    -- Service entries: who (the envelope's actor, JSON).
    actor TEXT,
    PRIMARY KEY (dialog, seq, pos)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS dialog_timeline_by_item ON dialog_timeline (item);
CREATE TABLE IF NOT EXISTS dialog_attachment (
    dialog TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    message TEXT NOT NULL,
    -- image | audio | voice | video | file
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    storage_ref TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (dialog, seq, pos, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dialog_attachment_by_kind
    ON dialog_attachment (dialog, kind, seq, pos, idx);
CREATE TABLE IF NOT EXISTS dialog_absorbed (
    survivor TEXT NOT NULL,
    absorbed TEXT NOT NULL,
    PRIMARY KEY (survivor, absorbed)
) WITHOUT ROWID;
";

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

    fn apply_batch(
        &mut self,
        tx: &mut Transaction<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            for (pos, envelope) in record.events.iter().enumerate() {
                let AggregateId::Dialog(dialog) = &envelope.aggregate else {
                    continue;
                };
                let at = Placement {
                    dialog: dialog.token(),
                    seq: i64::try_from(record.seq).unwrap_or(i64::MAX),
                    pos: i64::try_from(pos).unwrap_or(i64::MAX),
                    at: envelope.occurred_at.as_micros(),
                };
                apply_event(tx, &at, envelope)?;
            }
        }
        Ok(())
    }
}

struct Placement {
    dialog: String,
    seq: i64,
    pos: i64,
    at: i64,
}

struct Item<'a> {
    item: String,
    kind: &'static str,
    operator: Option<String>,
    channel: Option<String>,
    text: &'a str,
    attachments: usize,
    reply_to: Option<String>,
    status: Option<i64>,
    actor: Option<String>,
}

fn insert(tx: &Transaction<'_>, at: &Placement, item: Item<'_>) -> rusqlite::Result<usize> {
    // A message id seen before (a replay the checkpoint did not catch cannot happen, but a
    // channel's duplicate could reach the log as two events) keeps its first place.
    tx.prepare_cached(
        "INSERT INTO dialog_timeline (dialog, seq, pos, item, kind, operator, channel, text,
             attachments, reply_to, status, at, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        at.dialog,
        at.seq,
        at.pos,
        item.item,
        item.kind,
        item.operator,
        item.channel,
        item.text,
        i64::try_from(item.attachments).unwrap_or(i64::MAX),
        item.reply_to,
        item.status,
        at.at,
        item.actor
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
    tx: &Transaction<'_>,
    at: &Placement,
    message: MessageId,
    attachments: &[Attachment],
) -> rusqlite::Result<()> {
    if attachments.is_empty() {
        return Ok(());
    }
    let mut statement = tx.prepare_cached(
        "INSERT INTO dialog_attachment (dialog, seq, pos, idx, message, kind, file_name,
             mime_type, size_bytes, storage_ref, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT DO NOTHING",
    )?;
    let message = message.token();
    for (idx, a) in attachments.iter().enumerate() {
        statement.execute(params![
            at.dialog,
            at.seq,
            at.pos,
            idx as i64,
            message,
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
fn advance(
    tx: &Transaction<'_>,
    message: MessageId,
    status: i64,
    failure: Option<&str>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE dialog_timeline SET status = ?2, failure = ?3
         WHERE item = ?1 AND kind = 'outbound' AND (?2 = 4 OR status < ?2)",
    )?
    .execute(params![message.token(), status, failure])
}

fn apply_event(
    tx: &Transaction<'_>,
    at: &Placement,
    envelope: &Envelope,
) -> Result<(), ProjectionError> {
    match &envelope.payload {
        Event::MessageReceived(e) => {
            insert(
                tx,
                at,
                Item {
                    item: e.message.token(),
                    kind: "inbound",
                    operator: None,
                    channel: Some(e.channel.token()),
                    text: &e.text,
                    attachments: e.attachments.len(),
                    reply_to: e.reply_to.map(|m| m.token()),
                    status: None,
                    actor: None,
                },
            )?;
            insert_attachments(tx, at, e.message, &e.attachments)?;
        }
        Event::MessageQueued(e) => {
            let operator = match e.author {
                MessageAuthor::Operator(op) => Some(op.token()),
                MessageAuthor::Client | MessageAuthor::Bot => None,
            };
            insert(
                tx,
                at,
                Item {
                    item: e.message.token(),
                    kind: "outbound",
                    operator,
                    channel: Some(e.channel.token()),
                    text: &e.text,
                    attachments: e.attachments.len(),
                    reply_to: e.reply_to.map(|m| m.token()),
                    status: Some(QUEUED),
                    actor: None,
                },
            )?;
            insert_attachments(tx, at, e.message, &e.attachments)?;
        }
        Event::NoteAdded(e) => {
            let operator = match envelope.actor {
                Actor::Operator(op) => Some(op.token()),
                _ => None,
            };
            insert(
                tx,
                at,
                Item {
                    item: e.note.token(),
                    kind: "note",
                    operator,
                    channel: None,
                    text: &e.text,
                    attachments: 0,
                    reply_to: None,
                    status: None,
                    actor: None,
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
                         OR dialog IN (SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)"
                ))?
                .execute([&at.dialog])?;
            }
        }
        _ => {}
    }
    if let Event::DialogsMerged(e) = &envelope.payload {
        tx.prepare_cached(
            "INSERT INTO dialog_absorbed (survivor, absorbed) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![at.dialog, e.absorbed.token()])?;
    }
    if is_service_entry(&envelope.payload) {
        let operator = match envelope.actor {
            Actor::Operator(op) => Some(op.token()),
            _ => None,
        };
        insert(
            tx,
            at,
            Item {
                item: envelope.event_id.token(),
                kind: "service",
                operator,
                channel: None,
                text: &to_json(&envelope.payload)?,
                attachments: 0,
                reply_to: None,
                status: None,
                actor: Some(to_json(&envelope.actor)?),
            },
        )?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ProjectionError> {
    serde_json::to_string(value)
        .map_err(|e| ProjectionError::Corrupt(format!("cannot write JSON: {e}")))
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
    seq: i64,
    pos: i64,
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

fn parse<T: std::str::FromStr>(column: usize, text: Option<String>) -> rusqlite::Result<Option<T>> {
    text.map(|t| {
        t.parse::<T>().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Text,
                format!("not an id: {t:?}").into(),
            )
        })
    })
    .transpose()
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

fn corrupt(column: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.into())
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
    let (seq, pos) = before.map_or((i64::MAX, i64::MAX), |c| (c.seq, c.pos));
    let mut hidden = Vec::new();
    if !show.bot_messages {
        hidden.push("(kind = 'outbound' AND operator IS NULL)");
    }
    if !show.notes {
        hidden.push("kind = 'note'");
    }
    if !show.service_entries {
        hidden.push("kind = 'service'");
    }
    let hide = if hidden.is_empty() {
        String::new()
    } else {
        format!(" AND NOT ({})", hidden.join(" OR "))
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT item, dialog, kind, operator, channel, text, attachments, status, failure, at,
                seq, pos, actor
         FROM dialog_timeline
         WHERE dialog IN (SELECT ?1 UNION SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)
           AND (seq, pos) < (?2, ?3){hide}
         ORDER BY seq DESC, pos DESC
         LIMIT ?4"
    ))?;
    let mut rows = statement.query(params![
        dialog.token(),
        seq,
        pos,
        i64::try_from(limit).unwrap_or(500)
    ])?;
    let mut items = Vec::new();
    // (dialog, seq, pos) of the items with attachments: their files are read in one query.
    let mut with_files = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next()? {
        let operator: Option<OperatorId> = parse(3, r.get(3)?)?;
        let missing = |column| {
            rusqlite::Error::InvalidColumnType(column, "id".to_owned(), rusqlite::types::Type::Null)
        };
        let item: Option<String> = r.get(0)?;
        let text: String = r.get(5)?;
        let (kind, id, entry, text) = match r.get::<_, String>(2)?.as_str() {
            "inbound" => (
                ItemKind::Inbound,
                ItemId::Message(parse(0, item)?.ok_or_else(|| missing(0))?),
                None,
                text,
            ),
            "outbound" => (
                ItemKind::Outbound(operator),
                ItemId::Message(parse(0, item)?.ok_or_else(|| missing(0))?),
                None,
                text,
            ),
            "note" => (
                ItemKind::Note(operator),
                ItemId::Note(parse(0, item)?.ok_or_else(|| missing(0))?),
                None,
                text,
            ),
            "service" => {
                let actor: String = r.get::<_, Option<String>>(12)?.ok_or_else(|| missing(12))?;
                let actor: Actor = serde_json::from_str(&actor)
                    .map_err(|e| corrupt(12, format!("actor {actor:?}: {e}")))?;
                let event: Event = serde_json::from_str(&text)
                    .map_err(|e| corrupt(5, format!("service entry {text:?}: {e}")))?;
                (
                    ItemKind::Service(actor),
                    ItemId::Service(parse(0, item)?.ok_or_else(|| missing(0))?),
                    Some(event),
                    String::new(),
                )
            }
            other => return Err(corrupt(2, format!("unknown item kind {other:?}")).into()),
        };
        let delivery = match r.get::<_, Option<i64>>(7)? {
            None => None,
            Some(QUEUED) => Some(Delivery::Queued),
            Some(SENT) => Some(Delivery::Sent),
            Some(DELIVERED) => Some(Delivery::Delivered),
            Some(READ) => Some(Delivery::Read),
            Some(_) => Some(Delivery::Failed),
        };
        let at_seq: i64 = r.get(10)?;
        let at_pos: i64 = r.get(11)?;
        last = Some(TimelineCursor {
            seq: at_seq,
            pos: at_pos,
        });
        let item_dialog: String = r.get(1)?;
        let attachments: u32 = r.get(6)?;
        if attachments > 0 {
            with_files.push((items.len(), (item_dialog.clone(), at_seq, at_pos)));
        }
        items.push(TimelineItem {
            id,
            dialog: parse(1, Some(item_dialog))?.ok_or_else(|| missing(1))?,
            kind,
            channel: parse(4, r.get(4)?)?,
            text,
            attachments,
            files: Vec::new(),
            entry,
            delivery,
            failure: r.get(8)?,
            at: Timestamp::from_micros(r.get(9)?),
        });
    }
    if let (Some((_, newest)), Some((_, oldest))) = (with_files.first(), with_files.last()) {
        let mut files = files_between(conn, dialog, (oldest.1, oldest.2), (newest.1, newest.2))?;
        for (index, place) in with_files {
            items[index].files = files.remove(&place).unwrap_or_default();
        }
    }
    let next = if items.len() == limit { last } else { None };
    Ok(TimelinePage { items, next })
}

/// (dialog, seq, pos) of a message → its attachments in order.
type FilesByPlace = std::collections::HashMap<(String, i64, i64), Vec<Attachment>>;

/// The attachments of the dialog (with those it absorbed) between two places of the timeline,
/// inclusive, by (dialog, seq, pos), each message's in order.
fn files_between(
    conn: &Connection,
    dialog: DialogId,
    (from_seq, from_pos): (i64, i64),
    (to_seq, to_pos): (i64, i64),
) -> Result<FilesByPlace, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT dialog, seq, pos, kind, file_name, mime_type, size_bytes, storage_ref
         FROM dialog_attachment
         WHERE dialog IN (SELECT ?1 UNION SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)
           AND (seq, pos) >= (?2, ?3) AND (seq, pos) <= (?4, ?5)
         ORDER BY dialog, seq, pos, idx",
    )?;
    let mut rows = statement.query(params![dialog.token(), from_seq, from_pos, to_seq, to_pos])?;
    let mut files = FilesByPlace::new();
    while let Some(f) = rows.next()? {
        let kind: String = f.get(3)?;
        files
            .entry((f.get(0)?, f.get(1)?, f.get(2)?))
            .or_default()
            .push(Attachment {
                kind: parse_attachment_kind(&kind)
                    .ok_or_else(|| corrupt(3, format!("attachment kind {kind:?}")))?,
                file_name: f.get(4)?,
                mime_type: f.get(5)?,
                size_bytes: u64::try_from(f.get::<_, i64>(6)?).unwrap_or(0),
                storage_ref: f.get(7)?,
            });
    }
    Ok(files)
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
    seq: i64,
    pos: i64,
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
        seq: i64::MAX,
        pos: i64::MAX,
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
        "SELECT message, dialog, kind, file_name, mime_type, size_bytes, storage_ref, at,
                seq, pos, idx
         FROM dialog_attachment
         WHERE dialog IN (SELECT ?1 UNION SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)
           AND (seq, pos, idx) < (?2, ?3, ?4){filter}
         ORDER BY seq DESC, pos DESC, idx DESC
         LIMIT ?5"
    ))?;
    let mut rows = statement.query(params![
        dialog.token(),
        c.seq,
        c.pos,
        c.idx,
        i64::try_from(limit).unwrap_or(500)
    ])?;
    let mut items = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next()? {
        let missing = |column| {
            rusqlite::Error::InvalidColumnType(column, "id".to_owned(), rusqlite::types::Type::Null)
        };
        let kind: String = r.get(2)?;
        items.push(AttachmentItem {
            message: parse(0, r.get(0)?)?.ok_or_else(|| missing(0))?,
            dialog: parse(1, r.get(1)?)?.ok_or_else(|| missing(1))?,
            attachment: Attachment {
                kind: parse_attachment_kind(&kind)
                    .ok_or_else(|| corrupt(2, format!("attachment kind {kind:?}")))?,
                file_name: r.get(3)?,
                mime_type: r.get(4)?,
                size_bytes: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                storage_ref: r.get(6)?,
            },
            at: Timestamp::from_micros(r.get(7)?),
        });
        last = Some(AttachmentCursor {
            seq: r.get(8)?,
            pos: r.get(9)?,
            idx: r.get(10)?,
        });
    }
    let next = if items.len() == limit { last } else { None };
    Ok(AttachmentPage { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ProjectionStore, open_reader};
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
        log.push(absorbed, connector, received(old, channel, "from before"));
        log.push(survivor, connector, received(question, channel, "price?"));
        let by_operator = MessageAuthor::Operator(operator);
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

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.sqlite");
        let mut store = ProjectionStore::open(&path, TimelineProjection).expect("open");
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
        let mut store = ProjectionStore::open(&path, TimelineProjection).expect("open");
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
}
