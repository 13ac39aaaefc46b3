//! The Dialog aggregate, command by command: given events, when a command, then events or a
//! refusal. Tests named `f…` check the rule of FEATURES.md they are named after.

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

mod register {
    use super::*;

    #[test]
    fn f5_2_inbound_traffic_registers_the_client_with_its_source() {
        let source = Source {
            platform: Some(s("instagram")),
            campaign: Some(s("black-friday")),
            utm: vec![(s("utm_source"), s("vk"))],
            ..Source::default()
        };
        given([])
            .when(
                CONNECTOR,
                C::Register {
                    profile: profile(),
                    source: source.clone(),
                    identity: Some(telegram_identity()),
                },
            )
            .then_events([Event::DialogRegistered(DialogRegistered {
                profile: profile(),
                source,
                identity: Some(telegram_identity()),
            })]);
    }

    #[test]
    fn f5_1_an_operator_registers_a_client_by_phone() {
        let by_phone = ClientProfile {
            phone: Some(s("+7 (999) 123-45-67")),
            ..ClientProfile::default()
        };
        let mut dialog = given([]);
        dialog
            .when(
                O1,
                C::Register {
                    profile: by_phone.clone(),
                    source: Source::default(),
                    identity: None,
                },
            )
            .then_events([Event::DialogRegistered(DialogRegistered {
                profile: by_phone,
                source: Source::default(),
                identity: None,
            })]);
        assert!(dialog.dialog.exists);
        assert!(dialog.dialog.identities.is_empty());
    }

    #[test]
    fn f5_1_an_operator_registers_a_client_by_email() {
        let by_email = ClientProfile {
            email: Some(s("vasya@example.com")),
            ..ClientProfile::default()
        };
        let answer = given([])
            .when(
                O1,
                C::Register {
                    profile: by_email,
                    source: Source::default(),
                    identity: None,
                },
            )
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    #[test]
    fn f5_1_by_hand_needs_a_phone_an_email_or_an_identity() {
        given([])
            .when(
                O1,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: None,
                },
            )
            .then_invalid("phone");
    }

    #[test]
    fn the_system_may_register_a_client_without_contacts() {
        let answer = given([])
            .when(
                SYSTEM,
                C::Register {
                    profile: ClientProfile::default(),
                    source: Source::default(),
                    identity: None,
                },
            )
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    #[test]
    fn a_second_registration_is_refused() {
        given_dialog()
            .when(
                CONNECTOR,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: Some(telegram_identity()),
                },
            )
            .then_refused(Refusal::DialogExists);
    }

    #[test]
    fn a_stranger_cannot_register() {
        given([])
            .when(
                STRANGER,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: Some(telegram_identity()),
                },
            )
            .then_refused(NOT_A_MEMBER);
    }

    fn register_with(profile: ClientProfile) -> C {
        C::Register {
            profile,
            source: Source::default(),
            identity: Some(telegram_identity()),
        }
    }

    #[test]
    fn invalid_profile_fields_are_named() {
        let cases: Vec<(&str, ClientProfile)> = vec![
            (
                "name",
                ClientProfile {
                    name: Some("n".repeat(201)),
                    ..ClientProfile::default()
                },
            ),
            (
                "name",
                ClientProfile {
                    name: Some(s("  ")),
                    ..ClientProfile::default()
                },
            ),
            (
                "phone",
                ClientProfile {
                    phone: Some(s("call me")),
                    ..ClientProfile::default()
                },
            ),
            (
                "phone",
                ClientProfile {
                    phone: Some(s("+7 12")),
                    ..ClientProfile::default()
                },
            ),
            (
                "phone",
                ClientProfile {
                    phone: Some("1".repeat(33)),
                    ..ClientProfile::default()
                },
            ),
            (
                "email",
                ClientProfile {
                    email: Some(s("vasya.example.com")),
                    ..ClientProfile::default()
                },
            ),
            (
                "avatar_url",
                ClientProfile {
                    avatar_url: Some("u".repeat(2049)),
                    ..ClientProfile::default()
                },
            ),
            (
                "country",
                ClientProfile {
                    country: Some(s("RUS")),
                    ..ClientProfile::default()
                },
            ),
            (
                "language",
                ClientProfile {
                    language: Some(s("")),
                    ..ClientProfile::default()
                },
            ),
        ];
        for (field, profile) in cases {
            given([])
                .when(CONNECTOR, register_with(profile))
                .then_invalid(field);
        }
    }

    #[test]
    fn the_identity_must_be_of_a_connected_channel_of_its_kind() {
        let mut on_unknown = telegram_identity();
        on_unknown.channel = UNKNOWN_CHANNEL;
        given([])
            .when(
                CONNECTOR,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: Some(on_unknown),
                },
            )
            .then_refused(unknown("channel", UNKNOWN_CHANNEL));

        let mut wrong_kind = telegram_identity();
        wrong_kind.kind = ChannelKind::Vk;
        given([])
            .when(
                CONNECTOR,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: Some(wrong_kind),
                },
            )
            .then_invalid("identity");

        let mut empty = telegram_identity();
        empty.external_id = s(" ");
        given([])
            .when(
                CONNECTOR,
                C::Register {
                    profile: profile(),
                    source: Source::default(),
                    identity: Some(empty),
                },
            )
            .then_invalid("external_id");
    }
}

