//! The query API the gateway serves: everything a caller may ask of the read models, with the
//! access rules of F12 applied here and nowhere else.
//!
//! - A [`QueryCaller`] is an operator of one project with a role (the caller of a command is
//!   `switchboard_core::domain::Caller`). Projects never see each other (F12.2): every answer is
//!   scoped to the caller's project, and a dialog of another project is [`Access::NotFound`], as
//!   if it did not exist.
//! - An admin sees every dialog of the project; an operator sees the dialogs assigned to them
//!   and the free ones, and loses a dialog the moment it is reassigned away (F12.1): the rule is
//!   `switchboard_core::domain::rights::may_access_dialog`, the one the commands obey too.
//!   [`QueryCaller::may_see`] applies it to one row; the list query applies it in SQL
//!   ([`crate::dialogs::list_dialogs`] with the caller's [`Viewer`]), and both are tested
//!   against each other.
//! - Deleted dialogs are gone for everyone; a dialog merged into another answers
//!   [`Access::Merged`] with the survivor, whose timeline carries both histories.
//!
//! Functions take the reader connections of the read models they need (one per file); the
//! gateway runs them on its blocking pool.

use crate::card::{Card, card};
use crate::dialogs::{
    Cursor, DialogRow, Folder, ListQuery, Page, Viewer, dialog_row, folder_badge, list_dialogs,
    tag_usage, unanswered_dialogs, unread_dialogs,
};
use crate::export::{ExportClient, export_client};
use crate::project::{FolderInfo, TagInfo, folders, tags};
use crate::runtime::ProjectionError;
use crate::search::{
    ClientHit, HitDetail, SearchCursor, SearchError, SearchPage, SearchQuery, SearchReader,
};
use crate::timeline::{
    AttachmentCursor, AttachmentPage, Show, TimelineItem, TimelinePage, Window, attachments,
    find_attachment, item_at, timeline_window,
};
use rusqlite::Connection;
use std::collections::HashMap;
use switchboard_core::domain::rights::may_access_dialog;
use switchboard_schemas::{Attachment, AttachmentKind};
use switchboard_schemas::{DialogId, OperatorId, ProjectId, Role};

/// Who asks a query: an operator of one project, with their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryCaller {
    pub project: ProjectId,
    pub operator: OperatorId,
    pub role: Role,
}

/// Whether a caller may open a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Visible,
    /// Unknown, deleted, or of another project.
    NotFound,
    /// Assigned to another operator (an operator caller only).
    Forbidden,
    /// Merged into this dialog.
    Merged(DialogId),
}

impl QueryCaller {
    pub fn viewer(&self) -> Viewer {
        Viewer {
            operator: self.operator,
            admin: self.role == Role::Admin,
        }
    }

    /// F12 for one dialog row.
    pub fn may_see(&self, row: &DialogRow) -> Access {
        if row.project != self.project || row.deleted {
            return Access::NotFound;
        }
        if let Some(survivor) = row.merged_into {
            return Access::Merged(survivor);
        }
        if may_access_dialog(self.role, self.operator, row.assignee) {
            Access::Visible
        } else {
            Access::Forbidden
        }
    }
}

/// F12 for a dialog, from the dialog list read model.
pub fn access(
    dialogs: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
) -> Result<Access, ProjectionError> {
    Ok(match dialog_row(dialogs, dialog)? {
        Some(row) => caller.may_see(&row),
        None => Access::NotFound,
    })
}

/// A page of the dialog list as the caller sees it: the project and the visibility come from
/// the caller whatever `query` says.
pub fn list(
    dialogs: &Connection,
    caller: &QueryCaller,
    mut query: ListQuery,
) -> Result<Page, ProjectionError> {
    query.project = caller.project;
    query.viewer = caller.viewer();
    list_dialogs(dialogs, &query)
}

/// Every dialog of a list as the caller sees it (F6.1: all that match, not one page), read
/// page by page inside one read transaction: one snapshot of the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// In the list's order.
    pub dialogs: Vec<DialogId>,
    /// The log sequence the read model had applied in that snapshot: the selection is the
    /// list as of this sequence.
    pub seq: u64,
}

