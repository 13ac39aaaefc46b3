//! Who calls (F12): the authentication layer puts a [`Principal`] into the request's
//! extensions; handlers take one of the extractors here, which is how a route declares what it
//! needs (and what its `x-sb-access` in the OpenAPI document must say):
//!
//! - [`Root`]: the installation's root token;
//! - [`Operator`]: any active operator or admin of a project, as a [`QueryCaller`] whose role
//!   comes from the project read model (the one the events built), so a role change or a
//!   removal holds at once;
//! - [`Admin`]: an active admin.
//!
//! Whether the caller may see or change a particular dialog is not decided here but by
//! `projections::query` and `core::domain::rights`.

use super::auth::AuthFailure;
use super::{AppError, AppState};
use crate::readmodels::Kind;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use switchboard_projections::project;
use switchboard_projections::query::QueryCaller;
use switchboard_schemas::{OperatorId, ProjectId, Role};

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser session (cookie): writes need the CSRF token too.
    Cookie,
    /// A bearer token: a session's or an integration's API token.
    Bearer,
}

/// An authenticated caller, before any route-specific check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Root,
    Operator {
        project: ProjectId,
        operator: OperatorId,
        via: Via,
    },
}

fn principal(parts: &Parts) -> Result<Principal, AppError> {
    if let Some(principal) = parts.extensions.get::<Principal>() {
        return Ok(*principal);
    }
    Err(match parts.extensions.get::<AuthFailure>() {
        Some(AuthFailure::Invalid) => {
            AppError::Unauthorized("the credentials are unknown, expired or revoked".to_owned())
        }
        Some(AuthFailure::Csrf) => AppError::Forbidden(
            "a write by session cookie needs the session's X-CSRF-Token header".to_owned(),
        ),
        Some(AuthFailure::Unavailable(cause)) => AppError::Unavailable(cause.clone()),
        None => AppError::Unauthorized("sign in or send a bearer token".to_owned()),
    })
}

/// The installation's root.
#[derive(Debug, Clone, Copy)]
pub struct Root;

impl FromRequestParts<AppState> for Root {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        match principal(parts)? {
            Principal::Root => Ok(Root),
            Principal::Operator { .. } => Err(AppError::Forbidden(
                "only the root token may do this".to_owned(),
            )),
        }
    }
}

/// An active operator (or admin) of a project.
#[derive(Debug, Clone, Copy)]
pub struct Operator(pub QueryCaller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (project, operator) = match principal(parts)? {
            Principal::Operator {
                project, operator, ..
            } => (project, operator),
            Principal::Root => {
                return Err(AppError::Forbidden(
                    "the root token manages projects; sign in as an operator of the project"
                        .to_owned(),
                ));
            }
        };
        let readers = state.readers(Kind::Project)?;
        let found = readers
            .query(move |conn| project::operator(conn, project, operator))
            .await?;
        match found {
            Some(member) if !member.removed => Ok(Operator(QueryCaller {
                project,
                operator,
                role: member.role,
            })),
            // Removed from the project (deactivated): the credentials are revoked too, this
            // only closes the window until the revocation is seen.
            _ => Err(AppError::Unauthorized(
                "this operator is not active in the project".to_owned(),
            )),
        }
    }
}

/// An active admin of a project.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub QueryCaller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Operator(caller) = Operator::from_request_parts(parts, state).await?;
        if caller.role == Role::Admin {
            Ok(Admin(caller))
        } else {
            Err(AppError::Forbidden("only an admin may do this".to_owned()))
        }
    }
}
