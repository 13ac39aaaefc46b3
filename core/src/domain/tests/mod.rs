//! Given/when/then tests of the domain (STYLE.md, cqrs-es): given these events, when this
//! command, then these events or this refusal. `support` is the harness and the standard
//! project; one file per aggregate; `regressions` holds tests of bugs found and fixed.

mod dialog;
mod identity;
mod project;
mod support;

mod regressions {
    use super::support::*;
    use crate::domain::dialog::DialogCommand as C;
    use crate::domain::project::ProjectCommand;
    use switchboard_schemas::events::*;
    use switchboard_schemas::*;

    const VK: ChannelId = ChannelId::from_u128(0xC3);

    /// F11.2, F3.1: one client writes from several channels into one dialog. Channels number
    /// their messages independently (Telegram's `message_id` and VK's message ids are small
    /// per-chat counters), so the same external id on another channel is another message, not a
    /// redelivery. `dialog::decide` (ReceiveMessage) dedups on the external id alone and drops it.
    #[test]
    fn f11_2_the_same_external_id_on_another_channel_is_a_new_message() {
        let vk_identity = ChannelIdentity {
            channel: VK,
            kind: ChannelKind::Vk,
            external_id: s("id1988"),
        };
        let mut dialog = given([
            registered(),
            Event::IdentityLinked(IdentityLinked {
                identity: vk_identity,
                display_name: None,
                avatar_url: None,
            }),
        ]);
        dialog.and_project([Event::ChannelConnected(ChannelConnected {
            channel: VK,
            kind: ChannelKind::Vk,
            name: s("club1"),
        })]);
        let inbound = |n: u128, channel: ChannelId| C::ReceiveMessage {
            message: message(n),
            channel,
            external_id: s("42"),
            text: s("hello"),
            attachments: vec![],
            reply_to: None,
            sent_at: NOW,
        };
        let answer = dialog.when(CONNECTOR, inbound(1, TELEGRAM)).answer();
        assert!(answer.is_ok(), "{answer:?}");
        if let Ok(events) = answer {
            dialog.and(events);
        }
        dialog
            .when(Actor::Connector(VK), inbound(2, VK))
            .then_events([Event::MessageReceived(MessageReceived {
                message: message(2),
                channel: VK,
                external_id: s("42"),
                text: s("hello"),
                attachments: vec![],
                reply_to: None,
                sent_at: NOW,
            })]);
        // A true redelivery on the same channel still changes nothing.
        dialog
            .when(Actor::Connector(VK), inbound(3, VK))
            .then_nothing();
    }

    /// F9.1 "0 < yellow": a zero yellow threshold is the yellow field's fault, and the refusal
    /// names the field for the answer (`Refusal::field`). `project::decide` (SetSlaThresholds)
    /// names `red_after_secs` for every violation.
    #[test]
    fn f9_1_a_zero_yellow_threshold_names_the_yellow_field() {
        given_project()
            .when(
                A,
                ProjectCommand::SetSlaThresholds {
                    yellow_after_secs: 0,
                    red_after_secs: 900,
                },
            )
            .then_invalid("yellow_after_secs");
    }

    const PAUSED: crate::domain::Refusal =
        crate::domain::Refusal::Forbidden("the bot is paused for this dialog");

    /// F4.7: a paused bot neither writes nor starts scenarios by itself; operators still can.
    #[test]
    fn f4_7_a_paused_bot_stays_quiet() {
        let mut dialog = given([registered(), received(1)]);
        dialog
            .when(O1, C::PauseBot)
            .then_events([Event::BotPaused(BotPaused {})]);
        dialog.when(BOT, send(2)).then_refused(PAUSED);
        dialog
            .when(
                BOT,
                C::StartScenario {
                    scenario: s("welcome"),
                },
            )
            .then_refused(PAUSED);
        let answer = dialog.when(O1, send(3)).answer();
        assert!(
            matches!(answer.as_deref(), Ok([Event::MessageQueued(_)])),
            "{answer:?}"
        );
        let answer = dialog
            .when(
                O1,
                C::StartScenario {
                    scenario: s("welcome"),
                },
            )
            .answer();
        assert!(answer.is_ok(), "{answer:?}");
    }

    /// F3.5: a draft of only white space is no draft.
    #[test]
    fn f3_5_a_blank_draft_clears() {
        let mut dialog = given([registered()]);
        let answer = dialog.when(O1, C::SaveDraft { text: s("hi") }).answer();
        if let Ok(events) = answer {
            dialog.and(events);
        }
        dialog
            .when(O1, C::SaveDraft { text: s("  \n ") })
            .then_events([Event::DraftCleared(DraftCleared { operator: O1_ID })]);
    }

    /// F12.1: a project never loses its last admin.
    #[test]
    fn f12_1_the_last_admin_stays() {
        let last_admin =
            crate::domain::Refusal::Forbidden("the project must keep at least one admin");
        let mut project = given_project();
        project
            .when(
                SYSTEM,
                ProjectCommand::ChangeOperatorRole {
                    operator: A_ID,
                    role: Role::Operator,
                    can_delete: false,
                },
            )
            .then_refused(last_admin.clone());
        project
            .when(SYSTEM, ProjectCommand::RemoveOperator { operator: A_ID })
            .then_refused(last_admin);
        // With a second admin, the first may step down.
        project
            .when(
                A,
                ProjectCommand::ChangeOperatorRole {
                    operator: O1_ID,
                    role: Role::Admin,
                    can_delete: false,
                },
            )
            .then_events([Event::OperatorRoleChanged(OperatorRoleChanged {
                operator: O1_ID,
                role: Role::Admin,
                can_delete: false,
            })]);
        project
            .when(
                A,
                ProjectCommand::ChangeOperatorRole {
                    operator: A_ID,
                    role: Role::Operator,
                    can_delete: false,
                },
            )
            .then_events([Event::OperatorRoleChanged(OperatorRoleChanged {
                operator: A_ID,
                role: Role::Operator,
                can_delete: false,
            })]);
    }
}
