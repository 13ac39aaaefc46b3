//! The project read model over both real backends: every project command through the command
//! service, the runner consuming the log, every query checked; a rebuild gives the same answers.

use std::time::Duration;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::EventLog;
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_projections::project::{
    self, ProjectProjection, SlaMark, SlaThresholds, channels, folders, lists, operators,
    pipelines, project_info, saved_filters, tags, templates, variables,
};
use switchboard_projections::{ProjectionRunner, RunnerOptions, Until, open_reader, rebuild};
use switchboard_schemas::{
    Actor, ChannelId, ChannelKind, FilterId, FolderId, ListId, OperatorId, PipelineId, ProjectId,
    Role, Stage, StageId, TagId, TemplateId, Timestamp,
};

const WAIT: Duration = Duration::from_secs(10);

struct Ids {
    project: ProjectId,
    other: ProjectId,
    admin: OperatorId,
    olga: OperatorId,
    channel: ChannelId,
    vip: FolderId,
    gone: FolderId,
    lead: TagId,
    spam: TagId,
    list: ListId,
    pipeline: PipelineId,
    stages: [StageId; 2],
    template: TemplateId,
    filter: FilterId,
    dropped_filter: FilterId,
}

async fn project_history<L: EventLog>(service: &CommandService<L>) -> Ids {
    let ids = Ids {
        project: ProjectId::new(),
        other: ProjectId::new(),
        admin: OperatorId::new(),
        olga: OperatorId::new(),
        channel: ChannelId::new(),
        vip: FolderId::new(),
        gone: FolderId::new(),
        lead: TagId::new(),
        spam: TagId::new(),
        list: ListId::new(),
        pipeline: PipelineId::new(),
        stages: [StageId::new(), StageId::new()],
        template: TemplateId::new(),
        filter: FilterId::new(),
        dropped_filter: FilterId::new(),
    };
    use ProjectCommand as C;
    let commands = vec![
        C::Create {
            name: "shop".into(),
        },
        C::AddOperator {
            operator: ids.admin,
            name: "Anna".into(),
            email: "anna@example.com".into(),
            role: Role::Admin,
            can_delete: true,
        },
        C::AddOperator {
            operator: ids.olga,
            name: "Olga".into(),
            email: "olga@example.com".into(),
            role: Role::Operator,
            can_delete: false,
        },
        C::ChangeOperatorRole {
            operator: ids.olga,
            role: Role::Admin,
            can_delete: false,
        },
        C::ConnectChannel {
            channel: ids.channel,
            kind: ChannelKind::Telegram,
            name: "@shop_bot".into(),
        },
        C::CreateFolder {
            folder: ids.vip,
            name: "VIP".into(),
        },
        C::CreateFolder {
            folder: ids.gone,
            name: "Old".into(),
        },
        C::RenameFolder {
            folder: ids.vip,
            name: "VIP clients".into(),
        },
        C::SetFolderNotifications {
            folder: ids.vip,
            push: false,
            sound: true,
        },
        C::DeleteFolder { folder: ids.gone },
        C::DefineTag {
            tag: ids.lead,
            name: "lead".into(),
            color: "#ff0000".into(),
        },
        C::DefineTag {
            tag: ids.spam,
            name: "spam".into(),
            color: "#000000".into(),
        },
        C::DeleteTag { tag: ids.spam },
        C::DefineList {
            list: ids.list,
            name: "newsletter".into(),
        },
        C::DefineVariable {
            name: "city".into(),
            choices: vec!["Moscow".into(), "Kazan".into()],
        },
        C::DefinePipeline {
            pipeline: ids.pipeline,
            name: "sales".into(),
            stages: vec![
                Stage {
                    stage: ids.stages[0],
                    name: "new".into(),
                },
                Stage {
                    stage: ids.stages[1],
                    name: "won".into(),
                },
            ],
        },
        C::SetSlaThresholds {
            yellow_after_secs: 60,
            red_after_secs: 600,
        },
        C::SaveTemplate {
            template: ids.template,
            name: "hello".into(),
            text: "Здравствуйте!".into(),
        },
        C::SaveFilter {
            filter: ids.filter,
            name: "hot leads".into(),
            query: r#"{"tags_all":["lead"]}"#.into(),
        },
        C::SaveFilter {
            filter: ids.dropped_filter,
            name: "old".into(),
            query: r#"{"status":"closed"}"#.into(),
        },
        C::DeleteFilter {
            filter: ids.dropped_filter,
        },
        C::RemoveOperator { operator: ids.olga },
        C::SetAutoMerge { enabled: true },
        C::DisconnectChannel {
            channel: ids.channel,
        },
    ];
    for command in commands {
        service
            .project(ids.project, command, CommandMeta::new(Actor::System))
            .await
            .unwrap_or_else(|e| panic!("refused: {e}"));
    }
    // Another project's definitions never show in this one (F12.2).
    for command in [
        C::Create {
            name: "other".into(),
        },
        C::DefineTag {
            tag: TagId::new(),
            name: "lead".into(),
            color: "#00ff00".into(),
        },
    ] {
        service
            .project(ids.other, command, CommandMeta::new(Actor::System))
            .await
            .expect("other project");
    }
    ids
}

