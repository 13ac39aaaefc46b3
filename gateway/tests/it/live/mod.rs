//! `GET /v1/live` over a real socket: the router served on a TCP listener, a real embedded log,
//! real read models, the real live hub and the credential store's SQLite file (operators sign
//! in and stream with their session tokens); events read as `EventSource` reads them.

pub mod client;

use crate::common::{PATIENCE, open_embedded};
use client::{SseClient, SseEvent};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{AnyLog, AppendRequest, EventLog, Expected, MsgId, Subject};
use switchboard_gateway::credentials::{CredentialOptions, CredentialStore};
use switchboard_gateway::live::{LiveHub, LiveOptions};
use switchboard_gateway::readmodels::ReadModels;
use switchboard_gateway::{AppState, app};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

pub const PROJECT: ProjectId = ProjectId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001);
pub const OTHER_PROJECT: ProjectId =
    ProjectId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0002);
pub const ADMIN: OperatorId = OperatorId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00a0);
pub const FIRST: OperatorId = OperatorId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00a1);
pub const SECOND: OperatorId = OperatorId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00a2);
pub const OTHER_ADMIN: OperatorId =
    OperatorId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00b0);
pub const CHANNEL: ChannelId = ChannelId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00c1);
const PASSWORD: &str = "correct horse battery staple";
const AT: Timestamp = Timestamp::from_micros(1_763_784_000_000_000);

pub fn dialog(n: u128) -> DialogId {
    DialogId::from_u128(0x0195_0000_0000_7000_8000_0000_0001_0000 + n)
}

/// A served API with its log, read models and live hub.
pub struct Served {
    _dir: tempfile::TempDir,
    pub log: AnyLog,
    pub models: Arc<ReadModels<AnyLog>>,
    pub addr: SocketAddr,
    /// Each operator's session token.
    pub tokens: HashMap<OperatorId, String>,
    _server: tokio::task::JoinHandle<()>,
}

/// Serves the API (with `options` for its hub) for a project with an admin and two operators,
/// and another project with its admin.
pub async fn serve(options: LiveOptions) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let models = ReadModels::start(
        log.clone(),
        &dir.path().join("read"),
        switchboard_projections::RunnerOptions::default(),
    )
    .await
    .unwrap();
    for project in [PROJECT, OTHER_PROJECT] {
        let created = Event::ProjectCreated(ProjectCreated {
            name: format!("project {project}"),
        });
        on_project(&log, project, created).await;
    }
    for (project, operator, role) in [
        (PROJECT, ADMIN, Role::Admin),
        (PROJECT, FIRST, Role::Operator),
        (PROJECT, SECOND, Role::Operator),
        (OTHER_PROJECT, OTHER_ADMIN, Role::Admin),
    ] {
        let added = Event::OperatorAdded(OperatorAdded {
            operator,
            name: format!("operator {operator}"),
            email: format!("{operator}@example.com"),
            role,
            can_delete: false,
        });
        let seq = on_project(&log, project, added).await;
        models.wait_for(seq, PATIENCE).await.unwrap();
    }
    let credentials = CredentialStore::open_sqlite(
        &dir.path().join("credentials.sqlite"),
        CredentialOptions::default(),
    )
    .await
    .unwrap();
    let mut tokens = HashMap::new();
    for (project, operator) in [
        (PROJECT, ADMIN),
        (PROJECT, FIRST),
        (PROJECT, SECOND),
        (OTHER_PROJECT, OTHER_ADMIN),
    ] {
        let email = format!("{operator}@example.com");
        credentials
            .create_account(project, operator, &email, PASSWORD)
            .await
            .unwrap();
        let session = credentials
            .login(&email, PASSWORD, Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        tokens.insert(operator, session.token.expose().to_owned());
    }
    let mut state = AppState::new(log.clone())
        .with_read_models(Arc::clone(&models))
        .with_credentials(credentials);
    state.live = Some(LiveHub::start(log.clone(), Arc::clone(&models), options));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state);
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Served {
        _dir: dir,
        log,
        models,
        addr,
        tokens,
        _server: server,
    }
}

impl Served {
    pub fn bearer(&self, operator: OperatorId) -> String {
        format!("Bearer {}", self.tokens[&operator])
    }