/// The whole list `query` describes (its `after` and `limit` are ignored) as [`list`] answers
/// it page by page, in one snapshot; `None` when it holds more than `max` dialogs.
pub fn select_every(
    dialogs: &Connection,
    caller: &QueryCaller,
    mut query: ListQuery,
    max: usize,
) -> Result<Option<Selection>, ProjectionError> {
    let snapshot = dialogs.unchecked_transaction()?;
    let seq = crate::runtime::read_checkpoint(&snapshot, "dialogs")?.seq;
    query.after = None;
    query.limit = crate::dialogs::MAX_PAGE;
    let mut selected = Vec::new();
    loop {
        let page = list(&snapshot, caller, query.clone())?;
        selected.extend(page.rows.iter().map(|row| row.row.dialog));
        if selected.len() > max {
            return Ok(None);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    snapshot.finish()?;
    Ok(Some(Selection {
        dialogs: selected,
        seq,
    }))
}

/// Of `dialogs` (each once, in the given order), the ones the caller may see, in one snapshot;
/// the second part is how many they may not (unknown, deleted, merged, another operator's).
pub fn select_visible(
    dialogs: &Connection,
    caller: &QueryCaller,
    given: &[DialogId],
) -> Result<(Selection, usize), ProjectionError> {
    let snapshot = dialogs.unchecked_transaction()?;
    let seq = crate::runtime::read_checkpoint(&snapshot, "dialogs")?.seq;
    let mut seen = std::collections::HashSet::with_capacity(given.len());
    let mut visible = Vec::with_capacity(given.len());
    let mut refused = 0;
    for &dialog in given {
        if !seen.insert(dialog) {
            continue;
        }
        match access(&snapshot, caller, dialog)? {
            Access::Visible => visible.push(dialog),
            _ => refused += 1,
        }
    }
    snapshot.finish()?;
    Ok((
        Selection {
            dialogs: visible,
            seq,
        },
        refused,
    ))
}

/// A page of the clients export (F8.1).
#[derive(Debug, Clone)]
pub struct ExportPage {
    pub clients: Vec<ExportClient>,
    /// Where the next page starts; none when this was the last.
    pub next: Option<Cursor>,
}

/// F8: a page of the clients the caller may export: exactly the dialog list's page for
/// `query` as the caller sees it ([`list`]), each row with the rest of F8.1 read from the card
/// (`cards`) and the list. An export walks the list's keyset pages with it.
pub fn export_page(
    dialogs: &Connection,
    cards: &Connection,
    caller: &QueryCaller,
    query: ListQuery,
) -> Result<ExportPage, ProjectionError> {
    let page = list(dialogs, caller, query)?;
    let clients = page
        .rows
        .into_iter()
        .map(|listed| export_client(dialogs, cards, listed.row))
        .collect::<Result<_, _>>()?;
    Ok(ExportPage {
        clients,
        next: page.next,
    })
}

/// One dialog's list row, if the caller may see it.
pub fn row(
    dialogs: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
) -> Result<Result<DialogRow, Access>, ProjectionError> {
    Ok(match dialog_row(dialogs, dialog)? {
        Some(row) => match caller.may_see(&row) {
            Access::Visible => Ok(row),
            denied => Err(denied),
        },
        None => Err(Access::NotFound),
    })
}

/// The client card (F7), if the caller may see the dialog.
pub fn open_card(
    dialogs: &Connection,
    cards: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
) -> Result<Result<Card, Access>, ProjectionError> {
    match access(dialogs, caller, dialog)? {
        Access::Visible => Ok(card(cards, dialog)?.ok_or(Access::NotFound)),
        denied => Ok(Err(denied)),
    }
}

/// A page of the dialog's timeline (F3), newest first: the part `window` asks for, showing what
/// `show` asks for (F7.6), if the caller may see the dialog.
pub fn open_timeline(
    dialogs: &Connection,
    timelines: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
    show: Show,
    window: Window,
    limit: usize,
) -> Result<Result<TimelinePage, Access>, ProjectionError> {
    match access(dialogs, caller, dialog)? {
        Access::Visible => Ok(Ok(timeline_window(timelines, dialog, show, window, limit)?)),
        denied => Ok(Err(denied)),
    }
}

/// A page of the dialog's attachments of the given kinds (F3.7), if the caller may see it.
pub fn open_attachments(
    dialogs: &Connection,
    timelines: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
    kinds: &[AttachmentKind],
    before: Option<AttachmentCursor>,
    limit: usize,
) -> Result<Result<AttachmentPage, Access>, ProjectionError> {
    match access(dialogs, caller, dialog)? {
        Access::Visible => Ok(Ok(attachments(timelines, dialog, kinds, before, limit)?)),
        denied => Ok(Err(denied)),
    }
}

/// F3.7 download: the attachment whose bytes are `storage_ref`, if the caller may see the
/// dialog and one of its messages (or of the dialogs it absorbed) carries that file. A file is
/// visible through a dialog only: the same bytes sent in a dialog the caller may not see give
/// no access.
pub fn open_attachment(
    dialogs: &Connection,
    timelines: &Connection,
    caller: &QueryCaller,
    dialog: DialogId,
    storage_ref: &str,
) -> Result<Result<Attachment, Access>, ProjectionError> {
    match access(dialogs, caller, dialog)? {
        Access::Visible => {
            Ok(find_attachment(timelines, dialog, storage_ref)?.ok_or(Access::NotFound))
        }
        denied => Ok(Err(denied)),
    }
}

/// Every counter of the left pane for one caller (F1.4, F1.5, F1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badges {
    /// The header counter: unread dialogs (admin: the project; operator: assigned to them).
    pub unread: u64,
    /// Dialogs in *Unanswered* the caller sees.
    pub unanswered: u64,
    /// Built-in *All chats*.
    pub all_chats: u64,
    /// Built-in *With operator*.
    pub with_operator: u64,
    /// The project's folders in their order, each with its badge.
    pub folders: Vec<(FolderInfo, u64)>,
}

/// Reads every badge of the caller: O(folders) counter lookups, never a scan of dialogs.
pub fn badges(
    dialogs: &Connection,
    project: &Connection,
    caller: &QueryCaller,
) -> Result<Badges, ProjectionError> {
    let viewer = caller.viewer();
    let p = caller.project;
    let mut custom = Vec::new();
    for folder in folders(project, p)? {
        let badge = folder_badge(dialogs, p, viewer, Folder::Custom(folder.folder))?;
        custom.push((folder, badge));
    }
    Ok(Badges {
        unread: unread_dialogs(dialogs, p, viewer)?,
        unanswered: unanswered_dialogs(dialogs, p, viewer)?,
        all_chats: folder_badge(dialogs, p, viewer, Folder::All)?,
        with_operator: folder_badge(dialogs, p, viewer, Folder::WithOperator)?,
        folders: custom,
    })
}

/// F2.5: the project's tags with their colors and how many live dialogs carry each, most used
/// first (then by name); tags nobody uses are listed with 0.
pub fn tag_picker(
    dialogs: &Connection,
    project: &Connection,
    caller: &QueryCaller,
) -> Result<Vec<(TagInfo, u64)>, ProjectionError> {
    let counts: HashMap<_, _> = tag_usage(dialogs, caller.project)?.into_iter().collect();
    let mut picker: Vec<_> = tags(project, caller.project)?
        .into_iter()
        .map(|tag| {
            let count = counts.get(&tag.tag).copied().unwrap_or(0);
            (tag, count)
        })
        .collect();
    picker.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.name.cmp(&b.name)));
    Ok(picker)
}

