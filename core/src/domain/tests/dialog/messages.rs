//! Client messages in, operator and bot messages out (F3.4), notes (F3.3) and drafts (F3.5).

use super::*;

mod receive_message {
    use super::*;

    #[test]
    fn a_connector_reports_a_client_message() {
        let mut dialog = given_dialog();
        dialog
            .when(CONNECTOR, receive(1))
            .then_events([received(1)]);
        assert_eq!(dialog.dialog.last_message, Some(message(1)));
        assert!(dialog.dialog.unanswered);
        for operator in [A_ID, O1_ID, O2_ID, D_ID] {
            assert!(dialog.unread_for(operator));
        }
    }

    #[test]
    fn the_system_may_report_traffic_too() {
        given_dialog()
            .when(SYSTEM, receive(1))
            .then_events([received(1)]);
    }

    #[test]
    fn channel_redelivery_of_a_seen_external_id_is_a_no_op() {
        let mut dialog = given_dialog();
        dialog
            .when(CONNECTOR, receive(1))
            .then_events([received(1)]);
        dialog.when(CONNECTOR, receive(1)).then_nothing();
        // Even under a new internal id: the channel's id is what identifies it.
        let C::ReceiveMessage {
            channel,
            external_id,
            text,
            attachments,
            reply_to,
            sent_at,
            ..
        } = receive(1)
        else {
            unreachable!()
        };
        dialog
            .when(
                CONNECTOR,
                C::ReceiveMessage {
                    message: message(99),
                    channel,
                    external_id,
                    text,
                    attachments,
                    reply_to,
                    sent_at,
                },
            )
            .then_nothing();
        assert_eq!(dialog.dialog.last_message, Some(message(1)));
    }

    #[test]
    fn f3_6_operators_cannot_report_channel_traffic() {
        for actor in [A, O1, D] {
            given_dialog()
                .when(actor, receive(1))
                .then_refused(CHANNEL_SIDE_ONLY);
        }
    }

    #[test]
    fn through_a_channel_the_client_does_not_use() {
        let mut command = receive(1);
        if let C::ReceiveMessage { channel, .. } = &mut command {
            *channel = WHATSAPP;
        }
        given_dialog()
            .when(Actor::Connector(WHATSAPP), command)
            .then_refused(Refusal::ChannelUnavailable(WHATSAPP));
    }

    #[test]
    fn needs_an_external_id() {
        let mut command = receive(1);
        if let C::ReceiveMessage { external_id, .. } = &mut command {
            *external_id = s("");
        }
        given_dialog()
            .when(CONNECTOR, command)
            .then_invalid("external_id");
    }

    #[test]
    fn needs_text_or_an_attachment() {
        let mut empty = receive(1);
        if let C::ReceiveMessage { text, .. } = &mut empty {
            *text = s(" \n");
        }
        given_dialog()
            .when(CONNECTOR, empty.clone())
            .then_invalid("text");

        if let C::ReceiveMessage { attachments, .. } = &mut empty {
            attachments.push(image(MB));
        }
        let answer = given_dialog().when(CONNECTOR, empty).answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    #[test]
    fn inbound_text_is_bounded() {
        let mut long = receive(1);
        if let C::ReceiveMessage { text, .. } = &mut long {
            *text = "a".repeat(100_001);
        }
        given_dialog().when(CONNECTOR, long).then_invalid("text");
    }

    #[test]
    fn f4_2_a_closed_dialog_reopens_on_a_new_inbound_message() {
        let mut dialog = given([registered(), closed()]);
        dialog
            .when(CONNECTOR, receive(1))
            .then_events([reopened(ReopenCause::InboundMessage), received(1)]);
        assert!(!dialog.dialog.closed);
    }

    #[test]
    fn f4_2_a_redelivery_does_not_reopen() {
        let mut dialog = given([registered(), received(1), closed()]);
        dialog.when(CONNECTOR, receive(1)).then_nothing();
        assert!(dialog.dialog.closed);
    }

    #[test]
    fn f4_5_a_blocked_client_cannot_write() {
        given([registered(), blocked()])
            .when(CONNECTOR, receive(1))
            .then_refused(Refusal::Blocked);
    }
}

mod send_message {
    use super::*;

    #[test]
    fn an_operator_writes() {
        let mut dialog = given([registered(), received(1)]);
        dialog
            .when(O1, send(2))
            .then_events([queued(2, MessageAuthor::Operator(O1_ID))]);
        assert_eq!(dialog.dialog.last_message, Some(message(2)));
        // Writing is reading, and answering.
        assert!(!dialog.unread_for(O1_ID));
        assert!(!dialog.dialog.unanswered);
        assert!(dialog.unread_for(A_ID));
    }

