//! The command service: load an aggregate's state (from a small cache, else from the log), decide,
//! append with optimistic concurrency, retry on conflict, answer with the sequence.
//!
//! - Commands on one aggregate are serialised inside the process (striped async locks), so a
//!   process does not race itself; across processes the log's expected-last-subject-sequence
//!   check does the same job and a conflict re-reads and re-decides.
//! - A command runs in its caller's task (no task per command: no scheduling, no wake-up of
//!   another thread), but to completion: if the caller goes away (an HTTP client disconnecting)
//!   while the command is under way, the rest of it moves into a task of its own, so an append's
//!   acknowledgement future is never dropped half-way. See [`Completing`].
//! - The command id is the append's message id, so a retried command (same id) is answered with
//!   the original sequence instead of being applied twice.
//!
//! Submodules: `cache` (the cached states of dialogs and projects), `completing`
//! ([`Completing`], the future of a command under way); `tests`.

mod cache;
mod completing;
#[cfg(test)]
mod tests;

pub use completing::Completing;

use crate::domain::dialog::{DialogCommand, DialogState};
use crate::domain::identity::{IdentityCommand, IdentityState};
use crate::domain::project::{ProjectCommand, ProjectState};
use crate::domain::{self, Caller, Context, Refusal};
use crate::log::{AppendRequest, EventLog, Expected, LogError, MsgId, Subject, SubjectFilter};
use cache::{Cached, CachedProject, DialogCache, IdentityCache};
use lru::LruCache;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_schemas::{
    Actor, AggregateId, ChannelIdentity, ClientProfile, DialogId, Envelope, Event, EventId,
    ProjectId, Source, Timestamp, decode_batch, encode_batch,
};
use uuid::Uuid;

/// Who gives a command, and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMeta {
    /// Idempotency key: the same id is never applied twice (within the log's duplicate window;
    /// beyond it, the domain's own idempotency applies).
    pub command_id: Uuid,
    pub actor: Actor,
    pub correlation_id: Option<Uuid>,
}

impl CommandMeta {
    pub fn new(actor: Actor) -> Self {
        Self {
            command_id: Uuid::now_v7(),
            actor,
            correlation_id: None,
        }
    }
}

/// The answer to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandAck {
    /// The sequence of the command's last event, or the aggregate's last sequence when the
    /// command changed nothing: a query that waits for it sees the command's effect.
    pub seq: u64,
    /// How many events were appended (0: nothing to change).
    pub events: usize,
    /// The command id had been applied before; `seq` is from that time.
    pub duplicate: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("too much contention on {subject}: gave up after {attempts} attempts")]
    Contention { subject: String, attempts: u32 },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("stored events of {subject} could not be read: {reason}")]
    Corrupt { subject: String, reason: String },
    #[error("command task failed: {0}")]
    Internal(String),
}

#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How many dialog states to keep in memory.
    pub dialog_cache: usize,
    /// Attempts on optimistic-concurrency conflicts before giving up.
    pub max_attempts: u32,
    /// Retries of an append whose outcome is unknown (timeouts), with the same message id.
    pub max_unavailable_retries: u32,
    /// How long cached project settings are trusted before checking the log for changes made by
    /// other processes.
    pub project_refresh: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            dialog_cache: 50_000,
            max_attempts: 32,
            max_unavailable_retries: 5,
            project_refresh: Duration::from_secs(1),
        }
    }
}

const STRIPES: usize = 4096;

struct Inner<L> {
    log: L,
    options: ServiceOptions,
    dialogs: Mutex<DialogCache>,
    projects: Mutex<LruCache<ProjectId, CachedProject>>,
    identities: Mutex<IdentityCache>,
    stripes: Box<[tokio::sync::Mutex<()>]>,
    hasher: lru::DefaultHasher,
}

/// See the module documentation.
pub struct CommandService<L: EventLog> {
    inner: Arc<Inner<L>>,
}

