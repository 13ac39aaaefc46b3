//! The dialog list against a plain model of the FEATURES rules. Random command sequences over
//! two projects, their dialogs and operators go through the command service (so the domain
//! decides, refuses and emits as in production) into a real log; then three answers must agree
//! for every list (every viewer, tab, folder, archive switch and order, walked page by page),
//! every counter, badge and the tag usage, and for random filters of every kind in AND/OR
//! groups:
//! - (a) the live read model, fed by a `ProjectionRunner` while the commands run;
//! - (b) a rebuild of it from the log (`runtime::rebuild`);
//! - (c) [`Model`], written here from FEATURES (F1–F4, F9, F12) without the projection's code.
//!
//! On the embedded log (16 cases) and on a real nats-server (3 cases). Merges (F4.9) are not
//! among the commands yet.
//!
//! What is observed is one map from a description ("list admin Mine WithOperator archive
//! Activity", "badge …", "filter 3 …") to its answer, built once from a read model
//! ([`observe`]) and once from the model ([`expect`]); a further check (search) adds its own
//! keys to both.
//!
//! Times come from the log: the model takes each accepted command's moment from the envelope
//! the service appended (the clock is an input of the rules, not a rule).

use proptest::prelude::*;
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::log::{EventLog, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_projections::dialogs::{
    self, ACTIVITY_BUCKET_MICROS, AuthorKind, Condition, DialogStatus, DialogsProjection, Expr,
    Filter, Folder, ListQuery, Order, Tab, Viewer,
};
use switchboard_projections::query::{self, QueryCaller};
use switchboard_projections::search::{
    self, SearchOptions, SearchQuery, SearchReader, SearchTarget,
};
use switchboard_projections::{ProjectionRunner, RunnerOptions, Until, open_reader_for, rebuild};
use switchboard_schemas::*;
use switchboard_tests::NatsServer;

const PROJECTS: usize = 2;
const DIALOGS: usize = 4;
/// Operator 0 is the admin.
const OPERATORS: usize = 3;
const CHANNELS: usize = 2;
const TAGS: usize = 2;
const LISTS: usize = 2;
const FOLDERS: usize = 2;
const STAGES: usize = 2;
const BLOCKS: [&str; 3] = ["b1", "b2", "b3"];
const VARIABLES: [&str; 2] = ["city", "size"];
const VALUES: [&str; 2] = ["a", "b"];
const WAIT: Duration = Duration::from_secs(20);
/// What the client writes on each channel: one Russian, one English text, so that the search
/// checks need stemming (`заказ` finds `заказы`, `refund` finds `refunds`).
const INBOUND_TEXTS: [&str; CHANNELS] = ["где мои заказы", "two refunds please"];
/// Searched words, and the channel whose text holds each.
const SEARCHED_WORDS: [(&str, usize); 2] = [("заказ", 0), ("refund", 1)];

// ---------------------------------------------------------------------------------------------
// The world: ids of everything, per project.

struct ProjectIds {
    project: ProjectId,
    operators: Vec<OperatorId>,
    channels: Vec<ChannelId>,
    tags: Vec<TagId>,
    lists: Vec<ListId>,
    folders: Vec<FolderId>,
    pipeline: PipelineId,
    stages: Vec<StageId>,
    dialogs: Vec<DialogId>,
}

fn world() -> Vec<ProjectIds> {
    (0..PROJECTS)
        .map(|_| ProjectIds {
            project: ProjectId::new(),
            operators: (0..OPERATORS).map(|_| OperatorId::new()).collect(),
            channels: (0..CHANNELS).map(|_| ChannelId::new()).collect(),
            tags: (0..TAGS).map(|_| TagId::new()).collect(),
            lists: (0..LISTS).map(|_| ListId::new()).collect(),
            folders: (0..FOLDERS).map(|_| FolderId::new()).collect(),
            pipeline: PipelineId::new(),
            stages: (0..STAGES).map(|_| StageId::new()).collect(),
            dialogs: (0..DIALOGS).map(|_| DialogId::new()).collect(),
        })
        .collect()
}

fn external(p: usize, d: usize, c: usize) -> String {
    format!("p{p}d{d}c{c}")
}

fn identity(ids: &ProjectIds, p: usize, d: usize, c: usize) -> ChannelIdentity {
    ChannelIdentity {
        channel: ids.channels[c],
        kind: ChannelKind::Telegram,
        external_id: external(p, d, c),
    }
}

// ---------------------------------------------------------------------------------------------
// Commands.

#[derive(Debug, Clone, Copy)]
enum By {
    Operator(usize),
    Bot,
}

#[derive(Debug, Clone)]
enum Step {
    Receive(usize),
    Send(By, usize),
    Note(usize),
    Assign(usize, usize),
    Unassign(usize),
    Close(usize),
    Reopen(usize),
    Pin(usize),
    Unpin(usize),
    PauseBot(usize),
    ResumeBot(usize),
    MarkRead(usize),
    MarkUnread(usize),
    AddTag(usize, usize),
    RemoveTag(usize, usize),
    JoinList(usize, usize),
    LeaveList(usize, usize),
    JoinFolder(usize, usize),
    LeaveFolder(usize, usize),
    SetVariable(usize, usize, usize),
    ClearVariable(usize, usize),
    Stage(usize, usize),
    Funnel(usize),
    LinkSecond(usize),
    UnlinkSecond(usize),
    Delete,
    DeleteTag,
    DeleteFolder,
}

/// Mostly the admin, whose commands the domain refuses least.
fn operator() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0), 1 => 1..OPERATORS]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..CHANNELS).prop_map(Step::Receive),
        3 => (prop_oneof![operator().prop_map(By::Operator), Just(By::Bot)], 0..CHANNELS)
            .prop_map(|(by, c)| Step::Send(by, c)),
        1 => operator().prop_map(Step::Note),
        3 => (operator(), operator()).prop_map(|(by, to)| Step::Assign(by, to)),
        1 => operator().prop_map(Step::Unassign),
        2 => operator().prop_map(Step::Close),
        1 => operator().prop_map(Step::Reopen),
        1 => operator().prop_map(Step::Pin),
        1 => operator().prop_map(Step::Unpin),
        1 => operator().prop_map(Step::PauseBot),
        1 => operator().prop_map(Step::ResumeBot),
        3 => operator().prop_map(Step::MarkRead),
        1 => operator().prop_map(Step::MarkUnread),
        2 => (operator(), 0..TAGS).prop_map(|(o, t)| Step::AddTag(o, t)),
        1 => (operator(), 0..TAGS).prop_map(|(o, t)| Step::RemoveTag(o, t)),
        2 => (operator(), 0..LISTS).prop_map(|(o, l)| Step::JoinList(o, l)),
        1 => (operator(), 0..LISTS).prop_map(|(o, l)| Step::LeaveList(o, l)),
        2 => (operator(), 0..FOLDERS).prop_map(|(o, f)| Step::JoinFolder(o, f)),
        1 => (operator(), 0..FOLDERS).prop_map(|(o, f)| Step::LeaveFolder(o, f)),
        2 => (operator(), 0..VARIABLES.len(), 0..VALUES.len())
            .prop_map(|(o, n, v)| Step::SetVariable(o, n, v)),
        1 => (operator(), 0..VARIABLES.len()).prop_map(|(o, n)| Step::ClearVariable(o, n)),
        1 => (operator(), 0..STAGES).prop_map(|(o, s)| Step::Stage(o, s)),
        1 => (0..BLOCKS.len()).prop_map(Step::Funnel),
        1 => operator().prop_map(Step::LinkSecond),
        1 => operator().prop_map(Step::UnlinkSecond),
        1 => Just(Step::Delete),
        1 => Just(Step::DeleteTag),
        1 => Just(Step::DeleteFolder),
    ]
}