mod profile_and_identities {
    use super::*;

    #[test]
    fn update_profile() {
        let new = ClientProfile {
            name: Some(s("Vasily")),
            email: Some(s("v@example.com")),
            country: Some(s("RU")),
            ..ClientProfile::default()
        };
        given_dialog()
            .when(
                O1,
                C::UpdateProfile {
                    profile: new.clone(),
                },
            )
            .then_events([Event::ClientProfileUpdated(ClientProfileUpdated {
                profile: new,
            })]);
    }

    #[test]
    fn update_profile_checks_the_fields() {
        given_dialog()
            .when(
                O1,
                C::UpdateProfile {
                    profile: ClientProfile {
                        email: Some(s("nope")),
                        ..ClientProfile::default()
                    },
                },
            )
            .then_invalid("email");
    }

    #[test]
    fn link_identity_then_again_is_a_no_op() {
        let mut dialog = given_dialog();
        let link = C::LinkIdentity {
            identity: whatsapp_identity(),
            display_name: Some(s("Vasya")),
            avatar_url: None,
        };
        dialog
            .when(A, link.clone())
            .then_events([Event::IdentityLinked(IdentityLinked {
                identity: whatsapp_identity(),
                display_name: Some(s("Vasya")),
                avatar_url: None,
            })]);
        assert!(dialog.dialog.has_channel(WHATSAPP));
        dialog.when(A, link).then_nothing();
    }

    #[test]
    fn link_identity_of_an_unknown_channel_is_refused() {
        let mut identity = whatsapp_identity();
        identity.channel = UNKNOWN_CHANNEL;
        given_dialog()
            .when(
                A,
                C::LinkIdentity {
                    identity,
                    display_name: None,
                    avatar_url: None,
                },
            )
            .then_refused(unknown("channel", UNKNOWN_CHANNEL));
    }

    #[test]
    fn link_identity_of_the_wrong_kind_is_refused() {
        let mut identity = whatsapp_identity();
        identity.kind = ChannelKind::WhatsappQr;
        given_dialog()
            .when(
                A,
                C::LinkIdentity {
                    identity,
                    display_name: None,
                    avatar_url: None,
                },
            )
            .then_invalid("identity");
    }

    #[test]
    fn f4_9_unlink_keeps_the_client_and_closes_the_channel() {
        let mut dialog = given_dialog();
        dialog.and([whatsapp_linked()]);
        dialog
            .when(
                O1,
                C::UnlinkIdentity {
                    identity: telegram_identity(),
                },
            )
            .then_events([Event::IdentityUnlinked(IdentityUnlinked {
                identity: telegram_identity(),
            })]);
        assert!(dialog.dialog.exists && !dialog.dialog.deleted);
        dialog
            .when(
                O1,
                C::UnlinkIdentity {
                    identity: telegram_identity(),
                },
            )
            .then_nothing();
        dialog
            .when(O1, send(3))
            .then_refused(Refusal::ChannelUnavailable(TELEGRAM));
        dialog
            .when(CONNECTOR, receive(4))
            .then_refused(Refusal::ChannelUnavailable(TELEGRAM));
        let answer = dialog
            .when(O1, send_via(5, WHATSAPP, "still here"))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }
}

mod merge {
    use super::*;

    #[test]
    fn f4_9_the_absorbed_dialog_is_merged_into_the_survivor_and_takes_no_more_commands() {
        let mut absorbed = dialog_with_traffic();
        absorbed
            .when(
                A,
                C::MergeInto {
                    survivor: OTHER_DIALOG,
                },
            )
            .then_events([Event::DialogMergedInto(DialogMergedInto {
                survivor: OTHER_DIALOG,
            })]);
        for command in every_dialog_command() {
            let kind = dialog_command_kind(&command);
            for actor in [A, SYSTEM, CONNECTOR] {
                let answer = absorbed.when(actor, command.clone()).answer();
                assert_eq!(answer, Err(Refusal::MergedInto(OTHER_DIALOG)), "{kind}");
            }
        }
    }

