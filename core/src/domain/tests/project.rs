//! The Project aggregate: settings every dialog decision consults (F1.5, F2.6, F7, F9, F12).

use super::support::*;
use crate::domain::Refusal;
use crate::domain::dialog::DialogCommand;
use crate::domain::project::ProjectCommand as C;
use std::collections::BTreeSet;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

const NEW_OPERATOR: OperatorId = OperatorId::from_u128(0x0E);
const VK: ChannelId = ChannelId::from_u128(0xC3);
const NEW_FOLDER: FolderId = FolderId::from_u128(0xF2);
const NEW_TAG: TagId = TagId::from_u128(0x7A3);
const NEW_LIST: ListId = ListId::from_u128(0x12);
const NEW_PIPELINE: PipelineId = PipelineId::from_u128(0x92);
const NEW_TEMPLATE: TemplateId = TemplateId::from_u128(0x72);

const CANNOT_REMOVE_THEMSELVES: Refusal = Refusal::Forbidden("an admin cannot remove themselves");

fn stage(id: u128, name: &str) -> Stage {
    Stage {
        stage: StageId::from_u128(id),
        name: s(name),
    }
}

/// One instance of every project command, each valid against the standard project.
fn every_project_command() -> Vec<C> {
    vec![
        C::Create { name: s("Shop") },
        C::AddOperator {
            operator: NEW_OPERATOR,
            name: s("Eva"),
            email: s("eva@example.com"),
            role: Role::Operator,
            can_delete: false,
        },
        C::ChangeOperatorRole {
            operator: O1_ID,
            role: Role::Admin,
            can_delete: true,
        },
        C::RemoveOperator { operator: O2_ID },
        C::ConnectChannel {
            channel: VK,
            kind: ChannelKind::Vk,
            name: s("club1"),
        },
        C::DisconnectChannel { channel: WHATSAPP },
        C::CreateFolder {
            folder: NEW_FOLDER,
            name: s("Wholesale"),
        },
        C::RenameFolder {
            folder: FOLDER,
            name: s("VIP clients"),
        },
        C::DeleteFolder { folder: FOLDER },
        C::SetFolderNotifications {
            folder: FOLDER,
            push: true,
            sound: false,
        },
        C::DefineTag {
            tag: NEW_TAG,
            name: s("urgent"),
            color: s("#FF0000"),
        },
        C::DeleteTag { tag: TAG },
        C::DefineList {
            list: NEW_LIST,
            name: s("promo"),
        },
        C::DefineVariable {
            name: s("color"),
            choices: vec![s("red"), s("blue")],
        },
        C::DefinePipeline {
            pipeline: NEW_PIPELINE,
            name: s("support"),
            stages: vec![stage(0x61, "open"), stage(0x62, "solved")],
        },
        C::SetSlaThresholds {
            yellow_after_secs: 300,
            red_after_secs: 900,
        },
        C::SaveTemplate {
            template: NEW_TEMPLATE,
            name: s("bye"),
            text: s("Bye!"),
        },
        C::DeleteTemplate { template: TEMPLATE },
        C::SaveFilter {
            filter: FILTER,
            name: s("mine unanswered"),
            query: s(r#"{"tab":"mine","unanswered":true}"#),
        },
        C::DeleteFilter { filter: FILTER },
        C::SetAutoMerge { enabled: true },
    ]
}

/// The variant's name; exhaustive on purpose (no wildcard arm).
fn project_command_kind(command: &C) -> &'static str {
    match command {
        C::Create { .. } => "Create",
        C::AddOperator { .. } => "AddOperator",
        C::ChangeOperatorRole { .. } => "ChangeOperatorRole",
        C::RemoveOperator { .. } => "RemoveOperator",
        C::ConnectChannel { .. } => "ConnectChannel",
        C::DisconnectChannel { .. } => "DisconnectChannel",
        C::CreateFolder { .. } => "CreateFolder",
        C::RenameFolder { .. } => "RenameFolder",
        C::DeleteFolder { .. } => "DeleteFolder",
        C::SetFolderNotifications { .. } => "SetFolderNotifications",
        C::DefineTag { .. } => "DefineTag",
        C::DeleteTag { .. } => "DeleteTag",
        C::DefineList { .. } => "DefineList",
        C::DefineVariable { .. } => "DefineVariable",
        C::DefinePipeline { .. } => "DefinePipeline",
        C::SetSlaThresholds { .. } => "SetSlaThresholds",
        C::SaveTemplate { .. } => "SaveTemplate",
        C::DeleteTemplate { .. } => "DeleteTemplate",
        C::SaveFilter { .. } => "SaveFilter",
        C::DeleteFilter { .. } => "DeleteFilter",
        C::SetAutoMerge { .. } => "SetAutoMerge",
    }
}

