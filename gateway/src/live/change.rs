//! What the hub publishes ([`Change`]) and how it is made from the log records of one batch and
//! the read models that applied them ([`Batch`], [`Batch::read`]), and how one caller sees a
//! dialog's change ([`DialogChange::seen_by`]); whom a change may concern ([`Audience`]).
//!
//! A batch's changes of one dialog become one [`DialogChange`] at the batch's last sequence of
//! that dialog, carrying the row as the read model holds it after the batch, what decided who
//! saw the dialog before the batch (its assignee and whether it was listed), and every new
//! client message of the batch with its own sequence (a stream resumed in the middle of a batch
//! another node cut differently shows only those after its id).

use parking_lot::Mutex;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use switchboard_core::domain::rights::may_access_dialog;
use switchboard_core::log::LogRecord;
use switchboard_projections::ProjectionError;
use switchboard_projections::dialogs::{
    DialogRow, OperatorMarks, dialog_folders, dialog_row, operator_marks,
};
use switchboard_projections::project::{FolderInfo, folders};
use switchboard_projections::query::{Access, QueryCaller};
use switchboard_schemas::{
    AggregateId, ChannelId, DialogId, Event, MessageId, OperatorId, ProjectId, Role, Timestamp,
    decode_batch,
};

/// The most characters of a message's text a notification carries.
pub const NOTIFY_CHARS: usize = 500;

/// One change the hub publishes, at a log sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Dialog(Box<DialogChange>),
    Project(ProjectChange),
}

impl Change {
    /// The log sequence the change reflects (a stream's event id).
    pub fn seq(&self) -> u64 {
        match self {
            Change::Dialog(change) => change.seq,
            Change::Project(change) => change.seq,
        }
    }

    pub fn project(&self) -> ProjectId {
        match self {
            Change::Dialog(change) => change.project,
            Change::Project(change) => change.project,
        }
    }

    /// Every audience whose callers may see the change (or must look at it): a caller outside
    /// all of them sees nothing of it ([`DialogChange::seen_by`] is `Unseen`, a project change
    /// is not about them). More is harmless, less loses events.
    pub fn audiences(&self) -> Vec<Audience> {
        match self {
            Change::Dialog(change) => {
                let p = change.project;
                if let Some(only) = change.only_for {
                    return vec![Audience::Operator(p, only)];
                }
                let now = change.row.as_ref().and_then(|r| r.assignee);
                let mut audiences = vec![Audience::Admins(p)];
                if change.assignee_before.is_none() || now.is_none() {
                    audiences.push(Audience::Operators(p));
                }
                for operator in [change.assignee_before, now].into_iter().flatten() {
                    audiences.push(Audience::Operator(p, operator));
                }
                audiences
            }
            Change::Project(change) => {
                let p = change.project;
                let mut audiences = Vec::new();
                if change.folders {
                    audiences.extend([Audience::Admins(p), Audience::Operators(p)]);
                }
                if let Some(member) = change.member {
                    audiences.push(Audience::Operator(p, member));
                }
                audiences
            }
        }
    }
}

/// Whom a change may concern: the feeds of the hub ([`super::LiveHub::join`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The project's admins: every change of it.
    Admins(ProjectId),
    /// Every operator of the project: a change of a free dialog, the folders.
    Operators(ProjectId),
    /// One person: their dialogs, their own state, their membership.
    Operator(ProjectId, OperatorId),
}

impl Audience {
    /// The audiences a caller belongs to (F12: an admin sees every dialog of the project, an
    /// operator the free ones and their own).
    pub fn of(caller: &QueryCaller) -> Vec<Audience> {
        let (p, operator) = (caller.project, caller.operator);
        let wide = match caller.role {
            Role::Admin => Audience::Admins(p),
            Role::Operator => Audience::Operators(p),
        };
        vec![wide, Audience::Operator(p, operator)]
    }
}

