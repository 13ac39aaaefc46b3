//! The Project aggregate: the settings every dialog decision may consult.
//!
//! [`decide`] creates the project or checks that it exists, then hands the command to the
//! function of its family: `operators`, `channels`, `folders`, `definitions` (tags, lists,
//! variables, pipelines), `policies` (SLA, automatic merging), `templates_and_filters`. A family's
//! function is only ever given its own commands.

use super::{Caller, Context, Refusal, bounded_text};
use std::collections::{HashMap, HashSet};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInfo {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub can_delete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectState {
    pub exists: bool,
    pub name: String,
    operators: HashMap<OperatorId, OperatorInfo>,
    channels: HashMap<ChannelId, (ChannelKind, String)>,
    folders: HashMap<FolderId, String>,
    tags: HashSet<TagId>,
    lists: HashSet<ListId>,
    /// Variable name → its choices (empty: free text).
    variables: HashMap<String, Vec<String>>,
    pipelines: HashMap<PipelineId, Vec<StageId>>,
    pub sla: Option<(u32, u32)>,
    templates: HashSet<TemplateId>,
    filters: HashSet<FilterId>,
    pub auto_merge: bool,
}

impl ProjectState {
    pub fn operator(&self, id: OperatorId) -> Option<&OperatorInfo> {
        self.operators.get(&id)
    }
    pub fn channel(&self, id: ChannelId) -> Option<ChannelKind> {
        self.channels.get(&id).map(|(kind, _)| *kind)
    }
    fn admin_count(&self) -> usize {
        self.operators
            .values()
            .filter(|o| o.role == Role::Admin)
            .count()
    }
    pub fn has_folder(&self, id: FolderId) -> bool {
        self.folders.contains_key(&id)
    }
    pub fn has_tag(&self, id: TagId) -> bool {
        self.tags.contains(&id)
    }
    pub fn has_list(&self, id: ListId) -> bool {
        self.lists.contains(&id)
    }
    pub fn variable_choices(&self, name: &str) -> Option<&[String]> {
        self.variables.get(name).map(Vec::as_slice)
    }
    pub fn pipeline_has_stage(&self, pipeline: PipelineId, stage: StageId) -> Option<bool> {
        self.pipelines.get(&pipeline).map(|s| s.contains(&stage))
    }
    pub fn has_template(&self, id: TemplateId) -> bool {
        self.templates.contains(&id)
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::ProjectCreated(e) => {
                self.exists = true;
                self.name = e.name.clone();
            }
            Event::OperatorAdded(e) => {
                self.operators.insert(
                    e.operator,
                    OperatorInfo {
                        name: e.name.clone(),
                        email: e.email.clone(),
                        role: e.role,
                        can_delete: e.can_delete,
                    },
                );
            }
            Event::OperatorRoleChanged(e) => {
                if let Some(op) = self.operators.get_mut(&e.operator) {
                    op.role = e.role;
                    op.can_delete = e.can_delete;
                }
            }
            Event::OperatorRemoved(e) => {
                self.operators.remove(&e.operator);
            }
            Event::ChannelConnected(e) => {
                self.channels.insert(e.channel, (e.kind, e.name.clone()));
            }
            Event::ChannelDisconnected(e) => {
                self.channels.remove(&e.channel);
            }
            Event::FolderCreated(e) => {
                self.folders.insert(e.folder, e.name.clone());
            }
            Event::FolderRenamed(e) => {
                self.folders.insert(e.folder, e.name.clone());
            }
            Event::FolderDeleted(e) => {
                self.folders.remove(&e.folder);
            }
            Event::TagDefined(e) => {
                self.tags.insert(e.tag);
            }
            Event::TagDeleted(e) => {
                self.tags.remove(&e.tag);
            }
            Event::ListDefined(e) => {
                self.lists.insert(e.list);
            }
            Event::VariableDefined(e) => {
                self.variables.insert(e.name.clone(), e.choices.clone());
            }
            Event::PipelineDefined(e) => {
                self.pipelines
                    .insert(e.pipeline, e.stages.iter().map(|s| s.stage).collect());
            }
            Event::SlaThresholdsSet(e) => self.sla = Some((e.yellow_after_secs, e.red_after_secs)),
            Event::TemplateSaved(e) => {
                self.templates.insert(e.template);
            }
            Event::TemplateDeleted(e) => {
                self.templates.remove(&e.template);
            }
            Event::SavedFilterSaved(e) => {
                self.filters.insert(e.filter);
            }
            Event::SavedFilterDeleted(e) => {
                self.filters.remove(&e.filter);
            }
            Event::AutoMergeSet(e) => self.auto_merge = e.enabled,
            _ => {}
        }
    }
}

