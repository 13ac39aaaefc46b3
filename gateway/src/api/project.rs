//! The caller's project: `GET /v1/project` (every definition the inbox shows: operators,
//! channels, folders, tags, lists, variables, pipelines, SLA, templates, saved filters) and
//! `POST /v1/project/actions` (every project setting, F1.5, F2.5, F2.6, F9, F11.2). Who may
//! change what (admins for most, every operator for templates and saved filters) is the
//! domain's decision.

use super::caller::Operator;
use super::commands::CommandAnswer;
use super::consistency::MinSeq;
use super::dialogs::filter::Node;
use super::dialogs::list::MinSeqParam;
use super::extract::Query;
use super::idempotency::CommandId;
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::domain::project::ProjectCommand;
use switchboard_projections::project as model;
use switchboard_schemas::{
    FilterId, FolderId, ListId, PipelineId, Role, Stage, StageId, TagId, TemplateId, Timestamp,
};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub project: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// F9: when a waiting client turns yellow and red, in seconds.
    pub sla: Option<Sla>,
    /// F11.2: merge dialogs with an identical phone or email automatically.
    pub auto_merge: bool,
    pub operators: Vec<OperatorAnswer>,
    pub channels: Vec<ChannelAnswer>,
    pub folders: Vec<FolderAnswer>,
    pub tags: Vec<TagAnswer>,
    pub lists: Vec<Named>,
    pub variables: Vec<VariableAnswer>,
    pub pipelines: Vec<PipelineAnswer>,
    pub templates: Vec<TemplateAnswer>,
    pub saved_filters: Vec<SavedFilterAnswer>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    pub yellow_after_secs: u32,
    pub red_after_secs: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub operator: String,
    pub name: String,
    pub email: String,
    /// `admin` or `operator`.
    pub role: &'static str,
    /// May delete clients (F4.8).
    pub can_delete: bool,
    /// Removed from the project (deactivated).
    pub removed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub channel: String,
    pub kind: String,
    pub name: String,
    pub connected: bool,
    /// F3.4: what one message through the channel may carry (checked before an upload too).
    pub limits: ChannelLimits,
}

/// What one message through a channel may carry (F3.4), by kind of file: the domain's limits
/// (`core::domain::compose`), so that a browser refuses a file before uploading it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelLimits {
    pub image: KindLimit,
    pub audio: KindLimit,
    pub video: KindLimit,
    /// Any other file.
    pub file: KindLimit,
    /// Images one message may carry; a file of another kind goes alone.
    pub max_images: usize,
    /// All of a message's files together, in bytes.
    pub total_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KindLimit {
    /// The largest file of the kind, in bytes.
    pub max_bytes: u64,
    /// The media types taken; empty: any.
    pub types: Vec<&'static str>,
}

/// The kind a channel's stored kind names (`telegram`, `whatsapp_cloud`, …).
pub(super) fn channel_kind_named(kind: &str) -> Option<switchboard_schemas::ChannelKind> {
    serde_json::from_value(kind.into()).ok()
}