/// What any operator may do to the settings; everything else is for admins (F12.1).
const FOR_EVERY_OPERATOR: [&str; 3] = ["SaveTemplate", "SaveFilter", "DeleteFilter"];

#[test]
fn every_command_covers_every_variant() {
    let kinds: BTreeSet<_> = every_project_command()
        .iter()
        .map(project_command_kind)
        .collect();
    assert_eq!(kinds.len(), 21);
}

#[test]
fn every_command_but_create_needs_a_project() {
    for command in every_project_command() {
        let kind = project_command_kind(&command);
        let answer = given_no_project().when(SYSTEM, command).answer();
        if kind == "Create" {
            assert_eq!(
                answer,
                Ok(vec![Event::ProjectCreated(ProjectCreated {
                    name: s("Shop")
                })])
            );
        } else {
            assert_eq!(answer, Err(Refusal::NoSuchProject), "{kind}");
        }
    }
}

#[test]
fn f12_only_admins_change_settings() {
    for command in every_project_command() {
        let kind = project_command_kind(&command);
        if kind == "Create" || FOR_EVERY_OPERATOR.contains(&kind) {
            continue;
        }
        for actor in [O1, O2, D, BOT, CONNECTOR, CLIENT] {
            given_project()
                .when(actor, command.clone())
                .then_refused(ADMINS_ONLY);
        }
        for actor in [A, SYSTEM] {
            let answer = given_project().when(actor, command.clone()).answer();
            assert!(
                matches!(&answer, Ok(events) if events.len() == 1),
                "{kind} by {actor:?}: {answer:?}"
            );
        }
    }
}

