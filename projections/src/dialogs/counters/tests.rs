use super::*;

const PROJECT: ProjectId = ProjectId::from_u128(7);

fn op(n: u128) -> OperatorId {
    OperatorId::from_u128(n)
}

fn inputs() -> Inputs {
    Inputs {
        row: 1,
        deleted: false,
        merged: false,
        inbound_count: 2,
        unanswered: true,
        assignee: None,
        bot_paused: false,
        folders: vec![],
        tags: vec![],
        readers: vec![],
    }
}

fn reader(operator: OperatorId, inbound_read: i64, marked_unread: bool) -> Reader {
    Reader {
        operator,
        inbound_read,
        marked_unread,
    }
}

/// (operator token or '', counter name) → value, as stored.
fn contributions(inputs: &Inputs) -> BTreeMap<(String, String), i64> {
    let mut changes = Vec::new();
    inputs.contribute(PROJECT, 1, &mut changes);
    let mut out = BTreeMap::new();
    for (key, value) in changes {
        let (project, operator, name) = key.row();
        assert_eq!(project, PROJECT.token());
        *out.entry((operator, name)).or_insert(0) += value;
    }
    out
}

fn key(operator: Option<OperatorId>, name: &str) -> (String, String) {
    (
        operator.map(|o| o.token()).unwrap_or_default(),
        name.to_owned(),
    )
}

#[test]
fn scopes_name_owner_folders_and_with_operator() {
    let mut dialog = inputs();
    dialog.inbound_count = 1;
    dialog.unanswered = false;
    let names = |d: &Inputs| {
        contributions(d)
            .into_keys()
            .map(|k| k.1)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&dialog), vec!["unread:all", "unread:free"]);
    let folder = FolderId::from_u128(3);
    dialog.assignee = Some(op(1));
    dialog.folders = vec![folder];
    dialog.bot_paused = true;
    let (f, o) = (folder.token(), op(1).token());
    assert_eq!(
        names(&dialog),
        vec![
            "unread:all".to_owned(),
            format!("unread:assignee:{o}"),
            format!("unread:folder:{f}"),
            format!("unread:folder:{f}:assignee:{o}"),
            "unread:with_operator".to_owned(),
            format!("unread:with_operator:assignee:{o}"),
        ]
    );
}

#[test]
fn readers_correct_the_base_count() {
    let mut dialog = inputs();
    let (caught_up, behind, marked) = (op(1), op(2), op(3));
    dialog.readers = vec![
        reader(caught_up, 2, false),
        reader(behind, 1, false),
        reader(marked, 2, true),
    ];
    let deltas = contributions(&dialog);
    assert_eq!(deltas.get(&key(None, "unread:all")), Some(&1));
    assert_eq!(deltas.get(&key(None, "unanswered:free")), Some(&1));
    assert_eq!(deltas.get(&key(Some(caught_up), "unread:all")), Some(&-1));
    assert_eq!(deltas.get(&key(Some(behind), "unread:all")), None);
    assert_eq!(deltas.get(&key(Some(marked), "unread:all")), None);
}

#[test]
fn marked_unread_without_client_messages_counts_for_that_operator_only() {
    let mut dialog = inputs();
    dialog.inbound_count = 0;
    dialog.unanswered = false;
    dialog.readers = vec![reader(op(1), 0, true)];
    let deltas = contributions(&dialog);
    assert_eq!(deltas.get(&key(None, "unread:all")), None);
    assert_eq!(deltas.get(&key(Some(op(1)), "unread:all")), Some(&1));
}

#[test]
fn tags_count_live_dialogs() {
    let mut dialog = inputs();
    let tag = TagId::from_u128(9);
    dialog.tags = vec![tag];
    assert_eq!(
        contributions(&dialog).get(&key(None, &format!("tag:{}", tag.token()))),
        Some(&1)
    );
}