/// The command of a step with its actor; `None` for project-level steps.
fn command(ids: &ProjectIds, p: usize, d: usize, step: &Step) -> (Actor, DialogCommand) {
    let op = |i: usize| Actor::Operator(ids.operators[i]);
    let admin = op(0);
    let connector = Actor::Connector(ids.channels[0]);
    match *step {
        Step::Receive(c) => (
            Actor::Connector(ids.channels[c]),
            DialogCommand::ReceiveMessage {
                message: MessageId::new(),
                channel: ids.channels[c],
                external_id: MessageId::new().token(),
                text: INBOUND_TEXTS[c].into(),
                attachments: vec![],
                reply_to: None,
                sent_at: Timestamp::now(),
            },
        ),
        Step::Send(by, c) => (
            match by {
                By::Operator(i) => op(i),
                By::Bot => Actor::Bot,
            },
            DialogCommand::SendMessage {
                message: MessageId::new(),
                channel: ids.channels[c],
                text: "answer".into(),
                attachments: vec![],
                reply_to: None,
                template: None,
            },
        ),
        Step::Note(i) => (
            op(i),
            DialogCommand::AddNote {
                note: NoteId::new(),
                text: "note".into(),
            },
        ),
        Step::Assign(by, to) => (
            op(by),
            DialogCommand::Assign {
                operator: ids.operators[to],
            },
        ),
        Step::Unassign(i) => (op(i), DialogCommand::Unassign),
        Step::Close(i) => (op(i), DialogCommand::Close),
        Step::Reopen(i) => (op(i), DialogCommand::Reopen),
        Step::Pin(i) => (op(i), DialogCommand::Pin),
        Step::Unpin(i) => (op(i), DialogCommand::Unpin),
        Step::PauseBot(i) => (op(i), DialogCommand::PauseBot),
        Step::ResumeBot(i) => (op(i), DialogCommand::ResumeBot),
        Step::MarkRead(i) => (op(i), DialogCommand::MarkRead),
        Step::MarkUnread(i) => (op(i), DialogCommand::MarkUnread),
        Step::AddTag(i, t) => (
            op(i),
            DialogCommand::AddTags {
                tags: vec![ids.tags[t]],
            },
        ),
        Step::RemoveTag(i, t) => (
            op(i),
            DialogCommand::RemoveTags {
                tags: vec![ids.tags[t]],
            },
        ),
        Step::JoinList(i, l) => (
            op(i),
            DialogCommand::JoinLists {
                lists: vec![ids.lists[l]],
            },
        ),
        Step::LeaveList(i, l) => (
            op(i),
            DialogCommand::LeaveLists {
                lists: vec![ids.lists[l]],
            },
        ),
        Step::JoinFolder(i, f) => (
            op(i),
            DialogCommand::JoinFolders {
                folders: vec![ids.folders[f]],
            },
        ),
        Step::LeaveFolder(i, f) => (
            op(i),
            DialogCommand::LeaveFolders {
                folders: vec![ids.folders[f]],
            },
        ),
        Step::SetVariable(i, n, v) => (
            op(i),
            DialogCommand::SetVariable {
                name: VARIABLES[n].into(),
                value: VALUES[v].into(),
            },
        ),
        Step::ClearVariable(i, n) => (
            op(i),
            DialogCommand::ClearVariable {
                name: VARIABLES[n].into(),
            },
        ),
        Step::Stage(i, s) => (
            op(i),
            DialogCommand::ChangeDealStage {
                pipeline: ids.pipeline,
                stage: ids.stages[s],
            },
        ),
        Step::Funnel(b) => (
            Actor::Bot,
            DialogCommand::EnterFunnelBlock {
                block: BLOCKS[b].into(),
                block_name: BLOCKS[b].to_uppercase(),
            },
        ),
        Step::LinkSecond(i) => (
            op(i),
            DialogCommand::LinkIdentity {
                identity: identity(ids, p, d, 1),
                display_name: None,
                avatar_url: None,
            },
        ),
        Step::UnlinkSecond(i) => (
            op(i),
            DialogCommand::UnlinkIdentity {
                identity: identity(ids, p, d, 1),
            },
        ),
        Step::Delete => (admin, DialogCommand::Delete),
        // Project-level steps never get here; a harmless stand-in keeps this total.
        Step::DeleteTag | Step::DeleteFolder => (connector, DialogCommand::ClearDraft),
    }
}

