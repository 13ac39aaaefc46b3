//! A client's edits of their messages (no new message) and reactions to messages of either
//! direction, as connectors report them.

use super::*;

fn edit(n: u128, text: &str) -> C {
    C::EditMessage {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s(text),
        attachments: vec![],
        edited_at: NOW,
    }
}

fn edited(n: u128, text: &str) -> Event {
    Event::MessageEdited(MessageEdited {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s(text),
        attachments: vec![],
        edited_at: NOW,
    })
}

fn react(target: &str, reaction: &str) -> C {
    C::ReactToMessage {
        channel: TELEGRAM,
        target_external_id: s(target),
        reaction: s(reaction),
        reacted_at: NOW,
    }
}

fn reaction_set(message: Option<MessageId>, target: &str, reaction: &str) -> Event {
    Event::ReactionSet(ReactionSet {
        message,
        channel: TELEGRAM,
        target_external_id: s(target),
        reaction: s(reaction),
        reacted_at: NOW,
    })
}

mod edit_message {
    use super::*;

    #[test]
    fn an_edit_changes_the_message_and_adds_none() {
        let mut dialog = given([registered(), received(1)]);
        dialog
            .when(CONNECTOR, edit(1, "where is order #42?"))
            .then_events([edited(1, "where is order #42?")]);
        assert_eq!(dialog.dialog.inbound_count, 1, "no new message");
        assert_eq!(dialog.dialog.last_message, Some(message(1)));
    }

    #[test]
    fn the_remembered_message_wins_over_the_callers_id() {
        let mut command = edit(1, "fixed");
        if let C::EditMessage { message: id, .. } = &mut command {
            *id = message(99);
        }
        given([registered(), received(1)])
            .when(CONNECTOR, command)
            .then_events([edited(1, "fixed")]);
    }

    #[test]
    fn an_edit_of_a_forgotten_message_is_kept_under_the_callers_id() {
        given_dialog()
            .when(CONNECTOR, edit(7, "old message, new text"))
            .then_events([edited(7, "old message, new text")]);
    }

    #[test]
    fn a_caption_may_be_edited_away() {
        given([registered(), received(1)])
            .when(CONNECTOR, edit(1, ""))
            .then_events([edited(1, "")]);
    }

    #[test]
    fn only_the_channel_side_reports_edits() {
        for actor in [A, O1, D] {
            given([registered(), received(1)])
                .when(actor, edit(1, "x"))
                .then_refused(CHANNEL_SIDE_ONLY);
        }
    }

    #[test]
    fn not_from_a_blocked_client_nor_through_another_channel() {
        given([registered(), received(1), blocked()])
            .when(CONNECTOR, edit(1, "x"))
            .then_refused(Refusal::Blocked);
        let mut command = edit(1, "x");
        if let C::EditMessage { channel, .. } = &mut command {
            *channel = WHATSAPP;
        }
        given([registered(), received(1)])
            .when(CONNECTOR, command)
            .then_refused(Refusal::ChannelUnavailable(WHATSAPP));
    }

    #[test]
    fn the_external_id_is_needed() {
        let mut command = edit(1, "x");
        if let C::EditMessage { external_id, .. } = &mut command {
            external_id.clear();
        }
        given([registered(), received(1)])
            .when(CONNECTOR, command)
            .then_invalid("external_id");
    }
}

mod react_to_message {
    use super::*;

    #[test]
    fn a_reaction_to_a_client_message_names_it() {
        given([registered(), received(1)])
            .when(CONNECTOR, react(&external_id(1), "👍"))
            .then_events([reaction_set(Some(message(1)), &external_id(1), "👍")]);
    }

    #[test]
    fn a_reaction_to_our_sent_message_names_it_by_the_channels_id() {
        let sent = Event::MessageSent(MessageSent {
            message: message(2),
            external_id: s("tg-out-2"),
        });
        let mut dialog = given([registered(), queued(2, MessageAuthor::Bot), sent]);
        assert_eq!(
            dialog.dialog.delivery(message(2)),
            Some(crate::domain::dialog::Delivery::Sent)
        );
        dialog
            .when(CONNECTOR, react("tg-out-2", "❤"))
            .then_events([reaction_set(Some(message(2)), "tg-out-2", "❤")]);
    }

    #[test]
    fn a_reaction_to_an_unknown_message_is_kept_without_it() {
        given([registered(), received(1)])
            .when(CONNECTOR, react("tg-elsewhere", "🔥"))
            .then_events([reaction_set(None, "tg-elsewhere", "🔥")]);
    }

    #[test]
    fn a_removed_reaction_is_an_empty_one() {
        given([registered(), received(1)])
            .when(CONNECTOR, react(&external_id(1), ""))
            .then_events([reaction_set(Some(message(1)), &external_id(1), "")]);
    }

    #[test]
    fn only_the_channel_side_reports_reactions_and_not_of_a_blocked_client() {
        given([registered(), received(1)])
            .when(O1, react(&external_id(1), "👍"))
            .then_refused(CHANNEL_SIDE_ONLY);
        given([registered(), received(1), blocked()])
            .when(CONNECTOR, react(&external_id(1), "👍"))
            .then_refused(Refusal::Blocked);
    }
}
