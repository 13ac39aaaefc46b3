//! The dialogs read model against the domain's own rules: random event histories are applied
//! (in random batch sizes) and every counter is compared with what `DialogState` — the rules
//! the command side decides with — says about each dialog and operator (F1.4, F1.5, F1.7,
//! F4.3, F12.1). The incremental counters must also equal a recount.

use proptest::prelude::*;
use std::collections::BTreeMap;
use switchboard_core::domain::dialog::DialogState;
use switchboard_core::log::{LogRecord, Subject};
use switchboard_projections::ProjectionStore;
use switchboard_projections::dialogs::{
    DialogsProjection, Folder, Viewer, all_counters, folder_badge, recount, unanswered_dialogs,
    unread_dialogs,
};
use switchboard_projections::open_reader_for;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

const DIALOGS: usize = 3;
const OPERATORS: usize = 3;
const FOLDERS: usize = 2;

#[derive(Debug, Clone)]
enum Step {
    Received,
    OperatorWrote(usize),
    BotWrote,
    Read(usize),
    MarkedUnread(usize),
    Assigned(usize),
    Unassigned,
    Joined(usize),
    Left(usize),
    BotPaused,
    BotResumed,
    Closed,
    Reopened,
    Deleted,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Received),
        2 => (0..OPERATORS).prop_map(Step::OperatorWrote),
        1 => Just(Step::BotWrote),
        2 => (0..OPERATORS).prop_map(Step::Read),
        1 => (0..OPERATORS).prop_map(Step::MarkedUnread),
        2 => (0..OPERATORS).prop_map(Step::Assigned),
        1 => Just(Step::Unassigned),
        1 => (0..FOLDERS).prop_map(Step::Joined),
        1 => (0..FOLDERS).prop_map(Step::Left),
        1 => Just(Step::BotPaused),
        1 => Just(Step::BotResumed),
        1 => Just(Step::Closed),
        1 => Just(Step::Reopened),
        1 => Just(Step::Deleted),
    ]
}

struct Ids {
    project: ProjectId,
    channel: ChannelId,
    dialogs: Vec<DialogId>,
    operators: Vec<OperatorId>,
    folders: Vec<FolderId>,
}

fn event(ids: &Ids, step: &Step) -> Event {
    let op = |i: usize| ids.operators[i];
    let queued = |author| {
        Event::MessageQueued(MessageQueued {
            message: MessageId::new(),
            channel: ids.channel,
            author,
            text: "answer".into(),
            attachments: vec![],
            reply_to: None,
            template: None,
            reply_to_external_id: None,
        })
    };
    match *step {
        Step::Received => Event::MessageReceived(MessageReceived {
            message: MessageId::new(),
            channel: ids.channel,
            external_id: MessageId::new().token(),
            text: "question".into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::from_micros(1),
        }),
        Step::OperatorWrote(i) => queued(MessageAuthor::Operator(op(i))),
        Step::BotWrote => queued(MessageAuthor::Bot),
        Step::Read(i) => Event::ReadMarked(ReadMarked {
            operator: op(i),
            up_to: None,
        }),
        Step::MarkedUnread(i) => Event::MarkedUnread(MarkedUnread { operator: op(i) }),
        Step::Assigned(i) => Event::DialogAssigned(DialogAssigned {
            operator: op(i),
            previous: None,
        }),
        Step::Unassigned => Event::DialogUnassigned(DialogUnassigned { previous: op(0) }),
        Step::Joined(f) => Event::FoldersJoined(FoldersJoined {
            folders: vec![ids.folders[f]],
        }),
        Step::Left(f) => Event::FoldersLeft(FoldersLeft {
            folders: vec![ids.folders[f]],
        }),
        Step::BotPaused => Event::BotPaused(BotPaused {}),
        Step::BotResumed => Event::BotResumed(BotResumed {}),
        Step::Closed => Event::DialogClosed(DialogClosed {}),
        Step::Reopened => Event::DialogReopened(DialogReopened {
            cause: ReopenCause::Operator,
        }),
        Step::Deleted => Event::ClientDeleted(ClientDeleted {}),
    }
}

fn record(ids: &Ids, seq: u64, dialog: DialogId, payload: Event) -> LogRecord {
    let envelope = Envelope {
        event_id: EventId::new(),
        project: ids.project,
        aggregate: AggregateId::Dialog(dialog),
        occurred_at: Timestamp::from_micros(i64::try_from(seq).unwrap_or(0) * 1_000),
        actor: Actor::System,
        causation_id: None,
        correlation_id: None,
        payload,
    };
    LogRecord {
        seq,
        subject: Subject::dialog(ids.project, dialog),
        msg_id: format!("m{seq}"),
        appended_at: Timestamp::from_micros(1),
        batch: encode_batch(&[envelope]).expect("encode"),
    }
}

