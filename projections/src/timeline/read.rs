//! Reading the timeline: pages of a dialog with the dialogs it absorbed, newest first (one
//! index range per dialog of the merge group, merged), and one item by its place.
//!
//! Invariant: an id column that is not 16 bytes, an unknown item kind or a service entry that
//! does not decode is an error naming the column, never a default.

use super::entry::{ENTRY_COLUMN, EntryTypes, decode_entry};
use super::schema::{
    DELIVERED, INBOUND, NOTE, OUTBOUND, QUEUED, READ, SENT, SERVICE, parse_attachment_kind,
};
use crate::blobid;
use crate::runtime::ProjectionError;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

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

/// Delivery of an outbound message (F3.6): the domain's own states.
pub use switchboard_core::domain::dialog::Delivery;

/// Where a page of the timeline ended (keyset pagination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    place: i64,
}

impl TimelineCursor {
    /// An opaque token for clients.
    pub fn to_token(self) -> String {
        format!("t1.{}", self.place)
    }

    /// Reads a token of [`Self::to_token`]; `None` when it is not one.
    pub fn from_token(token: &str) -> Option<Self> {
        let place: i64 = token.strip_prefix("t1.")?.parse().ok()?;
        (place > 0).then_some(Self { place })
    }
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
    /// When the client last edited the message (its text and files are the edit's).
    pub edited_at: Option<Timestamp>,
    /// The client's reaction to the message.
    pub reaction: Option<String>,
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
    /// Pass as `before` ([`Window::Older`]) for older items; none when this was the oldest.
    pub next: Option<TimelineCursor>,
    /// Pass to [`Window::Newer`] for newer items; none when this page ends at the newest.
    pub newer: Option<TimelineCursor>,
}

/// Which part of a timeline a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The newest items older than the cursor (the newest of all without one).
    Older(Option<TimelineCursor>),
    /// The oldest items newer than the cursor (the way back up from a jump).
    Newer(TimelineCursor),
    /// A page with the anchor in it: about half older than it (the anchor included), the rest
    /// newer (a search hit opening its message; the "jump to date" of F2.3).
    Around(Anchor),
}

/// What [`Window::Around`] centres on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// A message, note or service entry by its id (16 bytes).
    Item(uuid::Uuid),
    /// The first item written at or after this moment (the newest when none is).
    Time(Timestamp),
}

pub(super) fn corrupt(column: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, what.into())
}

/// The keys of a dialog and of every dialog it absorbed, with their ids (none if the timeline
/// never saw the dialog).
pub(super) fn merge_group(
    conn: &Connection,
    dialog: DialogId,
) -> Result<Vec<(i64, DialogId)>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT s.key, s.id FROM timeline_key s WHERE s.id = ?1
         UNION ALL
         SELECT k.key, k.id FROM timeline_key s
             JOIN dialog_absorbed a ON a.survivor = s.key
             JOIN timeline_key k ON k.key = a.absorbed
         WHERE s.id = ?1",
    )?;
    let mut rows = statement.query([dialog.as_uuid().as_bytes()])?;
    let mut group = Vec::new();
    while let Some(r) = rows.next()? {
        group.push((
            r.get::<_, i64>(0)?,
            blobid::get_required(r, 1, "timeline_key.id")?,
        ));
    }
    Ok(group)
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
    timeline_window(conn, dialog, show, Window::Older(before), limit)
}