    #[test]
    fn f4_9_the_survivor_takes_over_the_identities() {
        let mut survivor = given_dialog();
        survivor
            .when(
                A,
                C::AcceptMerge {
                    absorbed: OTHER_DIALOG,
                    identities: vec![whatsapp_identity()],
                },
            )
            .then_events([Event::DialogsMerged(DialogsMerged {
                absorbed: OTHER_DIALOG,
                identities: vec![whatsapp_identity()],
            })]);
        assert!(survivor.dialog.has_channel(TELEGRAM));
        assert!(survivor.dialog.has_channel(WHATSAPP));
        let answer = survivor
            .when(A, send_via(1, WHATSAPP, "one timeline"))
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    #[test]
    fn merging_needs_an_admin() {
        for actor in [O1, D, BOT, CONNECTOR] {
            given_dialog()
                .when(
                    actor,
                    C::MergeInto {
                        survivor: OTHER_DIALOG,
                    },
                )
                .then_refused(ADMINS_ONLY);
            given_dialog()
                .when(
                    actor,
                    C::AcceptMerge {
                        absorbed: OTHER_DIALOG,
                        identities: vec![],
                    },
                )
                .then_refused(ADMINS_ONLY);
        }
        let answer = given_dialog()
            .when(
                SYSTEM,
                C::MergeInto {
                    survivor: OTHER_DIALOG,
                },
            )
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }
}

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

mod delivery_status {
    use super::*;

    fn sent(n: u128) -> C {
        C::MarkSent {
            message: message(n),
            external_id: format!("out-{n}"),
        }
    }

    fn failed(n: u128) -> C {
        C::MarkFailed {
            message: message(n),
            reason: FailureReason::RateLimited,
            detail: s("Too Many Requests: retry after 5"),
            retry_after_secs: Some(5),
        }
    }

    fn failed_event(n: u128) -> Event {
        Event::MessageFailed(MessageFailed {
            message: message(n),
            reason: FailureReason::RateLimited,
            detail: s("Too Many Requests: retry after 5"),
            retry_after_secs: Some(5),
        })
    }

    fn with_outbound() -> DialogSpec {
        given([registered(), queued(2, MessageAuthor::Operator(O1_ID))])
    }

    #[test]
    fn f3_6_statuses_move_forward_sent_delivered_read() {
        let mut dialog = with_outbound();
        dialog
            .when(CONNECTOR, sent(2))
            .then_events([Event::MessageSent(MessageSent {
                message: message(2),
                external_id: s("out-2"),
            })]);
        dialog
            .when(
                CONNECTOR,
                C::MarkDelivered {
                    message: message(2),
                },
            )
            .then_events([Event::MessageDelivered(MessageDelivered {
                message: message(2),
            })]);
        dialog
            .when(
                CONNECTOR,
                C::MarkReadByClient {
                    message: message(2),
                },
            )
            .then_events([Event::MessageRead(MessageRead {
                message: message(2),
            })]);
    }

    #[test]
    fn f3_6_a_late_status_after_read_is_a_no_op() {
        let mut dialog = with_outbound();
        dialog.and([Event::MessageRead(MessageRead {
            message: message(2),
        })]);
        dialog
            .when(
                CONNECTOR,
                C::MarkDelivered {
                    message: message(2),
                },
            )
            .then_nothing();
        dialog.when(CONNECTOR, sent(2)).then_nothing();
        dialog
            .when(
                CONNECTOR,
                C::MarkReadByClient {
                    message: message(2),
                },
            )
            .then_nothing();
        dialog.when(CONNECTOR, failed(2)).then_nothing();
    }

    #[test]
    fn f3_6_failed_after_delivered_is_a_no_op() {
        let mut dialog = with_outbound();
        dialog.and([Event::MessageDelivered(MessageDelivered {
            message: message(2),
        })]);
        dialog.when(CONNECTOR, failed(2)).then_nothing();
    }

    #[test]
    fn f3_6_failed_before_delivery_then_a_retry_succeeds() {
        let mut dialog = with_outbound();
        dialog
            .when(CONNECTOR, failed(2))
            .then_events([failed_event(2)]);
        dialog.when(CONNECTOR, failed(2)).then_nothing();
        // F6.5: the resend went through.
        dialog
            .when(CONNECTOR, sent(2))
            .then_events([Event::MessageSent(MessageSent {
                message: message(2),
                external_id: s("out-2"),
            })]);
        // Sent, not yet delivered: a failure is still news.
        dialog
            .when(CONNECTOR, failed(2))
            .then_events([failed_event(2)]);
    }