/// A dialog changed.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogChange {
    /// The last sequence of the batch that touched the dialog.
    pub seq: u64,
    pub project: ProjectId,
    pub dialog: DialogId,
    /// The row after the batch (none: the read model does not know the dialog).
    pub row: Option<DialogRow>,
    /// Who saw the dialog before the batch: its assignee then.
    pub assignee_before: Option<OperatorId>,
    /// Whether it was a listed dialog before the batch (registered, not deleted, not merged).
    pub listed_before: bool,
    /// Each operator's own state (read marks, draft) after the batch.
    pub marks: Vec<OperatorMarks>,
    /// Only this operator's own state changed (a read mark, a draft): nobody else's row did.
    pub only_for: Option<OperatorId>,
    /// The client's new messages, in log order.
    pub messages: Vec<NewMessage>,
    /// The batch changed the dialog's timeline where its row shows nothing: a delivery status
    /// (sent, delivered, read, failed, resent), an edit or a reaction (F3.6, F10).
    pub timeline: bool,
    /// The custom folders the dialog is in, with their push and sound switches (read only
    /// when there are messages).
    pub folders: Vec<FolderInfo>,
    /// The change as streams show it, made once for all the callers it looks the same to.
    pub shown: Shown,
}

/// A change's shown text (an SSE event's data), by whose own state (read marks, draft) it
/// carries: none for every caller without any. Not part of the change's value.
#[derive(Debug, Default)]
pub struct Shown(Mutex<Vec<(Option<OperatorId>, Arc<str>)>>);

impl Clone for Shown {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Shown {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl DialogChange {
    /// The text of the change for callers with the own state of `marks_of` (none: without
    /// any), made by `make` the first time it is asked for.
    pub fn shown(&self, marks_of: Option<OperatorId>, make: impl FnOnce() -> String) -> Arc<str> {
        if let Some((_, text)) = self.shown.0.lock().iter().find(|(o, _)| *o == marks_of) {
            return Arc::clone(text);
        }
        let text: Arc<str> = make().into();
        self.shown.0.lock().push((marks_of, Arc::clone(&text)));
        text
    }

    /// Drops the shown texts (an old change: the few late streams make their own).
    pub fn forget_shown(&self) {
        let mut shown = self.shown.0.lock();
        if !shown.is_empty() {
            *shown = Vec::new();
        }
    }
}

/// A client's new message (F10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub seq: u64,
    pub message: MessageId,
    pub channel: ChannelId,
    /// The text, at most [`NOTIFY_CHARS`] characters.
    pub text: String,
    pub truncated: bool,
    pub attachments: u32,
    pub sent_at: Timestamp,
}

/// How a caller sees a dialog's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Visible: its row, with the caller's own state if they have one.
    Row(&'a DialogRow, Option<&'a OperatorMarks>),
    /// It was visible and is not any more.
    Removed(Gone),
    /// Neither before nor after, or nothing of it changed for the caller.
    Unseen,
}

/// Why a dialog left a caller's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Assigned to another operator.
    Reassigned,
    Deleted,
    Merged(DialogId),
}

impl DialogChange {
    /// F12 for one caller: `QueryCaller::may_see` on the row now and the same rule on the
    /// dialog as it was before the batch.
    pub fn seen_by(&self, caller: &QueryCaller) -> Seen<'_> {
        if self.project != caller.project {
            return Seen::Unseen;
        }
        if self.only_for.is_some_and(|only| only != caller.operator) {
            return Seen::Unseen;
        }
        let before = self.listed_before
            && may_access_dialog(caller.role, caller.operator, self.assignee_before);
        let Some(row) = &self.row else {
            return if before {
                Seen::Removed(Gone::Deleted)
            } else {
                Seen::Unseen
            };
        };
        match caller.may_see(row) {
            Access::Visible => Seen::Row(
                row,
                self.marks.iter().find(|m| m.operator == caller.operator),
            ),
            _ if !before => Seen::Unseen,
            Access::Merged(survivor) => Seen::Removed(Gone::Merged(survivor)),
            Access::Forbidden => Seen::Removed(Gone::Reassigned),
            Access::NotFound => Seen::Removed(Gone::Deleted),
        }
    }
}