/// Commands on project settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCommand {
    Create {
        name: String,
    },
    AddOperator {
        operator: OperatorId,
        name: String,
        email: String,
        role: Role,
        can_delete: bool,
    },
    ChangeOperatorRole {
        operator: OperatorId,
        role: Role,
        can_delete: bool,
    },
    RemoveOperator {
        operator: OperatorId,
    },
    ConnectChannel {
        channel: ChannelId,
        kind: ChannelKind,
        name: String,
    },
    DisconnectChannel {
        channel: ChannelId,
    },
    CreateFolder {
        folder: FolderId,
        name: String,
    },
    RenameFolder {
        folder: FolderId,
        name: String,
    },
    DeleteFolder {
        folder: FolderId,
    },
    SetFolderNotifications {
        folder: FolderId,
        push: bool,
        sound: bool,
    },
    DefineTag {
        tag: TagId,
        name: String,
        color: String,
    },
    DeleteTag {
        tag: TagId,
    },
    DefineList {
        list: ListId,
        name: String,
    },
    DefineVariable {
        name: String,
        choices: Vec<String>,
    },
    DefinePipeline {
        pipeline: PipelineId,
        name: String,
        stages: Vec<Stage>,
    },
    SetSlaThresholds {
        yellow_after_secs: u32,
        red_after_secs: u32,
    },
    SaveTemplate {
        template: TemplateId,
        name: String,
        text: String,
    },
    DeleteTemplate {
        template: TemplateId,
    },
    SaveFilter {
        filter: FilterId,
        name: String,
        query: String,
    },
    DeleteFilter {
        filter: FilterId,
    },
    SetAutoMerge {
        enabled: bool,
    },
}

const NAME_MAX: usize = 200;

fn valid_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decide a project command.
pub fn decide(
    state: &ProjectState,
    command: ProjectCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    let caller = ctx.caller;
    if let C::Create { name } = command {
        if state.exists {
            return Err(Refusal::ProjectExists);
        }
        // The creator acts as the system: there is no admin yet.
        caller.require_admin()?;
        bounded_text("name", &name, NAME_MAX, false)?;
        return Ok(vec![Event::ProjectCreated(ProjectCreated { name })]);
    }
    if !state.exists {
        return Err(Refusal::NoSuchProject);
    }
    match command {
        C::Create { .. } => Err(Refusal::ProjectExists),
        C::AddOperator { .. } | C::ChangeOperatorRole { .. } | C::RemoveOperator { .. } => {
            operators(state, command, caller)
        }
        C::ConnectChannel { .. } | C::DisconnectChannel { .. } => channels(state, command, caller),
        C::CreateFolder { .. }
        | C::RenameFolder { .. }
        | C::DeleteFolder { .. }
        | C::SetFolderNotifications { .. } => folders(state, command, caller),
        C::DefineTag { .. }
        | C::DeleteTag { .. }
        | C::DefineList { .. }
        | C::DefineVariable { .. }
        | C::DefinePipeline { .. } => definitions(state, command, caller),
        C::SetSlaThresholds { .. } | C::SetAutoMerge { .. } => policies(state, command, caller),
        C::SaveTemplate { .. }
        | C::DeleteTemplate { .. }
        | C::SaveFilter { .. }
        | C::DeleteFilter { .. } => templates_and_filters(state, command, caller),
    }
}

