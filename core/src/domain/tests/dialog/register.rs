//! Registering a dialog (F5.1, F5.2), its profile and identities (F11.2), merging (F4.9).

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
