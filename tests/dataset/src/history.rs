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

    // -----------------------------------------------------------------------------------------
    // Projects

    fn project_command(&mut self, p: usize, command: ProjectCommand) {
        self.tick();
        let caller = Caller::Service(Actor::System);
        let now = Timestamp::from_micros(self.clock);
        let project = &self.projects[p];
        let ctx = Context {
            caller: &caller,
            project: &project.state,
            now,
        };
        match project::decide(&project.state, command, &ctx) {
            Ok(events) if events.is_empty() => self.stats.no_ops += 1,
            Ok(events) => {
                for event in &events {
                    self.projects[p].state.apply(event);
                }
                let (id, last) = (self.projects[p].id, self.projects[p].last_seq);
                let seq = self.push_append(
                    Subject::project(id),
                    last,
                    AggregateId::Project,
                    id,
                    Actor::System,
                    events,
                );
                self.projects[p].last_seq = seq;
            }
            Err(_) => self.stats.refusals += 1,
        }
    }

    fn setup_projects(&mut self) {
        for p in 0..self.size.projects {
            let id = ProjectId::from_uuid(self.uuid());
            let pipeline = PipelineId::from_uuid(self.uuid());
            self.projects.push(ProjectSim {
                id,
                state: ProjectState::default(),
                last_seq: 0,
                channels: Vec::new(),
                operators: Vec::new(),
                admins: Vec::new(),
                folders: Vec::new(),
                tags: Vec::new(),
                lists: Vec::new(),
                pipeline,
                stages: Vec::new(),
                templates: Vec::new(),
            });
            self.project_command(
                p,
                ProjectCommand::Create {
                    name: format!("Магазин №{}", p + 1),
                },
            );
            for (kind, name) in [
                (ChannelKind::Telegram, "Telegram-бот"),
                (ChannelKind::WhatsappCloud, "WhatsApp"),
                (ChannelKind::Vk, "Сообщество VK"),
                (ChannelKind::Email, "support@"),
            ] {
                let channel = ChannelId::from_uuid(self.uuid());
                self.projects[p].channels.push((channel, kind));
                self.project_command(
                    p,
                    ProjectCommand::ConnectChannel {
                        channel,
                        kind,
                        name: name.to_owned(),
                    },
                );
            }
            let operators = self.size.operators.max(1);
            let admins = operators.div_ceil(15);
            for i in 0..operators {
                let operator = OperatorId::from_uuid(self.uuid());
                let admin = i < admins;
                let first = self.rng.pick(OPERATOR_FIRST);
                self.projects[p].operators.push(Operator {
                    id: operator,
                    admin,
                });
                if admin {
                    self.projects[p].admins.push(i);
                }
                self.project_command(
                    p,
                    ProjectCommand::AddOperator {
                        operator,
                        name: format!("{first} ({})", i + 1),
                        email: format!("op{}@shop{}.example", i + 1, p + 1),
                        role: if admin { Role::Admin } else { Role::Operator },
                        can_delete: admin,
                    },
                );
            }
            for name in FOLDERS {
                let folder = FolderId::from_uuid(self.uuid());
                self.projects[p].folders.push(folder);
                self.project_command(
                    p,
                    ProjectCommand::CreateFolder {
                        folder,
                        name: (*name).to_owned(),
                    },
                );
            }
            if let Some(&folder) = self.projects[p].folders.first() {
                self.project_command(
                    p,
                    ProjectCommand::SetFolderNotifications {
                        folder,
                        push: true,
                        sound: false,
                    },
                );
            }
            for name in TAGS {
                let tag = TagId::from_uuid(self.uuid());
                self.projects[p].tags.push(tag);
                let color = format!("#{:06x}", self.rng.below(0x100_0000));
                self.project_command(
                    p,
                    ProjectCommand::DefineTag {
                        tag,
                        name: (*name).to_owned(),
                        color,
                    },
                );
            }
            for name in LISTS {
                let list = ListId::from_uuid(self.uuid());
                self.projects[p].lists.push(list);
                self.project_command(
                    p,
                    ProjectCommand::DefineList {
                        list,
                        name: (*name).to_owned(),
                    },
                );
            }
            for (name, choices) in [
                ("city", CITIES),
                ("segment", SEGMENTS),
                ("order_id", &[][..]),
            ] {
                self.project_command(
                    p,
                    ProjectCommand::DefineVariable {
                        name: name.to_owned(),
                        choices: choices.iter().map(|c| (*c).to_owned()).collect(),
                    },
                );
            }
            let stages: Vec<Stage> = STAGES
                .iter()
                .map(|name| Stage {
                    stage: StageId::from_uuid(self.uuid()),
                    name: (*name).to_owned(),
                })
                .collect();
            self.projects[p].stages = stages.iter().map(|s| s.stage).collect();
            let pipeline = self.projects[p].pipeline;
            self.project_command(
                p,
                ProjectCommand::DefinePipeline {
                    pipeline,
                    name: "Продажи".to_owned(),
                    stages,
                },
            );
            self.project_command(
                p,
                ProjectCommand::SetSlaThresholds {
                    yellow_after_secs: 15 * 60,
                    red_after_secs: 60 * 60,
                },
            );
            for (name, body) in [
                ("Приветствие", "Здравствуйте! Чем можем помочь?"),
                (
                    "Трек",
                    "Ваш заказ передан в доставку, трек-номер придёт в SMS.",
                ),
                (
                    "Возврат",
                    "Вернуть товар можно в течение 14 дней с момента получения.",
                ),
                ("Hello", "Hello! How can we help you today?"),
            ] {
                let template = TemplateId::from_uuid(self.uuid());
                self.projects[p].templates.push((template, body.to_owned()));
                self.project_command(
                    p,
                    ProjectCommand::SaveTemplate {
                        template,
                        name: name.to_owned(),
                        text: body.to_owned(),
                    },
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Dialogs

    fn new_dialog(&mut self, index: u64) -> DialogSim {
        let local = usize::try_from(index - self.first_dialog).unwrap_or(0);
        let total = self.counts.get(local).copied().unwrap_or(0);
        let project = (self.rng.below(self.projects.len().max(1) as u64)) as usize;
        let lang = if self.rng.chance(0.8) {
            Lang::Ru
        } else {
            Lang::En
        };
        let person = text::person(&mut self.rng, lang);
        let channels = &self.projects[project].channels;
        let roll = self.rng.unit();
        let channel = channels[if roll < 0.45 {
            0
        } else if roll < 0.75 {
            1
        } else if roll < 0.9 {
            2
        } else {
            3
        }];
        // About 55 % of the messages are the client's; the client writes first.
        let inbound = if total == 0 {
            0
        } else {
            (((f64::from(total) * 0.55).round() as u32).max(1)).min(total)
        };
        let outbound = total - inbound;
        let bot_replies = if self.rng.chance(0.4) {
            1 + self.rng.below(2) as u32
        } else {
            0
        };
        DialogSim {
            project,
            id: DialogId::from_uuid(self.uuid()),
            state: DialogState::default(),
            last_seq: 0,
            lang,
            person,
            profile: ClientProfile::default(),
            source: Source::default(),
            channel,
            inbound_left: inbound,
            outbound_left: outbound,
            statuses: VecDeque::new(),
            started: false,
            bot_replies,
            created_at: 0,
            last_activity_at: 0,
            messages_in: 0,
            messages_out: 0,
            notes: 0,
            external_ids: 0,
            weight: 4 + i64::from(total),
        }
    }

    /// Fills empty slots with new dialogs while there are any.
    fn fill_slot(&mut self, slot: usize) {
        let end = self.first_dialog + self.size.dialogs;
        if self.next_dialog < self.first_dialog {
            self.next_dialog = self.first_dialog;
        }
        if self.next_dialog >= end {
            return;
        }
        let index = self.next_dialog;
        self.next_dialog += 1;
        let dialog = self.new_dialog(index);
        self.weights.add(slot, dialog.weight);
        self.slots[slot] = Some(dialog);
    }

    /// Decides `command` for the dialog as `caller`; appends its events. False when refused or
    /// when it changed nothing.
    fn dialog_command(
        &mut self,
        d: &mut DialogSim,
        caller: Caller,
        command: DialogCommand,
    ) -> bool {
        self.tick();
        let now = Timestamp::from_micros(self.clock);
        let project = &self.projects[d.project];
        let ctx = Context {
            caller: &caller,
            project: &project.state,
            now,
        };
        match dialog::decide(&d.state, command, &ctx) {
            Ok(events) if events.is_empty() => {
                self.stats.no_ops += 1;
                false
            }
            Ok(events) => {
                for event in &events {
                    match event {
                        Event::MessageReceived(_) => {
                            d.messages_in += 1;
                            d.last_activity_at = self.clock;
                        }
                        Event::MessageQueued(_) => {
                            d.messages_out += 1;
                            d.last_activity_at = self.clock;
                        }
                        Event::NoteAdded(_) => d.notes += 1,
                        _ => {}
                    }
                    d.state.apply(event);
                }
                let project_id = self.projects[d.project].id;
                d.last_seq = self.push_append(
                    Subject::dialog(project_id, d.id),
                    d.last_seq,
                    AggregateId::Dialog(d.id),
                    project_id,
                    caller.actor(),
                    events,
                );
                true
            }
            Err(_) => {
                self.stats.refusals += 1;
                false
            }
        }
    }

    fn operator_caller(&self, project: usize, index: usize) -> Caller {
        let operator = &self.projects[project].operators[index];
        Caller::Operator {
            id: operator.id,
            role: if operator.admin {
                Role::Admin
            } else {
                Role::Operator
            },
            can_delete: operator.admin,
        }
    }

    fn random_operator(&mut self, project: usize) -> usize {
        self.rng
            .below(self.projects[project].operators.len() as u64) as usize
    }

    fn random_admin(&mut self, project: usize) -> usize {
        let admins = &self.projects[project].admins;
        admins[self.rng.below(admins.len() as u64) as usize]
    }

    fn operator_index(&self, project: usize, id: OperatorId) -> Option<usize> {
        self.projects[project]
            .operators
            .iter()
            .position(|o| o.id == id)
    }

    /// Someone who may act on the dialog: its assignee (now and then an admin), or anyone when
    /// it is free.
    fn actor_for(&mut self, d: &DialogSim) -> Caller {
        let index = match d.state.assignee {
            Some(assignee) if self.rng.chance(0.85) => self
                .operator_index(d.project, assignee)
                .unwrap_or_else(|| self.random_admin(d.project)),
            Some(_) => self.random_admin(d.project),
            None => self.random_operator(d.project),
        };
        self.operator_caller(d.project, index)
    }

    fn connector(d: &DialogSim) -> Caller {
        Caller::Service(Actor::Connector(d.channel.0))
    }

    fn start(&mut self, d: &mut DialogSim) {
        d.started = true;
        self.tick();
        d.created_at = self.clock;
        d.last_activity_at = self.clock;
        let (channel, kind) = d.channel;
        // One identity claims one dialog (F11.2): a made-up phone or id that another client of
        // the project already has is drawn again.
        let mut attempt = 0u32;
        let identity = loop {
            let mut external_id = match kind {
                ChannelKind::Telegram => (100_000_000 + self.rng.below(7_000_000_000)).to_string(),
                ChannelKind::WhatsappCloud | ChannelKind::WhatsappQr => {
                    d.person.phone_digits.clone()
                }
                ChannelKind::Vk => format!("id{}", 1_000_000 + self.rng.below(800_000_000)),
                _ => d.person.email.clone(),
            };
            if attempt > 8 {
                external_id.push_str(&format!("{attempt}"));
            }
            let key = (d.project, identity_hash(channel, &external_id));
            if self.claimed.insert(key) {
                break ChannelIdentity {
                    channel,
                    kind,
                    external_id,
                };
            }
            attempt += 1;
            d.person = text::person(&mut self.rng, d.lang);
        };
        d.profile = ClientProfile {
            name: match kind {
                // Telegram and VK show the name the client chose (or the handle).
                ChannelKind::Telegram if d.person.name.is_none() => Some(d.person.handle.clone()),
                _ => d.person.name.clone(),
            },
            phone: matches!(kind, ChannelKind::WhatsappCloud).then(|| d.person.phone.clone()),
            email: matches!(kind, ChannelKind::Email).then(|| d.person.email.clone()),
            avatar_url: matches!(kind, ChannelKind::Telegram | ChannelKind::Vk)
                .then(|| format!("https://cdn.example/avatars/{}.jpg", d.id.token())),
            country: Some(if d.lang == Lang::Ru { "RU" } else { "GB" }.to_owned()),
            language: Some(d.lang.code().to_owned()),
        };
        if self.rng.chance(0.3) {
            let source = self
                .rng
                .pick(&["vk", "instagram", "yandex", "google", "telegram_ads"]);
            d.source = Source {
                platform: Some(source.to_owned()),
                campaign: Some(format!("sale_{}", 1 + self.rng.below(12))),
                ad_set: None,
                ad: Some(format!("ad{}", self.rng.below(100))),
                utm: vec![
                    ("utm_source".to_owned(), source.to_owned()),
                    ("utm_medium".to_owned(), "cpc".to_owned()),
                ],
            };
        }
        // The identity's claim first (F11.2), then the registration, as a connector does it.
        let project_id = self.projects[d.project].id;
        if let Ok(events) = identity::decide(
            &IdentityState::default(),
            IdentityCommand::Claim { dialog: d.id },
        ) {
            let key_hash = identity_key_hash(&identity);
            self.push_append(
                Subject::identity(project_id, channel, &key_hash),
                0,
                AggregateId::Identity { channel, key_hash },
                project_id,
                Actor::Connector(channel),
                events,
            );
        }
        let caller = if self.rng.chance(0.03) {
            // F5.1: an operator created it by hand.
            let index = self.random_operator(d.project);
            self.operator_caller(d.project, index)
        } else {
            Self::connector(d)
        };
        self.dialog_command(
            d,
            caller,
            DialogCommand::Register {
                profile: d.profile.clone(),
                source: d.source.clone(),
                identity: Some(identity),
            },
        );
    }

    fn receive(&mut self, d: &mut DialogSim) {
        d.inbound_left = d.inbound_left.saturating_sub(1);
        d.external_ids += 1;
        let text = text::message(&mut self.rng, d.lang, true);
        let attachments = if self.rng.chance(0.05) {
            vec![Attachment {
                kind: AttachmentKind::Image,
                file_name: format!("photo_{}.jpg", d.external_ids),
                mime_type: "image/jpeg".to_owned(),
                size_bytes: 50_000 + self.rng.below(3_000_000),
                storage_ref: format!("blob/{}", self.uuid().simple()),
            }]
        } else {
            vec![]
        };
        let sent_at = Timestamp::from_micros(self.clock - 1_000 - self.rng.below(2_000_000) as i64);
        let message = MessageId::from_uuid(self.uuid());
        let external_id = format!("{}:{}", d.channel.1.as_str(), d.external_ids);
        self.dialog_command(
            d,
            Self::connector(d),
            DialogCommand::ReceiveMessage {
                message,
                channel: d.channel.0,
                external_id,
                text,
                attachments,
                reply_to: None,
                sent_at,
            },
        );
    }

    fn send(&mut self, d: &mut DialogSim, caller: Caller) {
        d.outbound_left = d.outbound_left.saturating_sub(1);
        let message = MessageId::from_uuid(self.uuid());
        let (text, template) = if self.rng.chance(0.08) {
            let templates = &self.projects[d.project].templates;
            let (id, text) = templates[self.rng.below(templates.len() as u64) as usize].clone();
            (text, Some(id))
        } else {
            (text::message(&mut self.rng, d.lang, false), None)
        };
        let sent = self.dialog_command(
            d,
            caller,
            DialogCommand::SendMessage {
                message,
                channel: d.channel.0,
                text,
                attachments: vec![],
                reply_to: None,
                template,
            },
        );
        if !sent {
            return;
        }
        // What the channel will report about it later.
        if self.rng.chance(0.03) {
            let (reason, retry) = match self.rng.below(4) {
                0 => (FailureReason::RateLimited, Some(30)),
                1 => (FailureReason::BlockedByClient, None),
                2 => (FailureReason::OutsideWindow, None),
                _ => (FailureReason::ChannelError, None),
            };
            d.statuses.push_back(DialogCommand::MarkFailed {
                message,
                reason,
                detail: "channel answered with an error".to_owned(),
                retry_after_secs: retry,
            });
            return;
        }
        d.statuses.push_back(DialogCommand::MarkSent {
            message,
            external_id: format!("out:{}", message.as_uuid().simple()),
        });
        if self.rng.chance(0.85) {
            d.statuses
                .push_back(DialogCommand::MarkDelivered { message });
            if self.rng.chance(0.6) {
                d.statuses
                    .push_back(DialogCommand::MarkReadByClient { message });
            }
        }
    }

    /// The team's turn: the bot, an assignment, a read mark or an operator's answer.
    fn answer(&mut self, d: &mut DialogSim) {
        let Some(assignee) = d.state.assignee else {
            if d.bot_replies > 0 && !d.state.bot_paused {
                d.bot_replies -= 1;
                self.send(d, Caller::Service(Actor::Bot));
                return;
            }
            // A free dialog: an operator takes it, or an admin hands it out.
            let (caller, operator) = if self.rng.chance(0.5) {
                let index = self.random_operator(d.project);
                let caller = self.operator_caller(d.project, index);
                (caller, self.projects[d.project].operators[index].id)
            } else {
                let admin = self.random_admin(d.project);
                let index = self.random_operator(d.project);
                (
                    self.operator_caller(d.project, admin),
                    self.projects[d.project].operators[index].id,
                )
            };
            self.dialog_command(d, caller, DialogCommand::Assign { operator });
            return;
        };
        let index = self
            .operator_index(d.project, assignee)
            .unwrap_or_else(|| self.random_admin(d.project));
        let caller = self.operator_caller(d.project, index);
        if d.state.is_unread_for(assignee) && self.rng.chance(0.6) {
            self.dialog_command(d, caller, DialogCommand::MarkRead);
        } else {
            self.send(d, caller);
        }
    }

    /// Something besides the conversation.
    fn side_action(&mut self, d: &mut DialogSim) {
        let caller = self.actor_for(d);
        let p = d.project;
        let command = match self.rng.below(24) {
            0..=2 => DialogCommand::AddNote {
                note: NoteId::from_uuid(self.uuid()),
                text: text::note(&mut self.rng, d.lang),
            },
            3..=5 => {
                let tags = &self.projects[p].tags;
                // Popular tags more often: the first ones of the list.
                let a =
                    tags[(self.rng.below(tags.len() as u64) * self.rng.below(100) / 100) as usize];
                let b = tags[self.rng.below(tags.len() as u64) as usize];
                DialogCommand::AddTags {
                    tags: if self.rng.chance(0.3) {
                        vec![a, b]
                    } else {
                        vec![a]
                    },
                }
            }
            6 => match d.state.tags.iter().next() {
                Some(&tag) => DialogCommand::RemoveTags { tags: vec![tag] },
                None => return,
            },
            7 | 8 => {
                let folders = &self.projects[p].folders;
                let folder = folders[self.rng.below(folders.len() as u64) as usize];
                DialogCommand::JoinFolders {
                    folders: vec![folder],
                }
            }
            9 => match d.state.folders.iter().next() {
                Some(&folder) => DialogCommand::LeaveFolders {
                    folders: vec![folder],
                },
                None => return,
            },
            10 => {
                let lists = &self.projects[p].lists;
                DialogCommand::JoinLists {
                    lists: vec![lists[self.rng.below(lists.len() as u64) as usize]],
                }
            }
            11 => {
                let (name, value) = match self.rng.below(3) {
                    0 => ("city", self.rng.pick(CITIES).to_owned()),
                    1 => ("segment", self.rng.pick(SEGMENTS).to_owned()),
                    _ => ("order_id", (100_000 + self.rng.below(900_000)).to_string()),
                };
                DialogCommand::SetVariable {
                    name: name.to_owned(),
                    value,
                }
            }
            12 => {
                let project = &self.projects[p];
                let next = match d.state.deal_stage {
                    Some((_, stage)) => project
                        .stages
                        .iter()
                        .position(|s| *s == stage)
                        .map_or(0, |i| (i + 1).min(project.stages.len() - 1)),
                    None => 0,
                };
                DialogCommand::ChangeDealStage {
                    pipeline: project.pipeline,
                    stage: project.stages[next],
                }
            }
            13 => {
                if d.state.pinned {
                    DialogCommand::Unpin
                } else if self.rng.chance(0.3) {
                    DialogCommand::Pin
                } else {
                    return;
                }
            }
            14 => {
                if d.state.bot_paused {
                    DialogCommand::ResumeBot
                } else {
                    DialogCommand::PauseBot
                }
            }
            15 => {
                // Someone marks it unread to come back to it (F4.3).
                DialogCommand::MarkUnread
            }
            16 => {
                // Reassignment by an admin (F4.1).
                let admin = self.random_admin(p);
                let index = self.random_operator(p);
                let operator = self.projects[p].operators[index].id;
                let caller = self.operator_caller(p, admin);
                self.dialog_command(d, caller, DialogCommand::Assign { operator });
                return;
            }
            17 => {
                // Mid-conversation close; the client's next message reopens it (F4.2).
                DialogCommand::Close
            }
            18 => {
                if let Some((&task, &false)) = d.state.tasks.iter().next() {
                    DialogCommand::CompleteTask { task }
                } else {
                    let due = Timestamp::from_micros(
                        self.clock + (1 + self.rng.below(72)) as i64 * 3_600_000_000,
                    );
                    DialogCommand::CreateTask {
                        task: TaskId::from_uuid(self.uuid()),
                        text: text::note(&mut self.rng, d.lang),
                        due: Some(due),
                    }
                }
            }
            19 => {
                let (block, name) = self.rng.pick(SCENARIOS);
                self.dialog_command(
                    d,
                    Caller::Service(Actor::Bot),
                    DialogCommand::EnterFunnelBlock {
                        block: block.to_owned(),
                        block_name: name.to_owned(),
                    },
                );
                return;
            }
            20 => {
                if matches!(caller, Caller::Operator { .. }) {
                    DialogCommand::SaveDraft {
                        text: text::message(&mut self.rng, d.lang, false),
                    }
                } else {
                    return;
                }
            }
            21 => {
                // An admin glancing over the dialog marks it read for themselves.
                let admin = self.random_admin(p);
                let caller = self.operator_caller(p, admin);
                self.dialog_command(d, caller, DialogCommand::MarkRead);
                return;
            }
            22 => {
                let line = 1 + self.rng.below(2) as u8;
                DialogCommand::UpdateDeal {
                    line,
                    channel: Some(d.channel.0),
                    sales_sum_minor: (1 + self.rng.below(500)) as i64 * 10_000,
                    sales_count: 1 + self.rng.below(5) as u32,
                }
            }
            _ => {
                if self.rng.chance(0.2) && !d.state.blacklisted {
                    DialogCommand::Blacklist
                } else if d.person.name.is_some() && self.rng.chance(0.5) {
                    // The client tells their phone; the profile gets it.
                    let mut profile = d.profile.clone();
                    profile.phone = Some(d.person.phone.clone());
                    d.profile = profile.clone();
                    DialogCommand::UpdateProfile { profile }
                } else {
                    let email_channel = self.projects[p].channels.get(3).copied();
                    match email_channel {
                        Some((channel, kind)) if channel != d.channel.0 => {
                            DialogCommand::LinkIdentity {
                                identity: ChannelIdentity {
                                    channel,
                                    kind,
                                    external_id: d.person.email.clone(),
                                },
                                display_name: d.person.name.clone(),
                                avatar_url: None,
                            }
                        }
                        _ => return,
                    }
                }
            }
        };
        self.dialog_command(d, caller, command);
    }

    /// The dialog's last words: its statuses are reported, then it is closed (mostly), and
    /// rarely the client is blocked or deleted. Answers whether the dialog is done.
    fn wrap_up(&mut self, d: &mut DialogSim) -> bool {
        if let Some(status) = d.statuses.pop_front() {
            self.dialog_command(d, Self::connector(d), status);
            return false;
        }
        let roll = self.rng.unit();
        if roll < 0.004 {
            let admin = self.random_admin(d.project);
            let caller = self.operator_caller(d.project, admin);
            self.dialog_command(d, caller, DialogCommand::Delete);
        } else if roll < 0.02 {
            let caller = self.actor_for(d);
            self.dialog_command(d, caller, DialogCommand::Block);
        } else if roll < 0.72 && !d.state.closed {
            let caller = self.actor_for(d);
            self.dialog_command(d, caller, DialogCommand::Close);
        }
        true
    }

    /// One step of one dialog; true when it is done.
    fn step(&mut self, d: &mut DialogSim) -> bool {
        if !d.started {
            self.start(d);
            return false;
        }
        if !d.statuses.is_empty() && self.rng.chance(0.45) {
            if let Some(status) = d.statuses.pop_front() {
                self.dialog_command(d, Self::connector(d), status);
            }
            return false;
        }
        let talking = d.inbound_left + d.outbound_left > 0;
        if !talking {
            return self.wrap_up(d);
        }
        if self.rng.chance(0.14) {
            self.side_action(d);
            return false;
        }
        // The client writes first, and again while waiting now and then; otherwise the team.
        let client_turn = if d.inbound_left == 0 {
            false
        } else if d.outbound_left == 0 || d.state.inbound_count == 0 {
            true
        } else if d.state.unanswered {
            self.rng.chance(0.25)
        } else {
            self.rng.chance(0.85)
        };
        if client_turn {
            if d.state.blocked {
                let caller = self.actor_for(d);
                self.dialog_command(d, caller, DialogCommand::Unblock);
            } else {
                self.receive(d);
            }
        } else {
            self.answer(d);
        }
        false
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
