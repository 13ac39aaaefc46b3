//! How far a message has got: the delivery statuses a channel reports (F3.6), which never go
//! back but for an operator's resend of a failed message (queued again), and each operator's
//! read marks (F4.3, F3.9).

use super::{Delivery, DialogCommand as C, DialogCommand, DialogState, SHORT_MAX};
use crate::domain::{Context, Refusal, bounded_text};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// Decide one of the status commands (the others never reach here: [`super::decide`]
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
        C::MarkSent {
            message,
            external_id,
        } => {
            if advance(state, message, Delivery::Sent)? {
                bounded_text("external_id", &external_id, SHORT_MAX, false)?;
                events.push(Event::MessageSent(MessageSent {
                    message,
                    external_id,
                }));
            }
        }
        C::MarkDelivered { message } => {
            if advance(state, message, Delivery::Delivered)? {
                events.push(Event::MessageDelivered(MessageDelivered { message }));
            }
        }
        C::MarkReadByClient { message } => {
            if advance(state, message, Delivery::Read)? {
                events.push(Event::MessageRead(MessageRead { message }));
            }
        }
        C::MarkFailed {
            message,
            reason,
            detail,
            retry_after_secs,
        } => {
            if advance(state, message, Delivery::Failed)? {
                bounded_text("detail", &detail, 2000, true)?;
                events.push(Event::MessageFailed(MessageFailed {
                    message,
                    reason,
                    detail,
                    retry_after_secs,
                }));
            }
        }
        C::ResendMessage { message } => {
            caller.require_operator()?;
            events.push(resend(state, message)?);
        }
        C::ResendLastFailed => {
            caller.require_operator()?;
            if let Some((message, Delivery::Failed, failure)) = state.last_outbound()
                && failure != Some(FailureReason::RateLimited)
                && !state.blocked
            {
                events.push(Event::MessageResent(MessageResent { message }));
            }
        }
        C::MarkRead => {
            let operator = caller.require_operator()?;
            if state.is_unread_for(operator) || state.unanswered {
                events.push(Event::ReadMarked(ReadMarked {
                    operator,
                    up_to: state.last_message,
                }));
            }
        }
        C::MarkUnread => {
            let operator = caller.require_operator()?;
            if !state.read.get(&operator).is_some_and(|r| r.marked_unread) {
                events.push(Event::MarkedUnread(MarkedUnread { operator }));
            }
        }
        other => unreachable!("not a status command: {other:?}"),
    }
    Ok(events)
}

/// F3.6: a failed message queued again. Refused for a message that has not failed, for one
/// failed by a rate limit (the delivery worker sends it again by itself after the channel's
/// retry-after, F6.5), and while the client is blocked (F4.5).
fn resend(state: &DialogState, message: MessageId) -> Result<Event, Refusal> {
    match state.delivery(message) {
        None => return Err(Refusal::unknown("message", message)),
        Some(Delivery::Failed) => {}
        Some(_) => {
            return Err(Refusal::invalid(
                "message",
                "only a failed message is sent again, and this one has not failed",
            ));
        }
    }
    if state.failure(message) == Some(FailureReason::RateLimited) {
        return Err(Refusal::invalid(
            "message",
            "a rate-limited message is sent again by itself after the channel's retry-after",
        ));
    }
    if state.blocked {
        return Err(Refusal::Blocked);
    }
    Ok(Event::MessageResent(MessageResent { message }))
}

/// Whether a delivery status moves the message forward. Statuses never go back (a late
/// "delivered" after "read" changes nothing); a status for a message this dialog never queued is
/// refused unless the dialog has forgotten old messages.
fn advance(state: &DialogState, message: MessageId, to: Delivery) -> Result<bool, Refusal> {
    match state.delivery(message) {
        None if state.outbound_forgotten => Ok(true),
        None => Err(Refusal::unknown("message", message)),
        // A failed message may still be reported sent or delivered by a later retry.
        Some(Delivery::Failed) => Ok(to != Delivery::Failed),
        // Failure is only news before delivery.
        Some(current) if to == Delivery::Failed => Ok(current < Delivery::Delivered),
        Some(current) => Ok(to > current),
    }
}