/// The limits of a channel of `kind` (its name as stored; an unknown one has only the
/// message's).
fn limits_of(kind: &str) -> ChannelLimits {
    use switchboard_core::domain::compose::{MAX_IMAGES, MAX_TOTAL_BYTES, channel_types};
    use switchboard_schemas::AttachmentKind;
    let channel = channel_kind_named(kind);
    let of = |file: AttachmentKind| KindLimit {
        max_bytes: super::attachments::limit_for(channel, file),
        types: channel
            .and_then(|channel| channel_types(channel, file))
            .map(<[&str]>::to_vec)
            .unwrap_or_default(),
    };
    ChannelLimits {
        image: of(AttachmentKind::Image),
        audio: of(AttachmentKind::Audio),
        video: of(AttachmentKind::Video),
        file: of(AttachmentKind::File),
        max_images: MAX_IMAGES,
        total_bytes: MAX_TOTAL_BYTES,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FolderAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub folder: String,
    pub name: String,
    pub push: bool,
    pub sound: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub tag: String,
    pub name: String,
    pub color: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariableAnswer {
    pub name: String,
    /// Allowed values; empty: free text.
    pub choices: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub pipeline: String,
    pub name: String,
    pub stages: Vec<Named>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub template: String,
    pub name: String,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedFilterAnswer {
    #[schema(value_type = uuid::Uuid)]
    pub filter: String,
    pub name: String,
    /// The filter in the list's JSON form.
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
}

/// Everything the caller's project defines.
#[utoipa::path(
    get,
    path = "/v1/project",
    tag = "project",
    params(MinSeqParam),
    responses(
        (status = OK, body = ProjectAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "`min_seq` past the end of the log"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn definitions(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(_): Query<MinSeqParam>,
    _: MinSeq,
) -> Result<Json<ProjectAnswer>, AppError> {
    let project = caller.project;
    let answer = state
        .readers(Kind::Project)?
        .query(move |conn| {
            let Some(info) = model::project_info(conn, project)? else {
                return Ok(None);
            };
            Ok(Some(ProjectAnswer {
                project: project.to_string(),
                name: info.name,
                created_at: info.created_at,
                sla: info.sla.map(|sla| Sla {
                    yellow_after_secs: sla.yellow_after_secs,
                    red_after_secs: sla.red_after_secs,
                }),
                auto_merge: info.auto_merge,
                operators: model::operators(conn, project)?
                    .into_iter()
                    .map(|o| OperatorAnswer {
                        operator: o.operator.to_string(),
                        name: o.name,
                        email: o.email,
                        role: match o.role {
                            Role::Admin => "admin",
                            Role::Operator => "operator",
                        },
                        can_delete: o.can_delete,
                        removed: o.removed,
                    })
                    .collect(),
                channels: model::channels(conn, project)?
                    .into_iter()
                    .map(|c| ChannelAnswer {
                        channel: c.channel.to_string(),
                        limits: limits_of(&c.kind),
                        kind: c.kind,
                        name: c.name,
                        connected: c.connected,
                    })
                    .collect(),
                folders: model::folders(conn, project)?
                    .into_iter()
                    .map(|f| FolderAnswer {
                        folder: f.folder.to_string(),
                        name: f.name,
                        push: f.push,
                        sound: f.sound,
                    })
                    .collect(),
                tags: model::tags(conn, project)?
                    .into_iter()
                    .map(|t| TagAnswer {
                        tag: t.tag.to_string(),
                        name: t.name,
                        color: t.color,
                    })
                    .collect(),
                lists: model::lists(conn, project)?
                    .into_iter()
                    .map(|l| Named {
                        id: l.list.to_string(),
                        name: l.name,
                    })
                    .collect(),
                variables: model::variables(conn, project)?
                    .into_iter()
                    .map(|v| VariableAnswer {
                        name: v.name,
                        choices: v.choices,
                    })
                    .collect(),
                pipelines: model::pipelines(conn, project)?
                    .into_iter()
                    .map(|p| PipelineAnswer {
                        pipeline: p.pipeline.to_string(),
                        name: p.name,
                        stages: p
                            .stages
                            .into_iter()
                            .map(|s| Named {
                                id: s.stage.to_string(),
                                name: s.name,
                            })
                            .collect(),
                    })
                    .collect(),
                templates: model::templates(conn, project)?
                    .into_iter()
                    .map(|t| TemplateAnswer {
                        template: t.template.to_string(),
                        name: t.name,
                        text: t.text,
                    })
                    .collect(),
                saved_filters: model::saved_filters(conn, project)?
                    .into_iter()
                    .map(|f| SavedFilterAnswer {
                        filter: f.filter.to_string(),
                        name: f.name,
                        query: serde_json::from_str(&f.query).unwrap_or(serde_json::Value::Null),
                    })
                    .collect(),
            }))
        })
        .await?;
    answer
        .map(Json)
        .ok_or_else(|| AppError::NotFound("the project is not known yet".to_owned()))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// Keep a stage's id to keep the deals at it; a new stage without one gets one.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub stage: Option<StageId>,
    pub name: String,
}

/// One project setting; `action` names it. Ids of new things are made by the server (from
/// the command id, so a retry with the same `Idempotency-Key` makes the same ones).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProjectAction {
    CreateFolder {
        name: String,
    },
    RenameFolder {
        #[schema(value_type = uuid::Uuid)]
        folder: FolderId,
        name: String,
    },
    DeleteFolder {
        #[schema(value_type = uuid::Uuid)]
        folder: FolderId,
    },
    /// F1.5: the folder's push and sound switches.
    SetFolderNotifications {
        #[schema(value_type = uuid::Uuid)]
        folder: FolderId,
        push: bool,
        sound: bool,
    },
    DefineTag {
        /// Omit to create a tag; give to rename or recolour one.
        #[schema(value_type = Option<uuid::Uuid>)]
        tag: Option<TagId>,
        name: String,
        /// `#rrggbb`.
        color: String,
    },
    DeleteTag {
        #[schema(value_type = uuid::Uuid)]
        tag: TagId,
    },
    DefineList {
        #[schema(value_type = Option<uuid::Uuid>)]
        list: Option<ListId>,
        name: String,
    },
    DefineVariable {
        name: String,
        /// Allowed values; empty: free text.
        #[serde(default)]
        choices: Vec<String>,
    },
    DefinePipeline {
        #[schema(value_type = Option<uuid::Uuid>)]
        pipeline: Option<PipelineId>,
        name: String,
        stages: Vec<StageInput>,
    },
    SetSlaThresholds {
        yellow_after_secs: u32,
        red_after_secs: u32,
    },
    SaveTemplate {
        #[schema(value_type = Option<uuid::Uuid>)]
        template: Option<TemplateId>,
        name: String,
        text: String,
    },
    DeleteTemplate {
        #[schema(value_type = uuid::Uuid)]
        template: TemplateId,
    },
    /// F2.6: a named filter in the list's JSON form.
    SaveFilter {
        #[schema(value_type = Option<uuid::Uuid>)]
        filter: Option<FilterId>,
        name: String,
        query: Node,
    },
    DeleteFilter {
        #[schema(value_type = uuid::Uuid)]
        filter: FilterId,
    },
    SetAutoMerge {
        enabled: bool,
    },
}

impl ProjectAction {
    fn into_command(self, id: CommandId) -> Result<ProjectCommand, AppError> {
        use ProjectAction as A;
        use ProjectCommand as C;
        let new = |n: u8| id.derived(n);
        Ok(match self {
            A::CreateFolder { name } => C::CreateFolder {
                folder: FolderId::from_uuid(new(1)),
                name,
            },
            A::RenameFolder { folder, name } => C::RenameFolder { folder, name },
            A::DeleteFolder { folder } => C::DeleteFolder { folder },
            A::SetFolderNotifications {
                folder,
                push,
                sound,
            } => C::SetFolderNotifications {
                folder,
                push,
                sound,
            },
            A::DefineTag { tag, name, color } => C::DefineTag {
                tag: tag.unwrap_or_else(|| TagId::from_uuid(new(1))),
                name,
                color,
            },
            A::DeleteTag { tag } => C::DeleteTag { tag },
            A::DefineList { list, name } => C::DefineList {
                list: list.unwrap_or_else(|| ListId::from_uuid(new(1))),
                name,
            },
            A::DefineVariable { name, choices } => C::DefineVariable { name, choices },
            A::DefinePipeline {
                pipeline,
                name,
                stages,
            } => C::DefinePipeline {
                pipeline: pipeline.unwrap_or_else(|| PipelineId::from_uuid(new(1))),
                name,
                stages: stages
                    .into_iter()
                    .zip(2u8..)
                    .map(|(stage, n)| Stage {
                        stage: stage.stage.unwrap_or_else(|| StageId::from_uuid(new(n))),
                        name: stage.name,
                    })
                    .collect(),
            },
            A::SetSlaThresholds {
                yellow_after_secs,
                red_after_secs,
            } => C::SetSlaThresholds {
                yellow_after_secs,
                red_after_secs,
            },
            A::SaveTemplate {
                template,
                name,
                text,
            } => C::SaveTemplate {
                template: template.unwrap_or_else(|| TemplateId::from_uuid(new(1))),
                name,
                text,
            },
            A::DeleteTemplate { template } => C::DeleteTemplate { template },
            A::SaveFilter {
                filter,
                name,
                query,
            } => {
                // Checked like a list request, so a saved filter always opens.
                query.clone().into_filter("query")?;
                C::SaveFilter {
                    filter: filter.unwrap_or_else(|| FilterId::from_uuid(new(1))),
                    name,
                    query: serde_json::to_string(&query)
                        .map_err(|e| AppError::Internal(e.to_string()))?,
                }
            }
            A::DeleteFilter { filter } => C::DeleteFilter { filter },
            A::SetAutoMerge { enabled } => C::SetAutoMerge { enabled },
        })
    }
}

/// One project setting.
#[utoipa::path(
    post,
    path = "/v1/project/actions",
    // Unique across the document (the dialog's action route is `act` too): generated clients
    // name their calls by it.
    operation_id = "project_act",
    tag = "commands",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key answers as the first request did and appends nothing"),
    ),
    request_body = ProjectAction,
    responses(
        (status = OK, body = CommandAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer, description = "an admin's setting"),
        (status = CONFLICT, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn act(
    State(state): State<AppState>,
    Operator(caller): Operator,
    id: CommandId,
    Json(action): Json<ProjectAction>,
) -> Result<Json<CommandAnswer>, AppError> {
    let command = action.into_command(id)?;
    let meta = id.meta(caller.operator);
    let started = std::time::Instant::now();
    let ack = state.commands.project(caller.project, command, meta).await;
    super::metrics::command_took("project", started);
    let ack = ack?;
    Ok(Json(CommandAnswer::from(ack)))
}
