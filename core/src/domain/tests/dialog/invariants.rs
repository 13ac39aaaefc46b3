//! Random sequences of commands from random callers; invariants after every step.

use super::*;
use crate::domain::dialog::{self, DialogState};
use crate::domain::{Caller, Context};
use proptest::prelude::*;
use switchboard_schemas::Role;

const ACTORS: [Actor; 9] = [A, O1, O2, D, STRANGER, CONNECTOR, BOT, SYSTEM, CLIENT];
const OPERATORS: [OperatorId; 5] = [A_ID, O1_ID, O2_ID, D_ID, STRANGER_ID];

/// A command from a small space of values, so that collisions (same message, same tag)
/// happen often.
fn command(kind: u8, a: u8, b: u8) -> C {
    let a128 = u128::from(a);
    let pick = |n: u8| usize::from(n) % 3;
    match kind {
        0 => C::Register {
            profile: profile(),
            source: Source::default(),
            identity: Some(telegram_identity()),
        },
        1 => {
            let mut command = receive(a128);
            if let C::ReceiveMessage { channel, .. } = &mut command {
                *channel = [TELEGRAM, TELEGRAM, WHATSAPP][pick(b)];
            }
            command
        }
        2 => send_via(
            10 + a128,
            [TELEGRAM, TELEGRAM, WHATSAPP][pick(b)],
            ["on its way", "", &"x".repeat(2001)][pick(a.wrapping_add(b))],
        ),
        3 => C::MarkSent {
            message: message(10 + a128),
            external_id: format!("out-{a}"),
        },
        4 => C::MarkDelivered {
            message: message(10 + a128),
        },
        5 => C::MarkReadByClient {
            message: message(10 + a128),
        },
        6 => C::MarkFailed {
            message: message(10 + a128),
            reason: FailureReason::ChannelError,
            detail: s("boom"),
            retry_after_secs: None,
        },
        7 => C::Assign {
            operator: OPERATORS[usize::from(a) % OPERATORS.len()],
        },
        8 => C::Unassign,
        9 => C::Close,
        10 => C::Reopen,
        11 => C::Pin,
        12 => C::Unpin,
        13 => C::Block,
        14 => C::Unblock,
        15 => C::Blacklist,
        16 => C::Unblacklist,
        17 => C::PauseBot,
        18 => C::ResumeBot,
        19 => C::StartScenario {
            scenario: s("welcome"),
        },
        20 | 41 | 42 => C::MarkRead,
        21 => C::MarkUnread,
        22 => C::AddTags {
            tags: vec![[TAG, TAG2, UNKNOWN_TAG][pick(a)]],
        },
        23 => C::RemoveTags {
            tags: vec![[TAG, TAG2, UNKNOWN_TAG][pick(a)]],
        },
        24 => C::JoinLists {
            lists: vec![[LIST, LIST, UNKNOWN_LIST][pick(a)]],
        },
        25 => C::LeaveLists { lists: vec![LIST] },
        26 => C::JoinFolders {
            folders: vec![[FOLDER, FOLDER, UNKNOWN_FOLDER][pick(a)]],
        },
        27 => C::LeaveFolders {
            folders: vec![FOLDER],
        },
        28 => C::SetVariable {
            name: s(SIZE),
            value: s(["S", "M", "XL"][pick(a)]),
        },
        29 => C::ClearVariable { name: s(SIZE) },
        30 => C::ChangeDealStage {
            pipeline: PIPELINE,
            stage: [STAGE_NEW, STAGE_WON, UNKNOWN_STAGE][pick(a)],
        },
        31 => C::UpdateDeal {
            line: a % 4,
            channel: None,
            sales_sum_minor: i64::from(b) - 1,
            sales_count: 1,
        },
        32 => C::CreateTask {
            task: TaskId::from_u128(a128),
            text: s("call"),
            due: None,
        },
        33 => C::CompleteTask {
            task: TaskId::from_u128(a128),
        },
        34 => C::EnterFunnelBlock {
            block: s("b1"),
            block_name: s(""),
        },
        35 => C::SaveDraft {
            text: s(["", "draft", "draft"][pick(a)]),
        },
        36 => C::ClearDraft,
        37 => C::AddNote {
            note: NoteId::from_u128(a128),
            text: s("note"),
        },
        38 => C::LinkIdentity {
            identity: whatsapp_identity(),
            display_name: None,
            avatar_url: None,
        },
        39 => C::UnlinkIdentity {
            identity: match a % 2 {
                0 => telegram_identity(),
                _ => whatsapp_identity(),
            },
        },
        40 => C::UpdateProfile { profile: profile() },
        _ => unreachable!("kind out of range"),
    }
}