    #[test]
    fn f3_6_a_status_for_an_unknown_message_is_refused() {
        let mut dialog = with_outbound();
        for command in [
            sent(9),
            C::MarkDelivered {
                message: message(9),
            },
            C::MarkReadByClient {
                message: message(9),
            },
            failed(9),
        ] {
            dialog
                .when(CONNECTOR, command)
                .then_refused(unknown("message", message(9)));
        }
        // An inbound message has no delivery status either.
        dialog.and([received(1)]);
        dialog
            .when(
                CONNECTOR,
                C::MarkDelivered {
                    message: message(1),
                },
            )
            .then_refused(unknown("message", message(1)));
    }

    #[test]
    fn f3_6_operators_cannot_report_statuses() {
        for command in [
            sent(2),
            C::MarkDelivered {
                message: message(2),
            },
            C::MarkReadByClient {
                message: message(2),
            },
            failed(2),
        ] {
            for actor in [A, O1] {
                with_outbound()
                    .when(actor, command.clone())
                    .then_refused(CHANNEL_SIDE_ONLY);
            }
            let answer = with_outbound().when(SYSTEM, command).answer();
            assert!(answer.is_ok(), "{answer:?}");
        }
    }

    #[test]
    fn sent_needs_the_channels_id() {
        with_outbound()
            .when(
                CONNECTOR,
                C::MarkSent {
                    message: message(2),
                    external_id: s(""),
                },
            )
            .then_invalid("external_id");
    }

    #[test]
    fn the_failure_detail_is_bounded() {
        with_outbound()
            .when(
                CONNECTOR,
                C::MarkFailed {
                    message: message(2),
                    reason: FailureReason::ChannelError,
                    detail: "x".repeat(2001),
                    retry_after_secs: None,
                },
            )
            .then_invalid("detail");
    }

