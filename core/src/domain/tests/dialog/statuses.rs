//! Delivery statuses from the channel (F3.6) and the operators' read marks (F4.3, F3.9).

use super::*;
use crate::domain::dialog::Delivery;

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

/// F3.6, F6.5: an operator sends a failed message again; the delivery worker takes it as a new
/// one.
mod resend {
    use super::*;

    fn resent(n: u128) -> Event {
        Event::MessageResent(MessageResent {
            message: message(n),
        })
    }

    fn resend(n: u128) -> C {
        C::ResendMessage {
            message: message(n),
        }
    }

    /// Message 2 (the operator O1's, in O1's dialog) failed with a channel error.
    fn with_failed() -> DialogSpec {
        given([
            registered(),
            assigned(O1_ID, None),
            queued(2, MessageAuthor::Operator(O1_ID)),
            failed_with(2, FailureReason::ChannelError),
        ])
    }

    #[test]
    fn f3_6_a_failed_message_is_queued_again_and_may_fail_and_be_sent_after() {
        let mut dialog = with_failed();
        dialog.when(O1, resend(2)).then_events([resent(2)]);
        assert_eq!(dialog.dialog.delivery(message(2)), Some(Delivery::Queued));
        assert_eq!(dialog.dialog.failure(message(2)), None);
        // Queued again: a second resend is refused until it fails again.
        dialog.when(O1, resend(2)).then_invalid("message");
        dialog
            .when(
                CONNECTOR,
                C::MarkFailed {
                    message: message(2),
                    reason: FailureReason::ChannelError,
                    detail: s("boom"),
                    retry_after_secs: None,
                },
            )
            .then_events([failed_with(2, FailureReason::ChannelError)]);
        dialog.when(A, resend(2)).then_events([resent(2)]);
        dialog
            .when(
                CONNECTOR,
                C::MarkSent {
                    message: message(2),
                    external_id: s("out-2"),
                },
            )
            .then_events([Event::MessageSent(MessageSent {
                message: message(2),
                external_id: s("out-2"),
            })]);
        dialog.when(O1, resend(2)).then_invalid("message");
    }

    #[test]
    fn f3_6_only_a_failed_outbound_message_is_resent() {
        let mut dialog = given([registered(), received(1), queued(2, MessageAuthor::Bot)]);
        // Queued, not failed.
        dialog.when(A, resend(2)).then_invalid("message");
        // A client's message, and a message the dialog never had.
        dialog
            .when(A, resend(1))
            .then_refused(unknown("message", message(1)));
        dialog
            .when(A, resend(9))
            .then_refused(unknown("message", message(9)));
        // A bot message that failed is resent too.
        dialog.and([failed_with(2, FailureReason::ChannelError)]);
        dialog.when(A, resend(2)).then_events([resent(2)]);
    }

    #[test]
    fn f6_5_a_rate_limited_failure_is_retried_by_the_worker_not_by_hand() {
        let mut dialog = given([
            registered(),
            queued(2, MessageAuthor::Bot),
            failed_with(2, FailureReason::RateLimited),
        ]);
        dialog.when(A, resend(2)).then_invalid("message");
        dialog.when(A, C::ResendLastFailed).then_nothing();
    }

    #[test]
    fn f4_5_nothing_is_resent_to_a_blocked_client() {
        let mut dialog = with_failed();
        dialog.and([blocked()]);
        dialog.when(O1, resend(2)).then_refused(Refusal::Blocked);
        dialog.when(O1, C::ResendLastFailed).then_nothing();
    }

    #[test]
    fn f12_only_who_may_write_in_the_dialog_resends() {
        let mut dialog = with_failed();
        // O2 may not see O1's dialog; the channel side does not resend.
        dialog.when(O2, resend(2)).then_refused(NOT_YOURS);
        dialog.when(O2, C::ResendLastFailed).then_refused(NOT_YOURS);
        dialog
            .when(CONNECTOR, resend(2))
            .then_refused(OPERATORS_ONLY);
        dialog.when(BOT, resend(2)).then_refused(OPERATORS_ONLY);
        dialog.when(O1, resend(2)).then_events([resent(2)]);
    }

    #[test]
    fn f6_5_resend_last_failed_takes_the_last_outbound_message_only() {
        let mut dialog = with_failed();
        // The last outbound message (3) did not fail: nothing, though 2 did.
        dialog.and([queued(3, MessageAuthor::Operator(O1_ID))]);
        dialog.when(O1, C::ResendLastFailed).then_nothing();
        dialog.and([failed_with(3, FailureReason::BlockedByClient)]);
        dialog
            .when(O1, C::ResendLastFailed)
            .then_events([resent(3)]);
        // Queued again: nothing more.
        dialog.when(O1, C::ResendLastFailed).then_nothing();
        // A dialog with no outbound message.
        given([registered(), received(1)])
            .when(A, C::ResendLastFailed)
            .then_nothing();
    }
}
