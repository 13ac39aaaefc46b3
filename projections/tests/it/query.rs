//! The query API over both real backends: F12 access for every kind of dialog and caller, the
//! list and `may_see` agreeing on every dialog, badges, the tag picker, card and timeline.

use std::path::Path;
use std::time::Duration;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::EventLog;
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_projections::card::CardProjection;
use switchboard_projections::dialogs::{
    DialogsProjection, Filter, Folder, ListQuery, Order, Tab, Viewer,
};
use switchboard_projections::project::ProjectProjection;
use switchboard_projections::query::{
    self, Access, QueryCaller, badges, open_card, open_timeline, tag_picker,
};
use switchboard_projections::search::{SearchOptions, SearchQuery, SearchTarget};
use switchboard_projections::timeline::{Show, TimelineProjection, Window};
use switchboard_projections::{Projection, ProjectionRunner, RunnerOptions, open_reader_for};
use switchboard_schemas::{
    Actor, Attachment, AttachmentKind, ChannelId, ChannelIdentity, ChannelKind, ClientProfile,
    DialogId, FolderId, MessageId, OperatorId, ProjectId, Role, Source, TagId, Timestamp,
};

const WAIT: Duration = Duration::from_secs(10);

async fn follow<L: EventLog, P: Projection>(
    log: &L,
    dir: &Path,
    projection: P,
) -> (ProjectionRunner<L>, rusqlite::Connection) {
    let path = dir.join(format!("{}.sqlite", projection.name()));
    let runner = ProjectionRunner::start(log.clone(), &path, projection, RunnerOptions::default())
        .await
        .unwrap();
    runner
        .wait_for(log.last_seq().await.unwrap(), WAIT)
        .await
        .unwrap();
    let conn = open_reader_for::<P>(&path).unwrap();
    (runner, conn)
}

fn every_dialog(conn: &rusqlite::Connection, caller: &QueryCaller) -> Vec<DialogId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = query::list(
            conn,
            caller,
            ListQuery {
                // Forged on purpose: the caller's own project and visibility win.
                project: ProjectId::new(),
                viewer: Viewer {
                    operator: OperatorId::new(),
                    admin: true,
                },
                tab: Tab::All,
                folder: Folder::All,
                include_closed: true,
                order: Order::Activity,
                filter: Filter::default(),
                after,
                limit: 2,
            },
        )
        .unwrap();
        seen.extend(page.rows.iter().map(|r| r.row.dialog));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

