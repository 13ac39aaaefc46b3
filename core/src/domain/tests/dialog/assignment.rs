//! Assigning and unassigning an operator (F4.1).

use super::*;

#[test]
fn f4_1_an_operator_may_take_a_free_dialog() {
    let mut dialog = given_dialog();
    dialog
        .when(O1, C::Assign { operator: O1_ID })
        .then_events([assigned(O1_ID, None)]);
    assert_eq!(dialog.dialog.assignee, Some(O1_ID));
    dialog
        .when(O1, C::Assign { operator: O1_ID })
        .then_nothing();
}

#[test]
fn f4_1_an_operator_may_not_assign_a_free_dialog_to_someone_else() {
    given_dialog()
        .when(O1, C::Assign { operator: O2_ID })
        .then_refused(ONLY_FOR_THEMSELVES);
}

#[test]
fn f4_1_an_operator_may_hand_over_their_own_dialog() {
    let mut dialog = given([registered(), assigned(O1_ID, None)]);
    dialog
        .when(O1, C::Assign { operator: O2_ID })
        .then_events([assigned(O2_ID, Some(O1_ID))]);
    dialog
        .when(O1, C::Assign { operator: O1_ID })
        .then_refused(NOT_YOURS);
}

#[test]
fn f4_1_an_operator_cannot_touch_another_operators_dialog() {
    let mut dialog = given([registered(), received(1), assigned(O2_ID, None)]);
    for command in [
        C::Assign { operator: O1_ID },
        C::Unassign,
        C::MarkRead,
        send(2),
        C::Close,
    ] {
        dialog.when(O1, command).then_refused(NOT_YOURS);
    }
}

#[test]
fn f4_1_an_admin_assigns_and_reassigns_anyone() {
    let mut dialog = given_dialog();
    dialog
        .when(A, C::Assign { operator: O2_ID })
        .then_events([assigned(O2_ID, None)]);
    dialog
        .when(A, C::Assign { operator: O1_ID })
        .then_events([assigned(O1_ID, Some(O2_ID))]);
    dialog.when(A, C::Assign { operator: O1_ID }).then_nothing();
}

#[test]
fn routing_by_the_system_assigns_anyone() {
    given_dialog()
        .when(SYSTEM, C::Assign { operator: O2_ID })
        .then_events([assigned(O2_ID, None)]);
}

#[test]
fn assign_to_an_unknown_operator_is_refused() {
    given_dialog()
        .when(
            A,
            C::Assign {
                operator: STRANGER_ID,
            },
        )
        .then_refused(unknown("operator", STRANGER_ID));
}

#[test]
fn f4_1_reassignment_keeps_a_closed_dialog_closed() {
    let mut dialog = given([registered(), assigned(O1_ID, None), closed()]);
    dialog
        .when(A, C::Assign { operator: O2_ID })
        .then_events([assigned(O2_ID, Some(O1_ID))]);
    assert!(dialog.dialog.closed);
}

#[test]
fn f4_1_after_reassignment_the_previous_operator_is_refused_everything() {
    let mut dialog = dialog_with_traffic();
    dialog.and([assigned(O1_ID, None)]);
    dialog
        .when(A, C::Assign { operator: O2_ID })
        .then_events([assigned(O2_ID, Some(O1_ID))]);
    for command in every_dialog_command() {
        let kind = dialog_command_kind(&command);
        let answer = dialog.when(O1, command).answer();
        match kind {
            "Register" => assert_eq!(answer, Err(Refusal::DialogExists)),
            _ => assert!(
                matches!(answer, Err(Refusal::Forbidden(_))),
                "{kind}: {answer:?}"
            ),
        }
    }
    // Admins still can.
    dialog
        .when(A, C::MarkRead)
        .then_events([read_marked(A_ID, Some(message(2)))]);
    dialog
        .when(A, send(3))
        .then_events([queued(3, MessageAuthor::Operator(A_ID))]);
    // And so can the new assignee.
    dialog
        .when(O2, C::MarkRead)
        .then_events([read_marked(O2_ID, Some(message(3)))]);
}

#[test]
fn unassign() {
    let mut dialog = given([registered(), assigned(O1_ID, None)]);
    dialog
        .when(O1, C::Unassign)
        .then_events([Event::DialogUnassigned(DialogUnassigned {
            previous: O1_ID,
        })]);
    assert_eq!(dialog.dialog.assignee, None);
    dialog.when(O1, C::Unassign).then_nothing();
}