    /// `GET /v1/live` as `operator` (of `project`), after `last_event_id` when given.
    pub async fn live(
        &self,
        project: ProjectId,
        operator: OperatorId,
        last_event_id: Option<u64>,
    ) -> SseClient {
        let _ = project;
        let mut headers = vec![("authorization", self.bearer(operator))];
        if let Some(id) = last_event_id {
            headers.push(("last-event-id", id.to_string()));
        }
        SseClient::connect(self.addr, "/v1/live", &headers).await
    }

    /// A live stream from now, past its first event (the counters, whose id is where it is).
    pub async fn live_now(&self, project: ProjectId, operator: OperatorId) -> SseClient {
        let mut stream = self.live(project, operator, None).await;
        assert_eq!(stream.status, 200);
        let first = stream.next().await.unwrap();
        assert_eq!(first.event, "counters", "{first:?}");
        stream
    }

    pub async fn applied(&self, seq: u64) {
        self.models.wait_for(seq, PATIENCE).await.unwrap();
    }
}

fn envelope(project: ProjectId, aggregate: AggregateId, payload: Event) -> Envelope {
    Envelope {
        event_id: EventId::new(),
        project,
        aggregate,
        occurred_at: AT,
        actor: Actor::System,
        causation_id: None,
        correlation_id: None,
        payload,
    }
}

async fn append(log: &AnyLog, subject: Subject, events: &[Envelope]) -> u64 {
    let request = AppendRequest {
        subject,
        expected: Expected::Any,
        msg_id: MsgId::new(EventId::new().to_string()).unwrap(),
        batch: encode_batch(events).unwrap(),
    };
    log.append(request).await.unwrap().seq
}

pub async fn on_project(log: &AnyLog, project: ProjectId, payload: Event) -> u64 {
    let event = envelope(project, AggregateId::Project, payload);
    append(log, Subject::project(project), &[event]).await
}

pub async fn on_dialog(log: &AnyLog, project: ProjectId, dialog: DialogId, payload: Event) -> u64 {
    let event = envelope(project, AggregateId::Dialog(dialog), payload);
    append(log, Subject::dialog(project, dialog), &[event]).await
}

pub fn registered(name: &str) -> Event {
    Event::DialogRegistered(DialogRegistered {
        profile: ClientProfile {
            name: Some(name.to_owned()),
            ..ClientProfile::default()
        },
        source: Source::default(),
        identity: None,
    })
}

pub fn received(text: &str) -> Event {
    Event::MessageReceived(MessageReceived {
        message: MessageId::new(),
        channel: CHANNEL,
        external_id: MessageId::new().to_string(),
        text: text.to_owned(),
        attachments: Vec::new(),
        reply_to: None,
        sent_at: AT,
    })
}

pub fn assigned(operator: OperatorId, previous: Option<OperatorId>) -> Event {
    Event::DialogAssigned(DialogAssigned { operator, previous })
}

fn options() -> LiveOptions {
    LiveOptions::default()
}