/// What the domain's rules say the counts are.
fn expected(ids: &Ids, states: &[DialogState]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let live: Vec<&DialogState> = states
        .iter()
        .filter(|s| !s.deleted && s.merged_into.is_none())
        .collect();
    for (i, operator) in ids.operators.iter().enumerate() {
        for admin in [true, false] {
            let visible = |s: &&&DialogState| admin || s.assignee.is_none_or(|a| a == *operator);
            let unread = |s: &&&DialogState| s.is_unread_for(*operator);
            let header = live
                .iter()
                .filter(|s| admin || s.assignee == Some(*operator))
                .filter(unread)
                .count();
            counts.insert(format!("header {i} {admin}"), header as u64);
            let unanswered = live.iter().filter(visible).filter(|s| s.unanswered).count();
            counts.insert(format!("unanswered {i} {admin}"), unanswered as u64);
            let all = live.iter().filter(visible).filter(unread).count();
            counts.insert(format!("badge all {i} {admin}"), all as u64);
            let with_operator = live
                .iter()
                .filter(visible)
                .filter(|s| s.bot_paused)
                .filter(unread)
                .count();
            counts.insert(
                format!("badge with_operator {i} {admin}"),
                with_operator as u64,
            );
            for (f, folder) in ids.folders.iter().enumerate() {
                let n = live
                    .iter()
                    .filter(visible)
                    .filter(|s| s.folders.contains(folder))
                    .filter(unread)
                    .count();
                counts.insert(format!("badge folder {f} {i} {admin}"), n as u64);
            }
        }
    }
    counts
}

fn actual(conn: &rusqlite::Connection, ids: &Ids) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (i, operator) in ids.operators.iter().enumerate() {
        for admin in [true, false] {
            let viewer = Viewer {
                operator: *operator,
                admin,
            };
            let p = ids.project;
            let badge = |folder| folder_badge(conn, p, viewer, folder).expect("badge");
            counts.insert(
                format!("header {i} {admin}"),
                unread_dialogs(conn, p, viewer).expect("unread"),
            );
            counts.insert(
                format!("unanswered {i} {admin}"),
                unanswered_dialogs(conn, p, viewer).expect("unanswered"),
            );
            counts.insert(format!("badge all {i} {admin}"), badge(Folder::All));
            counts.insert(
                format!("badge with_operator {i} {admin}"),
                badge(Folder::WithOperator),
            );
            for (f, folder) in ids.folders.iter().enumerate() {
                counts.insert(
                    format!("badge folder {f} {i} {admin}"),
                    badge(Folder::Custom(*folder)),
                );
            }
        }
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn counters_follow_the_domain_rules(
        history in prop::collection::vec((0..DIALOGS, step()), 1..60),
        batch in 1usize..8,
    ) {
        let ids = Ids {
            project: ProjectId::new(),
            channel: ChannelId::new(),
            dialogs: (0..DIALOGS).map(|_| DialogId::new()).collect(),
            operators: (0..OPERATORS).map(|_| OperatorId::new()).collect(),
            folders: (0..FOLDERS).map(|_| FolderId::new()).collect(),
        };
        let mut states = vec![DialogState::default(); DIALOGS];
        let mut records = Vec::new();
        let mut seq = 0;
        for (d, dialog) in ids.dialogs.iter().enumerate() {
            let registered = Event::DialogRegistered(DialogRegistered {
                profile: ClientProfile::default(),
                source: Source::default(),
                identity: None,
            });
            states[d].apply(&registered);
            seq += 1;
            records.push(record(&ids, seq, *dialog, registered));
        }
        for (d, step) in &history {
            if states[*d].deleted {
                continue; // the command side refuses everything on a deleted client
            }
            let payload = event(&ids, step);
            states[*d].apply(&payload);
            seq += 1;
            records.push(record(&ids, seq, ids.dialogs[*d], payload));
        }

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dialogs.sqlite");
        let mut store = ProjectionStore::open(&path, DialogsProjection::default()).expect("open");
        for chunk in records.chunks(batch) {
            store.apply(chunk.to_vec()).expect("apply");
        }
        prop_assert_eq!(store.checkpoint().seq, seq);
        let conn = open_reader_for::<DialogsProjection>(&path).expect("reader");
        prop_assert_eq!(actual(&conn, &ids), expected(&ids, &states));
        prop_assert_eq!(all_counters(&conn).expect("counters"), recount(&conn).expect("recount"));
    }
}