    #[test]
    fn the_bot_and_the_system_write_as_the_bot() {
        for actor in [BOT, SYSTEM] {
            let mut dialog = given([registered(), received(1)]);
            dialog
                .when(actor, send(2))
                .then_events([queued(2, MessageAuthor::Bot)]);
            // A bot answer is not an operator's answer.
            assert!(dialog.dialog.unanswered);
        }
    }

    #[test]
    fn connectors_and_clients_cannot_send() {
        for actor in [CONNECTOR, CLIENT] {
            given_dialog()
                .when(actor, send(2))
                .then_refused(SENDERS_ONLY);
        }
    }

    #[test]
    fn the_same_message_again_is_a_no_op() {
        let mut dialog = given_dialog();
        dialog
            .when(O1, send(2))
            .then_events([queued(2, MessageAuthor::Operator(O1_ID))]);
        dialog.when(O1, send(2)).then_nothing();
    }

    #[test]
    fn a_reply_names_the_channels_id_of_the_client_message_it_quotes_there() {
        let mut dialog = given_dialog();
        dialog.and([Event::IdentityLinked(IdentityLinked {
            identity: whatsapp_identity(),
            display_name: None,
            avatar_url: None,
        })]);
        dialog
            .when(CONNECTOR, receive(1))
            .then_events([received(1)]);
        let reply = |n, channel, quoted| {
            let mut command = send_via(n, channel, "yes, today");
            if let C::SendMessage { reply_to, .. } = &mut command {
                *reply_to = Some(quoted);
            }
            command
        };
        let external = |answer: Result<Vec<Event>, Refusal>| match answer.as_deref() {
            Ok([Event::MessageQueued(queued)]) => queued.reply_to_external_id.clone(),
            other => panic!("{other:?}"),
        };
        // Through the channel it came by: its id there, for the connector's quote.
        let answer = dialog.when(O1, reply(2, TELEGRAM, message(1))).answer();
        assert_eq!(external(answer), Some(external_id(1)));
        // Through another channel, or quoting what the dialog does not know: no id.
        let answer = dialog.when(O1, reply(3, WHATSAPP, message(1))).answer();
        assert_eq!(external(answer), None);
        let answer = dialog.when(O1, reply(4, TELEGRAM, message(9))).answer();
        assert_eq!(external(answer), None);
    }

    #[test]
    fn with_a_template() {
        let mut with_template = send(2);
        if let C::SendMessage { template, .. } = &mut with_template {
            *template = Some(TEMPLATE);
        }
        let answer = given_dialog().when(O1, with_template.clone()).answer();
        let Ok(events) = answer else {
            panic!("{answer:?}")
        };
        assert!(matches!(
            events.as_slice(),
            [Event::MessageQueued(MessageQueued {
                template: Some(TEMPLATE),
                ..
            })]
        ));

        if let C::SendMessage { template, .. } = &mut with_template {
            *template = Some(UNKNOWN_TEMPLATE);
        }
        given_dialog()
            .when(O1, with_template)
            .then_refused(unknown("template", UNKNOWN_TEMPLATE));
    }

    #[test]
    fn f3_4_a_channel_the_client_never_wrote_through_is_unavailable() {
        given_dialog()
            .when(O1, send_via(2, WHATSAPP, "hi"))
            .then_refused(Refusal::ChannelUnavailable(WHATSAPP));
    }

    #[test]
    fn f3_4_a_disconnected_channel_is_unavailable() {
        let mut dialog = given_dialog();
        dialog.and_project([Event::ChannelDisconnected(ChannelDisconnected {
            channel: TELEGRAM,
        })]);
        dialog
            .when(O1, send(2))
            .then_refused(Refusal::ChannelUnavailable(TELEGRAM));
    }

    #[test]
    fn f3_4_text_up_to_2000_characters_not_counting_spaces() {
        let exactly = "ab ".repeat(1000); // 2000 non-space characters, 3000 in all
        let answer = given_dialog()
            .when(O1, send_via(2, TELEGRAM, &exactly))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
        let over = format!("{exactly}z");
        given_dialog()
            .when(O1, send_via(2, TELEGRAM, &over))
            .then_invalid("text");
    }

    #[test]
    fn f3_4_an_empty_message_is_refused() {
        given_dialog()
            .when(O1, send_via(2, TELEGRAM, "  \n "))
            .then_invalid("text");
    }

    #[test]
    fn f3_4_up_to_ten_images() {
        let ten = (0..10).map(|_| image(MB)).collect();
        let answer = given_dialog()
            .when(O1, send_attachments(2, TELEGRAM, ten))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
        let eleven = (0..11).map(|_| image(MB)).collect();
        given_dialog()
            .when(O1, send_attachments(2, TELEGRAM, eleven))
            .then_invalid("attachments");
    }

