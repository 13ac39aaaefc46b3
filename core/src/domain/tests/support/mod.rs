//! A small given/when/then harness over the pure `decide`/`apply` of each aggregate.
//!
//! *Given* events build the state (the standard project of `fixtures` plus the dialog's own
//! events), *when* resolves the actor against the project and decides the command, *then*
//! compares the answer with the expected events or refusal and, on success, applies the events
//! so that the next step sees them.
//!
//! Submodules: `fixtures` (ids, actors, refusals, the standard project), `dialog_commands`
//! (dialog events and commands, the catalogue of every command); this file is the harness.

mod dialog_commands;
mod fixtures;

pub use dialog_commands::*;
pub use fixtures::*;

use crate::domain::dialog::{self, DialogCommand, DialogState};
use crate::domain::identity::{self, IdentityCommand, IdentityState};
use crate::domain::project::{self, ProjectCommand, ProjectState};
use crate::domain::{Caller, Context, Refusal};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The answer of one *when*, waiting for its *then*.
#[must_use = "a `when` needs a `then`"]
#[derive(Debug)]
pub struct Then<'a, S> {
    state: &'a mut S,
    apply: fn(&mut S, &Event),
    command: String,
    answer: Result<Vec<Event>, Refusal>,
}

impl<S> Then<'_, S> {
    /// The command succeeded with exactly these events; they are applied for the next step.
    #[track_caller]
    pub fn then_events(self, expected: impl Into<Vec<Event>>) {
        let expected = expected.into();
        assert!(!expected.is_empty(), "use then_nothing for an empty answer");
        assert_eq!(
            self.answer,
            Ok(expected),
            "when {} then these events",
            self.command
        );
        if let Ok(events) = &self.answer {
            for event in events {
                (self.apply)(self.state, event);
            }
        }
    }

    /// The command was accepted and changes nothing (idempotent).
    #[track_caller]
    pub fn then_nothing(self) {
        assert_eq!(
            self.answer,
            Ok(vec![]),
            "when {} then nothing",
            self.command
        );
    }

    /// The command was refused with exactly this refusal.
    #[track_caller]
    pub fn then_refused(self, expected: Refusal) {
        assert_eq!(
            self.answer,
            Err(expected),
            "when {} then refused",
            self.command
        );
    }

    /// The command was refused as invalid, naming `field` (the reason text is free).
    #[track_caller]
    pub fn then_invalid(self, field: &str) {
        match &self.answer {
            Err(Refusal::Invalid { field: actual, .. }) if *actual == field => {}
            other => panic!("when {} then invalid {field}: got {other:?}", self.command),
        }
    }

    /// The raw answer, for checks the methods above do not express. Nothing is applied.
    pub fn answer(self) -> Result<Vec<Event>, Refusal> {
        self.answer
    }
}

fn resolve(actor: Actor, project: &ProjectState) -> Result<Caller, Refusal> {
    Caller::resolve(actor, project)
}

/// One dialog of the standard project.
#[derive(Debug, Clone)]
pub struct DialogSpec {
    pub project: ProjectState,
    pub dialog: DialogState,
}

/// Given the standard project and these dialog events.
pub fn given(events: impl IntoIterator<Item = Event>) -> DialogSpec {
    let mut spec = DialogSpec {
        project: standard_project(),
        dialog: DialogState::default(),
    };
    spec.and(events);
    spec
}

/// Given the standard project and a dialog registered from Telegram traffic.
pub fn given_dialog() -> DialogSpec {
    given([registered()])
}

impl DialogSpec {
    /// More given dialog events.
    pub fn and(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.dialog.apply(&event);
        }
        self
    }

    /// More given project events.
    pub fn and_project(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.project.apply(&event);
        }
        self
    }

    pub fn when(&mut self, actor: Actor, command: DialogCommand) -> Then<'_, DialogState> {
        let label = format!("{actor:?} gives {command:?}");
        let answer = resolve(actor, &self.project).and_then(|caller| {
            let ctx = Context {
                caller: &caller,
                project: &self.project,
                now: NOW,
            };
            dialog::decide(&self.dialog, command, &ctx)
        });
        Then {
            state: &mut self.dialog,
            apply: DialogState::apply,
            command: label,
            answer,
        }
    }

    /// Whether `operator` has something unread here.
    pub fn unread_for(&self, operator: OperatorId) -> bool {
        self.dialog.is_unread_for(operator)
    }
}

/// The project settings.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub project: ProjectState,
}

/// Given the standard project.
pub fn given_project() -> ProjectSpec {
    ProjectSpec {
        project: standard_project(),
    }
}

/// Given no project at all.
pub fn given_no_project() -> ProjectSpec {
    ProjectSpec {
        project: ProjectState::default(),
    }
}

impl ProjectSpec {
    pub fn and(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.project.apply(&event);
        }
        self
    }

    pub fn when(&mut self, actor: Actor, command: ProjectCommand) -> Then<'_, ProjectState> {
        let label = format!("{actor:?} gives {command:?}");
        let answer = resolve(actor, &self.project).and_then(|caller| {
            let ctx = Context {
                caller: &caller,
                project: &self.project,
                now: NOW,
            };
            project::decide(&self.project, command, &ctx)
        });
        Then {
            state: &mut self.project,
            apply: ProjectState::apply,
            command: label,
            answer,
        }
    }
}

/// One identity claim.
#[derive(Debug, Clone, Default)]
pub struct IdentitySpec {
    pub identity: IdentityState,
}

pub fn given_identity(events: impl IntoIterator<Item = Event>) -> IdentitySpec {
    let mut spec = IdentitySpec::default();
    for event in events {
        spec.identity.apply(&event);
    }
    spec
}

impl IdentitySpec {
    pub fn when(&mut self, command: IdentityCommand) -> Then<'_, IdentityState> {
        let label = format!("{command:?}");
        let answer = identity::decide(&self.identity, command);
        Then {
            state: &mut self.identity,
            apply: IdentityState::apply,
            command: label,
            answer,
        }
    }
}
