//! The dialogs of a history: a client's first message (registering the dialog and claiming its
//! identity), then the conversation (inbound, bot and operator answers, delivery statuses, read
//! marks) mixed with side actions (notes, tags, folders, lists, variables, deal stages, pins,
//! bot pauses, assignments, tasks, drafts, closes), and the wrap-up (statuses, close, rarely a
//! block or a deletion). Every command goes through the dialog aggregate's `decide`.

use super::*;

impl Generator {
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
    pub(super) fn fill_slot(&mut self, slot: usize) {
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

    /// Something besides the conversation: one of 24 kinds, organising the dialog (0 to 12) or
    /// handling it (13 to 23).
    fn side_action(&mut self, d: &mut DialogSim) {
        let caller = self.actor_for(d);
        let roll = self.rng.below(24);
        let command = match roll {
            0..=12 => self.organise(d, roll),
            _ => self.handle(d, roll, caller),
        };
        if let Some(command) = command {
            self.dialog_command(d, caller, command);
        }
    }

    /// A side action that files the dialog: a note, tags, folders, lists, a variable, the deal
    /// stage (none when there is nothing to do).
    fn organise(&mut self, d: &DialogSim, roll: u64) -> Option<DialogCommand> {
        let p = d.project;
        Some(match roll {
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
                None => return None,
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
                None => return None,
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
            _ => {
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
        })
    }

    /// A side action that handles the dialog: pins, bot pauses, unread marks, assignments,
    /// closes, tasks, funnel blocks, drafts, read marks, deals, blacklisting, profile and
    /// identity updates (none when there is nothing to do, or when it gave its own command).
    fn handle(&mut self, d: &mut DialogSim, roll: u64, caller: Caller) -> Option<DialogCommand> {
        let p = d.project;
        Some(match roll {
            13 => {
                if d.state.pinned {
                    DialogCommand::Unpin
                } else if self.rng.chance(0.3) {
                    DialogCommand::Pin
                } else {
                    return None;
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
                return None;
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
                return None;
            }
            20 => {
                if matches!(caller, Caller::Operator { .. }) {
                    DialogCommand::SaveDraft {
                        text: text::message(&mut self.rng, d.lang, false),
                    }
                } else {
                    return None;
                }
            }
            21 => {
                // An admin glancing over the dialog marks it read for themselves.
                let admin = self.random_admin(p);
                let caller = self.operator_caller(p, admin);
                self.dialog_command(d, caller, DialogCommand::MarkRead);
                return None;
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
                        _ => return None,
                    }
                }
            }
        })
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
    pub(super) fn step(&mut self, d: &mut DialogSim) -> bool {
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
}
