//! The generated history of an inbox: projects with their operators, channels, folders, tags,
//! lists, variables, a deal pipeline and templates; then clients writing in, bots and operators
//! answering, delivery statuses, read marks, notes, tags, folders, assignments, closes and
//! reopens, pins, bot pauses, variables, deal stages, tasks, drafts.
//!
//! Every event comes out of the domain: the generator gives commands, `decide` answers them
//! against the aggregate's state, and `apply` moves the state on, exactly as the command service
//! does. Ids, times and texts come from one seeded generator, so the same size and seed give the
//! same events, byte for byte.
//!
//! Shape:
//! - messages per dialog follow a Zipf law (exponent [`ZIPF_EXPONENT`] over the dialogs' ranks):
//!   most dialogs have a few messages, a few have thousands; the total is exactly `messages`;
//! - a window of dialogs is active at once (the conversations under way); each step picks one,
//!   weighted by its size, and it gives one command; a dialog that has said everything leaves
//!   the window (closed or not) and the next one comes in;
//! - the clock moves forward with each log message, over [`HISTORY_DAYS`] days from
//!   [`HISTORY_START_MICROS`], so `occurred_at` never goes back in the log.
//!
//! Each command's events are one log message, with the command id as message id and the
//! expected last sequence of its subject; the generator knows every sequence in advance (it is
//! the log's only writer), which the appender checks against each acknowledgement.
//!
//! Here: the types, the window of dialogs and the iterator; `projects` sets the projects up,
//! `dialogs` plays each dialog out.

use crate::rng::Rng;
use crate::text::{self, Lang, Person};
use std::collections::{HashSet, VecDeque};
use switchboard_core::domain::dialog::{self, DialogCommand, DialogState};
use switchboard_core::domain::identity::{self, IdentityCommand, IdentityState};
use switchboard_core::domain::project::{self, ProjectCommand, ProjectState};
use switchboard_core::domain::{Caller, Context};
use switchboard_core::service::identity_key_hash;
use switchboard_core::{Expected, Subject};
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use uuid::Uuid;

mod dialogs;
mod projects;

/// 2025-06-01T00:00:00Z: the history starts here, whatever the machine's clock says.
pub const HISTORY_START_MICROS: i64 = 1_748_736_000_000_000;
/// How long the history spans.
pub const HISTORY_DAYS: i64 = 365;
/// Exponent of the Zipf law of messages per dialog (rank r gets a share ∝ r^-s).
pub const ZIPF_EXPONENT: f64 = 0.7;
/// The largest window of dialogs under way at once.
pub const MAX_ACTIVE: usize = 25_000;

/// How big a history to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub projects: usize,
    pub dialogs: u64,
    pub messages: u64,
    /// Operators per project (admins included).
    pub operators: usize,
    pub seed: u64,
}

/// One log message: one command's events on one aggregate.
#[derive(Debug, Clone)]
pub struct Append {
    /// The sequence the log will give it (the generator is the log's only writer).
    pub seq: u64,
    pub subject: Subject,
    pub expected: Expected,
    /// The command id, as 32 hex digits.
    pub msg_id: String,
    pub events: Vec<Envelope>,
}

/// What a dialog looks like when it leaves the window (for `dialogs.jsonl`, `clients.jsonl`).
#[derive(Debug, Clone)]
pub struct DialogSummary {
    pub dialog: DialogId,
    pub project: ProjectId,
    pub lang: Lang,
    pub person: Person,
    pub profile: ClientProfile,
    pub source: Source,
    pub state: DialogState,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub messages_in: u32,
    pub messages_out: u32,
    pub notes: u32,
}

/// The ids of one generated project, for queries against what was generated.
#[derive(Debug, Clone)]
pub struct ProjectIds {
    pub id: ProjectId,
    pub admins: Vec<OperatorId>,
    /// Operators who are not admins.
    pub operators: Vec<OperatorId>,
    pub folders: Vec<FolderId>,
    /// In the generator's order of popularity (the first ones are used most).
    pub tags: Vec<TagId>,
}