// ---------------------------------------------------------------------------------------------
// The model: FEATURES written down plainly.

#[derive(Debug, Clone, Default)]
struct ModelDialog {
    number: u64,
    created: i64,
    last_activity: i64,
    deleted: bool,
    closed: bool,
    pinned: bool,
    bot_paused: bool,
    assignee: Option<usize>,
    tags: BTreeSet<usize>,
    lists: BTreeSet<usize>,
    folders: BTreeSet<usize>,
    variables: BTreeMap<usize, usize>,
    stage: Option<usize>,
    block: Option<usize>,
    identities: BTreeSet<usize>,
    message_channels: BTreeSet<usize>,
    /// Channels the client wrote on (each channel's text is `INBOUND_TEXTS[c]`).
    inbound_channels: BTreeSet<usize>,
    message_times: Vec<i64>,
    last_sender: Option<AuthorKind>,
    inbound: u64,
    /// Per operator: client messages read, marked unread.
    read: BTreeMap<usize, (u64, bool)>,
    /// F1.4: a client message no operator has read or answered.
    unanswered: bool,
    /// F9: the first client message since (re)opening not answered yet.
    waiting_since: Option<i64>,
}

impl ModelDialog {
    fn unread_for(&self, op: usize) -> bool {
        match self.read.get(&op) {
            Some((read, marked)) => *marked || *read < self.inbound,
            None => self.inbound > 0,
        }
    }

    fn read_up(&mut self, op: usize) {
        self.read.insert(op, (self.inbound, false));
    }

    fn channels(&self) -> BTreeSet<usize> {
        self.identities
            .union(&self.message_channels)
            .copied()
            .collect()
    }
}

#[derive(Debug, Default)]
struct ModelProject {
    dialogs: Vec<ModelDialog>,
    deleted_tags: BTreeSet<usize>,
    deleted_folders: BTreeSet<usize>,
}

struct Model {
    projects: Vec<ModelProject>,
}