/// Something of a project changed that streams must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectChange {
    pub seq: u64,
    pub project: ProjectId,
    /// An operator was added, removed or got another role.
    pub member: Option<OperatorId>,
    /// The folders changed (the counters list them).
    pub folders: bool,
}

/// Whose own state the events of a dialog touched so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Personal {
    Nobody,
    One(OperatorId),
    Everyone,
}

/// What a batch did to one dialog, before its row is read.
#[derive(Debug)]
struct Touch {
    seq: u64,
    project: ProjectId,
    /// The assignee before the first assignment change of the batch, if there was one.
    assignee_before: Option<Option<OperatorId>>,
    registered: bool,
    left: bool,
    personal: Personal,
    messages: Vec<NewMessage>,
    /// See [`DialogChange::timeline`].
    timeline: bool,
}

/// The changes of a batch of log records, before the read models are read.
#[derive(Debug, Default)]
pub struct Batch {
    touches: BTreeMap<DialogId, Touch>,
    projects: Vec<ProjectChange>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.touches.is_empty() && self.projects.is_empty()
    }

    /// Adds a record's events (a record that does not decode is skipped: the read models
    /// skipped it too).
    pub fn add(&mut self, record: &LogRecord) {
        let events = match decode_batch(&record.batch) {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(seq = record.seq, %error, "live: a record does not decode");
                return;
            }
        };
        for envelope in &events {
            match envelope.aggregate {
                AggregateId::Dialog(dialog) => {
                    let touch = self.touches.entry(dialog).or_insert(Touch {
                        seq: record.seq,
                        project: envelope.project,
                        assignee_before: None,
                        registered: false,
                        left: false,
                        personal: Personal::Nobody,
                        messages: Vec::new(),
                        timeline: false,
                    });
                    touch.seq = record.seq;
                    touch.add(record.seq, &envelope.payload);
                }
                AggregateId::Project => {
                    let (member, folders) = project_effect(&envelope.payload);
                    if member.is_some() || folders {
                        self.projects.push(ProjectChange {
                            seq: record.seq,
                            project: envelope.project,
                            member,
                            folders,
                        });
                    }
                }
                AggregateId::Identity { .. } => {}
            }
        }
    }

    /// Reads what the batch changed from the read models (after they applied it), in sequence
    /// order: one row read per touched dialog. Blocking.
    pub fn read(
        self,
        dialogs: &Connection,
        project: &Connection,
    ) -> Result<Vec<Change>, ProjectionError> {
        let mut changes = Vec::with_capacity(self.touches.len() + self.projects.len());
        let mut project_folders: HashMap<ProjectId, Vec<FolderInfo>> = HashMap::new();
        for (dialog, touch) in self.touches {
            let row = dialog_row(dialogs, dialog)?;
            let marks = match &row {
                Some(_) => operator_marks(dialogs, dialog)?,
                None => Vec::new(),
            };
            let mut in_folders = Vec::new();
            if !touch.messages.is_empty() && row.is_some() {
                let ids = dialog_folders(dialogs, dialog)?;
                if !ids.is_empty() {
                    let all = match project_folders.get(&touch.project) {
                        Some(all) => all,
                        None => project_folders
                            .entry(touch.project)
                            .or_insert(folders(project, touch.project)?),
                    };
                    in_folders = all
                        .iter()
                        .filter(|f| ids.contains(&f.folder))
                        .cloned()
                        .collect();
                }
            }
            let listed_now = row
                .as_ref()
                .is_some_and(|r| !r.deleted && r.merged_into.is_none());
            let assignee_now = row.as_ref().and_then(|r| r.assignee);
            changes.push(Change::Dialog(Box::new(DialogChange {
                seq: touch.seq,
                project: touch.project,
                dialog,
                assignee_before: touch.assignee_before.unwrap_or(assignee_now),
                listed_before: !touch.registered && (touch.left || listed_now),
                marks,
                only_for: match touch.personal {
                    Personal::One(operator) => Some(operator),
                    Personal::Nobody | Personal::Everyone => None,
                },
                messages: touch.messages,
                timeline: touch.timeline,
                folders: in_folders,
                row,
                shown: Shown::default(),
            })));
        }
        changes.extend(self.projects.into_iter().map(Change::Project));
        changes.sort_by_key(Change::seq);
        Ok(changes)
    }
}