    #[test]
    fn a_status_older_than_the_dialogs_memory_is_taken_on_trust() {
        let mut dialog = given_dialog();
        dialog.and((0..=RECENT_MESSAGES as u128).map(|n| queued(100 + n, MessageAuthor::Bot)));
        // The first message was forgotten; its status is no longer checked.
        assert_eq!(dialog.dialog.delivery(message(100)), None);
        dialog
            .when(
                CONNECTOR,
                C::MarkDelivered {
                    message: message(100),
                },
            )
            .then_events([Event::MessageDelivered(MessageDelivered {
                message: message(100),
            })]);
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

mod assignment {
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
}

mod switches {
    use super::*;

    /// (switch on, switch off, switched on, switched off, is on).
    type Switch = (C, C, Event, Event, fn(&DialogSpec) -> bool);

    fn switches() -> Vec<Switch> {
        vec![
            (
                C::Close,
                C::Reopen,
                closed(),
                reopened(ReopenCause::Operator),
                |d| d.dialog.closed,
            ),
            (
                C::Pin,
                C::Unpin,
                Event::DialogPinned(DialogPinned {}),
                Event::DialogUnpinned(DialogUnpinned {}),
                |d| d.dialog.pinned,
            ),
            (
                C::Block,
                C::Unblock,
                blocked(),
                Event::ClientUnblocked(ClientUnblocked {}),
                |d| d.dialog.blocked,
            ),
            (
                C::Blacklist,
                C::Unblacklist,
                Event::ClientBlacklisted(ClientBlacklisted {}),
                Event::ClientUnblacklisted(ClientUnblacklisted {}),
                |d| d.dialog.blacklisted,
            ),
            (
                C::PauseBot,
                C::ResumeBot,
                Event::BotPaused(BotPaused {}),
                Event::BotResumed(BotResumed {}),
                |d| d.dialog.bot_paused,
            ),
        ]
    }

    #[test]
    fn each_switch_toggles_and_repeats_are_no_ops() {
        for (on, off, switched_on, switched_off, is_on) in switches() {
            let mut dialog = given_dialog();
            dialog.when(O1, off.clone()).then_nothing();
            dialog.when(O1, on.clone()).then_events([switched_on]);
            assert!(is_on(&dialog));
            dialog.when(O1, on).then_nothing();
            dialog.when(O1, off.clone()).then_events([switched_off]);
            assert!(!is_on(&dialog));
            dialog.when(O1, off).then_nothing();
        }
    }

    #[test]
    fn f4_7_pause_and_resume_the_bot() {
        let mut dialog = given_dialog();
        dialog.when(O1, C::ResumeBot).then_nothing();
        dialog
            .when(O1, C::PauseBot)
            .then_events([Event::BotPaused(BotPaused {})]);
        assert!(dialog.dialog.bot_paused);
        dialog.when(O1, C::PauseBot).then_nothing();
        dialog
            .when(O1, C::ResumeBot)
            .then_events([Event::BotResumed(BotResumed {})]);
        assert!(!dialog.dialog.bot_paused);
        dialog.when(O1, C::ResumeBot).then_nothing();
    }

    #[test]
    fn f4_7_start_a_bot_scenario() {
        given_dialog()
            .when(
                O1,
                C::StartScenario {
                    scenario: s("reactivation"),
                },
            )
            .then_events([Event::BotScenarioStarted(BotScenarioStarted {
                scenario: s("reactivation"),
            })]);
        given_dialog()
            .when(BOT, C::StartScenario { scenario: s("") })
            .then_invalid("scenario");
    }

    #[test]
    fn f4_5_block_refuses_sends_inbound_messages_and_scenarios_and_unblock_restores() {
        let mut dialog = given([registered(), received(1)]);
        dialog.when(A, C::Block).then_events([blocked()]);
        dialog.when(O1, send(2)).then_refused(Refusal::Blocked);
        dialog.when(BOT, send(2)).then_refused(Refusal::Blocked);
        dialog
            .when(CONNECTOR, receive(3))
            .then_refused(Refusal::Blocked);
        dialog
            .when(
                BOT,
                C::StartScenario {
                    scenario: s("welcome"),
                },
            )
            .then_refused(Refusal::Blocked);

        dialog
            .when(A, C::Unblock)
            .then_events([Event::ClientUnblocked(ClientUnblocked {})]);
        dialog
            .when(O1, send(2))
            .then_events([queued(2, MessageAuthor::Operator(O1_ID))]);
        dialog
            .when(CONNECTOR, receive(3))
            .then_events([received(3)]);
        dialog
            .when(
                BOT,
                C::StartScenario {
                    scenario: s("welcome"),
                },
            )
            .then_events([Event::BotScenarioStarted(BotScenarioStarted {
                scenario: s("welcome"),
            })]);
    }

    #[test]
    fn f4_5_statuses_of_earlier_messages_still_arrive_while_blocked() {
        given([registered(), queued(2, MessageAuthor::Bot), blocked()])
            .when(
                CONNECTOR,
                C::MarkDelivered {
                    message: message(2),
                },
            )
            .then_events([Event::MessageDelivered(MessageDelivered {
                message: message(2),
            })]);
    }

    #[test]
    fn f4_6_a_blacklisted_client_can_still_talk() {
        let mut dialog = given_dialog();
        dialog
            .when(A, C::Blacklist)
            .then_events([Event::ClientBlacklisted(ClientBlacklisted {})]);
        dialog
            .when(CONNECTOR, receive(1))
            .then_events([received(1)]);
        dialog
            .when(O1, send(2))
            .then_events([queued(2, MessageAuthor::Operator(O1_ID))]);
        dialog
            .when(
                BOT,
                C::StartScenario {
                    scenario: s("welcome"),
                },
            )
            .then_events([Event::BotScenarioStarted(BotScenarioStarted {
                scenario: s("welcome"),
            })]);
    }
}

mod read_marks {
    use super::*;

    #[test]
    fn f4_3_read_marks_are_per_operator() {
        let mut dialog = given([registered(), received(1)]);
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, Some(message(1)))]);
        assert!(!dialog.unread_for(O1_ID));
        assert!(dialog.unread_for(A_ID), "O1's read mark is not A's");
        assert!(dialog.unread_for(O2_ID));
        dialog
            .when(A, C::MarkRead)
            .then_events([read_marked(A_ID, Some(message(1)))]);
        assert!(!dialog.unread_for(A_ID));
    }