fn check(conn: &rusqlite::Connection, ids: &Ids) {
    let info = project_info(conn, ids.project).unwrap().expect("project");
    assert_eq!(info.name, "shop");
    assert!(info.auto_merge);
    let sla = info.sla.expect("thresholds");
    assert_eq!(
        sla,
        SlaThresholds {
            yellow_after_secs: 60,
            red_after_secs: 600
        }
    );
    let since = Timestamp::from_micros(0);
    assert_eq!(
        sla.mark(Some(since), Timestamp::from_micros(61_000_000)),
        SlaMark::Yellow
    );

    let ops = operators(conn, ids.project).unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!((ops[0].operator, ops[0].role), (ids.admin, Role::Admin));
    assert_eq!(ops[1].operator, ids.olga);
    assert_eq!(ops[1].role, Role::Admin, "role change applied");
    assert!(ops[1].removed && !ops[0].removed);

    let chans = channels(conn, ids.project).unwrap();
    assert_eq!(chans.len(), 1);
    assert_eq!(chans[0].name, "@shop_bot");
    assert!(!chans[0].connected);

    let fs = folders(conn, ids.project).unwrap();
    assert_eq!(fs.len(), 1, "the deleted folder is gone");
    assert_eq!(
        (fs[0].folder, fs[0].name.as_str(), fs[0].push, fs[0].sound),
        (ids.vip, "VIP clients", false, true)
    );

    let ts = tags(conn, ids.project).unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].tag, ts[0].name.as_str(), ts[0].color.as_str()),
        (ids.lead, "lead", "#ff0000")
    );
    assert_eq!(tags(conn, ids.other).unwrap().len(), 1);
    assert_eq!(tags(conn, ids.other).unwrap()[0].color, "#00ff00");

    assert_eq!(lists(conn, ids.project).unwrap()[0].list, ids.list);
    let vars = variables(conn, ids.project).unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].choices, ["Moscow", "Kazan"]);
    let ps = pipelines(conn, ids.project).unwrap();
    assert_eq!(ps.len(), 1);
    let stage_ids: Vec<_> = ps[0].stages.iter().map(|s| s.stage).collect();
    assert_eq!(stage_ids, ids.stages);
    let tpl = templates(conn, ids.project).unwrap();
    assert_eq!(
        (tpl[0].template, tpl[0].text.as_str()),
        (ids.template, "Здравствуйте!")
    );
    let saved = saved_filters(conn, ids.project).unwrap();
    assert_eq!(saved.len(), 1, "the deleted saved filter is gone");
    assert_eq!(
        (saved[0].filter, saved[0].query.as_str()),
        (ids.filter, r#"{"tags_all":["lead"]}"#)
    );
    assert!(
        project::project_info(conn, ProjectId::new())
            .unwrap()
            .is_none()
    );
}

async fn definitions_follow_the_commands<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().unwrap();
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let ids = project_history(&service).await;
    let live = dir.path().join("project.sqlite");
    let runner = ProjectionRunner::start(
        log.clone(),
        &live,
        ProjectProjection,
        RunnerOptions {
            max_batch: 4,
            ..RunnerOptions::default()
        },
    )
    .await
    .unwrap();
    let last = log.last_seq().await.unwrap();
    runner.wait_for(last, WAIT).await.unwrap();
    check(&open_reader(&live).unwrap(), &ids);

    let rebuilt = dir.path().join("rebuilt.sqlite");
    rebuild(&log, &rebuilt, ProjectProjection, Until::End, 7, |_| {})
        .await
        .unwrap();
    check(&open_reader(&rebuilt).unwrap(), &ids);
    runner.shutdown().await;
}

switchboard_tests::both_backends!(definitions_follow_the_commands);