async fn access_follows_f12<L: EventLog>(log: L) {
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let project = ProjectId::new();
    let other_project = ProjectId::new();
    let channel = ChannelId::new();
    let (admin, olga, pavel) = (OperatorId::new(), OperatorId::new(), OperatorId::new());
    let (vip, lead, spam) = (FolderId::new(), TagId::new(), TagId::new());
    let system = || CommandMeta::new(Actor::System);
    let mut setup = vec![
        ProjectCommand::Create {
            name: "shop".into(),
        },
        ProjectCommand::ConnectChannel {
            channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
        ProjectCommand::CreateFolder {
            folder: vip,
            name: "VIP".into(),
        },
        ProjectCommand::DefineTag {
            tag: lead,
            name: "lead".into(),
            color: "#ff0000".into(),
        },
        ProjectCommand::DefineTag {
            tag: spam,
            name: "spam".into(),
            color: "#000000".into(),
        },
    ];
    for (operator, name, role) in [
        (admin, "anna", Role::Admin),
        (olga, "olga", Role::Operator),
        (pavel, "pavel", Role::Operator),
    ] {
        setup.push(ProjectCommand::AddOperator {
            operator,
            name: name.into(),
            email: format!("{name}@example.com"),
            role,
            can_delete: role == Role::Admin,
        });
    }
    for command in setup {
        service.project(project, command, system()).await.unwrap();
    }
    for command in [
        ProjectCommand::Create {
            name: "other".into(),
        },
        ProjectCommand::ConnectChannel {
            channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
    ] {
        service
            .project(other_project, command, system())
            .await
            .unwrap();
    }

    let run = |p: ProjectId, dialog: DialogId, command: DialogCommand, actor: Actor| {
        let service = &service;
        async move {
            service
                .dialog(p, dialog, command, CommandMeta::new(actor))
                .await
                .unwrap_or_else(|e| panic!("refused: {e}"));
        }
    };
    let register = |p: ProjectId, name: &str, external: &str| {
        let run = &run;
        let (name, external) = (name.to_owned(), external.to_owned());
        async move {
            let dialog = DialogId::new();
            run(
                p,
                dialog,
                DialogCommand::Register {
                    profile: ClientProfile {
                        name: Some(name.clone()),
                        ..ClientProfile::default()
                    },
                    source: Source::default(),
                    identity: Some(ChannelIdentity {
                        channel,
                        kind: ChannelKind::Telegram,
                        external_id: external.clone(),
                    }),
                },
                Actor::Connector(channel),
            )
            .await;
            run(
                p,
                dialog,
                DialogCommand::ReceiveMessage {
                    message: MessageId::new(),
                    channel,
                    external_id: MessageId::new().token(),
                    text: "привет".into(),
                    // Each client sends a file of its own (`ref-<external id>`).
                    attachments: vec![Attachment {
                        kind: AttachmentKind::File,
                        file_name: format!("{name}.pdf"),
                        mime_type: "application/pdf".into(),
                        size_bytes: 10,
                        storage_ref: format!("ref-{external}"),
                    }],
                    reply_to: None,
                    sent_at: Timestamp::now(),
                },
                Actor::Connector(channel),
            )
            .await;
            dialog
        }
    };
    let olgas = register(project, "Olga's", "1").await;
    let pavels = register(project, "Pavel's", "2").await;
    let free = register(project, "Free", "3").await;
    let deleted = register(project, "Deleted", "4").await;
    let absorbed = register(project, "Absorbed", "5").await;
    let foreign = register(other_project, "Foreign", "6").await;
    run(
        project,
        olgas,
        DialogCommand::Assign { operator: olga },
        Actor::Operator(admin),
    )
    .await;
    run(
        project,
        pavels,
        DialogCommand::Assign { operator: pavel },
        Actor::Operator(admin),
    )
    .await;
    run(
        project,
        olgas,
        DialogCommand::JoinFolders { folders: vec![vip] },
        Actor::Operator(olga),
    )
    .await;
    run(
        project,
        free,
        DialogCommand::JoinFolders { folders: vec![vip] },
        Actor::Operator(admin),
    )
    .await;
    for dialog in [olgas, free] {
        run(
            project,
            dialog,
            DialogCommand::AddTags { tags: vec![lead] },
            Actor::Operator(admin),
        )
        .await;
    }
    run(
        project,
        deleted,
        DialogCommand::Delete,
        Actor::Operator(admin),
    )
    .await;
    run(
        project,
        absorbed,
        DialogCommand::MergeInto { survivor: free },
        Actor::Operator(admin),
    )
    .await;
    run(
        project,
        free,
        DialogCommand::AcceptMerge {
            absorbed,
            identities: vec![],
        },
        Actor::Operator(admin),
    )
    .await;
    // Olga read hers.
    run(
        project,
        olgas,
        DialogCommand::MarkRead,
        Actor::Operator(olga),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let (_d, dialogs) = follow(&log, dir.path(), DialogsProjection::default()).await;
    let (_c, cards) = follow(&log, dir.path(), CardProjection).await;
    let (_t, timelines) = follow(&log, dir.path(), TimelineProjection::default()).await;
    let (_p, projects) = follow(&log, dir.path(), ProjectProjection).await;
    let (search_runner, index) = switchboard_projections::search::start(
        log.clone(),
        &dir.path().join("search"),
        SearchOptions::default(),
        RunnerOptions::default(),
    )
    .await
    .unwrap();
    search_runner
        .wait_for(log.last_seq().await.unwrap(), WAIT)
        .await
        .unwrap();

    let caller = |operator, role| QueryCaller {
        project,
        operator,
        role,
    };
    let (as_admin, as_olga, as_pavel) = (
        caller(admin, Role::Admin),
        caller(olga, Role::Operator),
        caller(pavel, Role::Operator),
    );
    let access = |c: &QueryCaller, d| query::access(&dialogs, c, d).unwrap();
    use Access::*;
    for (who, expected) in [
        (
            &as_admin,
            [Visible, Visible, Visible, NotFound, Merged(free), NotFound],
        ),
        (
            &as_olga,
            [
                Visible,
                Forbidden,
                Visible,
                NotFound,
                Merged(free),
                NotFound,
            ],
        ),
        (
            &as_pavel,
            [
                Forbidden,
                Visible,
                Visible,
                NotFound,
                Merged(free),
                NotFound,
            ],
        ),
    ] {
        let got: Vec<_> = [olgas, pavels, free, deleted, absorbed, foreign]
            .into_iter()
            .map(|d| access(who, d))
            .collect();
        assert_eq!(got, expected, "{who:?}");
        // The list shows exactly the dialogs `may_see` calls visible.
        let mut listed = every_dialog(&dialogs, who);
        listed.sort();
        let mut visible: Vec<_> = [olgas, pavels, free, deleted, absorbed, foreign]
            .into_iter()
            .filter(|d| access(who, *d) == Visible)
            .collect();
        visible.sort();
        assert_eq!(listed, visible, "{who:?}");
        // A bulk selection (F6) is the whole list in its order, every page of it, in one
        // snapshot at the sequence the model applied; more than `max` is none.
        let whole = ListQuery {
            project,
            viewer: who.viewer(),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: true,
            order: Order::Activity,
            filter: Filter::default(),
            after: None,
            limit: 1,
        };
        let selection = query::select_every(&dialogs, who, whole.clone(), 10)
            .unwrap()
            .unwrap();
        assert_eq!(selection.dialogs, every_dialog(&dialogs, who), "{who:?}");
        assert_eq!(selection.seq, log.last_seq().await.unwrap());
        let fewer = visible.len() - 1;
        assert_eq!(
            query::select_every(&dialogs, who, whole, fewer).unwrap(),
            None
        );
        // By ids: each once, the visible ones in the given order, the others counted.
        let given = [foreign, free, olgas, pavels, free, deleted, absorbed];
        let (by_ids, refused) = query::select_visible(&dialogs, who, &given).unwrap();
        let expected: Vec<_> = [foreign, free, olgas, pavels, deleted, absorbed]
            .into_iter()
            .filter(|d| access(who, *d) == Visible)
            .collect();
        assert_eq!(by_ids.dialogs, expected, "{who:?}");
        assert_eq!(refused, 6 - expected.len(), "{who:?}");
    }
    assert_eq!(
        query::access(&dialogs, &as_admin, DialogId::new()).unwrap(),
        NotFound
    );

    // Card and timeline follow the same rule.
    let card = open_card(&dialogs, &cards, &as_olga, olgas)
        .unwrap()
        .unwrap();
    assert_eq!(card.profile.name.as_deref(), Some("Olga's"));
    assert_eq!(
        open_card(&dialogs, &cards, &as_olga, pavels).unwrap(),
        Err(Forbidden)
    );
    let page = open_timeline(
        &dialogs,
        &timelines,
        &as_admin,
        free,
        Show::default(),
        Window::Older(None),
        50,
    )
    .unwrap()
    .unwrap();
    assert!(
        page.items.len() >= 2,
        "the survivor's timeline carries the absorbed dialog's message too: {:?}",
        page.items
    );
    assert_eq!(
        open_timeline(
            &dialogs,
            &timelines,
            &as_pavel,
            olgas,
            Show::default(),
            Window::Older(None),
            50
        )
        .unwrap()
        .map(|p| p.items.len()),
        Err(Forbidden)
    );
    assert!(matches!(
        query::open_attachments(&dialogs, &timelines, &as_olga, pavels, &[], None, 10).unwrap(),
        Err(Forbidden)
    ));
    // One file: through a dialog the caller sees whose timeline (with what it absorbed)
    // carries it, and no other.
    let file = |who: &QueryCaller, dialog: DialogId, storage_ref: &str| {
        query::open_attachment(&dialogs, &timelines, who, dialog, storage_ref)
            .unwrap()
            .map(|a| a.file_name)
    };
    assert_eq!(file(&as_olga, olgas, "ref-1"), Ok("Olga's.pdf".to_owned()));
    assert_eq!(
        file(&as_admin, free, "ref-5"),
        Ok("Absorbed.pdf".to_owned())
    );
    assert_eq!(file(&as_olga, free, "ref-3"), Ok("Free.pdf".to_owned()));
    assert_eq!(
        file(&as_olga, olgas, "ref-2"),
        Err(NotFound),
        "Pavel's file"
    );
    assert_eq!(file(&as_pavel, olgas, "ref-1"), Err(Forbidden));
    assert_eq!(file(&as_admin, foreign, "ref-6"), Err(NotFound));
    assert_eq!(file(&as_admin, deleted, "ref-4"), Err(NotFound));
    assert_eq!(
        query::row(&dialogs, &as_admin, foreign).unwrap(),
        Err(NotFound)
    );

    // Badges: unread per caller; Olga read hers.
    let b = badges(&dialogs, &projects, &as_admin).unwrap();
    assert_eq!((b.unread, b.all_chats, b.with_operator), (3, 3, 0));
    assert_eq!(b.folders.len(), 1);
    assert_eq!((b.folders[0].0.folder, b.folders[0].1), (vip, 2));
    let b = badges(&dialogs, &projects, &as_olga).unwrap();
    assert_eq!(
        b.unread, 0,
        "nothing unread among the dialogs assigned to her"
    );
    assert_eq!(b.all_chats, 1, "the free one");
    assert_eq!(b.folders[0].1, 1, "the free one in VIP");
    let b = badges(&dialogs, &projects, &as_pavel).unwrap();
    assert_eq!((b.unread, b.all_chats, b.folders[0].1), (1, 2, 1));

    // Search answers within the caller's project and visibility.
    let found = |who: &QueryCaller, target, text: &str| {
        let mut query = SearchQuery::new(ProjectId::new(), target, text);
        query.limit = 1; // several index pages per answer
        let mut dialogs_found = Vec::new();
        loop {
            let page = query::search(&dialogs, &index, who, query.clone()).unwrap();
            dialogs_found.extend(page.hits.iter().map(|h| h.dialog));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        dialogs_found.sort();
        dialogs_found.dedup();
        dialogs_found
    };
    let sorted = |mut v: Vec<DialogId>| {
        v.sort();
        v
    };
    assert_eq!(
        found(&as_admin, SearchTarget::Messages, "привет"),
        sorted(vec![olgas, pavels, free])
    );
    assert_eq!(
        found(&as_olga, SearchTarget::Messages, "привет"),
        sorted(vec![olgas, free])
    );
    assert_eq!(
        found(&as_pavel, SearchTarget::Clients, "olga"),
        Vec::<DialogId>::new()
    );
    assert_eq!(found(&as_olga, SearchTarget::Clients, "olga"), vec![olgas]);
    assert_eq!(
        found(&as_admin, SearchTarget::Clients, "foreign"),
        Vec::<DialogId>::new()
    );

    // Tag picker: both tags, the used one first, with counts.
    let picker = tag_picker(&dialogs, &projects, &as_admin).unwrap();
    let got: Vec<_> = picker.iter().map(|(t, n)| (t.tag, *n)).collect();
    assert_eq!(got, [(lead, 2), (spam, 0)]);
}

switchboard_tests::both_backends!(access_follows_f12);
