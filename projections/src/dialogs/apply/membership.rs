//! Memberships and values of a dialog: tags, lists, folders, variables, the deal's pipeline
//! and stage, the bot's funnel block.

use super::Change;
use crate::blobid::BlobId;
use crate::runtime::ProjectionError;
use crate::runtime::execute_for_each;
use rusqlite::params;
use switchboard_schemas::events::*;

/// The events of tags, lists, folders, variables, the deal and the funnel block.
pub(super) fn apply(change: Change<'_, '_>) -> Result<(), ProjectionError> {
    let Change {
        tx,
        dialog,
        envelope,
        ..
    } = change;
    match &envelope.payload {
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
        _ => {}
    }
    Ok(())
}
