//! Tags and lists (F7.3), folders (F1.5), variables (F7.2), the deal (F7.4), tasks (F7.5) and
//! the funnel.

use super::*;

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
