//! Messages, notes, drafts and read marks: the last-message columns, *Unanswered* and the SLA
//! wait, the channel and activity rows a message adds, each operator's read state, and the
//! last outbound message's delivery failure (F6.5, F6.6).

use super::{Change, Keys, RowKey};
use super::{add_channel, preview, row_of};
use crate::blobid::BlobId;
use crate::dialogs::activity;
use crate::dialogs::filter::activity_bucket;
use crate::dialogs::schema::{
    AUTHOR_BOT, AUTHOR_CLIENT, AUTHOR_NOTE, AUTHOR_OPERATOR, failure_code,
};
use crate::runtime::{ProjectionError, Tx};
use rusqlite::params;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The events of messages, notes, drafts and read marks.
pub(super) fn apply(change: Change<'_, '_>) -> Result<(), ProjectionError> {
    let Change {
        tx,
        keys,
        dialog,
        envelope,
        live_row,
        key,
        at,
        ..
    } = change;
    match &envelope.payload {
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
                         unanswered = 0, sla_wait_since = NULL,
                         last_out_message = ?8, last_out_channel_key = ?6,
                         last_out_failure = NULL, last_out_failed_at = NULL
                     WHERE ",
                    ""
                )
            } else {
                keyed!(
                    "UPDATE dialog_row SET
                         last_activity_at = max(last_activity_at, ?2),
                         last_message_preview = ?3, last_message_author = ?4,
                         last_message_operator_key = ?5, last_message_channel_key = ?6,
                         last_message_attachments = ?7, last_message_at = ?2, last_sender = ?4,
                         last_out_message = ?8, last_out_channel_key = ?6,
                         last_out_failure = NULL, last_out_failed_at = NULL
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
                e.attachments.len() as i64,
                e.message.blob()
            ])?;
            message_written(tx, keys, dialog, e.channel, envelope.occurred_at, live_row)?;
            if let Some(operator) = operator {
                mark_read(tx, keys, key, operator)?;
            }
        }
        // F6.5, F6.6: whether the last outbound message is failed, and why.
        Event::MessageFailed(e) => {
            tx.prepare_cached(key.pick(keyed!(
                "UPDATE dialog_row SET last_out_failure = ?3, last_out_failed_at = ?4
                 WHERE ",
                " AND last_out_message = ?2"
            )))?
            .execute(params![key, e.message.blob(), failure_code(e.reason), at])?;
        }
        Event::MessageSent(MessageSent { message, .. })
        | Event::MessageDelivered(MessageDelivered { message })
        | Event::MessageRead(MessageRead { message })
        | Event::MessageResent(MessageResent { message }) => {
            tx.prepare_cached(key.pick(keyed!(
                "UPDATE dialog_row SET last_out_failure = NULL, last_out_failed_at = NULL
                 WHERE ",
                " AND last_out_message = ?2 AND last_out_failure IS NOT NULL"
            )))?
            .execute(params![key, message.blob()])?;
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
        _ => {}
    }
    Ok(())
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

/// A message went through `channel` at `at`: the channel filter and the activity filter.
/// `live_row`: see [`change_row`](super::change_row).
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

fn operator_of(actor: Actor) -> Option<OperatorId> {
    match actor {
        Actor::Operator(op) => Some(op),
        _ => None,
    }
}