impl<L: EventLog> Clone for CommandService<L> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<L: EventLog> std::fmt::Debug for CommandService<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandService")
            .field("backend", &self.inner.log.backend())
            .field("dialogs_cached", &self.inner.dialogs.lock().lru.len())
            .finish()
    }
}

impl<L: EventLog> CommandService<L> {
    pub fn new(log: L, options: ServiceOptions) -> Self {
        let capacity = NonZeroUsize::new(options.dialog_cache.max(1)).unwrap_or(NonZeroUsize::MIN);
        let projects = NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Arc::new(Inner {
                log,
                options,
                dialogs: Mutex::new(DialogCache::new(capacity)),
                projects: Mutex::new(LruCache::new(projects)),
                identities: Mutex::new(IdentityCache::new(capacity)),
                stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                hasher: lru::DefaultHasher::default(),
            }),
        }
    }

    pub fn log(&self) -> &L {
        &self.inner.log
    }

    /// Run a command on one dialog.
    pub fn dialog(
        &self,
        project: ProjectId,
        dialog: DialogId,
        command: DialogCommand,
        meta: CommandMeta,
    ) -> Completing<CommandAck> {
        // The async fn itself, not a block around it: its arguments (the command is 300 bytes) are
        // kept once in the command's future instead of twice.
        Completing::new(self.clone().dialog_inner(project, dialog, command, meta))
    }

    /// Run a command on project settings.
    pub fn project(
        &self,
        project: ProjectId,
        command: ProjectCommand,
        meta: CommandMeta,
    ) -> Completing<CommandAck> {
        Completing::new(self.clone().project_inner(project, command, meta))
    }

    /// Claim or release a channel identity for a dialog (F11.2). A claim of an identity that
    /// another dialog owns is refused with [`Refusal::IdentityClaimed`] naming the owner.
    pub fn identity(
        &self,
        project: ProjectId,
        identity: &ChannelIdentity,
        command: IdentityCommand,
        meta: CommandMeta,
    ) -> Completing<CommandAck> {
        let this = self.clone();
        let identity = identity.clone();
        Completing::new(async move {
            let key_hash = identity_key_hash(&identity);
            let subject = Subject::identity(project, identity.channel, &key_hash);
            let aggregate = AggregateId::Identity {
                channel: identity.channel,
                key_hash,
            };
            let _guard = this.lock(this.hash_subject(&subject)).await;
            // A claim starts from the state this process last knew (every inbound message of
            // a known client claims its identity again: refused from the cache, checked against
            // the subject's last sequence, never appended to conflict); unknown, a claim is
            // nearly always of a new identity, so it assumes no events (a conflict reads them).
            // A release needs the owner as the log has it, so it reads.
            let cached = this.inner.identities.lock().take(&subject);
            let mut slot = match command {
                IdentityCommand::Claim { .. } => Some(cached.unwrap_or_else(|| Cached {
                    state: Box::default(),
                    last_seq: 0,
                })),
                IdentityCommand::Release { .. } => None,
            };
            let result = this
                .run(
                    project,
                    &|| subject.clone(),
                    &aggregate,
                    &meta,
                    &mut slot,
                    timestamp_now(),
                    |state: &mut IdentityState, event| state.apply(&event),
                    |state| domain::identity::decide(state, command),
                )
                .await;
            if let Some(state) = slot {
                this.inner.identities.lock().put_back(subject, state);
            }
            result
        })
    }

    /// F5.2: the dialog of an inbound identity, creating the client and the dialog when the
    /// identity is new. Two connectors racing on the same new identity end in the same dialog.
    pub async fn dialog_for_identity(
        &self,
        project: ProjectId,
        identity: &ChannelIdentity,
        profile: ClientProfile,
        source: Source,
        meta: CommandMeta,
    ) -> Result<DialogId, CommandError> {
        let candidate = DialogId::new();
        let claim = IdentityCommand::Claim { dialog: candidate };
        let claim_meta = CommandMeta {
            command_id: derived_id(meta.command_id, 1),
            ..meta
        };
        let owner = match self.identity(project, identity, claim, claim_meta).await {
            Ok(_) => candidate,
            Err(CommandError::Refused(Refusal::IdentityClaimed(owner))) => owner,
            Err(other) => return Err(other),
        };
        let register = DialogCommand::Register {
            profile,
            source,
            identity: Some(identity.clone()),
        };
        let register_meta = CommandMeta {
            command_id: derived_id(meta.command_id, 2),
            ..meta
        };
        match self.dialog(project, owner, register, register_meta).await {
            Ok(_) | Err(CommandError::Refused(Refusal::DialogExists)) => Ok(owner),
            Err(other) => Err(other),
        }
    }

    /// A block, not an `async fn`: an async fn moves each argument into a local of its own, so
    /// the 300-byte command would be held twice in the command's future.
    #[allow(clippy::manual_async_fn)]
    fn dialog_inner(
        self,
        project: ProjectId,
        dialog: DialogId,
        command: DialogCommand,
        meta: CommandMeta,
    ) -> impl Future<Output = Result<CommandAck, CommandError>> + Send + 'static {
        async move {
            let settings = self.project_settings(project).await?;
            let caller = Caller::resolve(meta.actor, &settings)?;
            let key = (project, dialog);
            let aggregate = AggregateId::Dialog(dialog);
            let _guard = self.lock(self.inner.hasher.hash_one(key)).await;
            // Taken out (not popped: the entry stays, so putting it back allocates nothing); the
            // stripe keeps every other command on this dialog away until it is back.
            let mut slot = self.inner.dialogs.lock().take(&key);
            if slot.is_none() && matches!(command, DialogCommand::Register { .. }) {
                // A registration is nearly always of a new dialog: assume it has no events instead
                // of reading the log; if it has, the append conflicts and the loop reads them.
                slot = Some(Cached {
                    state: Box::default(),
                    last_seq: 0,
                });
            }
            let now = timestamp_now();
            let result = self
                .run(
                    project,
                    &|| Subject::dialog(project, dialog),
                    &aggregate,
                    &meta,
                    &mut slot,
                    now,
                    DialogState::apply_owned,
                    |state| {
                        let ctx = Context {
                            caller: &caller,
                            project: &settings,
                            now,
                        };
                        domain::dialog::decide(state, command.clone(), &ctx)
                    },
                )
                .await;
            if let Some(state) = slot {
                self.inner.dialogs.lock().put_back(key, state);
            }
            result
        }
    }

    async fn project_inner(
        self,
        project: ProjectId,
        command: ProjectCommand,
        meta: CommandMeta,
    ) -> Result<CommandAck, CommandError> {
        let subject = Subject::project(project);
        let _guard = self.lock(self.hash_subject(&subject)).await;
        let mut slot = self.inner.projects.lock().pop(&project).map(|c| Cached {
            state: Box::new(Arc::unwrap_or_clone(c.state)),
            last_seq: c.last_seq,
        });
        let now = timestamp_now();
        let result = self
            .run(
                project,
                &|| subject.clone(),
                &AggregateId::Project,
                &meta,
                &mut slot,
                now,
                |state: &mut ProjectState, event| state.apply(&event),
                |state| {
                    let caller = Caller::resolve(meta.actor, state)?;
                    let ctx = Context {
                        caller: &caller,
                        project: state,
                        now,
                    };
                    domain::project::decide(state, command.clone(), &ctx)
                },
            )
            .await;
        if let Some(cached) = slot {
            self.inner.projects.lock().put(
                project,
                CachedProject {
                    state: Arc::new(*cached.state),
                    last_seq: cached.last_seq,
                    checked: Instant::now(),
                },
            );
        }
        result
    }

    /// Project settings for a decision: cached, and checked against the log at most every
    /// `project_refresh` so that changes made by other processes are seen.
    async fn project_settings(
        &self,
        project: ProjectId,
    ) -> Result<Arc<ProjectState>, CommandError> {
        {
            let mut projects = self.inner.projects.lock();
            let refresh = self.inner.options.project_refresh;
            match projects.get_mut(&project) {
                Some(cached) if cached.checked.elapsed() < refresh => {
                    return Ok(Arc::clone(&cached.state));
                }
                _ => {}
            }
        }
        Box::pin(self.refresh_project_settings(project)).await
    }

    async fn refresh_project_settings(
        &self,
        project: ProjectId,
    ) -> Result<Arc<ProjectState>, CommandError> {
        let subject = Subject::project(project);
        let refresh = self.inner.options.project_refresh;
        let (mut state, mut last_seq) = {
            let mut projects = self.inner.projects.lock();
            match projects.get_mut(&project) {
                Some(cached) if cached.checked.elapsed() < refresh => {
                    return Ok(Arc::clone(&cached.state));
                }
                Some(cached) => (Some(Arc::clone(&cached.state)), cached.last_seq),
                None => (None, 0),
            }
        };
        let current = self.inner.log.last_subject_seq(&subject).await?;
        if state.is_none() || current != last_seq {
            let mut fresh = state.as_deref().cloned().unwrap_or_default();
            last_seq = self
                .catch_up(&subject, project, &mut fresh, last_seq, |state, event| {
                    state.apply(&event)
                })
                .await?;
            state = Some(Arc::new(fresh));
        }
        let state = state.unwrap_or_default();
        if !state.exists {
            return Err(Refusal::NoSuchProject.into());
        }
        self.inner.projects.lock().put(
            project,
            CachedProject {
                state: Arc::clone(&state),
                last_seq,
                checked: Instant::now(),
            },
        );
        Ok(state)
    }

    fn hash_subject(&self, subject: &Subject) -> u64 {
        self.inner.hasher.hash_one(subject.as_str())
    }

    /// The stripe lock of an aggregate, by the hash of its key.
    async fn lock(&self, hash: u64) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = &self.inner.stripes[(hash % STRIPES as u64) as usize];
        match stripe.try_lock() {
            Ok(guard) => guard,
            Err(_) => stripe.lock().await,
        }
    }

    /// The decide/append loop for one aggregate whose stripe lock the caller holds. `slot` holds
    /// the cached state on entry (or none) and, on return, the state after the command when it
    /// is known exactly (to be cached again), refusals included. `subject` names the aggregate:
    /// called for each request (the log takes its subject by value) and on the slow paths.
    #[allow(clippy::too_many_arguments)]
    ///
    /// A block, not an `async fn`, for the reason given at `dialog_inner`.
    #[allow(clippy::manual_async_fn)]
    fn run<S: Clone + Default + Send>(
        &self,
        project: ProjectId,
        subject: &(impl Fn() -> Subject + Sync),
        aggregate: &AggregateId,
        meta: &CommandMeta,
        slot: &mut Option<Cached<S>>,
        now: Timestamp,
        apply: fn(&mut S, Event),
        mut decide: impl FnMut(&S) -> Result<Vec<Event>, Refusal> + Send,
    ) -> impl Future<Output = Result<CommandAck, CommandError>> + Send {
        async move {
            // Whether `current` was read from the log by this command (not taken from the cache,
            // which another writer of the same log may have made stale).
            let mut from_log = slot.is_none();
            let mut current = match slot.take() {
                Some(cached) => cached,
                None => {
                    let mut state = Box::<S>::default();
                    let name = subject();
                    let last_seq = self.catch_up(&name, project, &mut *state, 0, apply).await?;
                    Cached { state, last_seq }
                }
            };
            let max_attempts = self.inner.options.max_attempts;
            for attempt in 1..=max_attempts {
                let mut decision = decide(&current.state);
                if decision
                    .as_ref()
                    .is_err_and(|refusal| !refusal.is_lasting())
                    && !from_log
                {
                    // A refusal from the cache is checked against the log before it is
                    // answered: an append would have met a conflict, a refusal meets nothing.
                    // A lasting one (the dialog exists) holds whatever came after.
                    let name = subject();
                    if let Some(last_seq) = self
                        .refresh(&name, project, &mut *current.state, current.last_seq, apply)
                        .await?
                    {
                        current.last_seq = last_seq;
                        decision = decide(&current.state);
                    }
                }
                let events = match decision {
                    Ok(events) => events,
                    Err(refusal) => {
                        *slot = Some(current);
                        return Err(CommandError::Refused(refusal));
                    }
                };
                if events.is_empty() {
                    let ack = CommandAck {
                        seq: current.last_seq,
                        events: 0,
                        duplicate: false,
                    };
                    *slot = Some(current);
                    return Ok(ack);
                }
                // The decision's time on the first attempt (read once per command), now on later ones.
                let occurred_at = if attempt == 1 { now } else { timestamp_now() };
                let envelopes: Vec<Envelope> = events
                    .into_iter()
                    .map(|payload| Envelope {
                        event_id: EventId::new(),
                        project,
                        aggregate: aggregate.clone(),
                        occurred_at,
                        actor: meta.actor,
                        causation_id: Some(meta.command_id),
                        correlation_id: meta.correlation_id,
                        payload,
                    })
                    .collect();
                let expected = Expected::from_last(current.last_seq);
                // Appended here, not in a helper (one state machine less to resume after the ack),
                // retrying an unknown outcome (timeouts) with the same message id and the same bytes
                // (encoded again for a retry: the log takes the request by value).
                let mut unknown_outcomes = 0;
                let outcome = loop {
                    let request = AppendRequest {
                        subject: subject(),
                        expected,
                        msg_id: command_msg_id(meta.command_id)?,
                        batch: encode_batch(&envelopes)
                            .map_err(|e| CommandError::Internal(e.to_string()))?,
                    };
                    match self.inner.log.append(request).await {
                        Err(error)
                            if error.is_retryable()
                                && unknown_outcomes
                                    < self.inner.options.max_unavailable_retries =>
                        {
                            unknown_outcomes += 1;
                            tracing::warn!(subject = %subject(), %error, retries = unknown_outcomes, "append outcome unknown, retrying with the same message id");
                            // 20 ms, doubling, at most 2 s; boxed: the slow path stays out of the
                            // command's future.
                            let delay = Duration::from_millis(20 << (unknown_outcomes - 1).min(7))
                                .min(Duration::from_secs(2));
                            Box::pin(tokio::time::sleep(delay)).await;
                        }
                        other => break other,
                    }
                };
                match outcome {
                    Ok(ack) if ack.duplicate => {
                        // Applied before under this command id; our state may predate it.
                        return Ok(CommandAck {
                            seq: ack.seq,
                            events: 0,
                            duplicate: true,
                        });
                    }
                    Ok(ack) => {
                        let events = envelopes.len();
                        for envelope in envelopes {
                            apply(&mut current.state, envelope.payload);
                        }
                        current.last_seq = ack.seq;
                        let ack = CommandAck {
                            seq: ack.seq,
                            events,
                            duplicate: false,
                        };
                        *slot = Some(current);
                        return Ok(ack);
                    }
                    Err(LogError::Conflict { .. }) if attempt < max_attempts => {
                        // Someone else appended: read what they wrote and decide again. From the
                        // second conflict in a row on, after a pause of random length: writers that
                        // keep colliding on one aggregate spread out instead of one of them losing
                        // every round until it gives up.
                        if attempt > 1 {
                            self.contention_pause(meta.command_id, attempt).await;
                        }
                        let name = subject();
                        current.last_seq = self
                            .catch_up(&name, project, &mut *current.state, current.last_seq, apply)
                            .await?;
                        from_log = true;
                        tracing::debug!(subject = %name, attempt, "conflict, deciding again");
                    }
                    Err(LogError::Conflict { .. }) => break,
                    Err(other) => return Err(other.into()),
                }
            }
            Err(CommandError::Contention {
                subject: subject().to_string(),
                attempts: max_attempts,
            })
        }
    }

    /// A random pause before the `attempt + 1`th decision (`attempt` ≥ 2): up to 1 ms after the
    /// second conflict in a row, doubling up to 32 ms.
    async fn contention_pause(&self, command_id: Uuid, attempt: u32) {
        let cap_us = 1000u64 << (attempt.saturating_sub(2)).min(5);
        let pause_us = self.inner.hasher.hash_one((command_id, attempt)) % (cap_us + 1);
        if pause_us < 1000 {
            // Below the timer's resolution: let the others run first.
            tokio::task::yield_now().await;
        } else {
            Box::pin(tokio::time::sleep(Duration::from_micros(pause_us))).await;
        }
    }

    /// When the log holds events of `subject` after `last_seq` (another writer appended them),
    /// applies them to `state` and returns the new last sequence; `None` when `state` is current.
    /// Boxed like [`Self::catch_up`]: the slow path of a refusal.
    fn refresh<'a, S: Send>(
        &'a self,
        subject: &'a Subject,
        project: ProjectId,
        state: &'a mut S,
        last_seq: u64,
        apply: fn(&mut S, Event),
    ) -> futures::future::BoxFuture<'a, Result<Option<u64>, CommandError>> {
        Box::pin(async move {
            if self.inner.log.last_subject_seq(subject).await? == last_seq {
                return Ok(None);
            }
            let caught_up = self
                .catch_up_inline(subject, project, state, last_seq, apply)
                .await?;
            Ok(Some(caught_up))
        })
    }

    /// Apply every event of `subject` after `from_seq` to `state`; returns the new last sequence.
    /// Boxed: it is the slow path, and inline it would make every command's future (moved on
    /// each spawn and poll) several kilobytes larger.
    fn catch_up<'a, S: Send>(
        &'a self,
        subject: &'a Subject,
        project: ProjectId,
        state: &'a mut S,
        from_seq: u64,
        apply: fn(&mut S, Event),
    ) -> futures::future::BoxFuture<'a, Result<u64, CommandError>> {
        Box::pin(self.catch_up_inline(subject, project, state, from_seq, apply))
    }

    async fn catch_up_inline<S>(
        &self,
        subject: &Subject,
        project: ProjectId,
        state: &mut S,
        from_seq: u64,
        apply: fn(&mut S, Event),
    ) -> Result<u64, CommandError> {
        let filter = SubjectFilter::exact(subject);
        let mut last = from_seq;
        loop {
            let records = self.inner.log.read(last + 1, &filter, 1024).await?;
            if records.is_empty() {
                return Ok(last);
            }
            for record in records {
                let envelopes = decode_batch(&record.batch).map_err(|e| CommandError::Corrupt {
                    subject: subject.to_string(),
                    reason: format!("seq {}: {e}", record.seq),
                })?;
                for envelope in envelopes {
                    if envelope.project != project {
                        return Err(CommandError::Corrupt {
                            subject: subject.to_string(),
                            reason: format!("seq {} belongs to another project", record.seq),
                        });
                    }
                    apply(state, envelope.payload);
                }
                last = record.seq;
            }
        }
    }
}

/// The message id of a command: its id in hex (built for each request, which takes it by value).
fn command_msg_id(command_id: Uuid) -> Result<MsgId, CommandError> {
    Ok(MsgId::new(
        &*command_id.simple().encode_lower(&mut [0u8; 32]),
    )?)
}

/// Now, as `Timestamp::now` gives it, straight from the system clock (without the calendar
/// conversions of a chrono `DateTime` in between): it is read twice per command.
fn timestamp_now() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => Timestamp::from_micros(i64::try_from(since.as_micros()).unwrap_or(i64::MAX)),
        Err(_) => Timestamp::now(),
    }
}

/// A command id derived from another, for the steps of one multi-step command.
fn derived_id(id: Uuid, step: u8) -> Uuid {
    let mut bytes = *id.as_bytes();
    bytes[15] ^= step;
    bytes[14] ^= 0xA5;
    Uuid::from_bytes(bytes)
}

/// The subject token of an identity: a hash of the channel's key, never the key itself (phones
/// and emails stay out of subjects and headers).
pub fn identity_key_hash(identity: &ChannelIdentity) -> String {
    let mut hasher = Sha256::new();
    hasher.update(identity.kind.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(identity.external_id.trim().to_lowercase().as_bytes());
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