    #[test]
    fn f3_4_an_image_over_the_whatsapp_cloud_limit_is_fine_on_telegram() {
        let mut dialog = given([registered(), whatsapp_linked()]);
        dialog
            .when(O1, send_attachments(2, WHATSAPP, vec![image(6 * MB)]))
            .then_invalid("attachments");
        let answer = dialog
            .when(O1, send_attachments(2, TELEGRAM, vec![image(6 * MB)]))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
        let answer = dialog
            .when(O1, send_attachments(3, WHATSAPP, vec![image(5 * MB)]))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    #[test]
    fn f4_2_a_closed_dialog_reopens_on_an_outbound_message() {
        let mut dialog = given([registered(), closed()]);
        dialog.when(O1, send(2)).then_events([
            reopened(ReopenCause::OutboundMessage),
            queued(2, MessageAuthor::Operator(O1_ID)),
        ]);
        assert!(!dialog.dialog.closed);
    }

    #[test]
    fn f4_2_the_bot_reopens_too() {
        given([registered(), closed()])
            .when(BOT, send(2))
            .then_events([
                reopened(ReopenCause::OutboundMessage),
                queued(2, MessageAuthor::Bot),
            ]);
    }

    #[test]
    fn f3_5_sending_clears_the_operators_draft() {
        let mut dialog = given([registered(), draft_saved(O1_ID, "on its w")]);
        dialog.when(O1, send(2)).then_events([
            queued(2, MessageAuthor::Operator(O1_ID)),
            draft_cleared(O1_ID),
        ]);
        assert!(dialog.dialog.drafts.is_empty());
    }

    #[test]
    fn f3_5_sending_leaves_other_operators_drafts_alone() {
        let mut dialog = given([registered(), draft_saved(O1_ID, "later")]);
        dialog
            .when(A, send(2))
            .then_events([queued(2, MessageAuthor::Operator(A_ID))]);
        assert!(dialog.dialog.drafts.contains(&O1_ID));
        // Nor does the bot's message clear anyone's draft.
        dialog
            .when(BOT, send(3))
            .then_events([queued(3, MessageAuthor::Bot)]);
        assert!(dialog.dialog.drafts.contains(&O1_ID));
    }
}

mod notes {
    use super::*;

    #[test]
    fn f3_3_an_operator_adds_a_note() {
        given_dialog()
            .when(
                O1,
                C::AddNote {
                    note: NOTE,
                    text: s("call back at 5"),
                },
            )
            .then_events([Event::NoteAdded(NoteAdded {
                note: NOTE,
                text: s("call back at 5"),
            })]);
    }

    #[test]
    fn only_operators_add_notes() {
        for actor in [BOT, SYSTEM, CONNECTOR] {
            given_dialog()
                .when(
                    actor,
                    C::AddNote {
                        note: NOTE,
                        text: s("x"),
                    },
                )
                .then_refused(OPERATORS_ONLY);
        }
    }

    #[test]
    fn a_note_needs_text_within_bounds() {
        for text in [s(" "), "n".repeat(10_001)] {
            given_dialog()
                .when(O1, C::AddNote { note: NOTE, text })
                .then_invalid("text");
        }
    }
}

mod drafts {
    use super::*;

    #[test]
    fn f3_5_a_draft_is_kept_per_operator() {
        let mut dialog = given_dialog();
        dialog
            .when(O1, C::SaveDraft { text: s("hello") })
            .then_events([draft_saved(O1_ID, "hello")]);
        dialog
            .when(A, C::SaveDraft { text: s("hi") })
            .then_events([draft_saved(A_ID, "hi")]);
        assert_eq!(dialog.dialog.drafts, BTreeSet::from([O1_ID, A_ID]));
        dialog
            .when(O1, C::ClearDraft)
            .then_events([draft_cleared(O1_ID)]);
        assert_eq!(dialog.dialog.drafts, BTreeSet::from([A_ID]));
        dialog.when(O1, C::ClearDraft).then_nothing();
    }

    #[test]
    fn f3_5_saving_empty_text_clears_the_draft() {
        let mut dialog = given([registered(), draft_saved(O1_ID, "hel")]);
        dialog
            .when(O1, C::SaveDraft { text: s("") })
            .then_events([draft_cleared(O1_ID)]);
        dialog.when(O1, C::SaveDraft { text: s("") }).then_nothing();
    }

    #[test]
    fn drafts_are_for_operators_and_bounded() {
        for actor in [BOT, SYSTEM] {
            given_dialog()
                .when(actor, C::SaveDraft { text: s("x") })
                .then_refused(OPERATORS_ONLY);
            given_dialog()
                .when(actor, C::ClearDraft)
                .then_refused(OPERATORS_ONLY);
        }
        given_dialog()
            .when(
                O1,
                C::SaveDraft {
                    text: "d".repeat(10_001),
                },
            )
            .then_invalid("text");
    }
}