/// Pages of the index a search reads at most to fill one page of visible hits.
pub const SEARCH_SCAN_PAGES: usize = 8;

/// F2.1 search as the caller may see it: within the caller's project, hits in dialogs the
/// caller may not open left out (checked against the dialog list, one row lookup per hit).
/// Reads index pages of `query.limit` until it has `query.limit` visible hits, the index has no
/// more, or it read [`SEARCH_SCAN_PAGES`] pages; so a page may hold fewer hits (even none) and
/// still have a `next` cursor, and it holds whole index pages (up to one page more than
/// `limit`). Blocking (tantivy and SQLite): run it on the blocking pool.
pub fn search(
    dialogs: &Connection,
    index: &SearchReader,
    caller: &QueryCaller,
    mut query: SearchQuery,
) -> Result<SearchPage, SearchError> {
    query.project = caller.project;
    let mut hits = Vec::new();
    let mut next = query.after;
    for _ in 0..SEARCH_SCAN_PAGES {
        query.after = next;
        let page = index.search(&query)?;
        next = page.next;
        for hit in page.hits {
            if access(dialogs, caller, hit.dialog)? == Access::Visible {
                hits.push(hit);
            }
        }
        if hits.len() >= query.limit || next.is_none() {
            break;
        }
    }
    Ok(SearchPage { hits, next })
}

/// What a search found, shown: a client as the index holds it, a message as the timeline shows
/// it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The dialog to open (a merged message's survivor).
    pub dialog: DialogId,
    /// The log sequence of the event the hit comes from.
    pub seq: u64,
    /// BM25 score, for relevance order.
    pub score: Option<f32>,
    pub detail: FoundDetail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FoundDetail {
    Client(ClientHit),
    /// The message or note with its text, author, files and delivery.
    Message(Box<TimelineItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FoundPage {
    pub hits: Vec<Found>,
    /// Where the next page starts, if there may be one.
    pub next: Option<SearchCursor>,
}

/// [`search`] with each message hit read from the timeline (the index keeps a message's words
/// only; its text, author and id are the timeline's, at the same place: one row read per hit).
/// A hit the timeline does not hold (yet: the timeline applies the same log on its own runner,
/// usually ahead of the index's commits) is left out of the page.
pub fn search_items(
    dialogs: &Connection,
    timeline: &Connection,
    index: &SearchReader,
    caller: &QueryCaller,
    query: SearchQuery,
) -> Result<FoundPage, SearchError> {
    let page = search(dialogs, index, caller, query)?;
    let mut hits = Vec::with_capacity(page.hits.len());
    for hit in page.hits {
        let detail = match hit.detail {
            HitDetail::Client(client) => FoundDetail::Client(client),
            HitDetail::Message(message) => match item_at(timeline, message.place)? {
                Some(item) => FoundDetail::Message(Box::new(item)),
                None => continue,
            },
        };
        hits.push(Found {
            dialog: hit.dialog,
            seq: hit.seq,
            score: hit.score,
            detail,
        });
    }
    Ok(FoundPage {
        hits,
        next: page.next,
    })
}
