//! A client's registration, profile, channel identities, merges and deletion (F4.8).
//!
//! Client numbers (F2.2, F7.1): a client's decimal number is its position among the project's
//! registrations in the log, 1, 2, 3… given when the projection first applies a dialog's
//! `dialog.registered`. The log's order is the same for every reader, so a rebuild (also one
//! up to a past sequence or moment) and the card projection, which keeps the same counter in
//! its own file, give every client the same number; it is per project, so a node serving a
//! subset of projects numbers them the same too. Numbers are never reused (a deleted or
//! merged-away client keeps theirs). The log sequence was the alternative: deterministic as
//! well, but shared by all projects, so numbers would be huge and sparse and depend on other
//! tenants' traffic.

use super::{Change, Keys};
use super::{add_channel, row_of};
use crate::blobid::BlobId;
use crate::dialogs::activity;
use crate::runtime::{ProjectionError, Tx};
use rusqlite::params;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The events of a client's registration, profile, identities, merges and deletion.
pub(super) fn apply(change: Change<'_, '_>) -> Result<(), ProjectionError> {
    let Change {
        tx,
        keys,
        project,
        dialog,
        envelope,
        at,
        ..
    } = change;
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

fn add_identity_channel(
    tx: &Tx<'_>,
    keys: &mut Keys,
    dialog: &[u8; 16],
    identity: &ChannelIdentity,
) -> rusqlite::Result<usize> {
    add_channel(tx, keys, dialog, identity.channel, &identity_via(identity))
}
