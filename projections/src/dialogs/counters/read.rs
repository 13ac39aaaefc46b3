//! Reading the counters: the header count (F1.7), folder badges (F1.5), *Unanswered* (F1.4),
//! tag usage (F2.5), and every counter row or all of them recounted from scratch (tests and
//! the rebuild comparison).
//!
//! Invariant: an operator's unread count is the base row (operator `''`) plus their own
//! correction row; a stored value below zero is [`ProjectionError::Corrupt`].

use super::{CounterKey, FolderGroup, Inputs};
use crate::blobid::{self, BlobId};
use crate::dialogs::list::{Folder, Viewer};
use crate::dialogs::row::keyed_id;
use crate::runtime::ProjectionError;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use switchboard_schemas::*;

/// One stored counter (0 when it has no row).
fn counter(conn: &Connection, key: &CounterKey) -> Result<i64, ProjectionError> {
    let (project, operator, kind, scope) = key.stored();
    Ok(conn
        .prepare_cached(
            "SELECT value FROM counter
             WHERE project = ?1 AND operator = ?2 AND kind = ?3 AND scope = ?4",
        )?
        .query_row(params![project, operator, kind, scope], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Unread dialogs of a scope for `operator`: the base row plus their own correction.
fn unread_in(
    conn: &Connection,
    project: ProjectId,
    operator: OperatorId,
    folder: Option<FolderGroup>,
    owner: Option<Option<OperatorId>>,
) -> Result<u64, ProjectionError> {
    let value = counter(conn, &CounterKey::unread(project, None, folder, owner))?
        + counter(
            conn,
            &CounterKey::unread(project, Some(operator), folder, owner),
        )?;
    u64::try_from(value).map_err(|_| {
        ProjectionError::Corrupt(format!(
            "negative unread counter {folder:?} {owner:?}: {value}"
        ))
    })
}

/// F1.7: the header counter, the number of unread dialogs for this viewer.
pub fn unread_dialogs(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
) -> Result<u64, ProjectionError> {
    let owner = (!viewer.admin).then_some(Some(viewer.operator));
    unread_in(conn, project, viewer.operator, None, owner)
}

/// F1.5: the badge of a folder, unread dialogs in it among those the viewer sees.
pub fn folder_badge(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
    folder: Folder,
) -> Result<u64, ProjectionError> {
    let group = folder.group();
    if viewer.admin {
        return unread_in(conn, project, viewer.operator, group, None);
    }
    Ok(unread_in(
        conn,
        project,
        viewer.operator,
        group,
        Some(Some(viewer.operator)),
    )? + unread_in(conn, project, viewer.operator, group, Some(None))?)
}

/// F1.4: how many dialogs the viewer sees in *Unanswered*.
pub fn unanswered_dialogs(
    conn: &Connection,
    project: ProjectId,
    viewer: Viewer,
) -> Result<u64, ProjectionError> {
    let value = if viewer.admin {
        counter(conn, &CounterKey::unanswered(project, None, None))?
    } else {
        counter(
            conn,
            &CounterKey::unanswered(project, None, Some(Some(viewer.operator))),
        )? + counter(conn, &CounterKey::unanswered(project, None, Some(None)))?
    };
    u64::try_from(value)
        .map_err(|_| ProjectionError::Corrupt(format!("negative unanswered counter: {value}")))
}

/// F2.5: tags with the number of dialogs carrying each, most used first.
pub fn tag_usage(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<(TagId, u64)>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT scope, value FROM counter
         WHERE project = ?1 AND operator = x'' AND kind = 3
         ORDER BY value DESC, scope",
    )?;
    let mut found = statement.query([project.blob()])?;
    let mut rows = Vec::new();
    while let Some(r) = found.next()? {
        let tag: TagId = blobid::get_required(r, 0, "counter.scope")?;
        rows.push((tag, r.get::<_, i64>(1)?));
    }
    rows.into_iter()
        .map(|(tag, count)| {
            let count = u64::try_from(count)
                .map_err(|_| ProjectionError::Corrupt(format!("negative tag count {count}")))?;
            Ok((tag, count))
        })
        .collect()
}

/// Every counter row, for tests and the rebuild comparison: (project, operator or '', name) →
/// value.
pub fn all_counters(
    conn: &Connection,
) -> Result<BTreeMap<(String, String, String), i64>, ProjectionError> {
    let mut statement =
        conn.prepare("SELECT project, operator, kind, scope, value FROM counter")?;
    let mut found = statement.query([])?;
    let mut rows = BTreeMap::new();
    while let Some(r) = found.next()? {
        let key = CounterKey::from_stored(
            &r.get::<_, Vec<u8>>(0)?,
            &r.get::<_, Vec<u8>>(1)?,
            r.get(2)?,
            &r.get::<_, Vec<u8>>(3)?,
        )?;
        rows.insert(key.row(), r.get(4)?);
    }
    Ok(rows)
}

/// The counters computed from scratch from the stored rows (O(dialogs)): what the incremental
/// counters must equal at all times.
pub fn recount(
    conn: &Connection,
) -> Result<BTreeMap<(String, String, String), i64>, ProjectionError> {
    let mut dialogs = Vec::new();
    {
        let mut statement = conn.prepare(
            "SELECT dialog, (SELECT id FROM idkey WHERE key = project_key) FROM dialog_row",
        )?;
        let mut rows = statement.query([])?;
        while let Some(r) = rows.next()? {
            let dialog: DialogId = blobid::get_required(r, 0, "dialog_row.dialog")?;
            let project: ProjectId =
                keyed_id(r, 1, "dialog_row.project_key")?.ok_or_else(|| {
                    ProjectionError::Corrupt("dialog_row.project_key: no such key".to_owned())
                })?;
            dialogs.push((dialog, project));
        }
    }
    let mut totals = BTreeMap::new();
    let tx = conn.unchecked_transaction()?;
    let mut changes = Vec::new();
    for (dialog, project) in dialogs {
        if let Some(inputs) = Inputs::load(&tx, &dialog.blob())? {
            inputs.contribute(project, 1, &mut changes);
        }
        for (key, value) in changes.drain(..) {
            *totals.entry(key.row()).or_insert(0) += value;
        }
    }
    totals.retain(|_, v| *v != 0);
    Ok(totals)
}