#[derive(Debug)]
pub enum Item {
    Append(Append),
    DialogDone(Box<DialogSummary>),
}

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub appends: u64,
    pub events: u64,
    pub messages: u64,
    pub dialogs: u64,
    /// Commands the domain refused (the generator avoids them; a refusal appends nothing).
    pub refusals: u64,
    /// Commands that changed nothing (no event).
    pub no_ops: u64,
}

#[derive(Debug, Clone)]
struct Operator {
    id: OperatorId,
    admin: bool,
}

#[derive(Debug, Clone)]
struct ProjectSim {
    id: ProjectId,
    state: ProjectState,
    last_seq: u64,
    channels: Vec<(ChannelId, ChannelKind)>,
    operators: Vec<Operator>,
    admins: Vec<usize>,
    folders: Vec<FolderId>,
    tags: Vec<TagId>,
    lists: Vec<ListId>,
    pipeline: PipelineId,
    stages: Vec<StageId>,
    templates: Vec<(TemplateId, String)>,
}

const CITIES: &[&str] = &[
    "Москва",
    "Санкт-Петербург",
    "Казань",
    "Новосибирск",
    "Екатеринбург",
    "London",
];
const SEGMENTS: &[&str] = &["vip", "regular", "new", "wholesale"];
const FOLDERS: &[&str] = &["Продажи", "Поддержка", "Возвраты", "VIP", "Опт"];
const TAGS: &[&str] = &[
    "новый",
    "повторный",
    "жалоба",
    "возврат",
    "оптовик",
    "vip",
    "доставка",
    "оплата",
    "размер",
    "скидка",
    "спам",
    "b2b",
    "instagram",
    "сайт",
    "брак",
    "подарок",
    "срочно",
    "english",
    "отзыв",
    "консультация",
];
const LISTS: &[&str] = &[
    "Рассылка: акции",
    "Рассылка: новинки",
    "Брошенная корзина",
    "Клиенты 2025",
    "Newsletter",
    "Не беспокоить",
];
const STAGES: &[&str] = &[
    "Новый",
    "В работе",
    "Счёт выставлен",
    "Оплачен",
    "Доставлен",
];
const OPERATOR_FIRST: &[&str] = &[
    "Анна",
    "Ольга",
    "Игорь",
    "Денис",
    "Мария",
    "Светлана",
    "Роман",
    "Кирилл",
    "Вера",
    "Антон",
];
const SCENARIOS: &[(&str, &str)] = &[
    ("greeting", "Приветствие"),
    ("catalog", "Каталог"),
    ("order_status", "Статус заказа"),
    ("feedback", "Отзыв"),
    ("payment", "Оплата"),
];

/// A dialog under way.
#[derive(Debug)]
struct DialogSim {
    project: usize,
    id: DialogId,
    state: DialogState,
    last_seq: u64,
    lang: Lang,
    person: Person,
    profile: ClientProfile,
    source: Source,
    channel: (ChannelId, ChannelKind),
    /// Messages still to come from the client and from the team.
    inbound_left: u32,
    outbound_left: u32,
    /// Delivery statuses the channel will still report, in order.
    statuses: VecDeque<DialogCommand>,
    started: bool,
    /// Replies the bot gives before a person takes over.
    bot_replies: u32,
    created_at: i64,
    last_activity_at: i64,
    messages_in: u32,
    messages_out: u32,
    notes: u32,
    external_ids: u32,
    /// Its weight in the window: what it is to say, plus 4.
    weight: i64,
}

/// A Fenwick tree of slot weights: picks a slot with probability ∝ its weight in O(log n).
#[derive(Debug, Default)]
struct Weights {
    tree: Vec<u64>,
    total: u64,
}

impl Weights {
    fn new(len: usize) -> Self {
        Self {
            tree: vec![0; len + 1],
            total: 0,
        }
    }

    fn add(&mut self, slot: usize, delta: i64) {
        self.total = self.total.wrapping_add_signed(delta);
        let mut i = slot + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// The slot holding the `target`th unit of weight (`target < total`).
    fn find(&self, mut target: u64) -> usize {
        let mut pos = 0;
        let mut step = (self.tree.len()).next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next < self.tree.len() && self.tree[next] <= target {
                pos = next;
                target -= self.tree[next];
            }
            step >>= 1;
        }
        pos
    }
}

