//! The conversation: client messages in (and their edits and reactions), operator and bot
//! messages out (F3.4: what they may carry), notes (F3.3) and drafts (F3.5).

use super::{
    DialogCommand as C, DialogCommand, DialogState, INBOUND_TEXT_MAX, SHORT_MAX, TEXT_MAX,
    external_id_hash,
};
use crate::domain::compose::check_outbound;
use crate::domain::{Caller, Context, Refusal, bounded_text};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// Decide one of the message commands (the others never reach here: [`super::decide`]
/// dispatches by family).
pub(super) fn decide(
    state: &DialogState,
    command: DialogCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    let caller = ctx.caller;
    // One event, sometimes two (reopened, then the message); an event is 300 bytes, so not the
    // four a first push would make room for.
    let mut events = Vec::with_capacity(2);
    match command {
        C::ReceiveMessage {
            message,
            channel,
            external_id,
            text,
            attachments,
            reply_to,
            sent_at,
        } => {
            let hash = external_id_hash(&external_id);
            if state
                .recent_inbound
                .iter()
                .any(|(seen_channel, seen_hash, seen, _)| {
                    *seen_channel == channel && *seen_hash == hash && *seen == external_id
                })
            {
                return Ok(vec![]); // the channel delivered it again
            }
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            if !state.has_channel(channel) {
                return Err(Refusal::ChannelUnavailable(channel));
            }
            bounded_text("external_id", &external_id, SHORT_MAX, false)?;
            bounded_text("text", &text, INBOUND_TEXT_MAX, true)?;
            if text.trim().is_empty() && attachments.is_empty() {
                return Err(Refusal::invalid(
                    "text",
                    "a message needs text or an attachment",
                ));
            }
            if state.closed {
                events.push(Event::DialogReopened(DialogReopened {
                    cause: ReopenCause::InboundMessage,
                }));
            }
            events.push(Event::MessageReceived(MessageReceived {
                message,
                channel,
                external_id,
                text,
                attachments,
                reply_to,
                sent_at,
            }));
        }
        C::EditMessage {
            message,
            channel,
            external_id,
            text,
            attachments,
            edited_at,
        } => {
            check_client_channel(state, channel)?;
            bounded_text("external_id", &external_id, SHORT_MAX, false)?;
            bounded_text("text", &text, INBOUND_TEXT_MAX, true)?;
            // The message as the dialog recorded it, if it still remembers; else the caller's id
            // (connectors derive it from the channel's id, so it is the same).
            let message = state
                .message_by_external_id(channel, &external_id)
                .unwrap_or(message);
            events.push(Event::MessageEdited(MessageEdited {
                message,
                channel,
                external_id,
                text,
                attachments,
                edited_at,
            }));
        }
        C::ReactToMessage {
            channel,
            target_external_id,
            reaction,
            reacted_at,
        } => {
            check_client_channel(state, channel)?;
            bounded_text("target_external_id", &target_external_id, SHORT_MAX, false)?;
            bounded_text("reaction", &reaction, SHORT_MAX, true)?;
            events.push(Event::ReactionSet(ReactionSet {
                message: state.message_by_external_id(channel, &target_external_id),
                channel,
                target_external_id,
                reaction,
                reacted_at,
            }));
        }
        C::SendMessage {
            message,
            channel,
            text,
            attachments,
            reply_to,
            template,
        } => {
            let author = match caller {
                Caller::Operator { id, .. } => MessageAuthor::Operator(*id),
                Caller::Service(Actor::Bot | Actor::System) => MessageAuthor::Bot,
                Caller::Service(_) => {
                    return Err(Refusal::Forbidden("only an operator or the bot may send"));
                }
            };
            if state.delivery(message).is_some() {
                return Ok(vec![]); // the same message again
            }
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            if author == MessageAuthor::Bot && state.bot_paused {
                return Err(Refusal::Forbidden("the bot is paused for this dialog"));
            }
            if !state.has_channel(channel) {
                return Err(Refusal::ChannelUnavailable(channel));
            }
            let kind = ctx
                .project
                .channel(channel)
                .ok_or(Refusal::ChannelUnavailable(channel))?;
            check_outbound(kind, &text, &attachments)?;
            if let Some(template) = template
                && !ctx.project.has_template(template)
            {
                return Err(Refusal::unknown("template", template));
            }
            if state.closed {
                events.push(Event::DialogReopened(DialogReopened {
                    cause: ReopenCause::OutboundMessage,
                }));
            }
            let reply_to_external_id = reply_to
                .and_then(|quoted| state.external_id_of(channel, quoted))
                .map(str::to_owned);
            events.push(Event::MessageQueued(MessageQueued {
                message,
                channel,
                author,
                text,
                attachments,
                reply_to,
                template,
                reply_to_external_id,
            }));
            if let MessageAuthor::Operator(operator) = author
                && state.drafts.contains(&operator)
            {
                events.push(Event::DraftCleared(DraftCleared { operator }));
            }
        }
        C::AddNote { note, text } => {
            caller.require_operator()?;
            bounded_text("text", &text, TEXT_MAX, false)?;
            events.push(Event::NoteAdded(NoteAdded { note, text }));
        }
        C::SaveDraft { text } => {
            let operator = caller.require_operator()?;
            bounded_text("text", &text, TEXT_MAX, true)?;
            if text.trim().is_empty() {
                if state.drafts.contains(&operator) {
                    events.push(Event::DraftCleared(DraftCleared { operator }));
                }
            } else {
                events.push(Event::DraftSaved(DraftSaved { operator, text }));
            }
        }
        C::ClearDraft => {
            let operator = caller.require_operator()?;
            if state.drafts.contains(&operator) {
                events.push(Event::DraftCleared(DraftCleared { operator }));
            }
        }
        other => unreachable!("not a message command: {other:?}"),
    }
    Ok(events)
}

/// What a client's traffic on `channel` needs: the client is not blocked and uses the channel.
fn check_client_channel(state: &DialogState, channel: ChannelId) -> Result<(), Refusal> {
    if state.blocked {
        return Err(Refusal::Blocked);
    }
    if !state.has_channel(channel) {
        return Err(Refusal::ChannelUnavailable(channel));
    }
    Ok(())
}