/// One page of the timeline of a dialog with the dialogs it absorbed, newest first: the part
/// `window` asks for, with only the kinds of items `show` asks for. `Ok(None)` when the anchor
/// of [`Window::Around`] is an item this timeline does not have.
pub fn timeline_window(
    conn: &Connection,
    dialog: DialogId,
    show: Show,
    window: Window,
    limit: usize,
) -> Result<TimelinePage, ProjectionError> {
    let limit = limit.clamp(1, 500);
    let group = merge_group(conn, dialog)?;
    let mut types = EntryTypes::default();
    // The `limit` items nearest to a side, and whether more are beyond them.
    let mut range = |side: Side, limit: usize| {
        let mut found = range(conn, &group, show, side, limit + 1, &mut types)?;
        let more = found.len() > limit;
        match side {
            Side::Below(_) => found.truncate(limit),
            Side::Above(_) => drop(found.drain(..found.len().saturating_sub(limit))),
        }
        Ok::<_, ProjectionError>((found, more))
    };
    // (place, dialog key, item), newest first; then whether older and newer items remain.
    let (found, older_left, newer_left) = match window {
        Window::Older(before) => {
            let below = before.map_or(i64::MAX, |c| c.place);
            let (found, older_left) = range(Side::Below(below), limit)?;
            (found, older_left, before.is_some())
        }
        Window::Newer(after) => {
            let (found, newer_left) = range(Side::Above(after.place), limit)?;
            (found, true, newer_left)
        }
        Window::Around(anchor) => {
            let Some(place) = anchor_place(conn, &group, anchor)? else {
                return Ok(TimelinePage {
                    items: Vec::new(),
                    next: None,
                    newer: None,
                });
            };
            let newer_wanted = limit / 2;
            let (mut found, newer_left) = range(Side::Above(place), newer_wanted)?;
            let (older, older_left) =
                range(Side::Below(place.saturating_add(1)), limit - newer_wanted)?;
            found.extend(older);
            (found, older_left, newer_left)
        }
    };
    let next = older_left
        .then(|| {
            found
                .last()
                .map(|(place, _, _)| TimelineCursor { place: *place })
        })
        .flatten();
    let newer = newer_left
        .then(|| {
            found
                .first()
                .map(|(place, _, _)| TimelineCursor { place: *place })
        })
        .flatten();
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
    Ok(TimelinePage { items, next, newer })
}

/// One side of a place: the items before it or after it (neither includes it).
#[derive(Debug, Clone, Copy)]
enum Side {
    Below(i64),
    Above(i64),
}

/// The `limit` items of the merge group nearest to `side`'s place on that side that `show`
/// shows, newest first, with their places and dialog keys.
fn range(
    conn: &Connection,
    group: &[(i64, DialogId)],
    show: Show,
    side: Side,
    limit: usize,
    types: &mut EntryTypes,
) -> Result<Vec<(i64, i64, TimelineItem)>, ProjectionError> {
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
    let (condition, order, bound) = match side {
        Side::Below(place) => ("t.place < ?2", "DESC", place),
        Side::Above(place) => ("t.place > ?2", "ASC", place),
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT t.place, t.kind, t.item, o.id, c.id, t.text, t.attachments, t.status, t.failure,
                t.at, t.entry, t.reply_to, t.edited_at, t.reaction
         FROM dialog_timeline t
             LEFT JOIN timeline_key o ON o.key = t.operator
             LEFT JOIN timeline_key c ON c.key = t.channel
         WHERE t.dialog = ?1 AND {condition}{hide}
         ORDER BY t.place {order}
         LIMIT ?3"
    ))?;
    // Each dialog's nearest `limit`, merged.
    let mut found = Vec::new();
    for (key, id) in group {
        let mut rows = statement.query(params![key, bound, i64::try_from(limit).unwrap_or(500)])?;
        while let Some(r) = rows.next()? {
            found.push((r.get::<_, i64>(0)?, *key, read_item(r, *id, conn, types)?));
        }
    }
    match side {
        Side::Below(_) => found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0)),
        Side::Above(_) => found.sort_unstable_by_key(|f| f.0),
    }
    found.truncate(limit);
    if matches!(side, Side::Above(_)) {
        found.reverse();
    }
    Ok(found)
}

