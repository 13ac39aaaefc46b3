//! The dialog list (F1.1–F1.6, F2): tabs, folders, the archive switch, the three F1.3 orders
//! and a [`Filter`], read in keyset pages; F12.1 visibility is applied to lists here, in
//! `visibility`, and nowhere else.
//!
//! A page is one query: `dialog_row` read in the order's index, each row checked against the
//! tab, folder and filter (membership conditions are `EXISTS` probes of the `(dialog, …)`
//! primary keys), stopping after `limit` matches; the arms pick rowids and sort keys only, and
//! the page's rows are then read by rowid and joined with the viewer's read state and draft
//! (see `list_sql`). The cursor is a row value `(pinned, key…, rowid) < (…)` that the index
//! seeks to, so a page deep in the list costs what the first does. Each order has one index,
//! `dialog_row_list_by_*`, with `closed` right after `project`: the default view reads the
//! `closed = 0` range, the archive switch reads both ranges as two arms, merged.
//! `dialog_row_assignee_by_activity` serves *Mine*, *Free* and an operator's own-or-free view
//! in the activity order (two arms, their dialogs and the free ones, so other operators'
//! dialogs are never scanned); `list_sql` names it (`INDEXED BY`): without statistics SQLite
//! prefers the wider one once a cursor adds a range. The admin's *Unanswered* tab and *With
//! operator* folder read their own partial indexes in the activity order the same way. The
//! list indexes hold only listed dialogs (not deleted, not merged away), so the *All* tab's
//! page is read from its index without looking at the rows it skips.
//!
//! Narrowing: a client number pattern (F2.2) the whole filter requires and at most
//! [`MAX_NUMBER_CANDIDATES`](super::MAX_NUMBER_CANDIDATES) numbers hold is looked up in `dialog_row_by_number`; a required
//! date range with at most [`MAX_ACTIVITY_LOOKUP`] activity rows, or a required tag or the
//! custom folder with at most [`MAX_MEMBER_LOOKUP`] members, reads its dialogs by rowid; the
//! few rows are then sorted. Any other selective filter scans in order and skips rows until a
//! page fills (up to a full scan of the project when nothing matches): telling few matches
//! from many there needs counting first or statistics (`ANALYZE`); not done yet.

use super::counters::FolderGroup;
use super::filter::{Filter, number_candidates};
use super::row::{DialogRow, KeyNames, ROW_COLUMN_COUNT, read_row, row_columns};
use crate::blobid::BlobId;
use crate::runtime::ProjectionError;
use rusqlite::{Connection, OptionalExtension, params};
use switchboard_schemas::*;

// ---------------------------------------------------------------------------------------------
// Queries (on a reader connection, see `runtime::open_reader`).

/// Who looks: admins count over the whole project, operators over the dialogs assigned to
/// them (the header, F1.7) or assigned to them and free (folders and tabs, F1.4, F12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub operator: OperatorId,
    pub admin: bool,
}

/// A folder whose badge is asked for (F1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Folder {
    /// Built-in *All chats*.
    All,
    /// Built-in *With operator*: the bot is paused.
    WithOperator,
    Custom(FolderId),
}

impl Folder {
    /// The counters' group of this folder (`None`: the whole project).
    pub(super) fn group(self) -> Option<FolderGroup> {
        match self {
            Folder::All => None,
            Folder::WithOperator => Some(FolderGroup::WithOperator),
            Folder::Custom(f) => Some(FolderGroup::Custom(f)),
        }
    }
}

/// F1.4 tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    All,
    /// The client waits: client messages no operator has read or answered.
    Unanswered,
    Mine,
    /// Assigned to someone else (admins only; empty for operators, F12.1).
    Others,
    Free,
}

/// F1.3 orders; pinned dialogs come first in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Last activity, newest first.
    Activity,
    /// Longest waiting for an answer first (F9); dialogs that wait for nobody follow by last
    /// activity.
    Processing,
    /// Client creation, newest first.
    Created,
}

impl Order {
    /// The order's name in cursor tokens.
    fn code(self) -> &'static str {
        match self {
            Order::Activity => "a",
            Order::Processing => "p",
            Order::Created => "c",
        }
    }

    /// The sort keys between `pinned` and `dialog`, all descending. Written exactly as in the
    /// `dialog_row_*_by_*` indexes, so that SQLite reads pages in index order.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Order::Activity => &["d.last_activity_at"],
            Order::Created => &["d.client_created_at"],
            Order::Processing => &["d.processing_waiting", "d.processing_key"],
        }
    }
}

