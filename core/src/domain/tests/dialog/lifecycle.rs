//! The switches (close, pin, block F4.5, blacklist F4.6, the bot F4.7) and deleting the client
//! (F4.8).

use super::*;

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

/// F6.6: "delete unsubscribed" deletes a client who blocked the bot or whom we blocked, and no
/// other.
mod delete_unsubscribed {
    use super::*;

    #[test]
    fn f6_6_a_client_who_blocked_the_bot_is_deleted() {
        let mut dialog = given([
            registered(),
            queued(2, MessageAuthor::Bot),
            failed_with(2, FailureReason::BlockedByClient),
        ]);
        dialog
            .when(O1, C::DeleteUnsubscribed)
            .then_refused(NEEDS_DELETE);
        dialog
            .when(D, C::DeleteUnsubscribed)
            .then_events([deleted()]);
        assert!(dialog.dialog.deleted);
    }

    #[test]
    fn f6_6_a_client_we_blocked_is_deleted() {
        given([registered(), blocked()])
            .when(D, C::DeleteUnsubscribed)
            .then_events([deleted()]);
    }

    #[test]
    fn f6_6_other_clients_stay() {
        // Never blocked; a last failure of another kind; a block by the client followed by a
        // message that went out; a client we unblocked.
        for events in [
            vec![registered(), received(1)],
            vec![
                registered(),
                queued(2, MessageAuthor::Bot),
                failed_with(2, FailureReason::ChannelError),
            ],
            vec![
                registered(),
                queued(2, MessageAuthor::Bot),
                failed_with(2, FailureReason::BlockedByClient),
                queued(3, MessageAuthor::Bot),
            ],
            vec![
                registered(),
                blocked(),
                Event::ClientUnblocked(ClientUnblocked {}),
            ],
        ] {
            given(events).when(D, C::DeleteUnsubscribed).then_nothing();
        }
    }
}
