//! F12: who may do what. Every access decision of the domain goes through here, and the one
//! rule of who may see a dialog, [`may_access_dialog`], is written here for every side: commands
//! ([`Caller::may_access`]), queries (`projections::query`) and, as its SQL twin tested against
//! it, the dialog list (`projections::dialogs`).

use super::Refusal;
use super::project::ProjectState;
use switchboard_schemas::{Actor, OperatorId, Role};

/// F12.1: an admin sees every dialog of the project; an operator sees the ones assigned to them
/// and free ones, and loses a dialog once it is reassigned away. A dialog's project, its
/// deletion and its merging are checked before, by whoever holds them.
pub fn may_access_dialog(role: Role, operator: OperatorId, assignee: Option<OperatorId>) -> bool {
    match role {
        Role::Admin => true,
        Role::Operator => assignee.is_none() || assignee == Some(operator),
    }
}

/// F6: a bulk job is seen (its progress, on the live stream too) by the operator who started
/// it and by the project's admins, as a dialog assigned to its owner would be.
pub fn may_see_job(role: Role, operator: OperatorId, owner: OperatorId) -> bool {
    may_access_dialog(role, operator, Some(owner))
}

/// A file an operator uploaded and has not sent yet is theirs alone; once sent, it is seen
/// through the dialogs whose timelines carry it ([`may_access_dialog`]).
pub fn may_see_upload(operator: OperatorId, uploader: OperatorId) -> bool {
    operator == uploader
}

/// The caller of a command, resolved against the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A person of the project.
    Operator {
        id: OperatorId,
        role: Role,
        can_delete: bool,
    },
    /// A connector, the bot or the system itself: acts for the project, not for a person.
    Service(Actor),
}

impl Caller {
    /// Resolve an actor against the project: an operator must be a current member.
    pub fn resolve(actor: Actor, project: &ProjectState) -> Result<Self, Refusal> {
        match actor {
            Actor::Operator(id) => {
                let operator = project
                    .operator(id)
                    .ok_or(Refusal::Forbidden("not an operator of this project"))?;
                Ok(Caller::Operator {
                    id,
                    role: operator.role,
                    can_delete: operator.can_delete || operator.role == Role::Admin,
                })
            }
            other => Ok(Caller::Service(other)),
        }
    }

    pub fn actor(&self) -> Actor {
        match *self {
            Caller::Operator { id, .. } => Actor::Operator(id),
            Caller::Service(actor) => actor,
        }
    }

    pub fn operator_id(&self) -> Option<OperatorId> {
        match *self {
            Caller::Operator { id, .. } => Some(id),
            Caller::Service(_) => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Caller::Operator {
                role: Role::Admin,
                ..
            } | Caller::Service(Actor::System)
        )
    }

    /// F12.1 ([`may_access_dialog`]) for an operator; services act on every dialog.
    pub fn may_access(&self, assignee: Option<OperatorId>) -> bool {
        match *self {
            Caller::Operator { id, role, .. } => may_access_dialog(role, id, assignee),
            Caller::Service(_) => true,
        }
    }

    pub fn require_access(&self, assignee: Option<OperatorId>) -> Result<(), Refusal> {
        if self.may_access(assignee) {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "the dialog is assigned to another operator",
            ))
        }
    }

    /// Project settings (operators, channels, folders, tags, pipelines, SLA): admins only.
    pub fn require_admin(&self) -> Result<(), Refusal> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "only an admin may change project settings",
            ))
        }
    }

    /// F4.8, F12.1: deleting clients is a separate permission.
    pub fn require_delete(&self) -> Result<(), Refusal> {
        match *self {
            Caller::Operator { can_delete, .. } if can_delete => Ok(()),
            Caller::Service(Actor::System) => Ok(()),
            _ => Err(Refusal::Forbidden(
                "deleting clients needs the delete permission",
            )),
        }
    }

    /// Commands only a person can give (read marks, drafts).
    pub fn require_operator(&self) -> Result<OperatorId, Refusal> {
        self.operator_id()
            .ok_or(Refusal::Forbidden("only an operator may do this"))
    }

    /// Commands only the channel side can give (inbound messages, delivery statuses).
    pub fn require_service(&self) -> Result<(), Refusal> {
        match self {
            Caller::Service(_) => Ok(()),
            Caller::Operator { .. } => Err(Refusal::Forbidden(
                "only a connector or the system may report channel traffic",
            )),
        }
    }
}