impl Model {
    /// An accepted step at moment `at` (µs).
    fn apply(&mut self, p: usize, d: usize, step: &Step, at: i64) {
        let project = &mut self.projects[p];
        if let Step::DeleteTag = step {
            project.deleted_tags.insert(1);
            for dialog in &mut project.dialogs {
                dialog.tags.remove(&1);
            }
            return;
        }
        if let Step::DeleteFolder = step {
            project.deleted_folders.insert(1);
            for dialog in &mut project.dialogs {
                dialog.folders.remove(&1);
            }
            return;
        }
        let dialog = &mut project.dialogs[d];
        match *step {
            Step::Receive(c) => {
                // F4.2: a new message reopens.
                dialog.closed = false;
                dialog.inbound += 1;
                dialog.unanswered = true;
                dialog.waiting_since.get_or_insert(at);
                dialog.last_sender = Some(AuthorKind::Client);
                dialog.message_channels.insert(c);
                dialog.inbound_channels.insert(c);
                dialog.message_times.push(at);
                dialog.last_activity = dialog.last_activity.max(at);
            }
            Step::Send(by, c) => {
                dialog.closed = false;
                dialog.message_channels.insert(c);
                dialog.message_times.push(at);
                dialog.last_activity = dialog.last_activity.max(at);
                match by {
                    By::Operator(i) => {
                        dialog.last_sender = Some(AuthorKind::Operator);
                        // An answer: nobody waits, and writing means reading.
                        dialog.unanswered = false;
                        dialog.waiting_since = None;
                        dialog.read_up(i);
                    }
                    By::Bot => dialog.last_sender = Some(AuthorKind::Bot),
                }
            }
            Step::Note(_) => dialog.last_activity = dialog.last_activity.max(at),
            Step::Assign(_, to) => dialog.assignee = Some(to),
            Step::Unassign(_) => dialog.assignee = None,
            Step::Close(_) => {
                dialog.closed = true;
                dialog.waiting_since = None;
            }
            Step::Reopen(_) => dialog.closed = false,
            Step::Pin(_) => dialog.pinned = true,
            Step::Unpin(_) => dialog.pinned = false,
            Step::PauseBot(_) => dialog.bot_paused = true,
            Step::ResumeBot(_) => dialog.bot_paused = false,
            Step::MarkRead(i) => {
                dialog.unanswered = false;
                dialog.read_up(i);
            }
            Step::MarkUnread(i) => {
                dialog.read.entry(i).or_insert((0, false)).1 = true;
            }
            Step::AddTag(_, t) => {
                dialog.tags.insert(t);
            }
            Step::RemoveTag(_, t) => {
                dialog.tags.remove(&t);
            }
            Step::JoinList(_, l) => {
                dialog.lists.insert(l);
            }
            Step::LeaveList(_, l) => {
                dialog.lists.remove(&l);
            }
            Step::JoinFolder(_, f) => {
                dialog.folders.insert(f);
            }
            Step::LeaveFolder(_, f) => {
                dialog.folders.remove(&f);
            }
            Step::SetVariable(_, n, v) => {
                dialog.variables.insert(n, v);
            }
            Step::ClearVariable(_, n) => {
                dialog.variables.remove(&n);
            }
            Step::Stage(_, s) => dialog.stage = Some(s),
            Step::Funnel(b) => dialog.block = Some(b),
            Step::LinkSecond(_) => {
                dialog.identities.insert(1);
            }
            Step::UnlinkSecond(_) => {
                dialog.identities.remove(&1);
            }
            Step::Delete => dialog.deleted = true,
            Step::DeleteTag | Step::DeleteFolder => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters, abstract (indexes into the world) so that a strategy can make them.

#[derive(Debug, Clone)]
enum Leaf {
    Funnel(Vec<usize>),
    ListsAny(Vec<usize>),
    ListsNone(Vec<usize>),
    TagsAll(Vec<usize>),
    TagsNone(Vec<usize>),
    NoTags,
    AnyTag,
    Channels(Vec<usize>),
    Assignee(Option<usize>),
    Closed(bool),
    LastAuthor(AuthorKind),
    Stages(Vec<usize>),
    /// Before / from the creation of a dialog, +0 or +1 µs.
    RegisteredBefore(usize, i64),
    RegisteredFrom(usize, i64),
    /// Quarter hours from the start of the run: [from, from + len).
    Active(i64, i64),
    Unanswered,
    Variable(Option<usize>, Option<usize>),
    Number(String),
}

#[derive(Debug, Clone)]
enum AExpr {
    All(Vec<AExpr>),
    Any(Vec<AExpr>),
    Is(Leaf),
}

fn some<T: std::fmt::Debug + Clone>(
    range: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(range, 1..=2)
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let author = prop_oneof![
        Just(AuthorKind::Client),
        Just(AuthorKind::Operator),
        Just(AuthorKind::Bot)
    ];
    prop_oneof![
        some(0..BLOCKS.len()).prop_map(Leaf::Funnel),
        some(0..LISTS).prop_map(Leaf::ListsAny),
        some(0..LISTS).prop_map(Leaf::ListsNone),
        some(0..TAGS).prop_map(Leaf::TagsAll),
        some(0..TAGS).prop_map(Leaf::TagsNone),
        Just(Leaf::NoTags),
        Just(Leaf::AnyTag),
        some(0..CHANNELS).prop_map(Leaf::Channels),
        prop::option::of(operator()).prop_map(Leaf::Assignee),
        any::<bool>().prop_map(Leaf::Closed),
        author.prop_map(Leaf::LastAuthor),
        some(0..STAGES).prop_map(Leaf::Stages),
        (0..DIALOGS, 0..2i64).prop_map(|(d, e)| Leaf::RegisteredBefore(d, e)),
        (0..DIALOGS, 0..2i64).prop_map(|(d, e)| Leaf::RegisteredFrom(d, e)),
        (-1..2i64, 0..3i64).prop_map(|(from, len)| Leaf::Active(from, len)),
        Just(Leaf::Unanswered),
        (
            prop::option::of(0..VARIABLES.len()),
            prop::option::of(0..VALUES.len())
        )
            .prop_filter("a name or a value", |(n, v)| n.is_some() || v.is_some())
            .prop_map(|(n, v)| Leaf::Variable(n, v)),
        prop_oneof![Just("1"), Just("2"), Just("3"), Just("4"), Just("0")]
            .prop_map(|s| Leaf::Number(s.to_owned())),
    ]
}

fn filter_expr() -> impl Strategy<Value = AExpr> {
    leaf()
        .prop_map(AExpr::Is)
        .prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..=3).prop_map(AExpr::All),
                prop::collection::vec(inner, 1..=3).prop_map(AExpr::Any),
            ]
        })
}

/// What a case knows to resolve abstract filters: ids and the model's creation times.
struct Resolve<'a> {
    ids: &'a ProjectIds,
    model: &'a ModelProject,
    /// The quarter hour the run started in, in µs.
    start: i64,
}