#[test]
fn f3_4_f2_6_operators_may_save_templates_and_filters() {
    let mut project = given_project();
    project
        .when(
            O1,
            C::SaveTemplate {
                template: NEW_TEMPLATE,
                name: s("bye"),
                text: s("Bye!"),
            },
        )
        .then_events([Event::TemplateSaved(TemplateSaved {
            template: NEW_TEMPLATE,
            name: s("bye"),
            text: s("Bye!"),
        })]);
    assert!(project.project.has_template(NEW_TEMPLATE));
    let query = s(r#"{"tab":"mine","unanswered":true}"#);
    project
        .when(
            O2,
            C::SaveFilter {
                filter: FILTER,
                name: s("mine unanswered"),
                query: query.clone(),
            },
        )
        .then_events([Event::SavedFilterSaved(SavedFilterSaved {
            filter: FILTER,
            name: s("mine unanswered"),
            query,
        })]);
    project
        .when(O2, C::DeleteFilter { filter: FILTER })
        .then_events([Event::SavedFilterDeleted(SavedFilterDeleted {
            filter: FILTER,
        })]);
    project
        .when(O2, C::DeleteFilter { filter: FILTER })
        .then_nothing();
}

mod create {
    use super::*;

    #[test]
    fn the_system_creates_a_project() {
        let mut project = given_no_project();
        project
            .when(SYSTEM, C::Create { name: s("Shop") })
            .then_events([Event::ProjectCreated(ProjectCreated { name: s("Shop") })]);
        assert!(project.project.exists);
        project
            .when(SYSTEM, C::Create { name: s("Shop") })
            .then_refused(Refusal::ProjectExists);
    }

    #[test]
    fn nobody_else_creates_one() {
        given_no_project()
            .when(A, C::Create { name: s("Shop") })
            .then_refused(NOT_A_MEMBER);
        given_no_project()
            .when(CONNECTOR, C::Create { name: s("Shop") })
            .then_refused(ADMINS_ONLY);
    }

    #[test]
    fn a_project_needs_a_name() {
        given_no_project()
            .when(SYSTEM, C::Create { name: s(" ") })
            .then_invalid("name");
    }

    #[test]
    fn an_existing_project_is_not_created_again_by_its_admin() {
        given_project()
            .when(A, C::Create { name: s("Shop 2") })
            .then_refused(Refusal::ProjectExists);
    }
}

mod operators {
    use super::*;

    fn add(name: &str, email: &str) -> C {
        C::AddOperator {
            operator: NEW_OPERATOR,
            name: s(name),
            email: s(email),
            role: Role::Operator,
            can_delete: true,
        }
    }

    #[test]
    fn add_an_operator() {
        let mut project = given_project();
        project
            .when(A, add("Eva", "eva@example.com"))
            .then_events([Event::OperatorAdded(OperatorAdded {
                operator: NEW_OPERATOR,
                name: s("Eva"),
                email: s("eva@example.com"),
                role: Role::Operator,
                can_delete: true,
            })]);
        project
            .when(A, add("Eva", "eva@example.com"))
            .then_refused(Refusal::AlreadyExists {
                kind: "operator",
                id: NEW_OPERATOR.to_string(),
            });
    }

    #[test]
    fn an_operator_needs_a_name_and_an_email() {
        given_project()
            .when(A, add("", "eva@example.com"))
            .then_invalid("name");
        given_project()
            .when(A, add("Eva", "eva.example.com"))
            .then_invalid("email");
        let long = format!("{}@example.com", "e".repeat(250));
        given_project()
            .when(A, add("Eva", &long))
            .then_invalid("email");
    }

    #[test]
    fn f12_change_a_role_and_the_delete_permission() {
        let mut project = given_project();
        project
            .when(
                A,
                C::ChangeOperatorRole {
                    operator: O2_ID,
                    role: Role::Operator,
                    can_delete: false,
                },
            )
            .then_nothing();
        project
            .when(
                A,
                C::ChangeOperatorRole {
                    operator: O2_ID,
                    role: Role::Operator,
                    can_delete: true,
                },
            )
            .then_events([Event::OperatorRoleChanged(OperatorRoleChanged {
                operator: O2_ID,
                role: Role::Operator,
                can_delete: true,
            })]);
        // O2 now may delete clients.
        let mut dialog = given_dialog();
        dialog.project = project.project.clone();
        dialog
            .when(O2, DialogCommand::Delete)
            .then_events([deleted()]);

        // O1 promoted to admin sees everything and changes settings.
        project
            .when(
                A,
                C::ChangeOperatorRole {
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
            .when(O1, C::SetAutoMerge { enabled: true })
            .then_events([Event::AutoMergeSet(AutoMergeSet { enabled: true })]);
        let mut dialog = given([registered(), assigned(O2_ID, None)]);
        dialog.project = project.project.clone();
        dialog
            .when(O1, DialogCommand::Delete)
            .then_events([deleted()]);
    }

    #[test]
    fn change_the_role_of_an_unknown_operator() {
        given_project()
            .when(
                A,
                C::ChangeOperatorRole {
                    operator: STRANGER_ID,
                    role: Role::Admin,
                    can_delete: true,
                },
            )
            .then_refused(unknown("operator", STRANGER_ID));
    }

    #[test]
    fn remove_an_operator() {
        let mut project = given_project();
        project
            .when(A, C::RemoveOperator { operator: O1_ID })
            .then_events([Event::OperatorRemoved(OperatorRemoved { operator: O1_ID })]);
        assert!(project.project.operator(O1_ID).is_none());
        project
            .when(A, C::RemoveOperator { operator: O1_ID })
            .then_nothing();
        project
            .when(
                O1,
                C::SaveFilter {
                    filter: FILTER,
                    name: s("x"),
                    query: s("{}"),
                },
            )
            .then_refused(NOT_A_MEMBER);
    }

    #[test]
    fn an_admin_cannot_remove_themselves() {
        given_project()
            .when(A, C::RemoveOperator { operator: A_ID })
            .then_refused(CANNOT_REMOVE_THEMSELVES);
    }
}

mod channels {
    use super::*;

    fn connect(kind: ChannelKind, name: &str) -> C {
        C::ConnectChannel {
            channel: VK,
            kind,
            name: s(name),
        }
    }

    #[test]
    fn connect_a_channel_once() {
        let mut project = given_project();
        project
            .when(A, connect(ChannelKind::Vk, "club1"))
            .then_events([Event::ChannelConnected(ChannelConnected {
                channel: VK,
                kind: ChannelKind::Vk,
                name: s("club1"),
            })]);
        assert_eq!(project.project.channel(VK), Some(ChannelKind::Vk));
        project
            .when(A, connect(ChannelKind::Vk, "club1"))
            .then_nothing();
        project
            .when(A, connect(ChannelKind::Email, "mail"))
            .then_refused(Refusal::AlreadyExists {
                kind: "channel",
                id: VK.to_string(),
            });
    }

    #[test]
    fn a_channel_needs_a_name() {
        given_project()
            .when(A, connect(ChannelKind::Vk, ""))
            .then_invalid("name");
    }

    #[test]
    fn disconnect_a_channel() {
        let mut project = given_project();
        project
            .when(A, C::DisconnectChannel { channel: WHATSAPP })
            .then_events([Event::ChannelDisconnected(ChannelDisconnected {
                channel: WHATSAPP,
            })]);
        project
            .when(A, C::DisconnectChannel { channel: WHATSAPP })
            .then_nothing();
    }
}

mod folders {
    use super::*;

    #[test]
    fn f1_5_create_rename_and_delete_a_folder() {
        let mut project = given_project();
        project
            .when(
                A,
                C::CreateFolder {
                    folder: NEW_FOLDER,
                    name: s("Wholesale"),
                },
            )
            .then_events([Event::FolderCreated(FolderCreated {
                folder: NEW_FOLDER,
                name: s("Wholesale"),
            })]);
        project
            .when(
                A,
                C::CreateFolder {
                    folder: NEW_FOLDER,
                    name: s("Again"),
                },
            )
            .then_refused(Refusal::AlreadyExists {
                kind: "folder",
                id: NEW_FOLDER.to_string(),
            });
        project
            .when(
                A,
                C::RenameFolder {
                    folder: NEW_FOLDER,
                    name: s("Wholesale"),
                },
            )
            .then_nothing();
        project
            .when(
                A,
                C::RenameFolder {
                    folder: NEW_FOLDER,
                    name: s("B2B"),
                },
            )
            .then_events([Event::FolderRenamed(FolderRenamed {
                folder: NEW_FOLDER,
                name: s("B2B"),
            })]);
        project
            .when(A, C::DeleteFolder { folder: NEW_FOLDER })
            .then_events([Event::FolderDeleted(FolderDeleted { folder: NEW_FOLDER })]);
        project
            .when(A, C::DeleteFolder { folder: NEW_FOLDER })
            .then_nothing();
        project
            .when(
                A,
                C::RenameFolder {
                    folder: NEW_FOLDER,
                    name: s("B2B"),
                },
            )
            .then_refused(unknown("folder", NEW_FOLDER));
    }

    #[test]
    fn a_folder_needs_a_name() {
        given_project()
            .when(
                A,
                C::CreateFolder {
                    folder: NEW_FOLDER,
                    name: s(" "),
                },
            )
            .then_invalid("name");
        given_project()
            .when(
                A,
                C::RenameFolder {
                    folder: FOLDER,
                    name: "f".repeat(201),
                },
            )
            .then_invalid("name");
    }

    #[test]
    fn f1_5_folder_notifications() {
        given_project()
            .when(
                A,
                C::SetFolderNotifications {
                    folder: FOLDER,
                    push: false,
                    sound: true,
                },
            )
            .then_events([Event::FolderNotificationsSet(FolderNotificationsSet {
                folder: FOLDER,
                push: false,
                sound: true,
            })]);
        given_project()
            .when(
                A,
                C::SetFolderNotifications {
                    folder: UNKNOWN_FOLDER,
                    push: true,
                    sound: true,
                },
            )
            .then_refused(unknown("folder", UNKNOWN_FOLDER));
    }
}

mod tags_lists_variables {
    use super::*;

    fn define_tag(color: &str) -> C {
        C::DefineTag {
            tag: NEW_TAG,
            name: s("urgent"),
            color: s(color),
        }
    }

    #[test]
    fn f7_3_define_and_delete_a_tag() {
        let mut project = given_project();
        project
            .when(A, define_tag("#a1B2c3"))
            .then_events([Event::TagDefined(TagDefined {
                tag: NEW_TAG,
                name: s("urgent"),
                color: s("#a1B2c3"),
            })]);
        assert!(project.project.has_tag(NEW_TAG));
        project
            .when(A, C::DeleteTag { tag: NEW_TAG })
            .then_events([Event::TagDeleted(TagDeleted { tag: NEW_TAG })]);
        project
            .when(A, C::DeleteTag { tag: NEW_TAG })
            .then_nothing();
    }

    #[test]
    fn f7_3_a_tag_color_is_rrggbb() {
        for color in [
            "red", "", "#fff", "#12345", "#1234567", "123456#", "#GG0000", "#ééé", "#12 456",
        ] {
            given_project()
                .when(A, define_tag(color))
                .then_invalid("color");
        }
        given_project()
            .when(
                A,
                C::DefineTag {
                    tag: NEW_TAG,
                    name: s(""),
                    color: s("#000000"),
                },
            )
            .then_invalid("name");
    }

    #[test]
    fn f7_3_define_a_list() {
        given_project()
            .when(
                A,
                C::DefineList {
                    list: NEW_LIST,
                    name: s("promo"),
                },
            )
            .then_events([Event::ListDefined(ListDefined {
                list: NEW_LIST,
                name: s("promo"),
            })]);
        given_project()
            .when(
                A,
                C::DefineList {
                    list: NEW_LIST,
                    name: s(""),
                },
            )
            .then_invalid("name");
    }

    #[test]
    fn f7_2_define_a_choice_variable() {
        let mut project = given_project();
        project
            .when(
                A,
                C::DefineVariable {
                    name: s("color"),
                    choices: vec![s("red"), s("blue")],
                },
            )
            .then_events([Event::VariableDefined(VariableDefined {
                name: s("color"),
                choices: vec![s("red"), s("blue")],
            })]);
        assert_eq!(
            project.project.variable_choices("color"),
            Some([s("red"), s("blue")].as_slice())
        );
        given_project()
            .when(
                A,
                C::DefineVariable {
                    name: s("color"),
                    choices: vec![s("red"), s(" ")],
                },
            )
            .then_invalid("choices");
        given_project()
            .when(
                A,
                C::DefineVariable {
                    name: s(""),
                    choices: vec![],
                },
            )
            .then_invalid("name");
    }
}

mod pipelines {
    use super::*;

    fn define(stages: Vec<Stage>) -> C {
        C::DefinePipeline {
            pipeline: NEW_PIPELINE,
            name: s("support"),
            stages,
        }
    }

    #[test]
    fn f7_4_define_a_pipeline() {
        let mut project = given_project();
        project
            .when(A, define(vec![stage(0x61, "open"), stage(0x62, "solved")]))
            .then_events([Event::PipelineDefined(PipelineDefined {
                pipeline: NEW_PIPELINE,
                name: s("support"),
                stages: vec![stage(0x61, "open"), stage(0x62, "solved")],
            })]);
        assert_eq!(
            project
                .project
                .pipeline_has_stage(NEW_PIPELINE, StageId::from_u128(0x62)),
            Some(true)
        );
    }

    #[test]
    fn f7_4_invalid_pipelines() {
        given_project()
            .when(A, define(vec![]))
            .then_invalid("stages");
        given_project()
            .when(A, define(vec![stage(0x61, "open"), stage(0x61, "again")]))
            .then_invalid("stages");
        given_project()
            .when(A, define(vec![stage(0x61, " ")]))
            .then_invalid("stages");
        given_project()
            .when(
                A,
                C::DefinePipeline {
                    pipeline: NEW_PIPELINE,
                    name: s(""),
                    stages: vec![stage(0x61, "open")],
                },
            )
            .then_invalid("name");
    }
}

mod sla {
    use super::*;

    fn thresholds(yellow_after_secs: u32, red_after_secs: u32) -> C {
        C::SetSlaThresholds {
            yellow_after_secs,
            red_after_secs,
        }
    }

    #[test]
    fn f9_1_set_the_thresholds() {
        let mut project = given_project();
        project
            .when(A, thresholds(300, 900))
            .then_events([Event::SlaThresholdsSet(SlaThresholdsSet {
                yellow_after_secs: 300,
                red_after_secs: 900,
            })]);
        assert_eq!(project.project.sla, Some((300, 900)));
        project.when(A, thresholds(300, 900)).then_nothing();
        project
            .when(A, thresholds(1, 2))
            .then_events([Event::SlaThresholdsSet(SlaThresholdsSet {
                yellow_after_secs: 1,
                red_after_secs: 2,
            })]);
    }

    #[test]
    fn f9_1_the_same_thresholds_again_are_a_no_op() {
        given_project()
            .and([Event::SlaThresholdsSet(SlaThresholdsSet {
                yellow_after_secs: 60,
                red_after_secs: 120,
            })])
            .when(A, thresholds(60, 120))
            .then_nothing();
    }

    #[test]
    fn f9_1_red_must_come_after_yellow() {
        given_project()
            .when(A, thresholds(900, 900))
            .then_invalid("red_after_secs");
        given_project()
            .when(A, thresholds(900, 300))
            .then_invalid("red_after_secs");
    }

    #[test]
    fn f9_1_yellow_must_be_positive() {
        given_project()
            .when(A, thresholds(0, 900))
            .then_invalid("yellow_after_secs");
        given_project()
            .when(A, thresholds(0, 0))
            .then_invalid("yellow_after_secs");
    }
}

mod templates_filters_auto_merge {
    use super::*;

    fn save_template(name: &str, text: &str) -> C {
        C::SaveTemplate {
            template: NEW_TEMPLATE,
            name: s(name),
            text: s(text),
        }
    }

    #[test]
    fn f3_4_a_template_needs_a_name_and_text() {
        given_project()
            .when(O1, save_template("", "Bye!"))
            .then_invalid("name");
        given_project()
            .when(O1, save_template("bye", " "))
            .then_invalid("text");
        given_project()
            .when(O1, save_template("bye", &"t".repeat(4097)))
            .then_invalid("text");
    }

    #[test]
    fn delete_a_template() {
        let mut project = given_project();
        project
            .when(O1, C::DeleteTemplate { template: TEMPLATE })
            .then_refused(ADMINS_ONLY);
        project
            .when(A, C::DeleteTemplate { template: TEMPLATE })
            .then_events([Event::TemplateDeleted(TemplateDeleted {
                template: TEMPLATE,
            })]);
        project
            .when(A, C::DeleteTemplate { template: TEMPLATE })
            .then_nothing();
        // A deleted template can no longer be sent.
        let mut dialog = given_dialog();
        dialog.project = project.project.clone();
        let mut with_template = send(2);
        if let DialogCommand::SendMessage { template, .. } = &mut with_template {
            *template = Some(TEMPLATE);
        }
        dialog
            .when(O1, with_template)
            .then_refused(unknown("template", TEMPLATE));
    }

    #[test]
    fn f2_6_a_filter_query_must_be_json() {
        for query in ["", "{tab: mine}", "{\"tab\":"] {
            given_project()
                .when(
                    O1,
                    C::SaveFilter {
                        filter: FILTER,
                        name: s("mine"),
                        query: s(query),
                    },
                )
                .then_invalid("query");
        }
        given_project()
            .when(
                O1,
                C::SaveFilter {
                    filter: FILTER,
                    name: s(""),
                    query: s("{}"),
                },
            )
            .then_invalid("name");
    }

    #[test]
    fn f11_2_auto_merge_switch() {
        let mut project = given_project();
        project
            .when(A, C::SetAutoMerge { enabled: false })
            .then_nothing();
        project
            .when(A, C::SetAutoMerge { enabled: true })
            .then_events([Event::AutoMergeSet(AutoMergeSet { enabled: true })]);
        assert!(project.project.auto_merge);
        project
            .when(A, C::SetAutoMerge { enabled: true })
            .then_nothing();
    }
}