/// Messages per dialog: ranks drawn by a shuffle, shares by the Zipf law, exactly `messages`
/// in total (when there are fewer messages than dialogs, some dialogs have none, F1.8).
fn message_counts(rng: &mut Rng, dialogs: u64, messages: u64) -> Vec<u32> {
    let n = usize::try_from(dialogs).unwrap_or(usize::MAX);
    let mut ranks: Vec<u32> = (0..n)
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ranks.swap(i, j);
    }
    let weight = |rank: u32| (f64::from(rank) + 1.0).powf(-ZIPF_EXPONENT);
    let total: f64 = (0..n).map(|r| weight(r as u32)).sum();
    let (base, extra) = if messages >= dialogs {
        (1u64, messages - dialogs)
    } else {
        (0, messages)
    };
    let mut counts: Vec<u32> = ranks
        .iter()
        .map(|&rank| {
            let share = (extra as f64 * weight(rank) / total).floor() as u64;
            u32::try_from(base + share).unwrap_or(u32::MAX)
        })
        .collect();
    let given: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let mut missing = messages.saturating_sub(given);
    // The rounding remainder goes to the largest dialogs, one each: find them by rank.
    if missing > 0 {
        let mut by_rank: Vec<usize> = (0..n).collect();
        by_rank.sort_unstable_by_key(|&i| ranks[i]);
        for &i in by_rank.iter().cycle() {
            if missing == 0 {
                break;
            }
            counts[i] = counts[i].saturating_add(1);
            missing -= 1;
        }
    }
    counts
}

/// The generator; an iterator of [`Item`]s.
#[derive(Debug)]
pub struct Generator {
    size: Size,
    rng: Rng,
    clock: i64,
    mean_gap_us: f64,
    next_seq: u64,
    projects: Vec<ProjectSim>,
    counts: Vec<u32>,
    next_dialog: u64,
    first_dialog: u64,
    slots: Vec<Option<DialogSim>>,
    weights: Weights,
    out: VecDeque<Item>,
    setup_pending: bool,
    stats: Stats,
    /// The identities claimed so far: (project, hash of channel and external id).
    claimed: HashSet<(usize, u64)>,
}

