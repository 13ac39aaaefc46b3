//! Applying events to the timeline: a row per message, note and service entry at its place,
//! attachments, delivery updates of outbound messages, merges (the absorbed dialogs of a
//! survivor) and erasure (F4.8).

use super::entry::encode_entry;
use super::schema::{
    DELIVERED, FAILED, INBOUND, NOTE, OUTBOUND, QUEUED, READ, SENT, SERVICE, attachment_kind,
};
use super::{KEY_CACHE, TimelineProjection};
use crate::runtime::{ProjectionError, Tx};
use rusqlite::{OptionalExtension, params};
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use uuid::Uuid;

pub(super) fn corrupt_log(what: String) -> ProjectionError {
    ProjectionError::Corrupt(what)
}

/// Whether the timeline does anything with an event.
pub(super) fn touches_timeline(event: &Event) -> bool {
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
                | Event::MessageResent(_)
                | Event::MessageEdited(_)
                | Event::ReactionSet(_)
                | Event::ClientDeleted(_)
        )
}

pub(super) struct Placement {
    pub(super) dialog: i64,
    pub(super) place: i64,
    pub(super) at: i64,
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
    // id would be large for no lookup.
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
/// is recorded whatever came before, and a failed message may still be sent or delivered (a
/// rate limit waited out, a resend: the domain decides which statuses reach the log).
///
/// The message is found through `dialog_timeline_outbound`, which keeps the first 8 bytes of
/// each outbound id; the whole id is then compared on the few rows (almost always one) sharing
/// them. The first bytes, because the ids are UUIDv7: a millisecond timestamp and 12 random
/// bits, so new entries go to the index's newest end and a status, which follows its message,
/// finds it among recently written pages. The last 6 bytes (random) made every insert and
/// lookup a random page; walking the dialog back from its newest item (no index at all) was
/// slower still, since statuses may come long after their message (both measured, see
/// BENCHMARKS.md).
fn advance(
    tx: &Tx<'_>,
    message: MessageId,
    status: i64,
    failure: Option<&str>,
) -> rusqlite::Result<usize> {
    let item = message.as_uuid().as_bytes();
    tx.prepare_cached(ADVANCE_SQL)?
        .execute(params![&item[..8], item, status, failure])
}

/// [`advance`]'s statement: item's first 8 bytes, item, status, failure.
pub(super) const ADVANCE_SQL: &str = "UPDATE dialog_timeline SET status = ?3, failure = ?4
     WHERE substr(item, 1, 8) = ?1 AND kind = 1 AND item = ?2
         AND (?3 = 4 OR status = 4 OR status < ?3)";

/// [`requeue`]'s statement: item's first 8 bytes, item, the queued and the failed status.
pub(super) const REQUEUE_SQL: &str = "UPDATE dialog_timeline SET status = ?3, failure = NULL
     WHERE substr(item, 1, 8) = ?1 AND kind = 1 AND item = ?2 AND status = ?4";

/// F3.6: a failed message sent again is queued again, its failure cleared (the one way a
/// status goes back).
fn requeue(tx: &Tx<'_>, message: MessageId) -> rusqlite::Result<usize> {
    let item = message.as_uuid().as_bytes();
    tx.prepare_cached(REQUEUE_SQL)?
        .execute(params![&item[..8], item, QUEUED, FAILED])
}

/// A dialog's key and the keys of every dialog it absorbed (an edit or a reaction may be to a
/// message written in one of them).
fn merge_group_keys(tx: &Tx<'_>, dialog: i64) -> rusqlite::Result<Vec<i64>> {
    let mut statement = tx.prepare_cached(
        "SELECT ?1 UNION ALL SELECT absorbed FROM dialog_absorbed WHERE survivor = ?1",
    )?;
    let keys = statement.query_map([dialog], |r| r.get(0))?;
    keys.collect()
}

impl TimelineProjection {
    /// The `timeline_key` of an id, given now if it has none.
    pub(super) fn key(&mut self, tx: &Tx<'_>, id: &Uuid) -> rusqlite::Result<i64> {
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

    pub(super) fn apply_event(
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
            Event::MessageResent(e) => {
                requeue(tx, e.message)?;
            }
            Event::MessageEdited(e) => {
                // The message keeps its place (in the dialog it was written in, an absorbed
                // one's after a merge); its text and files become the edit's.
                for dialog in merge_group_keys(tx, at.dialog)? {
                    let edited: Option<(i64, i64)> = tx
                        .prepare_cached(
                            "UPDATE dialog_timeline SET text = ?3, attachments = ?4, edited_at = ?5
                             WHERE dialog = ?1 AND item = ?2 AND kind = 0
                             RETURNING place, at",
                        )?
                        .query_row(
                            params![
                                dialog,
                                e.message.as_uuid().as_bytes(),
                                crate::compact::value(&e.text),
                                i64::try_from(e.attachments.len()).unwrap_or(i64::MAX),
                                e.edited_at.as_micros(),
                            ],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((place, written)) = edited {
                        tx.prepare_cached(
                            "DELETE FROM dialog_attachment WHERE dialog = ?1 AND place = ?2",
                        )?
                        .execute(params![dialog, place])?;
                        let placement = Placement {
                            dialog,
                            place,
                            at: written,
                        };
                        insert_attachments(tx, &placement, e.message, &e.attachments)?;
                        break;
                    }
                }
            }
            Event::ReactionSet(e) => {
                // A reaction to a message the dialog never knew has nothing to show on.
                if let Some(message) = e.message {
                    for dialog in merge_group_keys(tx, at.dialog)? {
                        let set = tx
                            .prepare_cached(
                                "UPDATE dialog_timeline SET reaction = nullif(?3, '')
                                 WHERE dialog = ?1 AND item = ?2 AND kind IN (0, 1)",
                            )?
                            .execute(params![dialog, message.as_uuid().as_bytes(), e.reaction])?;
                        if set > 0 {
                            break;
                        }
                    }
                }
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
