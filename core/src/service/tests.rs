//! The dialog cache's order and a command that outlives its caller, over a log whose appends
//! take a while.

use super::cache::DialogKey;
use super::*;
use crate::log::embedded::{EmbeddedLog, EmbeddedOptions};
use crate::log::{AppendAck, LogRecord};
use futures::stream::BoxStream;
use std::pin::Pin;
use std::task::Context as TaskContext;
use switchboard_schemas::{ChannelId, ChannelKind, MessageId};

/// The embedded log with appends that take a while before they reach it, so that a command
/// can be dropped while its append is still only a future.
#[derive(Clone, Debug)]
struct SlowLog(EmbeddedLog);

impl EventLog for SlowLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendAck, LogError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.append(request).await
    }
    async fn read(
        &self,
        from_seq: u64,
        filter: &SubjectFilter,
        max: usize,
    ) -> Result<Vec<LogRecord>, LogError> {
        self.0.read(from_seq, filter, max).await
    }
    fn tail(
        &self,
        from_seq: u64,
        filter: SubjectFilter,
    ) -> BoxStream<'static, Result<LogRecord, LogError>> {
        self.0.tail(from_seq, filter)
    }
    async fn last_subject_seq(&self, subject: &Subject) -> Result<u64, LogError> {
        self.0.last_subject_seq(subject).await
    }
    async fn last_seq(&self) -> Result<u64, LogError> {
        self.0.last_seq().await
    }
    fn backend(&self) -> &'static str {
        "slow"
    }
}

struct World {
    _dir: tempfile::TempDir,
    service: CommandService<SlowLog>,
    project: ProjectId,
    channel: ChannelId,
    dialog: DialogId,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let service = CommandService::new(SlowLog(log), ServiceOptions::default());
    let (project, channel, dialog) = (ProjectId::new(), ChannelId::new(), DialogId::new());
    let system = || CommandMeta::new(Actor::System);
    for command in [
        ProjectCommand::Create {
            name: "shop".into(),
        },
        ProjectCommand::ConnectChannel {
            channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
    ] {
        service.project(project, command, system()).await.unwrap();
    }
    let register = DialogCommand::Register {
        profile: ClientProfile::default(),
        source: Source::default(),
        identity: Some(ChannelIdentity {
            channel,
            kind: ChannelKind::Telegram,
            external_id: "42".into(),
        }),
    };
    service
        .dialog(
            project,
            dialog,
            register,
            CommandMeta::new(Actor::Connector(channel)),
        )
        .await
        .unwrap();
    World {
        _dir: dir,
        service,
        project,
        channel,
        dialog,
    }
}

fn inbound(world: &World, external_id: &str) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: MessageId::new(),
        channel: world.channel,
        external_id: external_id.into(),
        text: "hello".into(),
        attachments: vec![],
        reply_to: None,
        sent_at: Timestamp::now(),
    }
}

async fn dialog_messages(world: &World) -> usize {
    let filter = SubjectFilter::exact(&Subject::dialog(world.project, world.dialog));
    world
        .service
        .log()
        .read(1, &filter, 100)
        .await
        .unwrap()
        .len()
}

#[test]
fn the_dialog_cache_evicts_the_least_recently_used_entry() {
    let mut cache = DialogCache {
        lru: LruCache::new(NonZeroUsize::new(8).unwrap()),
        clock: 0,
    };
    let project = ProjectId::new();
    let keys: Vec<DialogKey> = (0..12).map(|_| (project, DialogId::new())).collect();
    let state = |seq| Cached {
        state: Box::<DialogState>::default(),
        last_seq: seq,
    };
    for (seq, key) in keys[..8].iter().enumerate() {
        cache.put_back(*key, state(seq as u64));
    }
    // The oldest entry is used again (taken and put back): it moves to the front.
    let taken = cache.take(&keys[0]).expect("cached");
    assert_eq!(taken.last_seq, 0);
    assert!(cache.take(&keys[0]).is_none(), "taken out while in use");
    cache.put_back(keys[0], taken);
    // A new dialog evicts the least recently used one, keys[1], not keys[0].
    cache.put_back(keys[8], state(8));
    assert!(cache.take(&keys[1]).is_none());
    assert_eq!(cache.take(&keys[0]).map(|c| c.last_seq), Some(0));
    // Entries near the front are put back without moving; the cache stays bounded and
    // every entry still in it is one of the most recently used.
    cache.put_back(keys[8], state(9));
    for (seq, key) in keys[9..].iter().enumerate() {
        cache.put_back(*key, state(10 + seq as u64));
    }
    assert_eq!(cache.lru.len(), 8);
    for key in &keys[8..] {
        assert!(cache.lru.contains(key), "recent entries stay");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_dropped_under_way_still_completes() {
    let world = world().await;
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let mut command =
        world
            .service
            .dialog(world.project, world.dialog, inbound(&world, "m1"), meta);
    // One poll starts it: decided, encoded, its append under way but not yet in the log.
    let waker = futures::task::noop_waker();
    let poll = Pin::new(&mut command).poll(&mut TaskContext::from_waker(&waker));
    assert!(
        poll.is_pending(),
        "the append cannot have been answered yet"
    );
    assert_eq!(dialog_messages(&world).await, 1);
    drop(command);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dialog_messages(&world).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the dropped command was not completed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The command finished and put the dialog's state back: the next one sees it.
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let again = world
        .service
        .dialog(world.project, world.dialog, inbound(&world, "m1"), meta)
        .await
        .unwrap();
    assert_eq!(again.events, 0, "the same inbound message is recognised");
    assert_eq!(dialog_messages(&world).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_dropped_before_its_first_poll_does_nothing() {
    let world = world().await;
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    drop(
        world
            .service
            .dialog(world.project, world.dialog, inbound(&world, "m1"), meta),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(dialog_messages(&world).await, 1);
}
