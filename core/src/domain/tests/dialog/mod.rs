//! The Dialog aggregate, command by command: given events, when a command, then events or a
//! refusal. Tests named `f…` check the rule of FEATURES.md they are named after.
//!
//! This file holds what every command shares (each command of [`every_dialog_command`] is valid,
//! needs a dialog, is refused to a removed operator); the others follow the command families of
//! `domain::dialog`: `register`, `messages` (and `edits`: a client's edits and reactions),
//! `statuses`, `assignment`, `membership`, `lifecycle`, each with one module per topic, and
//! `invariants` is the proptest of random command sequences.

mod assignment;
mod edits;
mod invariants;
mod lifecycle;
mod membership;
mod messages;
mod register;
mod statuses;

use super::support::*;
use crate::domain::Refusal;
use crate::domain::dialog::{DialogCommand as C, RECENT_MESSAGES};
use std::collections::BTreeSet;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// A dialog with one client message (1) and one bot message (2), as [`every_dialog_command`]
/// expects.
fn dialog_with_traffic() -> DialogSpec {
    given([registered(), received(1), queued(2, MessageAuthor::Bot)])
}

#[test]
fn every_command_covers_every_variant() {
    let covered: BTreeSet<_> = every_dialog_command()
        .iter()
        .map(dialog_command_kind)
        .collect();
    let all: BTreeSet<_> = DIALOG_COMMAND_KINDS.into_iter().collect();
    assert_eq!(covered, all);
}

#[test]
fn every_command_is_accepted_by_an_admin_on_a_dialog_with_traffic() {
    // The catalogue used by the refusal tests below is itself valid: what refuses it later is
    // the state, not the command.
    for command in every_dialog_command() {
        let kind = dialog_command_kind(&command);
        let actor = if is_channel_side(&command) {
            CONNECTOR
        } else if kind == "SendMessage" {
            BOT
        } else {
            A
        };
        let answer = dialog_with_traffic().when(actor, command).answer();
        match kind {
            "Register" => assert_eq!(answer, Err(Refusal::DialogExists)),
            // Nothing to complete yet.
            "CompleteTask" => assert_eq!(answer, Err(unknown("task", TASK))),
            // Message 2 is queued, not failed.
            "ResendMessage" => assert!(
                matches!(
                    answer,
                    Err(Refusal::Invalid {
                        field: "message",
                        ..
                    })
                ),
                "{answer:?}"
            ),
            _ => assert!(answer.is_ok(), "{kind}: {answer:?}"),
        }
    }
}

#[test]
fn every_command_but_register_needs_an_existing_dialog() {
    for command in every_dialog_command() {
        let kind = dialog_command_kind(&command);
        let answer = given([]).when(SYSTEM, command).answer();
        if kind == "Register" {
            assert!(answer.is_ok(), "{answer:?}");
        } else {
            assert_eq!(answer, Err(Refusal::NoSuchDialog), "{kind}");
        }
    }
}

#[test]
fn f12_a_removed_operator_is_refused_everything() {
    let mut dialog = dialog_with_traffic();
    dialog.and_project([Event::OperatorRemoved(OperatorRemoved { operator: O1_ID })]);
    for command in every_dialog_command() {
        dialog.when(O1, command).then_refused(NOT_A_MEMBER);
    }
}
