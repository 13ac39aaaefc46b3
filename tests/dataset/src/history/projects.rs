//! The projects of a history: each created with its channels, operators (one admin per 15),
//! folders, tags, lists, variables, a deal pipeline, SLA thresholds and templates, before any
//! dialog starts. Every command goes through the project aggregate's `decide`.

use super::*;

impl Generator {
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

    pub(super) fn setup_projects(&mut self) {
        for p in 0..self.size.projects {
            self.create_project(p);
            self.add_operators(p);
            self.define_filing(p);
            self.define_sales(p);
        }
    }

    /// Project `p` created, with its four channels.
    fn create_project(&mut self, p: usize) {
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
    }

    /// The operators of project `p`: one admin per 15, the first ones.
    fn add_operators(&mut self, p: usize) {
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
    }

    /// What project `p` files dialogs by: folders, tags, lists, variables.
    fn define_filing(&mut self, p: usize) {
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
    }

    /// The sales side of project `p`: the deal pipeline, SLA thresholds, templates.
    fn define_sales(&mut self, p: usize) {
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