/// FNV-1a of a channel identity, for the set of claimed ones.
fn identity_hash(channel: ChannelId, external_id: &str) -> u64 {
    channel
        .as_uuid()
        .as_bytes()
        .iter()
        .chain(external_id.as_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

impl Generator {
    /// A history of `size`, whose first log message gets sequence `first_seq` (1 for an empty
    /// log).
    pub fn new(size: Size, first_seq: u64) -> Self {
        let mut rng = Rng::new(size.seed);
        let counts = message_counts(&mut rng, size.dialogs, size.messages);
        let active = usize::try_from(size.dialogs / 40)
            .unwrap_or(MAX_ACTIVE)
            .clamp(1, MAX_ACTIVE);
        // About 2.6 log messages per chat message and 4 per dialog besides (claim, registration,
        // assignment, close...): the clock spreads that over the history's days.
        let expected = (size.messages as f64 * 2.6 + size.dialogs as f64 * 4.0).max(1.0);
        let span = (HISTORY_DAYS * 86_400_000_000) as f64;
        Self {
            size,
            rng,
            clock: HISTORY_START_MICROS,
            mean_gap_us: span / expected,
            next_seq: first_seq.max(1),
            projects: Vec::new(),
            counts,
            next_dialog: 0,
            first_dialog: 0,
            slots: (0..active).map(|_| None).collect(),
            weights: Weights::new(active),
            out: VecDeque::new(),
            setup_pending: true,
            stats: Stats::default(),
            claimed: HashSet::new(),
        }
    }

    /// More of the same inbox after this history: `dialogs` new dialogs with `messages`
    /// messages in the same projects, from the next sequence on, with a generator of its own
    /// (`seed`). For appends that continue a log this generator filled.
    pub fn continuation(&self, dialogs: u64, messages: u64, seed: u64) -> Self {
        let size = Size {
            dialogs,
            messages,
            seed,
            ..self.size
        };
        let mut next = Self::new(size, self.next_seq);
        next.clock = self.clock;
        // Its projects exist already: the first step only fills the window.
        next.projects = self.projects.clone();
        next.claimed = self.claimed.clone();
        next.first_dialog = self.first_dialog + self.size.dialogs;
        next.mean_gap_us = self.mean_gap_us;
        next
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The ids of the generated projects (known once the first item was produced).
    pub fn project_ids(&self) -> Vec<ProjectIds> {
        self.projects
            .iter()
            .map(|p| ProjectIds {
                id: p.id,
                admins: p.admins.iter().map(|&i| p.operators[i].id).collect(),
                operators: p
                    .operators
                    .iter()
                    .filter(|o| !o.admin)
                    .map(|o| o.id)
                    .collect(),
                folders: p.folders.clone(),
                tags: p.tags.clone(),
            })
            .collect()
    }

    /// The sequence the next log message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn tick(&mut self) -> Timestamp {
        let gap = self.rng.exponential(self.mean_gap_us).min(3_600_000_000.0);
        self.clock += (gap as i64).max(1);
        Timestamp::from_micros(self.clock)
    }

    /// A time-ordered (v7) id at the current time, with random bits from the seed.
    fn uuid(&mut self) -> Uuid {
        let millis = u64::try_from(self.clock / 1000).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.bytes10()).into_uuid()
    }

    fn push_append(
        &mut self,
        subject: Subject,
        last_seq: u64,
        aggregate: AggregateId,
        project: ProjectId,
        actor: Actor,
        events: Vec<Event>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let command = self.uuid();
        let occurred_at = Timestamp::from_micros(self.clock);
        let envelopes: Vec<Envelope> = events
            .into_iter()
            .map(|payload| Envelope {
                event_id: EventId::from_uuid(self.uuid()),
                project,
                aggregate: aggregate.clone(),
                occurred_at,
                actor,
                causation_id: Some(command),
                correlation_id: None,
                payload,
            })
            .collect();
        self.stats.appends += 1;
        self.stats.events += envelopes.len() as u64;
        self.stats.messages += envelopes
            .iter()
            .filter(|e| {
                matches!(
                    e.payload,
                    Event::MessageReceived(_) | Event::MessageQueued(_)
                )
            })
            .count() as u64;
        self.out.push_back(Item::Append(Append {
            seq,
            subject,
            expected: Expected::from_last(last_seq),
            msg_id: command.simple().to_string(),
            events: envelopes,
        }));
        seq
    }

    fn produce(&mut self) -> bool {
        if self.setup_pending {
            self.setup_pending = false;
            if self.projects.is_empty() {
                self.setup_projects();
            }
            for slot in 0..self.slots.len() {
                self.fill_slot(slot);
            }
            return true;
        }
        if self.weights.total == 0 {
            return false;
        }
        let target = self.rng.below(self.weights.total);
        let slot = self.weights.find(target).min(self.slots.len() - 1);
        let Some(mut d) = self.slots[slot].take() else {
            return true;
        };
        let done = self.step(&mut d);
        if done {
            self.weights.add(slot, -d.weight);
            self.stats.dialogs += 1;
            self.out
                .push_back(Item::DialogDone(Box::new(self.summary(d))));
            self.fill_slot(slot);
        } else {
            self.slots[slot] = Some(d);
        }
        true
    }

    fn summary(&self, d: DialogSim) -> DialogSummary {
        DialogSummary {
            dialog: d.id,
            project: self.projects[d.project].id,
            lang: d.lang,
            person: d.person,
            profile: d.profile,
            source: d.source,
            state: d.state,
            created_at: Timestamp::from_micros(d.created_at),
            last_activity_at: Timestamp::from_micros(d.last_activity_at),
            messages_in: d.messages_in,
            messages_out: d.messages_out,
            notes: d.notes,
        }
    }
}

impl Iterator for Generator {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if !self.produce() {
                return None;
            }
        }
    }
}
