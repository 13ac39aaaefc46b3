use super::apply::preview;
use super::schema::AUTHOR_OPERATOR;
use super::*;
use crate::blobid::BlobId;
use crate::runtime::{ProjectionStore, open_reader};
use crate::test_support::dialog_records;

fn registered() -> Event {
    Event::DialogRegistered(DialogRegistered {
        profile: ClientProfile::default(),
        source: Source::default(),
        identity: None,
    })
}

fn query(project: ProjectId, filter: Filter) -> ListQuery {
    ListQuery {
        project,
        viewer: Viewer {
            operator: OperatorId::new(),
            admin: true,
        },
        tab: Tab::All,
        folder: Folder::All,
        include_closed: true,
        order: Order::Created,
        filter,
        after: None,
        limit: MAX_PAGE,
    }
}

#[test]
fn client_numbers_count_per_project_and_match_by_substring() {
    let (project, other) = (ProjectId::new(), ProjectId::new());
    let dialogs: Vec<DialogId> = (0..210).map(|_| DialogId::new()).collect();
    let mut events: Vec<(DialogId, Event)> = dialogs.iter().map(|d| (*d, registered())).collect();
    // Registered again (a replayed command): no new number.
    events.insert(50, (dialogs[3], registered()));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    store.apply(dialog_records(project, events)).expect("apply");
    let mut elsewhere = dialog_records(other, vec![(DialogId::new(), registered())]);
    elsewhere[0].seq = 1_000;
    store.apply(elsewhere).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let filter = Filter::new(Expr::all([Condition::ClientNumber("10".into())])).expect("valid");
    let page = list_dialogs(&conn, &query(project, filter)).expect("list");
    let mut numbers: Vec<u64> = page.rows.iter().map(|r| r.row.client_number).collect();
    numbers.sort_unstable();
    let mut expected = vec![10, 110, 210];
    expected.extend(100..=109);
    expected.sort_unstable();
    assert_eq!(numbers, expected);
    let numbered = query(
        project,
        Filter::new(Expr::all([
            Condition::ClientNumber("10".into()),
            Condition::NoTags,
        ]))
        .expect("valid"),
    );
    let plan = explain_list_dialogs(&conn, &numbered)
        .expect("plan")
        .join("\n");
    assert!(
        plan.contains("USING INDEX dialog_row_by_number (project_key=? AND client_number=?)"),
        "few numbers hold the pattern: they are looked up, {plan}"
    );
    let page = list_dialogs(&conn, &numbered).expect("list");
    assert_eq!(page.rows.len(), expected.len());
    // Inside an any-of group the pattern is checked on every row instead.
    let either = Filter::new(Expr::Any(vec![
        Expr::Is(Condition::ClientNumber("10".into())),
        Expr::Is(Condition::ClientNumber("2".into())),
    ]))
    .expect("valid");
    let page = list_dialogs(&conn, &query(project, either)).expect("list");
    let with_two = (1..=210u64)
        .filter(|n| n.to_string().contains("10") || n.to_string().contains('2'))
        .count();
    assert_eq!(page.rows.len(), with_two);
    let first = dialog_row(&conn, dialogs[0]).expect("row").expect("a row");
    assert_eq!(first.client_number, 1);
    let last = dialog_row(&conn, dialogs[209])
        .expect("row")
        .expect("a row");
    assert_eq!(
        last.client_number, 210,
        "the repeated registration took no number"
    );
    let page = list_dialogs(&conn, &query(other, Filter::default())).expect("list");
    assert_eq!(
        page.rows
            .iter()
            .map(|r| r.row.client_number)
            .collect::<Vec<_>>(),
        vec![1],
        "numbers count per project"
    );
}

