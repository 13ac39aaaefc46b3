//! People and their credentials: the root creates a project with its first admin
//! (`POST /v1/projects`); admins add operators (`POST /v1/operators`), change their role,
//! deactivate them (which ends every session, token and live stream of theirs), and manage
//! the project's API tokens (`/v1/tokens`). `GET /v1/setup` tells an anonymous page whether
//! the installation is still empty (the web inbox's first run).
//!
//! A person is two things kept apart: the operator the events know (name, email, role) and
//! the account in the credential store (password hash, sessions, tokens), which never enters
//! the log. The account is made first (it checks the email is free), then the events; if the
//! events are refused the account is deactivated, so nobody signs in as an operator the
//! project does not have.

use super::caller::{Admin, Root};
use super::commands::CommandAnswer;
use super::idempotency::CommandId;
use super::{AppError, AppState, Json};
use crate::credentials::ApiTokenId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::service::CommandMeta;
use switchboard_schemas::{Actor, OperatorId, ProjectId, Role, Timestamp};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    #[default]
    Operator,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Admin => Role::Admin,
            RoleName::Operator => Role::Operator,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    pub name: String,
    pub email: String,
    /// At least the store's minimum length; stored as an argon2id hash only.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    /// The project's first admin.
    pub admin: NewPerson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectCreated {
    #[schema(value_type = uuid::Uuid)]
    pub project: String,
    /// The first admin's operator id.
    #[schema(value_type = uuid::Uuid)]
    pub admin: String,
    /// The log sequence of the last event: pass as `min_seq`.
    pub seq: u64,
}

async fn add_person(
    state: &AppState,
    project: ProjectId,
    person: NewPerson,
    role: Role,
    can_delete: bool,
    meta: CommandMeta,
    operator: OperatorId,
) -> Result<u64, AppError> {
    let store = state.credential_store()?;
    store
        .create_account(project, operator, &person.email, &person.password)
        .await?;
    let added = state
        .commands
        .project(
            project,
            ProjectCommand::AddOperator {
                operator,
                name: person.name,
                email: person.email.trim().to_lowercase(),
                role,
                can_delete,
            },
            meta,
        )
        .await;
    match added {
        Ok(ack) => Ok(ack.seq),
        Err(error) => {
            if let Err(cleanup) = store.deactivate(operator).await {
                tracing::warn!(%operator, error = %cleanup, "cannot deactivate the account of a refused operator");
            }
            Err(error.into())
        }
    }
}

/// Creates a project and its first admin (root only).
#[utoipa::path(
    post,
    path = "/v1/projects",
    tag = "accounts",
    request_body = NewProject,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key creates nothing more")),
    responses(
        (status = OK, body = ProjectCreated),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer, description = "the email is taken"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = [])),
    extensions(("x-sb-access" = json!("root"))),
)]
pub async fn create_project(
    State(state): State<AppState>,
    _: Root,
    id: CommandId,
    Json(body): Json<NewProject>,
) -> Result<Json<ProjectCreated>, AppError> {
    let project = ProjectId::from_uuid(id.derived(1));
    let admin = OperatorId::from_uuid(id.derived(2));
    let meta = |n: u8| CommandMeta {
        command_id: id.derived(10 + n),
        actor: Actor::System,
        correlation_id: Some(id.0),
    };
    state
        .commands
        .project(project, ProjectCommand::Create { name: body.name }, meta(0))
        .await?;
    let seq = add_person(
        &state,
        project,
        body.admin,
        Role::Admin,
        true,
        meta(1),
        admin,
    )
    .await?;
    Ok(Json(ProjectCreated {
        project: project.to_string(),
        admin: admin.to_string(),
        seq,
    }))
}

/// What a page that nobody signed in to may know about the installation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Setup {
    /// The log holds no event yet: no project exists, and `POST /v1/projects` with the root
    /// token makes the first one (the web inbox's first run offers it).
    pub empty: bool,
}

