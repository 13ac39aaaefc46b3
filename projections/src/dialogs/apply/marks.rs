//! Assignment and the lifecycle flags of a dialog's row: closed, pinned, blocked,
//! blacklisted, bot paused.

use super::Change;
use super::flag;
use crate::runtime::ProjectionError;
use rusqlite::params;
use switchboard_schemas::events::*;

/// The events of assignment and of the lifecycle flags.
pub(super) fn apply(change: Change<'_, '_>) -> Result<(), ProjectionError> {
    let Change {
        tx,
        keys,
        dialog,
        envelope,
        key,
        ..
    } = change;
    match &envelope.payload {
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
        _ => {}
    }
    Ok(())
}