#[test]
fn stored_keys_round_trip_and_malformed_ones_are_errors() {
    let project = PROJECT;
    let folder = FolderId::from_u128(3);
    let mut keys = Vec::new();
    for group in [
        None,
        Some(FolderGroup::WithOperator),
        Some(FolderGroup::Custom(folder)),
    ] {
        for owner in [None, Some(None), Some(Some(op(2)))] {
            keys.push(CounterKey::unread(project, None, group, owner));
            keys.push(CounterKey::unread(project, Some(op(1)), group, owner));
            keys.push(CounterKey::unanswered(project, group, owner));
        }
    }
    let mut dialog = inputs();
    dialog.tags = vec![TagId::from_u128(9)];
    dialog.folders = vec![folder];
    let mut changes = Vec::new();
    dialog.contribute(PROJECT, 1, &mut changes);
    keys.extend(changes.iter().map(|(key, _)| *key));
    for key in keys {
        let (project, operator, kind, scope) = key.stored();
        let back = CounterKey::from_stored(&project, &operator, kind, &scope).expect("decodes");
        assert_eq!(back, key);
        assert_eq!(back.row(), key.row());
        // What forgetting the folder deletes: every unread and unanswered scope of it.
        if kind != KIND_TAG && scope.first() == Some(&GROUP_FOLDER) {
            assert!(
                scope.starts_with(&CounterKey::folder_prefix(folder)),
                "{scope:?}"
            );
        }
    }
    let project = project_bytes();
    for (kind, scope) in [
        (KIND_UNREAD, &[][..]),
        (KIND_UNREAD, &[GROUP_ALL][..]),
        (KIND_UNREAD, &[GROUP_FOLDER, 1, 2][..]),
        (KIND_UNANSWERED, &[GROUP_ALL, OWNER_ASSIGNEE, 1][..]),
        (KIND_UNREAD, &[GROUP_ALL, OWNER_NONE, 0][..]),
        (KIND_TAG, &[1, 2, 3][..]),
        (9, &[GROUP_ALL, OWNER_NONE][..]),
    ] {
        assert!(
            matches!(
                CounterKey::from_stored(&project, &[], kind, scope),
                Err(ProjectionError::Corrupt(_))
            ),
            "{kind} {scope:?}"
        );
    }
}

fn project_bytes() -> [u8; 16] {
    PROJECT.as_uuid().as_u128().to_be_bytes()
}

#[test]
fn dead_dialogs_contribute_nothing() {
    let mut deleted = inputs();
    deleted.deleted = true;
    assert!(contributions(&deleted).is_empty());
    let mut merged = inputs();
    merged.merged = true;
    assert!(contributions(&merged).is_empty());
}

#[test]
fn retract_then_reassert_of_the_same_state_nets_zero() {
    let mut dialog = inputs();
    dialog.folders = vec![FolderId::from_u128(3)];
    dialog.readers = vec![reader(op(1), 2, false)];
    let mut changes = Vec::new();
    dialog.contribute(PROJECT, -1, &mut changes);
    dialog.contribute(PROJECT, 1, &mut changes);
    let mut pending = BTreeMap::new();
    add_changes(&mut changes, &mut pending);
    assert!(pending.is_empty(), "{pending:?}");
    assert!(changes.is_empty());
}

#[test]
fn reading_and_marking_unread_move_the_readers() {
    let mut dialog = inputs();
    dialog.apply(&Event::MarkedUnread(MarkedUnread { operator: op(1) }));
    assert_eq!(dialog.readers, vec![reader(op(1), 0, true)]);
    dialog.apply(&Event::ReadMarked(ReadMarked {
        operator: op(1),
        up_to: None,
    }));
    assert_eq!(dialog.readers, vec![reader(op(1), 2, false)]);
    assert!(!dialog.unanswered);
    dialog.apply(&Event::MarkedUnread(MarkedUnread { operator: op(1) }));
    assert_eq!(dialog.readers, vec![reader(op(1), 2, true)]);
}
