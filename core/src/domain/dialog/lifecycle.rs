//! The dialog's switches and its end: close and reopen, pin, block (F4.5) and blacklist (F4.6)
//! the client, pause the bot and start a scenario (F4.7), delete the client (F4.8) and, in the
//! F6.6 bulk action, a client who blocked the bot or whom we blocked.

use super::{DialogCommand as C, DialogCommand, DialogState, SHORT_MAX};
use crate::domain::{Caller, Context, Refusal, bounded_text};
use switchboard_schemas::events::*;
use switchboard_schemas::{FailureReason, ReopenCause};

/// Decide one of the lifecycle commands (the others never reach here: [`super::decide`]
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
        C::Close => toggle(
            &mut events,
            !state.closed,
            Event::DialogClosed(DialogClosed {}),
        ),
        C::Reopen => toggle(
            &mut events,
            state.closed,
            Event::DialogReopened(DialogReopened {
                cause: ReopenCause::Operator,
            }),
        ),
        C::Pin => toggle(
            &mut events,
            !state.pinned,
            Event::DialogPinned(DialogPinned {}),
        ),
        C::Unpin => toggle(
            &mut events,
            state.pinned,
            Event::DialogUnpinned(DialogUnpinned {}),
        ),
        C::Block => toggle(
            &mut events,
            !state.blocked,
            Event::ClientBlocked(ClientBlocked {}),
        ),
        C::Unblock => toggle(
            &mut events,
            state.blocked,
            Event::ClientUnblocked(ClientUnblocked {}),
        ),
        C::Blacklist => toggle(
            &mut events,
            !state.blacklisted,
            Event::ClientBlacklisted(ClientBlacklisted {}),
        ),
        C::Unblacklist => toggle(
            &mut events,
            state.blacklisted,
            Event::ClientUnblacklisted(ClientUnblacklisted {}),
        ),
        C::PauseBot => toggle(
            &mut events,
            !state.bot_paused,
            Event::BotPaused(BotPaused {}),
        ),
        C::ResumeBot => toggle(
            &mut events,
            state.bot_paused,
            Event::BotResumed(BotResumed {}),
        ),
        C::StartScenario { scenario } => {
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            // F4.7: while paused the bot only runs what an operator starts by hand.
            if state.bot_paused && !matches!(caller, Caller::Operator { .. }) {
                return Err(Refusal::Forbidden("the bot is paused for this dialog"));
            }
            bounded_text("scenario", &scenario, SHORT_MAX, false)?;
            events.push(Event::BotScenarioStarted(BotScenarioStarted { scenario }));
        }
        C::Delete => {
            caller.require_delete()?;
            events.push(Event::ClientDeleted(ClientDeleted {}));
        }
        C::DeleteUnsubscribed => {
            caller.require_delete()?;
            let blocked_the_bot = state
                .last_outbound()
                .is_some_and(|(.., failure)| failure == Some(FailureReason::BlockedByClient));
            if state.blocked || blocked_the_bot {
                events.push(Event::ClientDeleted(ClientDeleted {}));
            }
        }
        other => unreachable!("not a lifecycle command: {other:?}"),
    }
    Ok(events)
}

fn toggle(events: &mut Vec<Event>, needed: bool, event: Event) {
    if needed {
        events.push(event);
    }
}