/// Whether the installation is empty (no project yet), for the web inbox's first run.
#[utoipa::path(
    get,
    path = "/v1/setup",
    tag = "accounts",
    responses(
        (status = OK, body = Setup),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn setup(State(state): State<AppState>) -> Result<Json<Setup>, AppError> {
    use switchboard_core::EventLog as _;
    let last = state.log.last_seq().await?;
    Ok(Json(Setup { empty: last == 0 }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub role: RoleName,
    /// May delete clients (F4.8).
    #[serde(default)]
    pub can_delete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorCreated {
    #[schema(value_type = uuid::Uuid)]
    pub operator: String,
    pub seq: u64,
}

/// Adds an operator (or admin) with a password to the caller's project.
#[utoipa::path(
    post,
    path = "/v1/operators",
    tag = "accounts",
    request_body = NewOperator,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "A retry with the same key creates nothing more")),
    responses(
        (status = OK, body = OperatorCreated),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer, description = "the email is taken"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn add_operator(
    State(state): State<AppState>,
    Admin(caller): Admin,
    id: CommandId,
    Json(body): Json<NewOperator>,
) -> Result<Json<OperatorCreated>, AppError> {
    let operator = OperatorId::from_uuid(id.derived(1));
    let meta = id.meta(caller.operator);
    let person = NewPerson {
        name: body.name,
        email: body.email,
        password: body.password,
    };
    let seq = add_person(
        &state,
        caller.project,
        person,
        body.role.into(),
        body.can_delete,
        meta,
        operator,
    )
    .await?;
    Ok(Json(OperatorCreated {
        operator: operator.to_string(),
        seq,
    }))
}

fn operator_id(text: &str) -> Result<OperatorId, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request("operator", "an operator id (a UUID) expected"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: RoleName,
    #[serde(default)]
    pub can_delete: bool,
}

/// Changes an operator's role and delete permission.
#[utoipa::path(
    post,
    path = "/v1/operators/{operator}/role",
    tag = "accounts",
    params(("operator" = uuid::Uuid, Path, description = "The operator")),
    request_body = RoleChange,
    responses(
        (status = OK, body = CommandAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn change_role(
    State(state): State<AppState>,
    Admin(caller): Admin,
    id: CommandId,
    Path(operator): Path<String>,
    Json(body): Json<RoleChange>,
) -> Result<Json<CommandAnswer>, AppError> {
    let operator = operator_id(&operator)?;
    let meta = id.meta(caller.operator);
    let ack = state
        .commands
        .project(
            caller.project,
            ProjectCommand::ChangeOperatorRole {
                operator,
                role: body.role.into(),
                can_delete: body.can_delete,
            },
            meta,
        )
        .await?;
    Ok(Json(CommandAnswer::from(ack)))
}

/// Deactivates an operator: removed from the project, every session and token ended at once.
#[utoipa::path(
    post,
    path = "/v1/operators/{operator}/deactivate",
    tag = "accounts",
    params(("operator" = uuid::Uuid, Path, description = "The operator")),
    responses(
        (status = OK, body = CommandAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Admin(caller): Admin,
    id: CommandId,
    Path(operator): Path<String>,
) -> Result<Json<CommandAnswer>, AppError> {
    let operator = operator_id(&operator)?;
    let store = state.credential_store()?;
    // The account must be of this project: an admin never touches another project's people.
    match store.account(operator).await? {
        Some(account) if account.project == caller.project => {}
        _ => return Err(AppError::NotFound("no such operator".to_owned())),
    }
    let meta = id.meta(caller.operator);
    let ack = state
        .commands
        .project(
            caller.project,
            ProjectCommand::RemoveOperator { operator },
            meta,
        )
        .await?;
    store.deactivate(operator).await?;
    Ok(Json(CommandAnswer::from(ack)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the integration is, for the list.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    pub name: String,
    /// The token, shown this once: send it as `Authorization: Bearer`.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    pub name: String,
    /// The operator the token acts as.
    #[schema(value_type = uuid::Uuid)]
    pub operator: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub revoked: bool,
}

/// Creates an API token acting as the calling admin.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "accounts",
    request_body = NewToken,
    responses(
        (status = OK, body = TokenCreated),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Json(body): Json<NewToken>,
) -> Result<Json<TokenCreated>, AppError> {
    let created = state
        .credential_store()?
        .create_api_token(caller.operator, &body.name)
        .await?;
    Ok(Json(TokenCreated {
        id: created.record.id.to_string(),
        name: created.record.name,
        token: created.token.expose().to_owned(),
        created_at: created.record.created_at,
    }))
}

/// The project's API tokens (never the tokens themselves).
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "accounts",
    responses(
        (status = OK, body = Vec<TokenInfo>),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<Vec<TokenInfo>>, AppError> {
    let tokens = state
        .credential_store()?
        .list_api_tokens(caller.project)
        .await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|token| TokenInfo {
                id: token.id.to_string(),
                name: token.name,
                operator: token.operator.to_string(),
                created_at: token.created_at,
                revoked: token.revoked,
            })
            .collect(),
    ))
}

/// Revokes an API token of the project: it stops working at once, on every node.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{token}",
    tag = "accounts",
    params(("token" = uuid::Uuid, Path, description = "The token's id")),
    responses(
        (status = NO_CONTENT, description = "Revoked"),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(token): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: uuid::Uuid = token
        .parse()
        .map_err(|_| AppError::bad_request("token", "a token id (a UUID) expected"))?;
    if state
        .credential_store()?
        .revoke_api_token(caller.project, ApiTokenId::from_uuid(id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(
            "no such token in the project".to_owned(),
        ))
    }
}