/// The people of the project and their roles (F12.1).
fn operators(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::AddOperator {
            operator,
            name,
            email,
            role,
            can_delete,
        } => {
            caller.require_admin()?;
            if state.operators.contains_key(&operator) {
                return Err(Refusal::AlreadyExists {
                    kind: "operator",
                    id: operator.to_string(),
                });
            }
            bounded_text("name", &name, NAME_MAX, false)?;
            if !email.contains('@') || email.len() > 254 {
                return Err(Refusal::invalid("email", "not an email address"));
            }
            Ok(vec![Event::OperatorAdded(OperatorAdded {
                operator,
                name,
                email,
                role,
                can_delete,
            })])
        }
        C::ChangeOperatorRole {
            operator,
            role,
            can_delete,
        } => {
            caller.require_admin()?;
            let current = state
                .operator(operator)
                .ok_or_else(|| Refusal::unknown("operator", operator))?;
            if current.role == role && current.can_delete == can_delete {
                return Ok(vec![]);
            }
            if current.role == Role::Admin && role != Role::Admin && state.admin_count() == 1 {
                return Err(Refusal::Forbidden(
                    "the project must keep at least one admin",
                ));
            }
            Ok(vec![Event::OperatorRoleChanged(OperatorRoleChanged {
                operator,
                role,
                can_delete,
            })])
        }
        C::RemoveOperator { operator } => {
            caller.require_admin()?;
            if caller.operator_id() == Some(operator) {
                return Err(Refusal::Forbidden("an admin cannot remove themselves"));
            }
            let Some(current) = state.operator(operator) else {
                return Ok(vec![]);
            };
            if current.role == Role::Admin && state.admin_count() == 1 {
                return Err(Refusal::Forbidden(
                    "the project must keep at least one admin",
                ));
            }
            Ok(vec![Event::OperatorRemoved(OperatorRemoved { operator })])
        }
        other => unreachable!("not a command of `operators`: {other:?}"),
    }
}

/// The channels the project is connected to.
fn channels(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::ConnectChannel {
            channel,
            kind,
            name,
        } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            match state.channels.get(&channel) {
                Some((existing, current)) if *existing == kind && *current == name => Ok(vec![]),
                Some((existing, _)) if *existing != kind => Err(Refusal::AlreadyExists {
                    kind: "channel",
                    id: channel.to_string(),
                }),
                // New, or renamed.
                _ => Ok(vec![Event::ChannelConnected(ChannelConnected {
                    channel,
                    kind,
                    name,
                })]),
            }
        }
        C::DisconnectChannel { channel } => {
            caller.require_admin()?;
            if state.channel(channel).is_none() {
                return Ok(vec![]);
            }
            Ok(vec![Event::ChannelDisconnected(ChannelDisconnected {
                channel,
            })])
        }
        other => unreachable!("not a command of `channels`: {other:?}"),
    }
}

/// Folders of the dialog list (F1.5) and their notifications.
fn folders(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::CreateFolder { folder, name } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            if state.has_folder(folder) {
                return Err(Refusal::AlreadyExists {
                    kind: "folder",
                    id: folder.to_string(),
                });
            }
            Ok(vec![Event::FolderCreated(FolderCreated { folder, name })])
        }
        C::RenameFolder { folder, name } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            match state.folders.get(&folder) {
                None => Err(Refusal::unknown("folder", folder)),
                Some(current) if *current == name => Ok(vec![]),
                Some(_) => Ok(vec![Event::FolderRenamed(FolderRenamed { folder, name })]),
            }
        }
        C::DeleteFolder { folder } => {
            caller.require_admin()?;
            if !state.has_folder(folder) {
                return Ok(vec![]);
            }
            Ok(vec![Event::FolderDeleted(FolderDeleted { folder })])
        }
        C::SetFolderNotifications {
            folder,
            push,
            sound,
        } => {
            caller.require_admin()?;
            if !state.has_folder(folder) {
                return Err(Refusal::unknown("folder", folder));
            }
            Ok(vec![Event::FolderNotificationsSet(
                FolderNotificationsSet {
                    folder,
                    push,
                    sound,
                },
            )])
        }
        other => unreachable!("not a command of `folders`: {other:?}"),
    }
}