    #[test]
    fn f4_3_mark_read_twice_changes_nothing_the_second_time() {
        let mut dialog = given([registered(), received(1)]);
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, Some(message(1)))]);
        dialog.when(O1, C::MarkRead).then_nothing();
    }

    #[test]
    fn f4_3_mark_read_after_a_new_client_message_reads_up_to_it() {
        let mut dialog = given([
            registered(),
            received(1),
            read_marked(O1_ID, Some(message(1))),
        ]);
        dialog
            .when(CONNECTOR, receive(2))
            .then_events([received(2)]);
        assert!(dialog.unread_for(O1_ID));
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, Some(message(2)))]);
        assert!(!dialog.unread_for(O1_ID));
    }

    #[test]
    fn f4_3_reading_clears_unanswered() {
        let mut dialog = given([registered(), received(1)]);
        assert!(dialog.dialog.unanswered);
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, Some(message(1)))]);
        assert!(!dialog.dialog.unanswered);
    }

    #[test]
    fn f4_3_mark_unread_affects_only_the_caller() {
        let mut dialog = given([
            registered(),
            received(1),
            read_marked(O1_ID, Some(message(1))),
            read_marked(A_ID, Some(message(1))),
        ]);
        dialog
            .when(O1, C::MarkUnread)
            .then_events([marked_unread(O1_ID)]);
        assert!(dialog.unread_for(O1_ID));
        assert!(!dialog.unread_for(A_ID));
        assert!(!dialog.dialog.unanswered, "unread is not unanswered");
        dialog.when(O1, C::MarkUnread).then_nothing();
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, Some(message(1)))]);
        assert!(!dialog.unread_for(O1_ID));
    }

    #[test]
    fn f3_9_mark_unread_then_read_on_a_dialog_without_messages() {
        let mut dialog = given_dialog();
        dialog.when(O1, C::MarkRead).then_nothing();
        dialog
            .when(O1, C::MarkUnread)
            .then_events([marked_unread(O1_ID)]);
        assert!(dialog.unread_for(O1_ID));
        dialog
            .when(O1, C::MarkRead)
            .then_events([read_marked(O1_ID, None)]);
        assert!(!dialog.unread_for(O1_ID));
    }

    #[test]
    fn read_marks_are_for_operators_only() {
        for actor in [BOT, SYSTEM, CONNECTOR] {
            let mut dialog = given([registered(), received(1)]);
            dialog.when(actor, C::MarkRead).then_refused(OPERATORS_ONLY);
            dialog
                .when(actor, C::MarkUnread)
                .then_refused(OPERATORS_ONLY);
        }
    }
}

mod labels {
    use super::*;

    #[test]
    fn f7_3_tags_are_added_once_and_removed() {
        let mut dialog = given_dialog();
        dialog
            .when(
                O1,
                C::AddTags {
                    tags: vec![TAG, TAG, TAG2],
                },
            )
            .then_events([Event::TagsAdded(TagsAdded {
                tags: vec![TAG, TAG2],
            })]);
        dialog
            .when(O1, C::AddTags { tags: vec![TAG] })
            .then_nothing();
        dialog.when(O1, C::AddTags { tags: vec![] }).then_nothing();
        dialog
            .when(
                O1,
                C::RemoveTags {
                    tags: vec![TAG, UNKNOWN_TAG, TAG],
                },
            )
            .then_events([Event::TagsRemoved(TagsRemoved { tags: vec![TAG] })]);
        assert_eq!(dialog.dialog.tags, BTreeSet::from([TAG2]));
        dialog
            .when(O1, C::RemoveTags { tags: vec![TAG] })
            .then_nothing();
        dialog
            .when(
                O1,
                C::AddTags {
                    tags: vec![TAG, TAG2],
                },
            )
            .then_events([Event::TagsAdded(TagsAdded { tags: vec![TAG] })]);
    }

    #[test]
    fn f7_3_an_unknown_tag_is_refused_and_nothing_is_added() {
        let mut dialog = given_dialog();
        dialog
            .when(
                O1,
                C::AddTags {
                    tags: vec![TAG, UNKNOWN_TAG],
                },
            )
            .then_refused(unknown("tag", UNKNOWN_TAG));
        assert!(dialog.dialog.tags.is_empty());
    }

    #[test]
    fn f7_3_lists() {
        let mut dialog = given_dialog();
        dialog
            .when(
                O1,
                C::JoinLists {
                    lists: vec![LIST, UNKNOWN_LIST],
                },
            )
            .then_refused(unknown("list", UNKNOWN_LIST));
        dialog
            .when(
                O1,
                C::JoinLists {
                    lists: vec![LIST, LIST],
                },
            )
            .then_events([Event::ListsJoined(ListsJoined { lists: vec![LIST] })]);
        dialog
            .when(O1, C::JoinLists { lists: vec![LIST] })
            .then_nothing();
        dialog
            .when(O1, C::LeaveLists { lists: vec![LIST] })
            .then_events([Event::ListsLeft(ListsLeft { lists: vec![LIST] })]);
        dialog
            .when(O1, C::LeaveLists { lists: vec![LIST] })
            .then_nothing();
    }

    #[test]
    fn f1_5_folders() {
        let mut dialog = given_dialog();
        dialog
            .when(
                O1,
                C::JoinFolders {
                    folders: vec![UNKNOWN_FOLDER],
                },
            )
            .then_refused(unknown("folder", UNKNOWN_FOLDER));
        dialog
            .when(
                O1,
                C::JoinFolders {
                    folders: vec![FOLDER],
                },
            )
            .then_events([Event::FoldersJoined(FoldersJoined {
                folders: vec![FOLDER],
            })]);
        dialog
            .when(
                O1,
                C::JoinFolders {
                    folders: vec![FOLDER],
                },
            )
            .then_nothing();
        dialog
            .when(
                O1,
                C::LeaveFolders {
                    folders: vec![FOLDER],
                },
            )
            .then_events([Event::FoldersLeft(FoldersLeft {
                folders: vec![FOLDER],
            })]);
        dialog
            .when(
                O1,
                C::LeaveFolders {
                    folders: vec![FOLDER],
                },
            )
            .then_nothing();
    }
}

