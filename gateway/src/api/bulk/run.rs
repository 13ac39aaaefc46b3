//! Running a bulk action: one command per dialog through the command service, each with a
//! command id derived from the job's id and the dialog ([`CommandId::for_dialog`]), so that a
//! repeat of a dialog (a resumed job, a retried request) is the log's duplicate, never a second
//! change.
//!
//! A job ([`Jobs`]) keeps its record in the [`JobStore`]: the action, the owner, the selection
//! frozen at a log sequence (written in chunks before the record) and its progress, saved every
//! [`CHECKPOINT_EVERY`] dialogs (or [`SAVE_AFTER`]) with compare-and-set. The node running a
//! job holds a lease in the record, renewed at each save; every node looks for jobs to take
//! over every [`SCAN_EVERY`] (a job without a lease, or whose lease ran out), so one node runs
//! a job at a time and a job of a node that died goes on elsewhere, or here after a restart.
//! What a crash left unsaved (at most the dialogs after the last save) is run again: the log
//! answers those commands as duplicates, and a command the domain finds nothing to do for is
//! looked up among the dialog's events since the frozen sequence by its command id, so it is
//! counted as changed when this job changed it before the crash.
//!
//! Every job stays in the store once done (`GET /v1/jobs/{job}` answers it); a scan reads only
//! the records of the jobs marked running.
//!
//! A job of `resend_failed` with `interval_secs` (F6.5) runs its dialogs one at a time and
//! waits that long after each one it sent again.
//!
//! `SWITCHBOARD_BULK_PAUSE_MS` (for tests that must catch a job mid-way; harmless elsewhere: it
//! only slows jobs down) runs a job's dialogs one at a time with that pause after each.

use super::store::{JobStore, StoreError};
use crate::api::commands::dialog::DialogAction;
use crate::api::idempotency::CommandId;
use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_core::service::{CommandError, CommandMeta, CommandService};
use switchboard_core::{AnyLog, EventLog, Subject, SubjectFilter};
use switchboard_schemas::{DialogId, OperatorId, ProjectId, Timestamp, decode_batch};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Dialogs between two saves of a job's progress.
pub const CHECKPOINT_EVERY: u64 = 64;
/// The longest a job runs without saving its progress.
pub const SAVE_AFTER: Duration = Duration::from_millis(250);
/// Commands of one job under way at once.
pub const CONCURRENCY: usize = 16;
/// How often a node looks for jobs to run.
pub const SCAN_EVERY: Duration = Duration::from_secs(2);
/// How long a lease holds without a save.
pub const LEASE: Duration = Duration::from_secs(15);
/// Dialog ids per selection chunk.
pub const CHUNK: usize = 10_000;
/// The environment variable of the pause between dialogs (tests).
pub const PAUSE_ENV: &str = "SWITCHBOARD_BULK_PAUSE_MS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
}

/// The node running a job, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub node: Uuid,
    /// Milliseconds since the Unix epoch.
    pub until_ms: i64,
}

/// How many dialogs came out how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tally {
    /// Dialogs the action changed.
    pub changed: u64,
    /// Dialogs already as the action would make them (nothing appended).
    pub unchanged: u64,
    /// Dialogs the caller may not change, or whose state refuses the action (deleted, merged,
    /// blocked, reassigned away).
    pub skipped: u64,
    /// Dialogs the action could not be applied to (an invalid action, the log unavailable).
    pub failed: u64,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Changed => self.changed += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: Uuid,
    pub project: ProjectId,
    pub owner: OperatorId,
    /// The action as the request gave it (a [`DialogAction`]).
    pub action: serde_json::Value,
    pub total: u64,
    /// The log sequence the selection was frozen at.
    pub seq: u64,
    pub chunks: u32,
    pub state: JobState,
    /// Dialogs of the selection done, in its order.
    pub done: u64,
    pub tally: Tally,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub lease: Option<Lease>,
}

fn record_key(id: Uuid) -> String {
    format!("job.{}", id.simple())
}

