//! The dialog timeline read model (F3): messages in both directions and internal notes, in log
//! order, with the delivery status of outbound messages; a merged dialog shows the messages of
//! the dialogs it absorbed (F4.9); a deleted client's messages are erased (F4.8).
//!
//! Tables:
//! - `dialog_timeline`: (dialog, seq, position in the log message) → one message or note;
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
    PRIMARY KEY (dialog, seq, pos)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS dialog_timeline_by_item ON dialog_timeline (item);
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
}

fn insert(tx: &Transaction<'_>, at: &Placement, item: Item<'_>) -> rusqlite::Result<usize> {
    // A message id seen before (a replay the checkpoint did not catch cannot happen, but a
    // channel's duplicate could reach the log as two events) keeps its first place.
    tx.prepare_cached(
        "INSERT INTO dialog_timeline (dialog, seq, pos, item, kind, operator, channel, text,
             attachments, reply_to, status, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
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
        at.at
    ])
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
                },
            )?;
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
                },
            )?;
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
        Event::DialogsMerged(e) => {
            tx.prepare_cached(
                "INSERT INTO dialog_absorbed (survivor, absorbed) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![at.dialog, e.absorbed.token()])?;
        }
        Event::ClientDeleted(_) => {
            // F4.8: what the client wrote, and what was written to them, is personal data.
            tx.prepare_cached(
                "DELETE FROM dialog_timeline WHERE dialog = ?1
                     OR dialog IN (SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)",
            )?
            .execute([&at.dialog])?;
        }
        _ => {}
    }
    Ok(())
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
    pub text: String,
    pub attachments: u32,
    pub delivery: Option<Delivery>,
    pub failure: Option<String>,
    pub at: Timestamp,
}

/// A timeline item's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemId {
    Message(MessageId),
    Note(NoteId),
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
    let limit = limit.clamp(1, 500);
    let (seq, pos) = before.map_or((i64::MAX, i64::MAX), |c| (c.seq, c.pos));
    let mut statement = conn.prepare_cached(
        "SELECT item, dialog, kind, operator, channel, text, attachments, status, failure, at,
                seq, pos
         FROM dialog_timeline
         WHERE dialog IN (SELECT ?1 UNION SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1)
           AND (seq, pos) < (?2, ?3)
         ORDER BY seq DESC, pos DESC
         LIMIT ?4",
    )?;
    let mut rows = statement.query(params![
        dialog.token(),
        seq,
        pos,
        i64::try_from(limit).unwrap_or(500)
    ])?;
    let mut items = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next()? {
        let operator: Option<OperatorId> = parse(3, r.get(3)?)?;
        let missing = |column| {
            rusqlite::Error::InvalidColumnType(column, "id".to_owned(), rusqlite::types::Type::Null)
        };
        let (kind, id) = match r.get::<_, String>(2)?.as_str() {
            "inbound" => (ItemKind::Inbound, None),
            "outbound" => (ItemKind::Outbound(operator), None),
            _ => (
                ItemKind::Note(operator),
                Some(ItemId::Note(
                    parse(0, r.get(0)?)?.ok_or_else(|| missing(0))?,
                )),
            ),
        };
        let id = match id {
            Some(id) => id,
            None => ItemId::Message(parse(0, r.get(0)?)?.ok_or_else(|| missing(0))?),
        };
        let delivery = match r.get::<_, Option<i64>>(7)? {
            None => None,
            Some(QUEUED) => Some(Delivery::Queued),
            Some(SENT) => Some(Delivery::Sent),
            Some(DELIVERED) => Some(Delivery::Delivered),
            Some(READ) => Some(Delivery::Read),
            Some(_) => Some(Delivery::Failed),
        };
        last = Some(TimelineCursor {
            seq: r.get(10)?,
            pos: r.get(11)?,
        });
        items.push(TimelineItem {
            id,
            dialog: parse(1, r.get(1)?)?.ok_or_else(|| missing(1))?,
            kind,
            channel: parse(4, r.get(4)?)?,
            text: r.get(5)?,
            attachments: r.get(6)?,
            delivery,
            failure: r.get(8)?,
            at: Timestamp::from_micros(r.get(9)?),
        });
    }
    let next = if items.len() == limit { last } else { None };
    Ok(TimelinePage { items, next })
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
        fn push(&mut self, dialog: DialogId, actor: Actor, payload: Event) {
            self.seq += 1;
            let envelope = Envelope {
                event_id: EventId::new(),
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
        log.push(survivor, Actor::Operator(operator), merged);

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
        assert_eq!(items[1].failure.as_deref(), Some("too many requests"));
        assert_eq!(items[3].text, "price?");

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
}
