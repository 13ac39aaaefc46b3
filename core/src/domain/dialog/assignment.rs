//! Who answers the dialog: assigning and unassigning an operator (F4.1).

use super::{DialogCommand as C, DialogCommand, DialogState};
use crate::domain::{Caller, Context, Refusal};
use switchboard_schemas::events::*;

/// Decide one of the assignment commands (the others never reach here: [`super::decide`]
/// dispatches by family).
pub(super) fn decide(
    state: &DialogState,
    command: DialogCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    let caller = ctx.caller;
    // At most one event; an event is 300 bytes, so not the four a first push would make room for.
    let mut events = Vec::with_capacity(1);
    match command {
        C::Assign { operator } => {
            if ctx.project.operator(operator).is_none() {
                return Err(Refusal::unknown("operator", operator));
            }
            if let Caller::Operator { id, .. } = caller {
                // An operator may take a free dialog, or hand over their own; only an admin may
                // move someone else's (access was checked by `decide`).
                if !caller.is_admin() && state.assignee.is_none() && operator != *id {
                    return Err(Refusal::Forbidden(
                        "an operator may only take a free dialog for themselves",
                    ));
                }
            }
            if state.assignee != Some(operator) {
                // F4.1: a closed dialog stays closed.
                events.push(Event::DialogAssigned(DialogAssigned {
                    operator,
                    previous: state.assignee,
                }));
            }
        }
        C::Unassign => {
            if let Some(previous) = state.assignee {
                events.push(Event::DialogUnassigned(DialogUnassigned { previous }));
            }
        }
        other => unreachable!("not an assignment command: {other:?}"),
    }
    Ok(events)
}