fn running_key(id: Uuid) -> String {
    format!("running.{}", id.simple())
}

fn chunk_key(id: Uuid, n: u32) -> String {
    format!("selection.{}.{n}", id.simple())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| StoreError(format!("cannot encode a job value: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError(format!("{key} does not decode: {e}")))
}

/// What one dialog's command came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
    Skipped,
    Failed,
}

/// What every run of an action needs.
#[derive(Clone, Debug)]
pub struct Runner {
    pub commands: CommandService<AnyLog>,
    pub log: AnyLog,
}

impl Runner {
    /// Runs `action` on `dialog` as `owner`'s part of the bulk `bulk`. `check_after`: the
    /// command may have run before a crash; a no-op answer is then looked up in the dialog's
    /// events after that sequence.
    pub async fn one(
        &self,
        project: ProjectId,
        owner: OperatorId,
        bulk: CommandId,
        action: &DialogAction,
        dialog: DialogId,
        check_after: Option<u64>,
    ) -> Outcome {
        let id = bulk.for_dialog(dialog);
        let meta = CommandMeta {
            correlation_id: Some(bulk.0),
            ..id.meta(owner)
        };
        let answer = self
            .commands
            .dialog(project, dialog, action.clone().into_command(id), meta)
            .await;
        match answer {
            Ok(ack) if ack.events > 0 || ack.duplicate => Outcome::Changed,
            Ok(_) => match check_after {
                Some(after) if self.changed_before(project, dialog, id.0, after).await => {
                    Outcome::Changed
                }
                _ => Outcome::Unchanged,
            },
            Err(CommandError::Refused(refusal)) => match refusal {
                switchboard_core::domain::Refusal::Invalid { .. }
                | switchboard_core::domain::Refusal::Unknown { .. }
                | switchboard_core::domain::Refusal::NoSuchProject => Outcome::Failed,
                _ => Outcome::Skipped,
            },
            Err(error) => {
                tracing::warn!(%error, %dialog, "bulk: a dialog's command failed");
                Outcome::Failed
            }
        }
    }

    /// Whether the dialog's events after `after` hold one appended under `command`.
    async fn changed_before(
        &self,
        project: ProjectId,
        dialog: DialogId,
        command: Uuid,
        after: u64,
    ) -> bool {
        let filter = SubjectFilter::exact(&Subject::dialog(project, dialog));
        let mut from = after + 1;
        loop {
            let Ok(records) = self.log.read(from, &filter, 256).await else {
                return false;
            };
            let Some(last) = records.last().map(|r| r.seq) else {
                return false;
            };
            for record in &records {
                let Ok(events) = decode_batch(&record.batch) else {
                    continue;
                };
                if events.iter().any(|e| e.causation_id == Some(command)) {
                    return true;
                }
            }
            from = last + 1;
        }
    }

    /// Runs `action` on every dialog of `dialogs` (a small selection, in the request).
    pub async fn all(
        &self,
        project: ProjectId,
        owner: OperatorId,
        bulk: CommandId,
        action: &DialogAction,
        dialogs: &[DialogId],
    ) -> Tally {
        let mut tally = Tally::default();
        let mut outcomes = futures::stream::iter(dialogs.iter().copied())
            .map(|dialog| self.one(project, owner, bulk, action, dialog, None))
            .buffered(CONCURRENCY);
        while let Some(outcome) = outcomes.next().await {
            tally.add(outcome);
        }
        tally
    }
}

/// The bulk jobs of this node: creating them, reading them, running them (see the module
/// documentation). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

#[derive(Debug)]
struct JobsInner {
    store: JobStore,
    runner: Runner,
    node: Uuid,
    running: Mutex<HashSet<Uuid>>,
    progress: broadcast::Sender<Arc<JobRecord>>,
    pause: Option<Duration>,
}

impl Jobs {
    pub fn new(store: JobStore, runner: Runner) -> Self {
        let pause = std::env::var(PAUSE_ENV)
            .ok()
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis);
        Self {
            inner: Arc::new(JobsInner {
                store,
                runner,
                node: Uuid::new_v4(),
                running: Mutex::new(HashSet::new()),
                progress: broadcast::channel(1024).0,
                pause,
            }),
        }
    }

    /// The store the jobs are kept in (every node sees it).
    pub fn store(&self) -> &JobStore {
        &self.inner.store
    }

    /// Every saved progress of a job run here (the live stream shows its owner's).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<JobRecord>> {
        self.inner.progress.subscribe()
    }

    /// Starts looking for jobs to run (at once, then every [`SCAN_EVERY`]).
    pub fn start(&self) {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SCAN_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(error) = jobs.scan().await {
                    tracing::warn!(%error, "bulk: cannot look for jobs to run");
                }
            }
        });
    }

    /// This node's lease from now.
    fn lease(&self) -> Lease {
        Lease {
            node: self.inner.node,
            until_ms: now_ms() + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Whether this node may run the job: no other node holds a live lease on it (in a store
    /// this process holds alone, a lease not its own is a dead process's).
    fn may_take(&self, record: &JobRecord) -> bool {
        match record.lease {
            None => true,
            Some(lease) => {
                lease.node == self.inner.node
                    || lease.until_ms < now_ms()
                    || self.inner.store.exclusive()
            }
        }
    }

    async fn scan(&self) -> Result<(), StoreError> {
        for running in self.inner.store.keys("running.").await? {
            let Some(id) = running
                .strip_prefix("running.")
                .and_then(|id| Uuid::parse_str(id).ok())
            else {
                continue;
            };
            let key = record_key(id);
            let Some((bytes, _)) = self.inner.store.get(&key).await? else {
                // A job whose creation stopped before its record: nothing to run.
                continue;
            };
            match decode::<JobRecord>(&key, &bytes) {
                Ok(record) if record.state == JobState::Running && self.may_take(&record) => {
                    self.spawn(record.id);
                }
                // Done, and the mark outlived it (a crash between the two writes).
                Ok(record) if record.state == JobState::Done => {
                    self.inner.store.delete(&running).await?;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "bulk: a job record cannot be read"),
            }
        }
        Ok(())
    }

    /// A job's record.
    pub async fn get(&self, id: Uuid) -> Result<Option<JobRecord>, StoreError> {
        let key = record_key(id);
        match self.inner.store.get(&key).await? {
            Some((bytes, _)) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a new job (its selection, then its record) and starts it here; a job of that id
    /// stored before (a retried request) is answered as it is now.
    pub async fn create(
        &self,
        record: JobRecord,
        selection: &[DialogId],
    ) -> Result<JobRecord, StoreError> {
        let id = record.id;
        if let Some(existing) = self.get(id).await? {
            return Ok(existing);
        }
        let mut chunks = 0u32;
        for (n, chunk) in selection.chunks(CHUNK).enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            // Over a chunk an earlier attempt left (its selection may have been another).
            self.inner
                .store
                .put(&chunk_key(id, n), encode(&chunk)?)
                .await?;
            chunks = n + 1;
        }
        let record = JobRecord {
            chunks,
            lease: Some(self.lease()),
            ..record
        };
        self.inner.store.put(&running_key(id), Bytes::new()).await?;
        if !self
            .inner
            .store
            .create(&record_key(id), encode(&record)?)
            .await?
        {
            return self
                .get(id)
                .await?
                .ok_or_else(|| StoreError(format!("job {id} vanished")));
        }
        self.spawn(id);
        Ok(record)
    }

    fn spawn(&self, id: Uuid) {
        if !self.inner.running.lock().insert(id) {
            return;
        }
        let jobs = self.clone();
        tokio::spawn(async move {
            if let Err(error) = jobs.run(id).await {
                tracing::warn!(%error, job = %id, "bulk: job stopped; another scan takes it up");
            }
            jobs.inner.running.lock().remove(&id);
        });
    }

    /// Takes the job's lease and runs it from where it stopped to the end.
    async fn run(&self, id: Uuid) -> Result<(), StoreError> {
        let key = record_key(id);
        let Some((bytes, revision)) = self.inner.store.get(&key).await? else {
            return Ok(());
        };
        let mut record: JobRecord = decode(&key, &bytes)?;
        if record.state != JobState::Running || !self.may_take(&record) {
            return Ok(());
        }
        let Some(mut revision) = self.save(&key, &mut record, revision).await? else {
            return Ok(());
        };
        let action: DialogAction = serde_json::from_value(record.action.clone())
            .map_err(|e| StoreError(format!("job {id}: its action does not decode: {e}")))?;
        let mut selection = Vec::new();
        for n in 0..record.chunks {
            let key = chunk_key(id, n);
            let (bytes, _) = self
                .inner
                .store
                .get(&key)
                .await?
                .ok_or_else(|| StoreError(format!("{key} is missing")))?;
            selection.extend(decode::<Vec<DialogId>>(&key, &bytes)?);
        }
        // F6.5: `resend_failed` paces itself (one dialog at a time, a pause after each resend).
        let paced = super::pace(&action).ok().flatten();
        let resumed_at = record.done;
        // What a crash may have left unsaved: the dialogs after the last save.
        let unsure_until = resumed_at + CHECKPOINT_EVERY + CONCURRENCY as u64;
        let (project, owner, bulk, frozen) =
            (record.project, record.owner, CommandId(id), record.seq);
        let start = usize::try_from(resumed_at).unwrap_or(usize::MAX);
        let pause = self.inner.pause;
        let concurrency = if pause.is_some() || paced.is_some() {
            1
        } else {
            CONCURRENCY
        };
        let runner = &self.inner.runner;
        let action = &action;
        let mut outcomes = futures::stream::iter(selection.iter().copied().enumerate().skip(start))
            .map(|(index, dialog)| async move {
                let check = (resumed_at > 0 && (index as u64) < unsure_until).then_some(frozen);
                let outcome = runner
                    .one(project, owner, bulk, action, dialog, check)
                    .await;
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
                if let Some(interval) = paced
                    && outcome == Outcome::Changed
                {
                    tokio::time::sleep(interval).await;
                }
                outcome
            })
            .buffered(concurrency);
        let mut saved_at = std::time::Instant::now();
        while let Some(outcome) = outcomes.next().await {
            record.tally.add(outcome);
            record.done += 1;
            if record.done.is_multiple_of(CHECKPOINT_EVERY)
                || record.done == record.total
                || saved_at.elapsed() >= SAVE_AFTER
            {
                saved_at = std::time::Instant::now();
                if record.done == record.total {
                    record.state = JobState::Done;
                    record.finished_at = Some(Timestamp::now());
                    record.lease = None;
                }
                match self.save(&key, &mut record, revision).await? {
                    Some(next) => revision = next,
                    None => return Ok(()),
                }
            }
        }
        if record.state == JobState::Running {
            // An empty selection.
            record.state = JobState::Done;
            record.finished_at = Some(Timestamp::now());
            record.lease = None;
            self.save(&key, &mut record, revision).await?;
        }
        Ok(())
    }

    /// Saves `record` (renewing this node's lease while it runs) if the stored one is still at
    /// `revision` and no other node holds a live lease on it: the new revision, or `None` when
    /// the job is another node's now.
    async fn save(
        &self,
        key: &str,
        record: &mut JobRecord,
        revision: u64,
    ) -> Result<Option<u64>, StoreError> {
        if record.state == JobState::Running {
            record.lease = Some(self.lease());
        }
        let saved = self
            .inner
            .store
            .update(key, encode(&*record)?, revision)
            .await?;
        if saved.is_some() {
            let _ = self.inner.progress.send(Arc::new(record.clone()));
            if record.state == JobState::Done {
                // A finished job keeps its record (what `GET /v1/jobs/{job}` answers), not its
                // frozen selection, nor the mark the scans read.
                self.inner.store.delete(&running_key(record.id)).await?;
                for n in 0..record.chunks {
                    self.inner.store.delete(&chunk_key(record.id, n)).await?;
                }
            }
        }
        Ok(saved)
    }
}
