//! The dialog cache's order, a command that outlives its caller (over a log whose appends take
//! a while), and what the caches spare the log (over a log that counts its calls).

use super::cache::DialogKey;
use super::*;
use crate::log::embedded::{EmbeddedLog, EmbeddedOptions};
use crate::log::{AppendAck, LogRecord};
use futures::stream::BoxStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Context as TaskContext;
use switchboard_schemas::{ChannelId, ChannelKind, MessageId};

/// The embedded log with appends that take `delay` before they reach it (so that a command
/// can be dropped while its append is still only a future), counting the appends and the
/// checks of a subject's last sequence that reach it.
#[derive(Clone, Debug)]
struct SlowLog(EmbeddedLog, Duration, Arc<Calls>);

#[derive(Debug, Default)]
struct Calls {
    appends: AtomicUsize,
    checks: AtomicUsize,
}

impl Calls {
    /// (appends, checks) so far.
    fn seen(&self) -> (usize, usize) {
        (
            self.appends.load(Ordering::SeqCst),
            self.checks.load(Ordering::SeqCst),
        )
    }
}

impl EventLog for SlowLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendAck, LogError> {
        tokio::time::sleep(self.1).await;
        self.2.appends.fetch_add(1, Ordering::SeqCst);
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
        self.2.checks.fetch_add(1, Ordering::SeqCst);
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
    world_with(Duration::from_millis(50)).await
}

async fn world_with(append_delay: Duration) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let log = SlowLog(log, append_delay, Arc::default());
    let service = CommandService::new(log, ServiceOptions::default());
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

impl World {
    fn calls(&self) -> (usize, usize) {
        self.service.log().2.seen()
    }

    fn identity(&self, external_id: &str) -> ChannelIdentity {
        ChannelIdentity {
            channel: self.channel,
            kind: ChannelKind::Telegram,
            external_id: external_id.into(),
        }
    }

    async fn claim(
        &self,
        service: &CommandService<SlowLog>,
        identity: &ChannelIdentity,
        dialog: DialogId,
    ) -> Result<CommandAck, CommandError> {
        let meta = CommandMeta::new(Actor::Connector(self.channel));
        let claim = IdentityCommand::Claim { dialog };
        service.identity(self.project, identity, claim, meta).await
    }
}

#[tokio::test]
async fn a_known_identity_is_refused_from_the_cache_after_one_check_and_no_append() {
    let world = world_with(Duration::ZERO).await;
    let identity = world.identity("7");
    let owner = world.dialog;
    let claimed = world.claim(&world.service, &identity, owner).await.unwrap();
    assert_eq!(claimed.events, 1);
    // Each inbound message of a known client claims its identity for a new candidate again.
    for _ in 0..3 {
        let before = world.calls();
        let answer = world
            .claim(&world.service, &identity, DialogId::new())
            .await;
        assert!(
            matches!(answer, Err(CommandError::Refused(Refusal::IdentityClaimed(o))) if o == owner),
            "{answer:?}"
        );
        let (appends, checks) = world.calls();
        assert_eq!(appends, before.0, "no append (which would only conflict)");
        assert_eq!(
            checks,
            before.1 + 1,
            "one check of the claim's last sequence"
        );
    }
}

#[tokio::test]
async fn a_claim_cached_as_taken_sees_a_release_by_another_writer() {
    let world = world_with(Duration::ZERO).await;
    // Another node on the same log, with caches of its own.
    let other = CommandService::new(world.service.log().clone(), ServiceOptions::default());
    let identity = world.identity("8");
    let (first, second) = (DialogId::new(), DialogId::new());
    world.claim(&world.service, &identity, first).await.unwrap();
    let answer = world.claim(&world.service, &identity, second).await;
    assert!(matches!(
        answer,
        Err(CommandError::Refused(Refusal::IdentityClaimed(o))) if o == first
    ));
    // The other node releases it: this node's cache still names `first` as the owner.
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let release = IdentityCommand::Release { dialog: first };
    let released = other
        .identity(world.project, &identity, release, meta)
        .await
        .unwrap();
    assert_eq!(released.events, 1);
    let claimed = world
        .claim(&world.service, &identity, second)
        .await
        .unwrap();
    assert_eq!(
        claimed.events, 1,
        "claimed anew, not refused from the stale cache"
    );
    let answer = world.claim(&other, &identity, DialogId::new()).await;
    assert!(
        matches!(answer, Err(CommandError::Refused(Refusal::IdentityClaimed(o))) if o == second),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_registered_dialog_refuses_a_registration_from_the_cache_alone() {
    let world = world_with(Duration::ZERO).await;
    let before = world.calls();
    let register = DialogCommand::Register {
        profile: ClientProfile::default(),
        source: Source::default(),
        identity: Some(world.identity("42")),
    };
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let answer = world
        .service
        .dialog(world.project, world.dialog, register.clone(), meta)
        .await;
    assert!(matches!(
        answer,
        Err(CommandError::Refused(Refusal::DialogExists))
    ));
    assert_eq!(
        world.calls(),
        before,
        "a lasting refusal needs no look at the log"
    );
    // Another node appended meanwhile: the cached state is behind, the refusal still holds,
    // and the next command that appends catches up.
    let other = CommandService::new(world.service.log().clone(), ServiceOptions::default());
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    other
        .dialog(world.project, world.dialog, inbound(&world, "m1"), meta)
        .await
        .unwrap();
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let answer = world
        .service
        .dialog(world.project, world.dialog, register, meta)
        .await;
    assert!(matches!(
        answer,
        Err(CommandError::Refused(Refusal::DialogExists))
    ));
    let meta = CommandMeta::new(Actor::Connector(world.channel));
    let ack = world
        .service
        .dialog(world.project, world.dialog, inbound(&world, "m2"), meta)
        .await
        .unwrap();
    assert_eq!(ack.events, 1);
    assert_eq!(dialog_messages(&world).await, 3);
}