impl Touch {
    fn add(&mut self, seq: u64, event: &Event) {
        // A read mark is not one of them: it also ends the dialog's *Unanswered* for all.
        let personal = match event {
            Event::MarkedUnread(e) => Some(e.operator),
            Event::DraftSaved(e) => Some(e.operator),
            Event::DraftCleared(e) => Some(e.operator),
            _ => None,
        };
        self.personal = match (self.personal, personal) {
            (Personal::Nobody, Some(operator)) => Personal::One(operator),
            (Personal::One(one), Some(operator)) if one == operator => Personal::One(one),
            _ => Personal::Everyone,
        };
        match event {
            Event::DialogAssigned(e) => {
                self.assignee_before.get_or_insert(e.previous);
            }
            Event::DialogUnassigned(e) => {
                self.assignee_before.get_or_insert(Some(e.previous));
            }
            Event::DialogRegistered(_) => self.registered = true,
            Event::MessageSent(_)
            | Event::MessageDelivered(_)
            | Event::MessageRead(_)
            | Event::MessageFailed(_)
            | Event::MessageResent(_)
            | Event::MessageEdited(_)
            | Event::ReactionSet(_) => self.timeline = true,
            Event::ClientDeleted(_) | Event::DialogMergedInto(_) => self.left = true,
            Event::MessageReceived(e) => {
                let truncated = e.text.chars().count() > NOTIFY_CHARS;
                self.messages.push(NewMessage {
                    seq,
                    message: e.message,
                    channel: e.channel,
                    text: e.text.chars().take(NOTIFY_CHARS).collect(),
                    truncated,
                    attachments: u32::try_from(e.attachments.len()).unwrap_or(u32::MAX),
                    sent_at: e.sent_at,
                });
            }
            _ => {}
        }
    }
}

