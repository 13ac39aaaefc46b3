//! The domain: aggregates as pure `decide(&state, command, &context) -> Result<Vec<Event>, Refusal>`
//! and `apply(&mut state, &event)`, over the event catalog. Knows nothing about NATS, SQLite or HTTP.
//!
//! - [`dialog`]: one dialog and its client (F3–F7).
//! - [`project`]: project settings: operators and roles, channels, folders, tags, lists, variables,
//!   pipelines, SLA, templates, saved filters (F1.5, F2.6, F7, F9, F12).
//! - [`identity`]: the claim of one channel identity by exactly one dialog (F11.2).
//! - [`compose`]: what an outbound message may carry (F3.4).
//! - [`rights`]: who may do what (F12), in one place.

pub mod compose;
pub mod dialog;
pub mod identity;
pub mod project;
pub mod rights;

#[cfg(test)]
mod tests;

use switchboard_schemas::{ChannelId, DialogId, Timestamp};

pub use rights::Caller;

/// A business refusal: the command is not allowed or not valid in the current state. Maps to a
/// 4xx answer; nothing is appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("dialog does not exist")]
    NoSuchDialog,
    #[error("dialog already exists")]
    DialogExists,
    #[error("project does not exist")]
    NoSuchProject,
    #[error("project already exists")]
    ProjectExists,
    #[error("the client was deleted")]
    Deleted,
    #[error("the dialog was merged into {0}")]
    MergedInto(DialogId),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("the client is blocked")]
    Blocked,
    #[error("the client never wrote through channel {0}")]
    ChannelUnavailable(ChannelId),
    #[error("unknown {kind}: {id}")]
    Unknown { kind: &'static str, id: String },
    #[error("{kind} already exists: {id}")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("identity is claimed by dialog {0}")]
    IdentityClaimed(DialogId),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Refusal {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Refusal::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn unknown(kind: &'static str, id: impl ToString) -> Self {
        Refusal::Unknown {
            kind,
            id: id.to_string(),
        }
    }

    /// A refusal no later event can undo: it comes from a fact of the dialog's state that, once
    /// true, stays true (it was registered, deleted, merged). A command service may answer it
    /// from a cached state without asking the log whether the aggregate moved on.
    pub fn is_lasting(&self) -> bool {
        matches!(
            self,
            Refusal::DialogExists | Refusal::Deleted | Refusal::MergedInto(_)
        )
    }

    /// The request field the refusal is about, for error answers that name it.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Refusal::Invalid { field, .. } => Some(field),
            Refusal::ChannelUnavailable(_) => Some("channel"),
            Refusal::Unknown { kind, .. } | Refusal::AlreadyExists { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What a decision may look at besides the aggregate's own state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub caller: &'a Caller,
    pub project: &'a project::ProjectState,
    pub now: Timestamp,
}

/// A text field with a length bound in characters.
pub(crate) fn bounded_text(
    field: &'static str,
    text: &str,
    max_chars: usize,
    allow_empty: bool,
) -> Result<(), Refusal> {
    if !allow_empty && text.trim().is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Refusal::invalid(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    Ok(())
}