/// Where the previous page ended (keyset pagination: never OFFSET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub(super) pinned: bool,
    /// The order's keys (the second is 0 for one-key orders).
    pub(super) keys: [i64; 2],
    /// The row's rowid: the last tie-breaker (registration order, see `dialog_row`).
    pub(super) row: i64,
}

impl Cursor {
    /// An opaque token for clients (`v1.<order>.<pinned>.<key>.<key>.<row>`): it names the order
    /// it was made for, so that a page of another order never continues from it.
    pub fn to_token(&self, order: Order) -> String {
        let [first, second] = self.keys;
        format!(
            "v1.{}.{}.{first}.{second}.{}",
            order.code(),
            u8::from(self.pinned),
            self.row
        )
    }

    /// Reads a token of [`Self::to_token`] made for `order`.
    pub fn from_token(token: &str, order: Order) -> Result<Self, CursorError> {
        let mut parts = token.split('.');
        let mut next = || parts.next().ok_or(CursorError::Malformed);
        if next()? != "v1" {
            return Err(CursorError::Malformed);
        }
        if next()? != order.code() {
            return Err(CursorError::OtherOrder);
        }
        let pinned = match next()? {
            "0" => false,
            "1" => true,
            _ => return Err(CursorError::Malformed),
        };
        let number = |text: &str| text.parse::<i64>().map_err(|_| CursorError::Malformed);
        let keys = [number(next()?)?, number(next()?)?];
        let row = number(next()?)?;
        if parts.next().is_some() || row < 1 {
            return Err(CursorError::Malformed);
        }
        Ok(Self { pinned, keys, row })
    }
}

/// Why a cursor token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not a cursor of this list")]
    Malformed,
    #[error("the cursor was made for another order")]
    OtherOrder,
}

/// A page of the dialog list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub project: ProjectId,
    pub viewer: Viewer,
    pub tab: Tab,
    pub folder: Folder,
    /// F1.6: closed (archived) dialogs are hidden unless asked for.
    pub include_closed: bool,
    pub order: Order,
    /// F2.2–F2.4, checked by [`Filter::new`].
    pub filter: Filter,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// Most rows of one page.
pub const MAX_PAGE: usize = 500;

/// A list row with the viewer's own read state (F1.2, F4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub row: DialogRow,
    /// Client messages the viewer has not read.
    pub unread_messages: u64,
    /// Unread for the viewer: unread messages or marked unread.
    pub unread: bool,
    /// The viewer's unsent draft, shortened.
    pub draft: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<ListRow>,
    /// Pass as `after` for the next page; none when this was the last.
    pub next: Option<Cursor>,
}

/// The viewer's own dialogs (`?2`: the viewer's token), by key so that indexes serve it.
const MINE: &str = "d.assignee_key = (SELECT key FROM idkey WHERE id = ?2)";

/// F12.1, the one place where lists apply it: an admin sees every dialog of the project (no
/// condition), an operator the ones assigned to them (`?2`) and the free ones: one SQL
/// condition per alternative.
fn visibility(viewer: Viewer) -> &'static [&'static str] {
    if viewer.admin {
        &[]
    } else {
        &[MINE, "d.assignee_key IS NULL"]
    }
}

/// F1.1–F1.6, F2: one page of the dialog list as the viewer sees it: the tab, the folder, the
/// archive switch and the filter, in the chosen order, after the cursor.
pub fn list_dialogs(conn: &Connection, query: &ListQuery) -> Result<Page, ProjectionError> {
    let narrowing = narrowing(conn, query)?;
    let (sql, values, limit) = list_sql(query, &narrowing);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    let mut page = Vec::with_capacity(limit);
    let mut keys = KeyNames::new(conn);
    while let Some(r) = rows.next()? {
        let row = read_row(r, &mut keys)?;
        let inbound_read: i64 = r.get(ROW_COLUMN_COUNT)?;
        let marked_unread: bool = r.get(ROW_COLUMN_COUNT + 1)?;
        let unread_messages = row
            .inbound_count
            .saturating_sub(u64::try_from(inbound_read).unwrap_or(0));
        let place = Cursor {
            pinned: r.get(ROW_COLUMN_COUNT + 2)?,
            keys: [r.get(ROW_COLUMN_COUNT + 3)?, r.get(ROW_COLUMN_COUNT + 4)?],
            row: r.get(ROW_COLUMN_COUNT + 6)?,
        };
        let row = ListRow {
            unread: marked_unread || unread_messages > 0,
            unread_messages,
            draft: crate::compact::optional_column(r, ROW_COLUMN_COUNT + 5)?,
            row,
        };
        page.push((place, row));
    }
    // The query picked the page's rows in order; the rows are read after (see `list_sql`) and
    // put back in that order here: pinned first, then the keys, then the rowid, descending.
    page.sort_unstable_by(|(a, _), (b, _)| {
        (b.pinned, b.keys, b.row).cmp(&(a.pinned, a.keys, a.row))
    });
    let next = match page.last() {
        Some((place, _)) if page.len() == limit => Some(place.clone()),
        _ => None,
    };
    Ok(Page {
        rows: page.into_iter().map(|(_, row)| row).collect(),
        next,
    })
}