impl Resolve<'_> {
    fn expr(&self, expr: &AExpr) -> Expr {
        match expr {
            AExpr::All(parts) => Expr::All(parts.iter().map(|p| self.expr(p)).collect()),
            AExpr::Any(parts) => Expr::Any(parts.iter().map(|p| self.expr(p)).collect()),
            AExpr::Is(leaf) => Expr::Is(self.leaf(leaf)),
        }
    }

    fn leaf(&self, leaf: &Leaf) -> Condition {
        let ids = self.ids;
        let pick = |list: &[usize], of: &dyn Fn(usize) -> String| -> Vec<String> {
            list.iter().map(|i| of(*i)).collect()
        };
        match leaf {
            Leaf::Funnel(b) => Condition::FunnelBlock(pick(b, &|i| BLOCKS[i].to_owned())),
            Leaf::ListsAny(l) => Condition::ListsAny(l.iter().map(|i| ids.lists[*i]).collect()),
            Leaf::ListsNone(l) => Condition::ListsNone(l.iter().map(|i| ids.lists[*i]).collect()),
            Leaf::TagsAll(t) => Condition::TagsAll(t.iter().map(|i| ids.tags[*i]).collect()),
            Leaf::TagsNone(t) => Condition::TagsNone(t.iter().map(|i| ids.tags[*i]).collect()),
            Leaf::NoTags => Condition::NoTags,
            Leaf::AnyTag => Condition::AnyTag,
            Leaf::Channels(c) => Condition::Channels(c.iter().map(|i| ids.channels[*i]).collect()),
            Leaf::Assignee(o) => Condition::Assignee(o.map(|i| ids.operators[i])),
            Leaf::Closed(closed) => Condition::Status(if *closed {
                DialogStatus::Closed
            } else {
                DialogStatus::Open
            }),
            Leaf::LastAuthor(a) => Condition::LastAuthor(*a),
            Leaf::Stages(s) => Condition::DealStages(s.iter().map(|i| ids.stages[*i]).collect()),
            Leaf::RegisteredBefore(d, e) => Condition::RegisteredBefore(Timestamp::from_micros(
                self.model.dialogs[*d].created + e,
            )),
            Leaf::RegisteredFrom(d, e) => Condition::RegisteredFrom(Timestamp::from_micros(
                self.model.dialogs[*d].created + e,
            )),
            Leaf::Active(from, len) => {
                let (from, to) = self.range(*from, *len);
                Condition::ActiveBetween {
                    from: Timestamp::from_micros(from),
                    to: Timestamp::from_micros(to),
                }
            }
            Leaf::Unanswered => Condition::Unanswered,
            Leaf::Variable(n, v) => Condition::Variable {
                name: n.map(|i| VARIABLES[i].to_owned()),
                value: v.map(|i| VALUES[i].to_owned()),
            },
            Leaf::Number(digits) => Condition::ClientNumber(digits.clone()),
        }
    }

    fn range(&self, from: i64, len: i64) -> (i64, i64) {
        let from = self.start + from * ACTIVITY_BUCKET_MICROS;
        (from, from + len * ACTIVITY_BUCKET_MICROS)
    }

    /// F2.3 as FEATURES states it, on the model.
    fn holds(&self, expr: &AExpr, d: &ModelDialog) -> bool {
        match expr {
            AExpr::All(parts) => parts.iter().all(|p| self.holds(p, d)),
            AExpr::Any(parts) => parts.iter().any(|p| self.holds(p, d)),
            AExpr::Is(leaf) => match leaf {
                Leaf::Funnel(b) => d.block.is_some_and(|x| b.contains(&x)),
                Leaf::ListsAny(l) => l.iter().any(|x| d.lists.contains(x)),
                Leaf::ListsNone(l) => !l.iter().any(|x| d.lists.contains(x)),
                Leaf::TagsAll(t) => t.iter().all(|x| d.tags.contains(x)),
                Leaf::TagsNone(t) => !t.iter().any(|x| d.tags.contains(x)),
                Leaf::NoTags => d.tags.is_empty(),
                Leaf::AnyTag => !d.tags.is_empty(),
                Leaf::Channels(c) => c.iter().any(|x| d.channels().contains(x)),
                Leaf::Assignee(o) => d.assignee == *o,
                Leaf::Closed(closed) => d.closed == *closed,
                Leaf::LastAuthor(a) => d.last_sender == Some(*a),
                Leaf::Stages(s) => d.stage.is_some_and(|x| s.contains(&x)),
                Leaf::RegisteredBefore(i, e) => d.created < self.model.dialogs[*i].created + e,
                Leaf::RegisteredFrom(i, e) => d.created >= self.model.dialogs[*i].created + e,
                Leaf::Active(from, len) => {
                    let (from, to) = self.range(*from, *len);
                    d.message_times.iter().any(|t| from <= *t && *t < to)
                }
                Leaf::Unanswered => d.unanswered,
                Leaf::Variable(n, v) => d.variables.iter().any(|(name, value)| {
                    n.is_none_or(|x| x == *name) && v.is_none_or(|x| x == *value)
                }),
                Leaf::Number(digits) => d.number.to_string().contains(digits.as_str()),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Observations: the same keys from a read model and from the model.

type Observations = BTreeMap<String, String>;

const TABS: [Tab; 5] = [Tab::All, Tab::Unanswered, Tab::Mine, Tab::Others, Tab::Free];
const ORDERS: [Order; 3] = [Order::Activity, Order::Processing, Order::Created];

fn folders(ids: &ProjectIds) -> Vec<(String, Folder)> {
    let mut all = vec![
        ("All".to_owned(), Folder::All),
        ("WithOperator".to_owned(), Folder::WithOperator),
    ];
    for (f, folder) in ids.folders.iter().enumerate() {
        all.push((format!("folder{f}"), Folder::Custom(*folder)));
    }
    all
}

fn viewer(ids: &ProjectIds, op: usize) -> Viewer {
    Viewer {
        operator: ids.operators[op],
        admin: op == 0,
    }
}

/// Every dialog of a list, page by page (3 a page).
fn walk(conn: &Connection, mut query: ListQuery) -> Vec<u64> {
    query.limit = 3;
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = dialogs::list_dialogs(conn, &query).expect("list");
        seen.extend(page.rows.iter().map(|r| r.row.client_number));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return seen,
        }
    }
    panic!("the pages did not end");
}

struct Case<'a> {
    world: &'a [ProjectIds],
    filters: &'a [(usize, usize, bool, AExpr)],
    start: i64,
}

/// The searches every viewer makes: each word, and each dialog's identity on channel 0 and 1.
fn searches() -> Vec<(SearchTarget, String)> {
    let mut all: Vec<(SearchTarget, String)> = SEARCHED_WORDS
        .iter()
        .map(|(word, _)| (SearchTarget::Messages, (*word).to_owned()))
        .collect();
    for d in 0..DIALOGS {
        for c in 0..CHANNELS {
            // A substring of `external(p, d, c)` without the project part.
            all.push((SearchTarget::Clients, format!("d{d}c{c}")));
        }
    }
    all
}