#[test]
fn ties_list_newest_registration_first_across_pages() {
    let project = ProjectId::new();
    // Registered in this order, all at the same moment: every order key ties.
    let dialogs: Vec<DialogId> = (0..7).map(|_| DialogId::new()).collect();
    let mut records = dialog_records(
        project,
        dialogs.iter().map(|d| (*d, registered())).collect(),
    );
    for record in &mut records {
        let mut envelope = decode_batch(&record.batch).expect("decode").remove(0);
        envelope.occurred_at = Timestamp::from_micros(1_000);
        record.batch = encode_batch(&[envelope]).expect("encode");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    store.apply(records).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let newest_first: Vec<DialogId> = dialogs.iter().rev().copied().collect();
    for order in [Order::Activity, Order::Created, Order::Processing] {
        for include_closed in [false, true] {
            let mut q = ListQuery {
                order,
                include_closed,
                limit: 3,
                ..query(project, Filter::default())
            };
            let mut seen = Vec::new();
            loop {
                let page = list_dialogs(&conn, &q).expect("list");
                seen.extend(page.rows.iter().map(|r| r.row.dialog));
                match page.next {
                    Some(next) => q.after = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, newest_first, "{order:?}, archive {include_closed}");
        }
    }
}

#[test]
fn a_date_range_few_messages_fall_in_is_looked_up() {
    let project = ProjectId::new();
    let (quiet, busy) = (DialogId::new(), DialogId::new());
    let channel = ChannelId::new();
    let message = |at: i64| {
        Event::MessageReceived(MessageReceived {
            message: MessageId::new(),
            channel,
            external_id: MessageId::new().token(),
            text: "hi".into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::from_micros(at),
        })
    };
    let mut all = dialog_records(
        project,
        vec![
            (quiet, registered()),
            (busy, registered()),
            (quiet, message(0)),
        ],
    );
    // Moments: the records helper stamps each with its sequence (µs); move the busy
    // dialog's message a day later.
    let mut later = dialog_records(project, vec![(busy, message(0))]);
    later[0].seq = 10;
    let mut envelope = decode_batch(&later[0].batch).expect("decode").remove(0);
    envelope.occurred_at = Timestamp::from_micros(ACTIVITY_BUCKET_MICROS * 96);
    later[0].batch = encode_batch(&[envelope]).expect("encode");
    all.extend(later);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    store.apply(all).expect("apply");
    let conn = crate::runtime::open_reader_for::<DialogsProjection>(&path).expect("reader");
    let first_day = Condition::ActiveBetween {
        from: Timestamp::from_micros(0),
        to: Timestamp::from_micros(ACTIVITY_BUCKET_MICROS * 96),
    };
    for expr in [
        Expr::all([first_day.clone()]),
        Expr::Any(vec![Expr::Is(first_day.clone())]),
    ] {
        let q = query(project, Filter::new(expr.clone()).expect("valid"));
        let page = list_dialogs(&conn, &q).expect("list");
        let found: Vec<DialogId> = page.rows.iter().map(|r| r.row.dialog).collect();
        assert_eq!(found, vec![quiet], "{expr:?}");
        let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
        let looked_up = plan.contains("SEARCH d USING INTEGER PRIMARY KEY (rowid=?)");
        assert_eq!(looked_up, matches!(expr, Expr::All(_)), "{plan}");
    }
}

#[test]
fn a_tag_or_folder_few_dialogs_are_in_is_looked_up() {
    let project = ProjectId::new();
    let (common, rare) = (TagId::new(), TagId::new());
    let (big, small) = (FolderId::new(), FolderId::new());
    let dialogs: Vec<DialogId> = (0..=MAX_MEMBER_LOOKUP).map(|_| DialogId::new()).collect();
    let mut events = Vec::new();
    for (i, dialog) in dialogs.iter().enumerate() {
        events.push((*dialog, registered()));
        let mut tags = vec![common];
        let mut folders = vec![big];
        if i % 700 == 1 {
            tags.push(rare);
            folders.push(small);
        }
        events.push((*dialog, Event::TagsAdded(TagsAdded { tags })));
        events.push((*dialog, Event::FoldersJoined(FoldersJoined { folders })));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    store.apply(dialog_records(project, events)).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let tagged =
        |tags: Vec<TagId>| Filter::new(Expr::all([Condition::TagsAll(tags)])).expect("valid");
    // Newest registration first: the rare ones are dialogs 1401, 701 and 1.
    let rare_ones = vec![dialogs[1401], dialogs[701], dialogs[1]];
    for (folder, filter, looked_up) in [
        (Folder::All, tagged(vec![rare]), Some("dialog_tag_by_tag")),
        (
            Folder::All,
            tagged(vec![common, rare]),
            Some("dialog_tag_by_tag"),
        ),
        (
            Folder::Custom(small),
            tagged(vec![common]),
            Some("dialog_folder_by_folder"),
        ),
        (
            Folder::Custom(big),
            tagged(vec![rare]),
            Some("dialog_tag_by_tag"),
        ),
        (Folder::Custom(big), tagged(vec![common]), None),
        (Folder::All, tagged(vec![common]), None),
    ] {
        for include_closed in [true, false] {
            let q = ListQuery {
                folder,
                include_closed,
                ..query(project, filter.clone())
            };
            let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
            match looked_up {
                Some(index) => {
                    assert!(plan.contains(index), "{plan}");
                    assert!(
                        plan.contains("SEARCH d USING INTEGER PRIMARY KEY (rowid=?)"),
                        "{plan}"
                    );
                    let page = list_dialogs(&conn, &q).expect("list");
                    let found: Vec<DialogId> = page.rows.iter().map(|r| r.row.dialog).collect();
                    assert_eq!(found, rare_ones, "{folder:?} {filter:?}");
                }
                None => {
                    assert!(
                        plan.contains(" INDEX dialog_row_list_by_created ("),
                        "{plan}"
                    );
                    let page = list_dialogs(&conn, &q).expect("list");
                    assert_eq!(page.rows.len(), MAX_PAGE, "a full page");
                    assert_eq!(page.rows[0].row.dialog, dialogs[dialogs.len() - 1]);
                }
            }
        }
    }
}

#[test]
fn list_pages_read_in_index_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    drop(ProjectionStore::open(&path, DialogsProjection::default()).expect("open"));
    let conn = open_reader(&path).expect("reader");
    let project = ProjectId::new();
    let cursor = Cursor {
        pinned: false,
        keys: [1, 2],
        row: 7,
    };
    for order in [Order::Activity, Order::Created, Order::Processing] {
        for include_closed in [false, true] {
            for after in [None, Some(cursor.clone())] {
                let tagged = Filter::new(Expr::all([
                    Condition::AnyTag,
                    Condition::Unanswered,
                    Condition::Channels(vec![ChannelId::new()]),
                ]))
                .expect("valid");
                for filter in [Filter::default(), tagged] {
                    let unanswered = filter.active_conditions() > 0;
                    let q = ListQuery {
                        order,
                        include_closed,
                        after: after.clone(),
                        ..query(project, filter)
                    };
                    let plan = explain_list_dialogs(&conn, &q).expect("plan").join("\n");
                    // The default view reads one range of the order's index, the archive
                    // switch two (open, closed); either way in index order: the only sorts
                    // are of the ≤ `limit` rows an arm returned, to merge the arms.
                    let arms = if include_closed { 2 } else { 1 };
                    // In the activity order the *Unanswered* condition has an index of its
                    // own, which SQLite picks: the unanswered dialogs in order.
                    let index = match order {
                        Order::Activity if unanswered => {
                            " INDEX dialog_row_unanswered_by_activity ("
                        }
                        Order::Activity => " INDEX dialog_row_list_by_activity (",
                        Order::Created => " INDEX dialog_row_list_by_created (",
                        Order::Processing => " INDEX dialog_row_list_by_processing (",
                    };
                    assert_eq!(plan.matches(index).count(), arms, "{order:?}: {plan}");
                    if !unanswered && order != Order::Processing {
                        // The admin's unfiltered page is read from the index alone: it holds
                        // every column the arm names (deleted and merged-away rows are not in
                        // it). Not in the processing order: SQLite reads a generated column
                        // from the row even when the index holds it.
                        assert_eq!(
                            plan.matches("USING COVERING INDEX dialog_row_list_by_")
                                .count(),
                            arms,
                            "{order:?}: {plan}"
                        );
                    }
                    assert_eq!(
                        plan.matches("TEMP B-TREE").count(),
                        plan.matches("SCAN (subquery-").count(),
                        "{order:?}: {plan}"
                    );
                    assert!(plan.matches("SCAN (subquery-").count() <= arms, "{plan}");
                    if after.is_some() {
                        // The cursor seeks: pages deep in the list cost what the first does
                        // (on the order's keys; the rowid, the tie-breaker, is checked on
                        // the rows tied with the cursor's).
                        assert!(plan.contains("AND (pinned,"), "{plan}");
                        assert!(plan.contains(")<(?"), "{plan}");
                    }
                    // An operator's view in the activity order: their own and the free
                    // dialogs (open, and closed with the archive switch), each read in the
                    // assignee index from the cursor on.
                    let operator = ListQuery {
                        viewer: Viewer {
                            operator: OperatorId::new(),
                            admin: false,
                        },
                        order: Order::Activity,
                        ..q
                    };
                    let plan = explain_list_dialogs(&conn, &operator)
                        .expect("plan")
                        .join("\n");
                    let seek = if after.is_some() {
                        "(project_key=? AND assignee_key=? AND closed=? AND deleted=? AND merged_into=? AND (pinned,last_activity_at)<("
                    } else {
                        "(project_key=? AND assignee_key=? AND closed=? AND deleted=? AND merged_into=?)"
                    };
                    let arm = format!(" INDEX dialog_row_assignee_by_activity {seek}");
                    assert_eq!(plan.matches(&arm).count(), 2 * arms, "{plan}");
                    // The page's rows are read by rowid once picked.
                    assert!(
                        plan.contains("SEARCH shown USING INTEGER PRIMARY KEY (rowid=?)"),
                        "{plan}"
                    );
                    // *Mine* (or *Free*) as an operator: one arm per `closed` range.
                    let mine = ListQuery {
                        tab: Tab::Mine,
                        ..operator
                    };
                    let plan = explain_list_dialogs(&conn, &mine).expect("plan").join("\n");
                    assert_eq!(plan.matches(&arm).count(), arms, "{plan}");
                }
            }
        }
    }
}

#[test]
fn ids_round_trip_through_blob_columns_and_a_malformed_one_is_an_error() {
    let project = ProjectId::new();
    let (dialog, survivor) = (DialogId::new(), DialogId::new());
    let (operator, channel) = (OperatorId::new(), ChannelId::new());
    let (pipeline, stage) = (PipelineId::new(), StageId::new());
    let (tag, folder, list) = (TagId::new(), FolderId::new(), ListId::new());
    let events = vec![
        (survivor, registered()),
        (dialog, registered()),
        (
            dialog,
            Event::DialogAssigned(DialogAssigned {
                operator,
                previous: None,
            }),
        ),
        (
            dialog,
            Event::MessageQueued(MessageQueued {
                message: MessageId::new(),
                channel,
                author: MessageAuthor::Operator(operator),
                text: "hello".into(),
                attachments: vec![],
                reply_to: None,
                template: None,
                reply_to_external_id: None,
            }),
        ),
        (
            dialog,
            Event::DealStageChanged(DealStageChanged {
                pipeline,
                stage,
                previous: None,
            }),
        ),
        (dialog, Event::TagsAdded(TagsAdded { tags: vec![tag] })),
        (
            dialog,
            Event::FoldersJoined(FoldersJoined {
                folders: vec![folder],
            }),
        ),
        (
            dialog,
            Event::ListsJoined(ListsJoined { lists: vec![list] }),
        ),
        (
            dialog,
            Event::DraftSaved(DraftSaved {
                operator,
                text: "draft".into(),
            }),
        ),
        (
            dialog,
            Event::DialogMergedInto(DialogMergedInto { survivor }),
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dialogs.sqlite");
    let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
    store.apply(dialog_records(project, events)).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let row = dialog_row(&conn, dialog).expect("row").expect("a row");
    assert_eq!(row.dialog, dialog);
    assert_eq!(row.project, project);
    assert_eq!(row.assignee, Some(operator));
    assert_eq!(
        row.last_message_author,
        Some(LastAuthor::Operator(operator))
    );
    assert_eq!(row.last_message_channel, Some(channel));
    assert_eq!(row.merged_into, Some(survivor));
    // Every id column holds the 16 bytes, or a small key of `idkey`; the authors their codes.
    let stored: Vec<(String, i64)> = conn
        .query_row(
            "SELECT typeof(dialog), length(dialog), typeof(merged_into), length(merged_into),
                    typeof(deal_pipeline), length(deal_pipeline),
                    typeof(deal_stage), length(deal_stage)
             FROM dialog_row WHERE dialog = ?1",
            [dialog.blob()],
            |r| {
                (0..4)
                    .map(|i| Ok((r.get(2 * i)?, r.get(2 * i + 1)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            },
        )
        .expect("columns");
    assert_eq!(stored, vec![("blob".to_owned(), 16); 4]);
    let keyed: Vec<String> = conn
        .query_row(
            "SELECT (SELECT id FROM idkey WHERE key = project_key),
                    (SELECT id FROM idkey WHERE key = assignee_key),
                    (SELECT id FROM idkey WHERE key = last_message_operator_key),
                    (SELECT id FROM idkey WHERE key = last_message_channel_key)
             FROM dialog_row WHERE dialog = ?1",
            [dialog.blob()],
            |r| (0..4).map(|i| r.get(i)).collect(),
        )
        .expect("keyed");
    assert_eq!(
        keyed,
        vec![
            project.token(),
            operator.token(),
            operator.token(),
            channel.token()
        ]
    );
    let authors: (i64, i64) = conn
        .query_row(
            "SELECT last_message_author, last_sender FROM dialog_row WHERE dialog = ?1",
            [dialog.blob()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("authors");
    assert_eq!(authors, (AUTHOR_OPERATOR, AUTHOR_OPERATOR));
    let (pipeline_stored, stage_stored): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT deal_pipeline, deal_stage FROM dialog_row WHERE dialog = ?1",
            [dialog.blob()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("deal");
    assert_eq!(pipeline_stored, pipeline.as_uuid().as_bytes());
    assert_eq!(stage_stored, stage.as_uuid().as_bytes());
    // The membership and per-operator tables hold ids as blobs too.
    assert_eq!(dialog_tags(&conn, dialog).expect("tags"), vec![tag]);
    assert_eq!(
        dialog_folders(&conn, dialog).expect("folders"),
        vec![folder]
    );
    for (table, column, id) in [
        ("dialog_tag", "tag", tag.blob()),
        ("dialog_folder", "folder", folder.blob()),
        ("dialog_list", "list", list.blob()),
    ] {
        assert_eq!(
            crate::test_support::stored_bytes(&conn, table, column),
            vec![id.to_vec()],
            "{table}.{column}"
        );
    }
    // Channels and operators, a few per project, as their `idkey` keys.
    for (table, column, token) in [
        ("dialog_channel", "channel", channel.token()),
        ("dialogoperator_read", "operator", operator.token()),
        ("dialogoperator_draft", "operator", operator.token()),
    ] {
        let stored: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT k.id FROM {table} t JOIN idkey k ON k.key = t.{column}"
            ))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("keys");
        assert_eq!(stored, vec![token], "{table}.{column}");
    }
    assert!(!is_unread(&conn, dialog, operator).expect("unread"));

    // A malformed id or an unknown author code is an error naming the column, never a panic.
    let writer = rusqlite::Connection::open(&path).expect("writer");
    let channel_key = "(SELECT last_message_channel_key FROM dialog_row WHERE dialog = ?1)";
    for (change, undo, column) in [
        (
            format!("UPDATE idkey SET id = 'not an id' WHERE key = {channel_key}"),
            format!("UPDATE idkey SET id = ?2 WHERE key = {channel_key}"),
            "dialog_row.last_message_channel_key",
        ),
        (
            "UPDATE dialog_row SET last_message_author = 9 WHERE dialog = ?1".to_owned(),
            "UPDATE dialog_row SET last_message_author = 2 WHERE dialog = ?1".to_owned(),
            "dialog_row.last_message_author",
        ),
        (
            "UPDATE dialog_row SET last_message_operator_key = NULL WHERE dialog = ?1".to_owned(),
            "UPDATE dialog_row SET last_message_operator_key = assignee_key
             WHERE dialog = ?1"
                .to_owned(),
            "dialog_row.last_message_operator_key",
        ),
        (
            "UPDATE dialog_row SET project_key = -project_key WHERE dialog = ?1".to_owned(),
            "UPDATE dialog_row SET project_key = -project_key WHERE dialog = ?1".to_owned(),
            "dialog_row.project_key",
        ),
    ] {
        writer.execute(&change, [dialog.blob()]).expect("corrupt");
        match dialog_row(&conn, dialog) {
            Err(ProjectionError::Corrupt(message)) => {
                assert!(message.starts_with(column), "{change}: {message}");
            }
            other => panic!("{change}: {other:?}"),
        }
        let params: Vec<rusqlite::types::Value> = if undo.contains("?2") {
            vec![dialog.blob().to_vec().into(), channel.token().into()]
        } else {
            vec![dialog.blob().to_vec().into()]
        };
        writer
            .execute(&undo, rusqlite::params_from_iter(params))
            .expect("restore");
        assert_eq!(dialog_row(&conn, dialog).expect("row"), Some(row.clone()));
    }
    writer
        .execute("UPDATE dialog_tag SET tag = x'00'", [])
        .expect("corrupt");
    match dialog_tags(&conn, dialog) {
        Err(ProjectionError::Corrupt(message)) => {
            assert!(message.starts_with("dialog_tag.tag: "), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn preview_keeps_whole_characters() {
    let long = "я".repeat(PREVIEW_CHARS + 5);
    let cut = preview(&long);
    assert_eq!(cut.chars().count(), PREVIEW_CHARS);
    assert_eq!(preview("short"), "short");
}

#[test]
fn a_cursor_token_round_trips_and_is_bound_to_its_order() {
    let cursor = Cursor {
        pinned: true,
        keys: [-5, 1_763_784_000_123_456],
        row: 42,
    };
    let token = cursor.to_token(Order::Processing);
    assert_eq!(Cursor::from_token(&token, Order::Processing), Ok(cursor));
    assert_eq!(
        Cursor::from_token(&token, Order::Activity),
        Err(CursorError::OtherOrder)
    );
    for bad in [
        "",
        "v1",
        "v2.p.1.0.0.1",
        "v1.p.2.0.0.1",
        "v1.p.1.x.0.1",
        "v1.p.1.0.0.0",
        "v1.p.1.0.0.1.9",
        "v1.p.1.0.0.99999999999999999999",
    ] {
        assert_eq!(
            Cursor::from_token(bad, Order::Processing),
            Err(CursorError::Malformed),
            "{bad}"
        );
    }
}