/// SQLite's plan for a list page (`EXPLAIN QUERY PLAN`, one line per step): how to check that
/// a query reads in index order (no `USE TEMP B-TREE FOR ORDER BY`).
pub fn explain_list_dialogs(
    conn: &Connection,
    query: &ListQuery,
) -> Result<Vec<String>, ProjectionError> {
    let narrowing = narrowing(conn, query)?;
    let (sql, values, _) = list_sql(query, &narrowing);
    let lines = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
        .query_map(rusqlite::params_from_iter(values), |r| {
            r.get::<_, String>(3)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines)
}

/// Most activity rows a date range may hold to be looked up rather than scanned for.
pub const MAX_ACTIVITY_LOOKUP: i64 = 2_000;

/// Most dialogs a required tag or the folder may hold to be read from the membership rows
/// rather than scanned for in the order's index.
pub const MAX_MEMBER_LOOKUP: i64 = 2_000;

/// How a page can be narrowed down before it is sorted, when the filter requires something few
/// dialogs have (decided from the data, since SQLite has no statistics here).
#[derive(Debug, Default)]
struct Narrowing {
    /// F2.2: the client numbers that hold the required pattern.
    numbers: Option<Vec<u64>>,
    /// F2.3: the activity buckets of a required date range that few messages fall in.
    active: Option<(i64, i64)>,
    /// F2.3 / F1.5: a required tag or the folder that few dialogs are in: (the membership
    /// table, its member column, the member's stored id).
    member: Option<Member>,
}

/// A membership a page can be read from: (table, member column, the member's stored id).
type Member = (&'static str, &'static str, [u8; 16]);

fn narrowing(conn: &Connection, query: &ListQuery) -> Result<Narrowing, ProjectionError> {
    let mut narrowing = Narrowing::default();
    if let Some(digits) = query.filter.required_number() {
        let max: i64 = conn
            .prepare_cached("SELECT last FROM project_clientnumber WHERE project = ?1")?
            .query_row([query.project.token()], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        narrowing.numbers = number_candidates(digits, u64::try_from(max).unwrap_or(0));
        if narrowing.numbers.is_some() {
            return Ok(narrowing);
        }
    }
    if let Some((first, last)) = query.filter.required_activity() {
        // Every project's rows count: a busy range elsewhere only means scanning here.
        let rows: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM dialog_activity_by_bucket
                     WHERE bucket BETWEEN ?1 AND ?2 LIMIT ?3 + 1)",
            )?
            .query_row(params![first, last, MAX_ACTIVITY_LOOKUP], |r| r.get(0))?;
        if rows <= MAX_ACTIVITY_LOOKUP {
            narrowing.active = Some((first, last));
            return Ok(narrowing);
        }
    }
    // The rarest required membership, counted up to the limit in its `(member, dialog)` index
    // (rows of deleted or merged-away dialogs count too: they are read and dropped).
    let mut members: Vec<Member> = query
        .filter
        .required_tags()
        .iter()
        .map(|t| ("dialog_tag", "tag", t.blob()))
        .collect();
    if let Folder::Custom(folder) = query.folder {
        members.push(("dialog_folder", "folder", folder.blob()));
    }
    let mut rarest: Option<(i64, Member)> = None;
    for (table, column, token) in members {
        // `table` and `column` are this module's literals, never input.
        let rows: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} = ?1 LIMIT ?2 + 1)"
            ))?
            .query_row(params![token, MAX_MEMBER_LOOKUP], |r| r.get(0))?;
        if rows <= MAX_MEMBER_LOOKUP && rarest.as_ref().is_none_or(|(least, _)| rows < *least) {
            rarest = Some((rows, (table, column, token)));
        }
    }
    narrowing.member = rarest.map(|(_, member)| member);
    Ok(narrowing)
}