/// Every dialog (by index) a search finds for the caller, page by page.
fn search_all(
    dialogs: &Connection,
    index: &SearchReader,
    ids: &ProjectIds,
    op: usize,
    target: SearchTarget,
    text: &str,
) -> Vec<usize> {
    let caller = QueryCaller {
        project: ids.project,
        operator: ids.operators[op],
        role: if op == 0 { Role::Admin } else { Role::Operator },
    };
    let mut query = SearchQuery::new(ids.project, target, text);
    query.limit = 2;
    let mut found = BTreeSet::new();
    for _ in 0..100 {
        let page = query::search(dialogs, index, &caller, query.clone()).expect("search");
        for hit in &page.hits {
            found.insert(
                ids.dialogs
                    .iter()
                    .position(|d| *d == hit.dialog)
                    .unwrap_or(99),
            );
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return found.into_iter().collect(),
        }
    }
    panic!("the search pages did not end");
}

fn observe(
    conn: &Connection,
    index: &SearchReader,
    case: &Case<'_>,
    model: &Model,
) -> Observations {
    let mut seen = Observations::new();
    for (p, ids) in case.world.iter().enumerate() {
        for op in 0..OPERATORS {
            let viewer = viewer(ids, op);
            let key = |what: &str| format!("p{p} op{op} {what}");
            for (target, text) in searches() {
                let found = search_all(conn, index, ids, op, target, &text);
                seen.insert(
                    key(&format!("search {target:?} {text}")),
                    format!("{found:?}"),
                );
            }
            for tab in TABS {
                for (name, folder) in folders(ids) {
                    for include_closed in [false, true] {
                        for order in ORDERS {
                            let query = ListQuery {
                                project: ids.project,
                                viewer,
                                tab,
                                folder,
                                include_closed,
                                order,
                                filter: Filter::default(),
                                after: None,
                                limit: 3,
                            };
                            seen.insert(
                                key(&format!("list {tab:?} {name} {include_closed} {order:?}")),
                                format!("{:?}", walk(conn, query)),
                            );
                        }
                    }
                    let badge =
                        dialogs::folder_badge(conn, ids.project, viewer, folder).expect("badge");
                    seen.insert(key(&format!("badge {name}")), badge.to_string());
                }
            }
            let header = dialogs::unread_dialogs(conn, ids.project, viewer).expect("unread");
            seen.insert(key("header"), header.to_string());
            let unanswered =
                dialogs::unanswered_dialogs(conn, ids.project, viewer).expect("unanswered");
            seen.insert(key("unanswered"), unanswered.to_string());
        }
        let usage = dialogs::tag_usage(conn, ids.project).expect("tags");
        let usage: Vec<(usize, u64)> = usage
            .iter()
            .map(|(tag, n)| (ids.tags.iter().position(|t| t == tag).unwrap_or(99), *n))
            .collect();
        seen.insert(format!("p{p} tag usage"), format!("{usage:?}"));
    }
    for (n, (p, op, include_closed, expr)) in case.filters.iter().enumerate() {
        let ids = &case.world[*p];
        let resolve = Resolve {
            ids,
            model: &model.projects[*p],
            start: case.start,
        };
        let filter = Filter::new(resolve.expr(expr)).expect("a valid filter");
        let query = ListQuery {
            project: ids.project,
            viewer: viewer(ids, *op),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: *include_closed,
            order: Order::Activity,
            filter,
            after: None,
            limit: 3,
        };
        seen.insert(
            format!("filter {n} p{p} op{op} {include_closed} {expr:?}"),
            format!("{:?}", walk(conn, query)),
        );
    }
    seen
}

/// What FEATURES says each observation is.
fn expect(case: &Case<'_>, model: &Model) -> Observations {
    let mut expected = Observations::new();
    for (p, ids) in case.world.iter().enumerate() {
        let project = &model.projects[p];
        let live: Vec<&ModelDialog> = project.dialogs.iter().filter(|d| !d.deleted).collect();
        for op in 0..OPERATORS {
            let admin = op == 0;
            let key = |what: &str| format!("p{p} op{op} {what}");
            // F12.1: an operator sees their own and free dialogs.
            let visible = |d: &&ModelDialog| admin || d.assignee.is_none_or(|a| a == op);
            // F2.1: words of what the client wrote; clients by a substring of their channel ids.
            for (target, text) in searches() {
                let found: Vec<usize> = project
                    .dialogs
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| !d.deleted && visible(d))
                    .filter(|(i, d)| match target {
                        SearchTarget::Messages => SEARCHED_WORDS
                            .iter()
                            .any(|(word, c)| *word == text && d.inbound_channels.contains(c)),
                        SearchTarget::Clients => (0..CHANNELS)
                            .any(|c| d.identities.contains(&c) && text == format!("d{i}c{c}")),
                    })
                    .map(|(i, _)| i)
                    .collect();
                expected.insert(
                    key(&format!("search {target:?} {text}")),
                    format!("{found:?}"),
                );
            }
            for tab in TABS {
                let in_tab = |d: &&ModelDialog| match tab {
                    Tab::All => true,
                    Tab::Unanswered => d.unanswered,
                    Tab::Mine => d.assignee == Some(op),
                    Tab::Others => d.assignee.is_some_and(|a| a != op),
                    Tab::Free => d.assignee.is_none(),
                };
                for (name, folder) in folders(ids) {
                    let in_folder = |d: &&ModelDialog| match folder {
                        Folder::All => true,
                        Folder::WithOperator => d.bot_paused,
                        Folder::Custom(f) => {
                            let f = ids.folders.iter().position(|x| *x == f).unwrap_or(99);
                            d.folders.contains(&f)
                        }
                    };
                    for include_closed in [false, true] {
                        for order in ORDERS {
                            let mut rows: Vec<&ModelDialog> = live
                                .iter()
                                .copied()
                                .filter(visible)
                                .filter(in_tab)
                                .filter(in_folder)
                                .filter(|d| include_closed || !d.closed)
                                .collect();
                            sort(&mut rows, order);
                            let numbers: Vec<u64> = rows.iter().map(|d| d.number).collect();
                            expected.insert(
                                key(&format!("list {tab:?} {name} {include_closed} {order:?}")),
                                format!("{numbers:?}"),
                            );
                        }
                    }
                    // F1.5: unread dialogs in the folder among those the viewer sees (closed
                    // ones count too).
                    let badge = live
                        .iter()
                        .copied()
                        .filter(visible)
                        .filter(in_folder)
                        .filter(|d| d.unread_for(op))
                        .count();
                    expected.insert(key(&format!("badge {name}")), badge.to_string());
                }
            }
            // F1.7: admins across the project, operators across their own dialogs.
            let header = live
                .iter()
                .filter(|d| admin || d.assignee == Some(op))
                .filter(|d| d.unread_for(op))
                .count();
            expected.insert(key("header"), header.to_string());
            let unanswered = live
                .iter()
                .copied()
                .filter(visible)
                .filter(|d| d.unanswered)
                .count();
            expected.insert(key("unanswered"), unanswered.to_string());
        }
        // F2.5: tags with their number of dialogs, most used first (then by id).
        let mut usage: Vec<(usize, u64, String)> = (0..TAGS)
            .map(|t| {
                let n = live.iter().filter(|d| d.tags.contains(&t)).count() as u64;
                (t, n, ids.tags[t].token())
            })
            .filter(|(_, n, _)| *n > 0)
            .collect();
        usage.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let usage: Vec<(usize, u64)> = usage.into_iter().map(|(t, n, _)| (t, n)).collect();
        expected.insert(format!("p{p} tag usage"), format!("{usage:?}"));
    }
    for (n, (p, op, include_closed, expr)) in case.filters.iter().enumerate() {
        let ids = &case.world[*p];
        let project = &model.projects[*p];
        let resolve = Resolve {
            ids,
            model: project,
            start: case.start,
        };
        let admin = *op == 0;
        let mut rows: Vec<&ModelDialog> = project
            .dialogs
            .iter()
            .filter(|d| !d.deleted)
            .filter(|d| admin || d.assignee.is_none_or(|a| a == *op))
            .filter(|d| *include_closed || !d.closed)
            .filter(|d| resolve.holds(expr, d))
            .collect();
        sort(&mut rows, Order::Activity);
        let numbers: Vec<u64> = rows.iter().map(|d| d.number).collect();
        expected.insert(
            format!("filter {n} p{p} op{op} {include_closed} {expr:?}"),
            format!("{numbers:?}"),
        );
    }
    expected
}