mod variables {
    use super::*;

    fn set(name: &str, value: &str) -> C {
        C::SetVariable {
            name: s(name),
            value: s(value),
        }
    }

    #[test]
    fn f7_2_free_variables_take_any_value() {
        let mut dialog = given_dialog();
        for name in ["city", "not-defined-anywhere"] {
            dialog
                .when(O1, set(name, "Kazan"))
                .then_events([Event::VariableSet(VariableSet {
                    name: s(name),
                    value: s("Kazan"),
                })]);
            dialog.when(O1, set(name, "Kazan")).then_nothing();
        }
        dialog
            .when(O1, set("city", ""))
            .then_events([Event::VariableSet(VariableSet {
                name: s("city"),
                value: s(""),
            })]);
    }

    #[test]
    fn f7_2_a_choice_variable_takes_one_of_its_choices() {
        let mut dialog = given_dialog();
        dialog
            .when(O1, set(SIZE, "M"))
            .then_events([Event::VariableSet(VariableSet {
                name: s(SIZE),
                value: s("M"),
            })]);
        dialog.when(O1, set(SIZE, "XL")).then_invalid("value");
        assert_eq!(dialog.dialog.variables.get(SIZE), Some(&s("M")));
    }

    #[test]
    fn variable_name_and_value_are_bounded() {
        given_dialog().when(O1, set(" ", "x")).then_invalid("name");
        given_dialog()
            .when(O1, set(&"n".repeat(101), "x"))
            .then_invalid("name");
        given_dialog()
            .when(O1, set("city", &"v".repeat(4097)))
            .then_invalid("value");
    }

    #[test]
    fn clear_variable() {
        let mut dialog = given([
            registered(),
            Event::VariableSet(VariableSet {
                name: s("city"),
                value: s("Kazan"),
            }),
        ]);
        dialog
            .when(O1, C::ClearVariable { name: s("city") })
            .then_events([Event::VariableCleared(VariableCleared { name: s("city") })]);
        dialog
            .when(O1, C::ClearVariable { name: s("city") })
            .then_nothing();
    }
}

mod deal {
    use super::*;

    #[test]
    fn f7_4_the_deal_moves_through_the_pipeline() {
        let mut dialog = given_dialog();
        dialog
            .when(
                O1,
                C::ChangeDealStage {
                    pipeline: PIPELINE,
                    stage: STAGE_NEW,
                },
            )
            .then_events([Event::DealStageChanged(DealStageChanged {
                pipeline: PIPELINE,
                stage: STAGE_NEW,
                previous: None,
            })]);
        dialog
            .when(
                O1,
                C::ChangeDealStage {
                    pipeline: PIPELINE,
                    stage: STAGE_NEW,
                },
            )
            .then_nothing();
        dialog
            .when(
                O1,
                C::ChangeDealStage {
                    pipeline: PIPELINE,
                    stage: STAGE_WON,
                },
            )
            .then_events([Event::DealStageChanged(DealStageChanged {
                pipeline: PIPELINE,
                stage: STAGE_WON,
                previous: Some(STAGE_NEW),
            })]);
    }

    #[test]
    fn unknown_pipeline_or_stage() {
        given_dialog()
            .when(
                O1,
                C::ChangeDealStage {
                    pipeline: UNKNOWN_PIPELINE,
                    stage: STAGE_NEW,
                },
            )
            .then_refused(unknown("pipeline", UNKNOWN_PIPELINE));
        given_dialog()
            .when(
                O1,
                C::ChangeDealStage {
                    pipeline: PIPELINE,
                    stage: UNKNOWN_STAGE,
                },
            )
            .then_refused(unknown("stage", UNKNOWN_STAGE));
    }

    fn update(line: u8, channel: Option<ChannelId>, sales_sum_minor: i64) -> C {
        C::UpdateDeal {
            line,
            channel,
            sales_sum_minor,
            sales_count: 2,
        }
    }

    #[test]
    fn f7_4_update_the_deal() {
        given_dialog()
            .when(O1, update(2, Some(WHATSAPP), 150_000))
            .then_events([Event::DealUpdated(DealUpdated {
                line: 2,
                channel: Some(WHATSAPP),
                sales_sum_minor: 150_000,
                sales_count: 2,
            })]);
    }