/// What a project event changes for streams: an operator's membership, the folders.
fn project_effect(event: &Event) -> (Option<OperatorId>, bool) {
    match event {
        Event::OperatorAdded(e) => (Some(e.operator), false),
        Event::OperatorRoleChanged(e) => (Some(e.operator), false),
        Event::OperatorRemoved(e) => (Some(e.operator), false),
        Event::FolderCreated(_)
        | Event::FolderRenamed(_)
        | Event::FolderDeleted(_)
        | Event::FolderNotificationsSet(_) => (None, true),
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ProjectId = ProjectId::from_u128(1);
    const A: OperatorId = OperatorId::from_u128(0xa);
    const B: OperatorId = OperatorId::from_u128(0xb);
    const C: OperatorId = OperatorId::from_u128(0xc);

    fn row(assignee: Option<OperatorId>, deleted: bool, merged: bool) -> DialogRow {
        DialogRow {
            dialog: DialogId::from_u128(7),
            project: P,
            client_name: None,
            client_phone: None,
            client_email: None,
            client_avatar_url: None,
            client_external_id: None,
            client_number: 1,
            client_created_at: Timestamp::from_micros(0),
            last_activity_at: Timestamp::from_micros(0),
            last_message_preview: None,
            last_message_author: None,
            last_message_channel: None,
            last_message_attachments: 0,
            last_message_at: None,
            assignee,
            closed: false,
            blocked: false,
            blacklisted: false,
            bot_paused: false,
            pinned: false,
            deleted,
            merged_into: merged.then(|| DialogId::from_u128(8)),
            inbound_count: 0,
            unanswered: false,
            sla_wait_since: None,
            tags: Vec::new(),
        }
    }

    /// Whatever a caller may see of a change (a row, a remove) reaches one of the feeds the
    /// caller joins: a stream woken only by its feeds loses nothing.
    #[test]
    fn every_caller_who_sees_a_change_is_in_its_audiences() {
        let people = [None, Some(A), Some(B)];
        let mut seen = 0;
        for before in people {
            for listed_before in [false, true] {
                for now in people {
                    for state in 0..4 {
                        for only_for in [None, Some(A)] {
                            let change = DialogChange {
                                seq: 9,
                                project: P,
                                dialog: DialogId::from_u128(7),
                                row: (state != 3).then(|| row(now, state == 1, state == 2)),
                                assignee_before: before,
                                listed_before,
                                marks: Vec::new(),
                                only_for,
                                messages: Vec::new(),
                                timeline: false,
                                folders: Vec::new(),
                                shown: Shown::default(),
                            };
                            let audiences = Change::Dialog(Box::new(change.clone())).audiences();
                            for operator in [A, B, C] {
                                for role in [Role::Admin, Role::Operator] {
                                    let caller = QueryCaller {
                                        project: P,
                                        operator,
                                        role,
                                    };
                                    if change.seen_by(&caller) == Seen::Unseen {
                                        continue;
                                    }
                                    seen += 1;
                                    let joined = Audience::of(&caller);
                                    assert!(
                                        audiences.iter().any(|a| joined.contains(a)),
                                        "{caller:?} sees {change:?} outside {audiences:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(seen > 100, "{seen}");
    }

    #[test]
    fn a_project_change_reaches_its_member_and_folder_changes_reach_everyone() {
        let change = Change::Project(ProjectChange {
            seq: 3,
            project: P,
            member: Some(B),
            folders: false,
        });
        assert_eq!(change.audiences(), [Audience::Operator(P, B)]);
        let folders = Change::Project(ProjectChange {
            seq: 4,
            project: P,
            member: None,
            folders: true,
        });
        for role in [Role::Admin, Role::Operator] {
            let caller = QueryCaller {
                project: P,
                operator: C,
                role,
            };
            let joined = Audience::of(&caller);
            assert!(folders.audiences().iter().any(|a| joined.contains(a)));
        }
    }

    /// A delivery status changes no row but the open conversation's timeline: the change
    /// says so (the web reads the timeline again); an operator's own mark does not.
    #[test]
    fn a_delivery_status_marks_the_change_as_one_of_the_timeline() {
        let touch = |event: &Event| {
            let mut touch = Touch {
                seq: 1,
                project: P,
                assignee_before: None,
                registered: false,
                left: false,
                personal: Personal::Nobody,
                messages: Vec::new(),
                timeline: false,
            };
            touch.add(1, event);
            touch.timeline
        };
        let message = MessageId::from_u128(3);
        assert!(touch(&Event::MessageSent(
            switchboard_schemas::events::MessageSent {
                message,
                external_id: "out-3".into(),
            }
        )));
        assert!(!touch(&Event::MarkedUnread(
            switchboard_schemas::events::MarkedUnread { operator: A }
        )));
    }

    #[test]
    fn a_shown_text_is_made_once_per_whose_marks_it_carries() {
        let change = DialogChange {
            seq: 1,
            project: P,
            dialog: DialogId::from_u128(7),
            row: Some(row(None, false, false)),
            assignee_before: None,
            listed_before: true,
            marks: Vec::new(),
            only_for: None,
            messages: Vec::new(),
            timeline: false,
            folders: Vec::new(),
            shown: Shown::default(),
        };
        let mut made = 0;
        for _ in 0..3 {
            change.shown(None, || {
                made += 1;
                "plain".to_owned()
            });
        }
        let own = change.shown(Some(A), || "with A's marks".to_owned());
        assert_eq!(made, 1);
        assert_eq!(&*own, "with A's marks");
        assert_eq!(&*change.shown(None, String::new), "plain");
        change.forget_shown();
        assert_eq!(&*change.shown(None, || "again".to_owned()), "again");
    }
}