/// The SQL of a list page, its bound values and the page size.
///
/// Where the assignee decides (the *Mine* and *Free* tabs, an operator's own-or-free view) in
/// the activity order, the page reads `dialog_row_assignee_by_activity`, named with
/// `INDEXED BY` because without statistics SQLite prefers the wider index once a cursor adds a
/// range. An operator's view is then two arms, their own dialogs and the free ones (four with
/// the archive switch: each also open and closed), each read in index order up to `limit` rows
/// and merged (`UNION ALL … ORDER BY`), instead of one scan that skips every dialog of the
/// other operators.
///
/// `narrowing`: the client numbers the filter allows, read through `dialog_row_by_number`, or
/// a date range few messages fall in, whose dialogs are read by id; either way the few rows
/// are then sorted.
///
/// Two steps: the arms select only rowids and sort keys (`rid`, `pinned`, `k1`, `k2`), so
/// that what sorts or merges candidates carries four integers; the page's ≤ `limit` rows are
/// then read by rowid and joined with the viewer's read state and draft (reading and joining
/// every candidate before the sort cost more than twice the time on a rare tag's page).
fn list_sql(
    query: &ListQuery,
    narrowing: &Narrowing,
) -> (String, Vec<rusqlite::types::Value>, usize) {
    use rusqlite::types::Value;
    let numbers = narrowing.numbers.as_deref();
    let active = narrowing.active;
    let member = narrowing.member.as_ref();
    let narrowed = numbers.is_some() || active.is_some() || member.is_some();
    let keys = query.order.keys();
    let by_assignee = !narrowed
        && query.order == Order::Activity
        && (matches!(query.tab, Tab::Mine | Tab::Free) || !query.viewer.admin);
    // An arm picks rowids and sort keys only; the page's rows are read and joined after.
    let select = format!(
        "SELECT d.rowid AS rid, d.pinned AS pinned, {}
         FROM dialog_row d{}
         WHERE d.project_key = (SELECT key FROM idkey WHERE id = ?1)",
        if keys.len() == 1 {
            format!("{} AS k1, 0 AS k2", keys[0])
        } else {
            format!("{} AS k1, {} AS k2", keys[0], keys[1])
        },
        if numbers.is_some() {
            " INDEXED BY dialog_row_by_number"
        } else if active.is_some() || member.is_some() {
            // No index: the dialogs are read by rowid (which NOT INDEXED still allows), the
            // key the activity and membership rows hold.
            " NOT INDEXED"
        } else if by_assignee {
            " INDEXED BY dialog_row_assignee_by_activity"
        } else if query.order == Order::Activity && query.tab == Tab::Unanswered {
            " INDEXED BY dialog_row_unanswered_by_activity"
        } else if query.order == Order::Activity && query.folder == Folder::WithOperator {
            " INDEXED BY dialog_row_bot_paused_by_activity"
        } else {
            ""
        }
    );
    let (mut sql, mut values) = arm_conditions(query, narrowing);
    let mut columns = vec!["d.pinned"];
    columns.extend_from_slice(keys);
    columns.push("d.rowid");
    if let Some(cursor) = &query.after {
        values.push(Value::Integer(i64::from(cursor.pinned)));
        values.extend(
            cursor
                .keys
                .iter()
                .take(keys.len())
                .map(|k| Value::Integer(*k)),
        );
        values.push(Value::Integer(cursor.row));
        let first = values.len() + 1 - columns.len();
        let placeholders: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
        sql.push_str(&format!(
            " AND ({}) < ({})",
            columns.join(", "),
            placeholders.join(", ")
        ));
    }
    let limit = query.limit.clamp(1, MAX_PAGE);
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(500)));
    let order = format!(
        " ORDER BY {} DESC LIMIT ?{}",
        columns.join(" DESC, "),
        values.len()
    );
    // The `closed` ranges read (see the module doc): the default view's, or both in turn for
    // the archive switch; a narrowed page sorts its few rows whatever their state.
    let closed: &[&str] = if !query.include_closed {
        &[" AND d.closed = 0"]
    } else if !narrowed {
        &[" AND d.closed = 0", " AND d.closed = 1"]
    } else {
        &[""]
    };
    // *Mine* and *Free* hold only dialogs every viewer may see (F12.1): no second condition on
    // the assignee, which would make an assignee-index arm read the other arm's rows.
    let visible = if matches!(query.tab, Tab::Mine | Tab::Free) {
        &[][..]
    } else {
        visibility(query.viewer)
    };
    let alternatives: Vec<String> = if visible.is_empty() {
        vec![String::new()]
    } else if by_assignee {
        visible.iter().map(|v| format!(" AND {v}")).collect()
    } else {
        vec![format!(" AND ({})", visible.join(" OR "))]
    };
    let mut arms = Vec::with_capacity(closed.len() * alternatives.len());
    for state in closed {
        for alternative in &alternatives {
            arms.push(format!("{select}{state}{sql}{alternative}{order}"));
        }
    }
    let picks = if arms.len() == 1 {
        arms.swap_remove(0)
    } else {
        // Each arm read in its index order up to `limit` rows; merged by pinned, the two keys,
        // then the rowid.
        let arms: Vec<String> = arms
            .iter()
            .map(|arm| format!("SELECT * FROM ({arm})"))
            .collect();
        format!(
            "{} ORDER BY pinned DESC, k1 DESC, k2 DESC, rid DESC LIMIT ?{}",
            arms.join(" UNION ALL "),
            values.len()
        )
    };
    // The ≤ `limit` picked rows are read and joined with the viewer's read state and draft
    // once the page is known: a page that sorts many candidates (a rare tag's members, the
    // archive switch's arms) reads and joins 50 rows, not all of them. `list_dialogs` puts
    // them in order.
    let sql = format!(
        "SELECT {}, coalesce(r.inbound_read, 0), coalesce(r.marked_unread, 0),
                p.pinned, p.k1, p.k2, dr.preview, p.rid
         FROM ({picks}) p
         CROSS JOIN dialog_row shown ON shown.rowid = p.rid
         LEFT JOIN dialogoperator_read r
             ON r.dialog = p.rid AND r.operator = (SELECT key FROM idkey WHERE id = ?2)
         LEFT JOIN dialogoperator_draft dr
             ON dr.dialog = p.rid AND dr.operator = (SELECT key FROM idkey WHERE id = ?2)",
        row_columns("shown")
    );
    (sql, values, limit)
}