/// F1.3: pinned first; then newest activity, longest wait (the waiting before the others,
/// who follow by activity) or newest client; ties by dialog id, all descending.
fn sort(rows: &mut [&ModelDialog], order: Order) {
    let key = |d: &ModelDialog| -> (bool, i64, i64) {
        match order {
            Order::Activity => (d.pinned, d.last_activity, 0),
            Order::Created => (d.pinned, d.created, 0),
            Order::Processing => match d.waiting_since {
                Some(since) => (d.pinned, 1, -since),
                None => (d.pinned, 0, d.last_activity),
            },
        }
    };
    rows.sort_by(|a, b| {
        let (pa, a1, a2) = key(a);
        let (pb, b1, b2) = key(b);
        // Ties: registration order (the client number within a project), newest first.
        (pb, b1, b2, b.number).cmp(&(pa, a1, a2, a.number))
    });
}

// ---------------------------------------------------------------------------------------------
// Running a case.

async fn setup<L: EventLog>(service: &CommandService<L>, ids: &ProjectIds) {
    let mut commands = vec![ProjectCommand::Create {
        name: "shop".into(),
    }];
    for (i, operator) in ids.operators.iter().enumerate() {
        let role = if i == 0 { Role::Admin } else { Role::Operator };
        commands.push(ProjectCommand::AddOperator {
            operator: *operator,
            name: format!("op{i}"),
            email: format!("op{i}@example.com"),
            role,
            can_delete: i == 0,
        });
    }
    for (i, channel) in ids.channels.iter().enumerate() {
        commands.push(ProjectCommand::ConnectChannel {
            channel: *channel,
            kind: ChannelKind::Telegram,
            name: format!("bot{i}"),
        });
    }
    for (i, tag) in ids.tags.iter().enumerate() {
        commands.push(ProjectCommand::DefineTag {
            tag: *tag,
            name: format!("tag{i}"),
            color: "#ff0000".into(),
        });
    }
    for (i, list) in ids.lists.iter().enumerate() {
        commands.push(ProjectCommand::DefineList {
            list: *list,
            name: format!("list{i}"),
        });
    }
    for (i, folder) in ids.folders.iter().enumerate() {
        commands.push(ProjectCommand::CreateFolder {
            folder: *folder,
            name: format!("folder{i}"),
        });
    }
    commands.push(ProjectCommand::DefinePipeline {
        pipeline: ids.pipeline,
        name: "sales".into(),
        stages: ids
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| Stage {
                stage: *stage,
                name: format!("stage{i}"),
            })
            .collect(),
    });
    for command in commands {
        service
            .project(ids.project, command, CommandMeta::new(Actor::System))
            .await
            .expect("project setup");
    }
}

/// The moment of the record at `seq`, as the service wrote it.
async fn moment<L: EventLog>(log: &L, seq: u64) -> i64 {
    let records = log.read(seq, &SubjectFilter::all(), 1).await.expect("read");
    let record = records.first().expect("the record");
    let events = decode_batch(&record.batch).expect("decode");
    events.first().expect("an event").occurred_at.as_micros()
}