fn arb_command() -> impl Strategy<Value = C> {
    prop_oneof![
        1 => Just(C::Delete),
        1 => Just(C::MergeInto { survivor: OTHER_DIALOG }),
        1 => Just(C::AcceptMerge { absorbed: OTHER_DIALOG, identities: vec![whatsapp_identity()] }),
        60 => (0u8..43, 0u8..4, 0u8..4).prop_map(|(kind, a, b)| command(kind, a, b)),
    ]
}

fn arb_steps() -> impl Strategy<Value = Vec<(usize, C)>> {
    prop::collection::vec((0..ACTORS.len(), arb_command()), 1..60)
}

/// Whether a closed dialog may open or an open one close because of this command.
fn may_change_closed(command: &C) -> bool {
    matches!(
        command,
        C::Close | C::Reopen | C::ReceiveMessage { .. } | C::SendMessage { .. }
    )
}

fn decide(
    state: &DialogState,
    project: &crate::domain::project::ProjectState,
    caller: &Caller,
    command: C,
) -> Result<Vec<Event>, crate::domain::Refusal> {
    let ctx = Context {
        caller,
        project,
        now: NOW,
    };
    dialog::decide(state, command, &ctx)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_keep_the_dialog_invariants(registered_first in prop::bool::weighted(0.9), steps in arb_steps()) {
        let project = standard_project();
        let mut state = DialogState::default();
        if registered_first {
            state.apply(&registered());
        }
        for (actor_index, command) in steps {
            let actor = ACTORS[actor_index];
            let Ok(caller) = Caller::resolve(actor, &project) else {
                prop_assert_eq!(actor, STRANGER);
                continue;
            };
            let before = state.clone();
            let answer = decide(&before, &project, &caller, command.clone());
            // Decisions are pure: the same question gets the same answer.
            prop_assert_eq!(&answer, &decide(&before, &project, &caller, command.clone()));

            let non_admin_operator = match caller {
                Caller::Operator { id, role: Role::Operator, .. } => Some(id),
                _ => None,
            };
            let kind = dialog_command_kind(&command);

            if before.deleted {
                prop_assert!(answer.is_err(), "deleted dialog accepted {kind}: {answer:?}");
            }
            if before.merged_into.is_some() {
                prop_assert!(answer.is_err(), "merged dialog accepted {kind}: {answer:?}");
            }
            let someone_elses = matches!(
                (non_admin_operator, before.assignee),
                (Some(me), Some(assignee)) if me != assignee
            );
            if someone_elses {
                prop_assert!(
                    answer.is_err(),
                    "{caller:?} succeeded at {kind} on a dialog of {:?}: {answer:?}",
                    before.assignee
                );
            }
            if !before.exists && answer.is_ok() {
                prop_assert_eq!(kind, "Register");
            }

            let Ok(events) = answer else {
                // Refused: nothing is applied, the state stays as it was.
                continue;
            };
            for event in &events {
                state.apply(event);
            }

            if before.closed != state.closed {
                prop_assert!(may_change_closed(&command), "{kind} changed `closed`");
            }
            if let Some(operator) = caller.operator_id() {
                match command {
                    C::MarkRead => {
                        prop_assert!(!state.is_unread_for(operator), "unread right after MarkRead");
                        prop_assert!(!state.unanswered);
                    }
                    C::MarkUnread => prop_assert!(state.is_unread_for(operator)),
                    _ => {}
                }
                if matches!(command, C::MarkRead | C::MarkUnread) {
                    // Read marks are per operator (F4.3).
                    for other in OPERATORS.into_iter().filter(|o| *o != operator) {
                        prop_assert_eq!(before.read.get(&other), state.read.get(&other));
                        prop_assert_eq!(before.is_unread_for(other), state.is_unread_for(other));
                    }
                }
            }
            match (&command, events.is_empty()) {
                (C::SendMessage { message, .. }, false) => {
                    prop_assert_eq!(state.last_message, Some(*message));
                    prop_assert!(!state.closed);
                }
                (C::ReceiveMessage { message, .. }, false) => {
                    prop_assert_eq!(state.last_message, Some(*message));
                    prop_assert!(!state.closed);
                    prop_assert!(state.unanswered);
                }
                _ => {}
            }
        }
    }
}