/// The conditions of a list page's arms after `project` (the tab, the folder, the narrowing
/// and the filter), shared by every arm, and their bound values from `?1`: the project's and
/// the viewer's tokens (`idkey`) first.
fn arm_conditions(
    query: &ListQuery,
    narrowing: &Narrowing,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let numbers = narrowing.numbers.as_deref();
    let active = narrowing.active;
    let member = narrowing.member.as_ref();
    let me = query.viewer.operator.token();
    // The conditions after `project`, shared by every arm.
    let mut sql = String::new();
    // ?1, ?2: the project's and the viewer's tokens (`idkey`).
    let mut values = vec![Value::Text(query.project.token()), Value::Text(me)];
    sql.push_str(" AND d.deleted = 0 AND d.merged_into IS NULL");
    match query.tab {
        Tab::All => {}
        Tab::Unanswered => sql.push_str(" AND d.unanswered = 1"),
        Tab::Mine => {
            sql.push_str(" AND ");
            sql.push_str(MINE);
        }
        Tab::Others => sql.push_str(
            " AND d.assignee_key IS NOT NULL
              AND d.assignee_key IS NOT (SELECT key FROM idkey WHERE id = ?2)",
        ),
        Tab::Free => sql.push_str(" AND d.assignee_key IS NULL"),
    }
    match query.folder {
        Folder::All => {}
        Folder::WithOperator => sql.push_str(" AND d.bot_paused = 1"),
        Folder::Custom(folder) => {
            values.push(Value::Blob(folder.blob().to_vec()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM dialog_folder f
                              WHERE f.dialog = d.rowid AND f.folder = ?{})",
                values.len()
            ));
        }
    }
    if let Some(numbers) = numbers {
        let first = values.len() + 1;
        values.extend(
            numbers
                .iter()
                .map(|n| Value::Integer(i64::try_from(*n).unwrap_or(i64::MAX))),
        );
        let placeholders: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
        if placeholders.is_empty() {
            sql.push_str(" AND 0");
        } else {
            sql.push_str(&format!(
                " AND d.client_number IN ({})",
                placeholders.join(", ")
            ));
        }
    }
    if let Some((first, last)) = active {
        values.push(Value::Integer(first));
        values.push(Value::Integer(last));
        sql.push_str(&format!(
            " AND d.rowid IN (SELECT a.dialog FROM dialog_activity_by_bucket a
                               WHERE a.bucket BETWEEN ?{} AND ?{})",
            values.len() - 1,
            values.len()
        ));
    }
    if let Some((table, column, id)) = member {
        values.push(Value::Blob(id.to_vec()));
        sql.push_str(&format!(
            " AND d.rowid IN (SELECT m.dialog FROM {table} m WHERE m.{column} = ?{})",
            values.len()
        ));
    }
    query.filter.push_sql(&mut sql, &mut values);
    (sql, values)
}