async fn run_case<L: EventLog>(
    log: L,
    dir: &Path,
    steps: &[(usize, usize, Step)],
    filters: &[(usize, usize, bool, AExpr)],
    batch: usize,
) -> Result<(), TestCaseError> {
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let world = world();
    let start = Timestamp::now()
        .as_micros()
        .div_euclid(ACTIVITY_BUCKET_MICROS)
        * ACTIVITY_BUCKET_MICROS;
    let path = dir.join("dialogs.sqlite");
    let options = RunnerOptions {
        max_batch: batch,
        ..RunnerOptions::default()
    };
    let runner = ProjectionRunner::start(
        log.clone(),
        &path,
        DialogsProjection::default(),
        options.clone(),
    )
    .await
    .expect("start the projection");
    let (search_runner, live_index) = search::start(
        log.clone(),
        &dir.join("search"),
        SearchOptions::default(),
        options,
    )
    .await
    .expect("start the search index");
    let mut model = Model {
        projects: (0..PROJECTS).map(|_| ModelProject::default()).collect(),
    };
    for ids in &world {
        setup(&service, ids).await;
    }
    // Registration alternates between the projects, so numbers count per project.
    for d in 0..DIALOGS {
        for (p, ids) in world.iter().enumerate() {
            let register = DialogCommand::Register {
                profile: ClientProfile::default(),
                source: Source::default(),
                identity: Some(identity(ids, p, d, 0)),
            };
            let ack = service
                .dialog(
                    ids.project,
                    ids.dialogs[d],
                    register,
                    CommandMeta::new(Actor::Connector(ids.channels[0])),
                )
                .await
                .expect("register");
            let at = moment(&log, ack.seq).await;
            model.projects[p].dialogs.push(ModelDialog {
                number: d as u64 + 1,
                created: at,
                last_activity: at,
                identities: BTreeSet::from([0]),
                ..ModelDialog::default()
            });
        }
    }
    for (p, d, step) in steps {
        let ids = &world[*p];
        let accepted = match step {
            Step::DeleteTag | Step::DeleteFolder => {
                let command = match step {
                    Step::DeleteTag => ProjectCommand::DeleteTag { tag: ids.tags[1] },
                    _ => ProjectCommand::DeleteFolder {
                        folder: ids.folders[1],
                    },
                };
                let meta = CommandMeta::new(Actor::Operator(ids.operators[0]));
                service.project(ids.project, command, meta).await.ok()
            }
            _ => {
                let (actor, command) = command(ids, *p, *d, step);
                let meta = CommandMeta::new(actor);
                service
                    .dialog(ids.project, ids.dialogs[*d], command, meta)
                    .await
                    .ok()
            }
        };
        let Some(ack) = accepted else {
            continue; // refused: nothing happened
        };
        if ack.events > 0 {
            let at = moment(&log, ack.seq).await;
            model.apply(*p, *d, step, at);
        }
    }
    let last = log.last_seq().await.expect("last seq");
    runner.wait_for(last, WAIT).await.expect("applied");
    search_runner.wait_for(last, WAIT).await.expect("indexed");
    let status = runner.shutdown().await;
    prop_assert!(status.failed.is_none(), "{:?}", status.failed);

    let case = Case {
        world: &world,
        filters,
        start,
    };
    let expected = expect(&case, &model);
    let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
    let live = observe(&conn, &live_index, &case, &model);
    prop_assert_eq!(
        dialogs::all_counters(&conn).expect("counters"),
        dialogs::recount(&conn).expect("recount")
    );
    let rebuilt_path = dir.join("rebuilt.sqlite");
    rebuild(
        &log,
        &rebuilt_path,
        DialogsProjection::default(),
        Until::End,
        7,
        |_| {},
    )
    .await
    .expect("rebuild");
    let rebuilt_conn = open_reader_for::<DialogsProjection>(&rebuilt_path).expect("reader");
    let rebuilt_root = dir.join("search-rebuilt");
    search::rebuild(
        &log,
        &rebuilt_root,
        Until::End,
        5,
        SearchOptions::rebuild(),
        |_| {},
    )
    .await
    .expect("rebuild the index");
    let rebuilt_index = SearchReader::open(&rebuilt_root).expect("open the rebuilt index");
    let rebuilt = observe(&rebuilt_conn, &rebuilt_index, &case, &model);
    search_runner.shutdown().await;
    for (key, want) in &expected {
        prop_assert_eq!(live.get(key), Some(want), "live: {}", key);
        prop_assert_eq!(rebuilt.get(key), Some(want), "rebuilt: {}", key);
    }
    prop_assert_eq!(live.len(), expected.len());
    prop_assert_eq!(rebuilt.len(), expected.len());
    Ok(())
}

fn steps() -> impl Strategy<Value = Vec<(usize, usize, Step)>> {
    prop::collection::vec((0..PROJECTS, 0..DIALOGS, step()), 20..90)
}

fn filters() -> impl Strategy<Value = Vec<(usize, usize, bool, AExpr)>> {
    prop::collection::vec(
        (0..PROJECTS, operator(), any::<bool>(), filter_expr()),
        4..12,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    // Each case runs a few hundred commands and walks ~1500 list pages twice; 16 cases stay
    // well under a minute on two cores.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn read_model_equals_its_rebuild_and_the_features(
        steps in steps(),
        filters in filters(),
        batch in 1usize..16,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = runtime();
        runtime.block_on(async {
            let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
                .expect("open the log");
            run_case(log, dir.path(), &steps, &filters, batch).await
        })?;
    }
}

proptest! {
    // The same on a real nats-server (a server per case, so fewer cases).
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn read_model_over_jetstream_equals_its_rebuild_and_the_features(
        steps in steps(),
        filters in filters(),
        batch in 1usize..16,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = runtime();
        runtime.block_on(async {
            let server = NatsServer::start();
            let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
                .await
                .expect("connect");
            run_case(log, dir.path(), &steps, &filters, batch).await
        })?;
    }
}