/// What a dialog may carry: tags, lists, variables and deal pipelines (F7).
fn definitions(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::DefineTag { tag, name, color } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            if !valid_color(&color) {
                return Err(Refusal::invalid("color", "expected #rrggbb"));
            }
            Ok(vec![Event::TagDefined(TagDefined { tag, name, color })])
        }
        C::DeleteTag { tag } => {
            caller.require_admin()?;
            if !state.has_tag(tag) {
                return Ok(vec![]);
            }
            Ok(vec![Event::TagDeleted(TagDeleted { tag })])
        }
        C::DefineList { list, name } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            Ok(vec![Event::ListDefined(ListDefined { list, name })])
        }
        C::DefineVariable { name, choices } => {
            caller.require_admin()?;
            bounded_text("name", &name, 100, false)?;
            if choices.iter().any(|c| c.trim().is_empty()) {
                return Err(Refusal::invalid("choices", "a choice must not be empty"));
            }
            Ok(vec![Event::VariableDefined(VariableDefined {
                name,
                choices,
            })])
        }
        C::DefinePipeline {
            pipeline,
            name,
            stages,
        } => {
            caller.require_admin()?;
            bounded_text("name", &name, NAME_MAX, false)?;
            if stages.is_empty() {
                return Err(Refusal::invalid(
                    "stages",
                    "a pipeline needs at least one stage",
                ));
            }
            let distinct: HashSet<_> = stages.iter().map(|s| s.stage).collect();
            if distinct.len() != stages.len() {
                return Err(Refusal::invalid("stages", "a stage appears twice"));
            }
            for stage in &stages {
                bounded_text("stages", &stage.name, NAME_MAX, false)?;
            }
            Ok(vec![Event::PipelineDefined(PipelineDefined {
                pipeline,
                name,
                stages,
            })])
        }
        other => unreachable!("not a command of `definitions`: {other:?}"),
    }
}

/// Project-wide switches: the SLA thresholds (F9.1) and automatic merging (F11.2).
fn policies(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::SetSlaThresholds {
            yellow_after_secs,
            red_after_secs,
        } => {
            caller.require_admin()?;
            if yellow_after_secs == 0 {
                return Err(Refusal::invalid("yellow_after_secs", "must be above 0"));
            }
            if red_after_secs <= yellow_after_secs {
                return Err(Refusal::invalid(
                    "red_after_secs",
                    "must be above yellow_after_secs",
                ));
            }
            if state.sla == Some((yellow_after_secs, red_after_secs)) {
                return Ok(vec![]);
            }
            Ok(vec![Event::SlaThresholdsSet(SlaThresholdsSet {
                yellow_after_secs,
                red_after_secs,
            })])
        }
        C::SetAutoMerge { enabled } => {
            caller.require_admin()?;
            if state.auto_merge == enabled {
                return Ok(vec![]);
            }
            Ok(vec![Event::AutoMergeSet(AutoMergeSet { enabled })])
        }
        other => unreachable!("not a command of `policies`: {other:?}"),
    }
}

/// Message templates (F3.4) and saved filters (F2.6): any operator may save them (and delete a
/// filter); deleting a template is for admins.
fn templates_and_filters(
    state: &ProjectState,
    command: ProjectCommand,
    caller: &Caller,
) -> Result<Vec<Event>, Refusal> {
    use ProjectCommand as C;
    match command {
        C::SaveTemplate {
            template,
            name,
            text,
        } => {
            // F3.4: any operator may turn a message into a template.
            require_person(caller)?;
            bounded_text("name", &name, NAME_MAX, false)?;
            bounded_text("text", &text, 4096, false)?;
            Ok(vec![Event::TemplateSaved(TemplateSaved {
                template,
                name,
                text,
            })])
        }
        C::DeleteTemplate { template } => {
            caller.require_admin()?;
            if !state.has_template(template) {
                return Ok(vec![]);
            }
            Ok(vec![Event::TemplateDeleted(TemplateDeleted { template })])
        }
        C::SaveFilter {
            filter,
            name,
            query,
        } => {
            require_person(caller)?;
            bounded_text("name", &name, NAME_MAX, false)?;
            if serde_json::from_str::<serde_json::Value>(&query).is_err() {
                return Err(Refusal::invalid("query", "not JSON"));
            }
            Ok(vec![Event::SavedFilterSaved(SavedFilterSaved {
                filter,
                name,
                query,
            })])
        }
        C::DeleteFilter { filter } => {
            require_person(caller)?;
            if !state.filters.contains(&filter) {
                return Ok(vec![]);
            }
            Ok(vec![Event::SavedFilterDeleted(SavedFilterDeleted {
                filter,
            })])
        }
        other => unreachable!("not a command of `templates_and_filters`: {other:?}"),
    }
}

/// Templates and saved filters belong to people (or the system acting for an admin), not to
/// connectors or the bot.
fn require_person(caller: &Caller) -> Result<(), Refusal> {
    match caller {
        Caller::Operator { .. } | Caller::Service(Actor::System) => Ok(()),
        Caller::Service(_) => Err(Refusal::Forbidden("only an operator may do this")),
    }
}