/// The events about dialogs (`row`, `message`, `remove`) of a list.
fn about_dialogs(events: &[SseEvent]) -> Vec<SseEvent> {
    events
        .iter()
        .filter(|e| matches!(e.event.as_str(), "row" | "message" | "remove"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_the_log_in_order_and_carry_rows_and_messages() {
    let served = serve(options()).await;
    let mut stream = served.live_now(PROJECT, ADMIN).await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["cache-control"], "no-cache");
    assert_eq!(stream.headers["x-accel-buffering"], "no");

    let log = &served.log;
    let one = on_dialog(log, PROJECT, dialog(1), registered("Анна")).await;
    let two = on_dialog(log, PROJECT, dialog(2), registered("Boris")).await;
    let hello = on_dialog(log, PROJECT, dialog(1), received("Здравствуйте!")).await;
    let events = stream.until(hello).await;

    // The changes of one batch of the read model come as one event per dialog, at the last
    // sequence of the dialog in the batch: in order, the last one of each dialog its state.
    let ids: Vec<u64> = events.iter().map(SseEvent::seq).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        ids.iter().all(|id| [one, two, hello].contains(id)),
        "{ids:?}"
    );
    let of = |n: u128| {
        events
            .iter()
            .rfind(|e| e.json()["row"]["dialog"] == dialog(n).to_string())
            .unwrap_or_else(|| panic!("no event of dialog {n}: {events:?}"))
            .clone()
    };
    assert_eq!(of(2).event, "row");
    assert_eq!(of(2).json()["row"]["title"], "Boris");
    let message = of(1);
    assert_eq!(message.event, "message");
    assert_eq!(message.seq(), hello);
    let data = message.json();
    assert_eq!(data["row"]["title"], "Анна");
    assert_eq!(data["messages"][0]["text"], "Здравствуйте!");
    assert_eq!(data["messages"][0]["seq"], hello);
    assert_eq!(data["row"]["unread_messages"], 1);
    assert_eq!(data["row"]["last_message"]["preview"], "Здравствуйте!");
}

/// The hub's pause between publishes bounds how often it wakes the streams, not how many
/// records a publish carries: a burst of records goes out in a few publishes. (The hub took
/// one record from the log per turn and published the first applied one alone after the
/// pause: at 250 ms, 400 records needed well over the stream's 20 s wait.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_records_goes_out_in_a_few_publishes() {
    let served = serve(LiveOptions {
        publish_every: Duration::from_millis(250),
        ..options()
    })
    .await;
    let mut stream = served.live_now(PROJECT, ADMIN).await;
    let mut last = 0;
    for n in 0..400 {
        let name = format!("client {n}");
        last = on_dialog(&served.log, PROJECT, dialog(1_000 + n), registered(&name)).await;
    }
    let events = stream.until(last).await;
    let shown: std::collections::HashSet<String> = about_dialogs(&events)
        .iter()
        .map(|e| {
            e.json()["row"]["dialog"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(shown.len(), 400, "{} dialogs shown", shown.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stream_loses_and_repeats_nothing() {
    let served = serve(options()).await;
    let log = &served.log;
    let mut unbroken = served.live_now(PROJECT, ADMIN).await;
    let mut broken = served.live_now(PROJECT, ADMIN).await;

    let mut last = 0;
    for n in 0..6 {
        on_dialog(log, PROJECT, dialog(n), registered(&format!("client {n}"))).await;
        last = on_dialog(log, PROJECT, dialog(n), received(&format!("hello {n}"))).await;
    }
    let first_part = broken.until(last).await;
    // Cut in the middle: what it saw up to the third event, then a reconnect from its id.
    let kept: Vec<SseEvent> = first_part[..3].to_vec();
    let resume_from = kept[2].seq();
    drop(broken);
    for n in 0..4 {
        last = on_dialog(log, PROJECT, dialog(n), received(&format!("again {n}"))).await;
    }
    let mut resumed = served.live(PROJECT, ADMIN, Some(resume_from)).await;
    let mut seen = kept;
    seen.extend(resumed.until(last).await);

    let reference = about_dialogs(&unbroken.until(last).await);
    assert_eq!(about_dialogs(&seen), reference);
    let ids: Vec<u64> = reference.iter().map(SseEvent::seq).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassigned_dialog_leaves_the_first_operators_stream_and_reaches_the_seconds() {
    let served = serve(options()).await;
    let log = &served.log;
    let mut first = served.live_now(PROJECT, FIRST).await;
    let mut second = served.live_now(PROJECT, SECOND).await;

    on_dialog(log, PROJECT, dialog(7), registered("Vera")).await;
    let to_first = on_dialog(log, PROJECT, dialog(7), assigned(FIRST, None)).await;
    let synced = on_dialog(log, PROJECT, dialog(100), registered("marker")).await;
    // Both may see the free dialog (a row is read once the read model applied its change, so
    // it may already be assigned, and a batch of both changes is one); only the first keeps
    // it once it is theirs.
    let events = first.until(synced).await;
    let about = |events: &[SseEvent]| -> Vec<SseEvent> {
        events
            .iter()
            .filter(|e| e.data.contains(&dialog(7).to_string()))
            .cloned()
            .collect()
    };
    let mine = about(&events);
    assert_eq!(mine.last().unwrap().event, "row");
    assert_eq!(mine.last().unwrap().seq(), to_first);
    assert_eq!(
        mine.last().unwrap().json()["row"]["assignee"],
        FIRST.to_string()
    );
    let events = second.until(synced).await;
    assert!(events.iter().all(|e| !e.data.contains(&FIRST.to_string())));
    if let Some(last) = about(&events).last() {
        assert_eq!(last.event, "remove", "{events:?}");
        assert_eq!(last.json()["reason"], "reassigned");
    }

    let to_second = on_dialog(log, PROJECT, dialog(7), assigned(SECOND, Some(FIRST))).await;
    let gone = first.until(to_second).await;
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].event, "remove");
    assert_eq!(gone[0].json()["dialog"], dialog(7).to_string());
    let shown = second.until(to_second).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].event, "row");
    assert_eq!(shown[0].json()["row"]["assignee"], SECOND.to_string());

    // A message in the dialog now reaches the second operator only.
    let message = on_dialog(log, PROJECT, dialog(7), received("are you there?")).await;
    let marker = on_dialog(log, PROJECT, dialog(8), registered("marker")).await;
    let events = first.until(marker).await;
    assert!(events.iter().all(|e| e.seq() != message), "{events:?}");
    let events = second.until(message).await;
    assert_eq!(events.last().unwrap().event, "message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_never_sees_dialogs_of_others_or_of_another_project() {
    let served = serve(options()).await;
    let log = &served.log;
    let mut second = served.live_now(PROJECT, SECOND).await;
    let mut other = served.live_now(OTHER_PROJECT, OTHER_ADMIN).await;

    on_dialog(log, PROJECT, dialog(1), registered("private")).await;
    on_dialog(log, PROJECT, dialog(1), assigned(FIRST, None)).await;
    on_dialog(log, PROJECT, dialog(1), received("secret")).await;
    let mine = on_dialog(log, OTHER_PROJECT, dialog(2), registered("theirs")).await;
    let free = on_dialog(log, PROJECT, dialog(3), registered("free")).await;

    let seen = second.until(free).await;
    // Dialog 1 may have shown while free (a row without assignee) and then left (a remove);
    // its message and the other project's dialog never reach the stream.
    assert!(!seen.iter().any(|e| e.data.contains("secret")), "{seen:?}");
    assert!(!seen.iter().any(|e| e.data.contains(&dialog(2).to_string())));
    assert!(!seen.iter().any(|e| e.data.contains(&FIRST.to_string())));
    assert!(seen.iter().all(|e| e.event != "message"), "{seen:?}");
    let last = seen.last().unwrap();
    assert_eq!(last.json()["row"]["dialog"], dialog(3).to_string());
    let about_one: Vec<&SseEvent> = seen
        .iter()
        .filter(|e| e.data.contains(&dialog(1).to_string()))
        .collect();
    // (A row read after the assignment was applied shows nothing; its remove may still come.)
    if let Some(last) = about_one.last() {
        assert_eq!(last.event, "remove", "{about_one:?}");
    }
    let theirs = other.until(mine).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0].json()["row"]["title"], "theirs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_carries_the_folders_push_and_sound_switches() {
    let served = serve(options()).await;
    let log = &served.log;
    let folder = FolderId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_00f1);
    on_project(
        log,
        PROJECT,
        Event::FolderCreated(FolderCreated {
            folder,
            name: "VIP".to_owned(),
        }),
    )
    .await;
    on_project(
        log,
        PROJECT,
        Event::FolderNotificationsSet(FolderNotificationsSet {
            folder,
            push: true,
            sound: false,
        }),
    )
    .await;
    on_dialog(log, PROJECT, dialog(1), registered("vip")).await;
    let joined = on_dialog(
        log,
        PROJECT,
        dialog(1),
        Event::FoldersJoined(FoldersJoined {
            folders: vec![folder],
        }),
    )
    .await;
    served.applied(joined).await;
    let mut stream = served.live_now(PROJECT, FIRST).await;

    let long = "я".repeat(600);
    let message = on_dialog(log, PROJECT, dialog(1), received(&long)).await;
    let events = stream.until(message).await;
    let data = events[0].json();
    assert_eq!(events[0].event, "message");
    assert_eq!(data["folders"][0]["folder"], folder.to_string());
    assert_eq!(data["folders"][0]["push"], true);
    assert_eq!(data["folders"][0]["sound"], false);
    assert_eq!(data["messages"][0]["truncated"], true);
    assert_eq!(
        data["messages"][0]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        500
    );
    // The counters follow, with the folder's badge.
    let counters = loop {
        let event = stream.next().await.unwrap();
        if event.event == "counters" {
            break event;
        }
    };
    assert_eq!(counters.seq(), message);
    assert_eq!(counters.json()["folders"][0]["badge"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_older_than_the_ring_gets_one_reset() {
    let served = serve(LiveOptions {
        ring: 4,
        ..options()
    })
    .await;
    let log = &served.log;
    let mut watching = served.live_now(PROJECT, ADMIN).await;
    let first = on_dialog(log, PROJECT, dialog(0), registered("0")).await;
    let mut last = first;
    for n in 1..10 {
        last = on_dialog(log, PROJECT, dialog(n), registered(&n.to_string())).await;
    }
    watching.until(last).await;

    let mut late = served.live(PROJECT, ADMIN, Some(first)).await;
    let reset = late.next().await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:?}");
    assert_eq!(reset.seq(), last);
    let next = on_dialog(log, PROJECT, dialog(20), registered("after")).await;
    let events = late.until(next).await;
    assert_eq!(events.len(), 1, "{events:?}");

    // Within the ring: no reset, the changes after the id.
    let mut recent = served.live(PROJECT, ADMIN, Some(last - 2)).await;
    let events = recent.until(next).await;
    let ids: Vec<u64> = events.iter().map(SseEvent::seq).collect();
    assert_eq!(ids, [last - 1, last, next]);

    // An id the log never reached: reload.
    let mut made_up = served.live(PROJECT, ADMIN, Some(next + 1_000)).await;
    assert_eq!(made_up.next().await.unwrap().event, "reset");
    let bad = served.live(PROJECT, ADMIN, None).await;
    drop(bad);
    let malformed = SseClient::connect(
        served.addr,
        "/v1/live?last_event_id=yesterday",
        &[("authorization", served.bearer(ADMIN))],
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.text().await.contains("last_event_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_sends_heartbeats_with_its_position() {
    let served = serve(LiveOptions {
        heartbeat: Duration::from_millis(200),
        ..options()
    })
    .await;
    let seq = on_dialog(&served.log, PROJECT, dialog(1), registered("x")).await;
    served.applied(seq).await;
    let mut stream = served.live_now(PROJECT, FIRST).await;
    for _ in 0..2 {
        let beat = stream.next().await.unwrap();
        assert_eq!(beat.event, "heartbeat");
        assert!(beat.seq() >= seq, "{beat:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_operator_is_removed_from_the_project() {
    let served = serve(options()).await;
    let mut stream = served.live_now(PROJECT, FIRST).await;
    let mut admin = served.live_now(PROJECT, ADMIN).await;
    on_project(
        &served.log,
        PROJECT,
        Event::OperatorRemoved(OperatorRemoved { operator: FIRST }),
    )
    .await;
    loop {
        match stream.next().await {
            None => break,
            Some(event) => assert_eq!(event.event, "counters", "{event:?}"),
        }
    }
    // Others go on.
    let seq = on_dialog(&served.log, PROJECT, dialog(1), registered("x")).await;
    assert_eq!(admin.until(seq).await.len(), 1);
    // And the removed operator is refused a new stream.
    assert_eq!(served.live(PROJECT, FIRST, None).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_operators_draft_reaches_only_their_own_stream() {
    let served = serve(options()).await;
    let log = &served.log;
    let mut first = served.live_now(PROJECT, FIRST).await;
    let mut second = served.live_now(PROJECT, SECOND).await;
    on_dialog(log, PROJECT, dialog(1), registered("shared")).await;
    let message = on_dialog(log, PROJECT, dialog(1), received("hi")).await;
    // Published before the draft is appended: the draft is a change of its own.
    second.until(message).await;
    let draft = on_dialog(
        log,
        PROJECT,
        dialog(1),
        Event::DraftSaved(DraftSaved {
            operator: FIRST,
            text: "a reply in the making".to_owned(),
        }),
    )
    .await;
    let marker = on_dialog(log, PROJECT, dialog(2), registered("marker")).await;
    let events = first.until(marker).await;
    let drafted = events.iter().find(|e| e.seq() == draft).unwrap();
    assert_eq!(drafted.json()["row"]["draft"], "a reply in the making");
    assert_eq!(drafted.json()["row"]["unread"], true);
    let events = second.until(marker).await;
    let ids: Vec<u64> = events.iter().map(SseEvent::seq).collect();
    assert_eq!(ids, [marker]);
    assert!(
        !events
            .iter()
            .any(|e| e.data.contains("reply in the making"))
    );
}

/// Reads until the server ends the stream (only counters and heartbeats before).
async fn ended(stream: &mut SseClient) {
    while let Some(event) = stream.next().await {
        assert!(
            matches!(event.event.as_str(), "counters" | "heartbeat"),
            "{event:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_sessions_streams() {
    let served = serve(options()).await;
    let mut stream = served.live_now(PROJECT, FIRST).await;
    let mut other = served.live_now(PROJECT, SECOND).await;
    let out = SseClient::send(
        served.addr,
        "POST",
        "/v1/auth/logout",
        &[("authorization", served.bearer(FIRST))],
    )
    .await;
    assert_eq!(out.status, 204);
    ended(&mut stream).await;
    assert_eq!(served.live(PROJECT, FIRST, None).await.status, 401);
    let seq = on_dialog(&served.log, PROJECT, dialog(1), registered("x")).await;
    assert_eq!(other.until(seq).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_deactivating_an_operator_ends_their_streams() {
    let served = serve(options()).await;
    let mut stream = served.live_now(PROJECT, SECOND).await;
    let mut admin = served.live_now(PROJECT, ADMIN).await;
    let deactivated = SseClient::send(
        served.addr,
        "POST",
        &format!("/v1/operators/{SECOND}/deactivate"),
        &[("authorization", served.bearer(ADMIN))],
    )
    .await;
    let status = deactivated.status;
    assert_eq!(status, 200, "{}", deactivated.text().await);
    ended(&mut stream).await;
    assert_eq!(served.live(PROJECT, SECOND, None).await.status, 401);
    let seq = on_dialog(&served.log, PROJECT, dialog(1), registered("x")).await;
    assert_eq!(admin.until(seq).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_needs_credentials() {
    let served = serve(options()).await;
    let anonymous = SseClient::connect(served.addr, "/v1/live", &[]).await;
    assert_eq!(anonymous.status, 401);
    let made_up = SseClient::connect(
        served.addr,
        "/v1/live",
        &[("authorization", "Bearer sb_s_made-up".to_owned())],
    )
    .await;
    assert_eq!(made_up.status, 401);
}

/// The next `counters` event with an id of at least `seq`.
async fn counters_at(stream: &mut SseClient, seq: u64) -> serde_json::Value {
    loop {
        let event = stream.next().await.expect("the stream ended");
        if event.event == "counters" && event.seq() >= seq {
            return event.json();
        }
    }
}

/// The streams of one caller share a counters answer (read once per hub position); callers of
/// other rights, at the same position, each get their own — and a caller whose role changed
/// gets the counters of the new role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_counters_never_reach_a_caller_of_other_rights() {
    let served = serve(options()).await;
    let log = &served.log;
    let mut first = served.live_now(PROJECT, FIRST).await;
    let mut first_again = served.live_now(PROJECT, FIRST).await;
    let mut second = served.live_now(PROJECT, SECOND).await;
    let mut admin = served.live_now(PROJECT, ADMIN).await;

    on_dialog(log, PROJECT, dialog(1), registered("first's")).await;
    on_dialog(log, PROJECT, dialog(1), assigned(FIRST, None)).await;
    on_dialog(log, PROJECT, dialog(1), received("for the first")).await;
    // A change every stream sees: all compute their counters at the same position.
    let marker = on_dialog(log, PROJECT, dialog(2), registered("free")).await;

    let mine = counters_at(&mut first, marker).await;
    assert_eq!(mine["unread"], 1, "{mine}");
    assert_eq!(mine["all_chats"], 1, "{mine}");
    assert_eq!(counters_at(&mut first_again, marker).await, mine);
    let theirs = counters_at(&mut second, marker).await;
    assert_eq!(theirs["unread"], 0, "{theirs}");
    assert_eq!(theirs["all_chats"], 0, "{theirs}");
    let admins = counters_at(&mut admin, marker).await;
    assert_eq!(admins["unread"], 1, "{admins}");

    // Promoted, the second operator sees the first's dialog: reset, then the admin's counters.
    let promoted = on_project(
        log,
        PROJECT,
        Event::OperatorRoleChanged(OperatorRoleChanged {
            operator: SECOND,
            role: Role::Admin,
            can_delete: false,
        }),
    )
    .await;
    let reset = loop {
        let event = second.next().await.expect("the stream ended");
        if event.event == "reset" {
            break event;
        }
    };
    assert_eq!(reset.seq(), promoted);
    assert_eq!(counters_at(&mut second, promoted).await["unread"], 1);
    // And from then on the admin's changes: a message in the first's dialog reaches it.
    let message = on_dialog(log, PROJECT, dialog(1), received("seen by admins")).await;
    let events = second.until(message).await;
    assert_eq!(events.last().unwrap().event, "message", "{events:?}");
    assert_eq!(events.last().unwrap().seq(), message);
}