    #[test]
    fn f7_4_invalid_deal_fields() {
        given_dialog()
            .when(O1, update(0, None, 0))
            .then_invalid("line");
        given_dialog()
            .when(O1, update(3, None, 0))
            .then_invalid("line");
        given_dialog()
            .when(O1, update(1, None, -1))
            .then_invalid("sales_sum_minor");
        given_dialog()
            .when(O1, update(1, Some(UNKNOWN_CHANNEL), 0))
            .then_refused(unknown("channel", UNKNOWN_CHANNEL));
    }
}

mod tasks_and_funnel {
    use super::*;

    #[test]
    fn f7_5_create_and_complete_a_task() {
        let due = Some(Timestamp::from_micros(NOW.as_micros() + 3_600_000_000));
        let mut dialog = given_dialog();
        dialog
            .when(O1, C::CompleteTask { task: TASK })
            .then_refused(unknown("task", TASK));
        dialog
            .when(
                O1,
                C::CreateTask {
                    task: TASK,
                    text: s("call back"),
                    due,
                },
            )
            .then_events([Event::TaskCreated(TaskCreated {
                task: TASK,
                text: s("call back"),
                due,
            })]);
        dialog
            .when(
                O1,
                C::CreateTask {
                    task: TASK,
                    text: s("again"),
                    due: None,
                },
            )
            .then_refused(Refusal::AlreadyExists {
                kind: "task",
                id: TASK.to_string(),
            });
        dialog
            .when(O1, C::CompleteTask { task: TASK })
            .then_events([Event::TaskCompleted(TaskCompleted { task: TASK })]);
        dialog
            .when(O1, C::CompleteTask { task: TASK })
            .then_nothing();
    }

    #[test]
    fn a_task_needs_text() {
        for text in [s(""), "t".repeat(2001)] {
            given_dialog()
                .when(
                    O1,
                    C::CreateTask {
                        task: TASK,
                        text,
                        due: None,
                    },
                )
                .then_invalid("text");
        }
    }

    #[test]
    fn f7_3_the_bot_moves_the_client_through_its_funnel() {
        given_dialog()
            .when(
                BOT,
                C::EnterFunnelBlock {
                    block: s("b7"),
                    block_name: s(""),
                },
            )
            .then_events([Event::FunnelBlockEntered(FunnelBlockEntered {
                block: s("b7"),
                block_name: s(""),
            })]);
        given_dialog()
            .when(
                BOT,
                C::EnterFunnelBlock {
                    block: s(""),
                    block_name: s("Welcome"),
                },
            )
            .then_invalid("block");
        given_dialog()
            .when(
                BOT,
                C::EnterFunnelBlock {
                    block: s("b7"),
                    block_name: "w".repeat(201),
                },
            )
            .then_invalid("block_name");
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

mod delete {
    use super::*;

    #[test]
    fn f4_8_delete_needs_the_permission() {
        for actor in [O1, O2, BOT, CONNECTOR, CLIENT] {
            given_dialog()
                .when(actor, C::Delete)
                .then_refused(NEEDS_DELETE);
        }
        for actor in [D, A, SYSTEM] {
            given_dialog()
                .when(actor, C::Delete)
                .then_events([deleted()]);
        }
    }

    #[test]
    fn f4_8_the_permission_does_not_reach_someone_elses_dialog() {
        given([registered(), assigned(O1_ID, None)])
            .when(D, C::Delete)
            .then_refused(NOT_YOURS);
    }

    #[test]
    fn f4_8_a_deleted_client_loses_personal_data_and_refuses_every_command() {
        let mut dialog = dialog_with_traffic();
        dialog.and([
            whatsapp_linked(),
            draft_saved(O1_ID, "x"),
            Event::VariableSet(VariableSet {
                name: s("city"),
                value: s("Kazan"),
            }),
        ]);
        dialog.when(D, C::Delete).then_events([deleted()]);
        assert!(dialog.dialog.deleted);
        assert!(dialog.dialog.identities.is_empty());
        assert!(dialog.dialog.variables.is_empty());
        assert!(dialog.dialog.drafts.is_empty());
        for command in every_dialog_command() {
            let kind = dialog_command_kind(&command);
            for actor in [A, D, SYSTEM, CONNECTOR] {
                let answer = dialog.when(actor, command.clone()).answer();
                assert_eq!(answer, Err(Refusal::Deleted), "{kind} by {actor:?}");
            }
        }
    }
}

/// Random sequences of commands from random callers; invariants after every step.
mod invariants {
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
}