/// The place [`Window::Around`] centres on: the item's, or the first at or after the time
/// (the newest when none is); `None` for an item the group does not have, or an empty group.
fn anchor_place(
    conn: &Connection,
    group: &[(i64, DialogId)],
    anchor: Anchor,
) -> Result<Option<i64>, ProjectionError> {
    let mut best: Option<i64> = None;
    for (key, _) in group {
        let found: Option<i64> = match anchor {
            Anchor::Item(id) => conn
                .prepare_cached(
                    "SELECT place FROM dialog_timeline WHERE dialog = ?1 AND item = ?2",
                )?
                .query_row(params![key, id.as_bytes()], |r| r.get(0))
                .optional()?,
            Anchor::Time(at) => conn
                .prepare_cached(
                    "SELECT coalesce(
                         (SELECT place FROM dialog_timeline WHERE dialog = ?1 AND at >= ?2
                          ORDER BY place LIMIT 1),
                         -(SELECT max(place) FROM dialog_timeline WHERE dialog = ?1))",
                )?
                .query_row(params![key, at.as_micros()], |r| r.get(0))?,
        };
        best = match (best, found) {
            (None, found) => found,
            (best, None) => best,
            // At or after the time: the earliest such place of the group, before any newest
            // (stored negated) one.
            (Some(a), Some(b)) if matches!(anchor, Anchor::Time(_)) => Some(match (a > 0, b > 0) {
                (true, true) => a.min(b),
                (true, false) => a,
                (false, true) => b,
                (false, false) => a.min(b),
            }),
            (Some(a), Some(_)) => Some(a),
        };
    }
    Ok(best.map(i64::abs))
}

/// The item at `place` (a search hit's, see [`crate::search::MessageHit`]) with its files; none
/// when the timeline has no such item (erased with its client, or not applied yet).
pub fn item_at(conn: &Connection, place: i64) -> Result<Option<TimelineItem>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT t.place, t.kind, t.item, o.id, c.id, t.text, t.attachments, t.status, t.failure,
                t.at, t.entry, t.reply_to, t.edited_at, t.reaction, d.id, t.dialog
         FROM dialog_timeline t
             JOIN timeline_key d ON d.key = t.dialog
             LEFT JOIN timeline_key o ON o.key = t.operator
             LEFT JOIN timeline_key c ON c.key = t.channel
         WHERE t.place = ?1",
    )?;
    let mut rows = statement.query([place])?;
    let found = match rows.next()? {
        Some(r) => {
            let dialog = blobid::get_required(r, 14, "dialog_timeline.dialog")?;
            Some((
                r.get::<_, i64>(15)?,
                read_item(r, dialog, conn, &mut EntryTypes::default())?,
            ))
        }
        None => None,
    };
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

fn read_item(
    r: &rusqlite::Row<'_>,
    dialog: DialogId,
    conn: &Connection,
    types: &mut EntryTypes,
) -> Result<TimelineItem, ProjectionError> {
    // The item column (2) holds a message's, note's or event's id, by the row's kind.
    let operator = blobid::get(r, 3, "dialog_timeline.operator")?;
    let (kind, id, entry) = match r.get::<_, i64>(1)? {
        INBOUND => (
            ItemKind::Inbound,
            ItemId::Message(blobid::get_required(r, 2, "dialog_timeline.item")?),
            None,
        ),
        OUTBOUND => (
            ItemKind::Outbound(operator),
            ItemId::Message(blobid::get_required(r, 2, "dialog_timeline.item")?),
            None,
        ),
        NOTE => (
            ItemKind::Note(operator),
            ItemId::Note(blobid::get_required(r, 2, "dialog_timeline.item")?),
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
                ItemId::Service(blobid::get_required(r, 2, "dialog_timeline.item")?),
                Some(event),
            )
        }
        other => return Err(corrupt(1, format!("unknown item kind {other}")).into()),
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
        channel: blobid::get(r, 4, "dialog_timeline.channel")?,
        text: crate::compact::column(r, 5)?,
        attachments: r.get(6)?,
        files: Vec::new(),
        reply_to: blobid::get(r, 11, "dialog_timeline.reply_to")?,
        entry,
        delivery,
        failure: r.get(8)?,
        at: Timestamp::from_micros(r.get(9)?),
        edited_at: r.get::<_, Option<i64>>(12)?.map(Timestamp::from_micros),
        reaction: r.get(13)?,
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
