//! [`SearchIndex`]: the writer, the [`Store`] a runner drives, and [`start`] / [`rebuild`].
//!
//! Events: `dialog.registered` adds the client document; `client.profile_updated`,
//! `identity.linked`, `identity.unlinked` and `dialog.merged` (the survivor takes over
//! identities) replace it (a delete by query + add, in the same commit); `client.deleted`
//! removes every document of the dialog and of the dialogs merged into it (F4.8);
//! `dialog.merged_into` removes the absorbed dialog's client document and adds its merge
//! document (and moves those of the dialogs it had absorbed to the survivor), or forgets it
//! when the survivor is deleted. Everything else is skipped without decoding (`Sb-Type`).
//!
//! State across batches: what is committed is read back (the client's stored body, the merge
//! documents' fast fields); what changed since the last commit is held in a small `Pending`
//! overlay dropped at each commit. No copy of the model is kept in memory: memory is bounded
//! by the commit interval, restarts need no warm-up, and the state is exact.
//!
//! Exactly once, near-real-time: the checkpoint is the commit payload, read back at open;
//! records at or below it are skipped. Commits happen when the oldest uncommitted change is
//! [`SearchOptions::commit_interval`] old or [`SearchOptions::commit_docs`] operations wait,
//! never per event; the reader is reloaded right after each commit, and only then does the
//! runner report the new checkpoint. A failed batch rolls back everything uncommitted.
//!
//! [`Store`]: crate::runtime::Store

use super::NAME;
use super::body::{ClientBody, decode_client};
use super::documents::{Columns, corrupt, dialog_term, kind_in_dialog, new_document, order_of};
use super::query::merges;
use super::reader::{SearchReader, Shared};
use super::schema::{CLIENT, MERGED, MESSAGE};
use super::tokenizers::VALUE_SEPARATOR;
use super::versions::{
    Opened, encode_checkpoint, read_pointer, version_name, versions, write_pointer,
};
use crate::runtime::{
    Checkpoint, ProjectionError, ProjectionRunner, RebuildProgress, RunnerOptions, SharedRecord,
    Store, Until, rebuild_store,
};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_core::log::{EventLog, LogRecord};
use switchboard_schemas::{AggregateId, DialogId, Envelope, Event, ProjectId, decode_batch};
use tantivy::collector::DocSetCollector;
use tantivy::{IndexWriter, TantivyDocument};

/// Event types that change the index; log messages with none of them are not decoded.
const RELEVANT: &[&str] = &[
    "dialog.registered",
    "client.profile_updated",
    "identity.linked",
    "identity.unlinked",
    "dialog.merged",
    "dialog.merged_into",
    "message.received",
    "message.queued",
    "note.added",
    "client.deleted",
];

/// Tuning of a [`SearchIndex`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Commit (and make searchable) at the latest this long after the oldest uncommitted
    /// change. Hits are visible within about this plus the runner's tick.
    pub commit_interval: Duration,
    /// Commit when this many document operations wait, whatever the time.
    pub commit_docs: usize,
    /// The writer's memory budget (all indexing threads together).
    pub memory_budget: usize,
    /// tantivy indexing threads.
    pub indexing_threads: usize,
    /// tantivy segment merge threads.
    pub merge_threads: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            commit_interval: Duration::from_millis(250),
            commit_docs: 50_000,
            memory_budget: 64 << 20,
            indexing_threads: 1,
            merge_threads: 1,
        }
    }
}

impl SearchOptions {
    /// For [`rebuild`]: no timer (one commit per `commit_docs` operations and one at the end),
    /// a larger budget.
    pub fn rebuild() -> Self {
        Self {
            commit_interval: Duration::from_secs(24 * 3600),
            commit_docs: 200_000,
            memory_budget: 128 << 20,
            indexing_threads: 1,
            merge_threads: 1,
        }
    }
}

/// What changed since the last commit, which a searcher cannot see yet.
#[derive(Debug, Default)]
struct Pending {
    /// Clients changed: their document as it now is (None: removed).
    clients: HashMap<DialogId, Option<(ProjectId, ClientBody)>>,
    /// Merge documents changed, by the absorbed dialog: its survivor (None: removed).
    merges: HashMap<DialogId, Option<DialogId>>,
    /// Dialogs whose committed documents are all deleted.
    cleared: HashSet<DialogId>,
    /// Document operations (adds and deletes) waiting.
    operations: usize,
}

/// The search index's writer: a [`Store`] for [`ProjectionRunner::start_store`] (or driven
/// directly). One per index directory (tantivy's lock file refuses a second).
pub struct SearchIndex {
    reader: SearchReader,
    opened: Arc<Opened>,
    writer: IndexWriter<TantivyDocument>,
    options: SearchOptions,
    committed: Checkpoint,
    applied: Checkpoint,
    pending: Pending,
    dirty_since: Option<Instant>,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("opened", &self.opened)
            .field("committed", &self.committed)
            .field("applied", &self.applied)
            .field("pending_operations", &self.pending.operations)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens (creating if needed) the index under `root` and removes versions older than the
    /// current one.
    pub fn open(root: &Path, options: SearchOptions) -> Result<Self, ProjectionError> {
        Self::open_with(&SearchReader::open(root)?, options)
    }

    /// Opens the writer for the index `reader` reads, first following `CURRENT` (after a
    /// rebuild): every clone of `reader` then sees this writer's commits.
    pub fn open_with(
        reader: &SearchReader,
        options: SearchOptions,
    ) -> Result<Self, ProjectionError> {
        reader.reopen()?;
        let opened = reader.current();
        let root = reader.root();
        for version in versions(root)? {
            if version < opened.version {
                let dir = root.join(version_name(version));
                if let Err(error) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), %error, "cannot remove an old search index version");
                }
            }
        }
        Self::writer_for(reader.clone(), opened, options)
    }

    fn writer_for(
        reader: SearchReader,
        opened: Arc<Opened>,
        options: SearchOptions,
    ) -> Result<Self, ProjectionError> {
        let threads = options.indexing_threads.max(1);
        let writer_options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread((options.memory_budget / threads).max(16 << 20))
            .num_merge_threads(options.merge_threads.max(1))
            .build();
        let writer = opened.index.writer_with_options(writer_options)?;
        let committed = opened.checkpoint()?;
        Ok(Self {
            reader,
            opened,
            writer,
            options,
            committed,
            applied: committed,
            pending: Pending::default(),
            dirty_since: None,
        })
    }

    /// A reader of this index (searches see each commit as soon as it is made).
    pub fn reader(&self) -> SearchReader {
        self.reader.clone()
    }

    /// What is applied, committed or not.
    pub fn applied(&self) -> Checkpoint {
        self.applied
    }

    /// Commits what is applied, waits for background merges and closes the writer.
    pub fn close(mut self) -> Result<Checkpoint, ProjectionError> {
        self.commit()?;
        let checkpoint = self.committed;
        self.writer.wait_merging_threads()?;
        Ok(checkpoint)
    }

    fn commit(&mut self) -> Result<(), ProjectionError> {
        if self.applied == self.committed && self.pending.operations == 0 {
            return Ok(());
        }
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&encode_checkpoint(self.applied));
        prepared.commit()?;
        self.opened.reader.reload()?;
        self.committed = self.applied;
        self.pending = Pending::default();
        self.dirty_since = None;
        Ok(())
    }

    fn commit_due(&self) -> bool {
        self.pending.operations >= self.options.commit_docs
            || self
                .dirty_since
                .is_some_and(|since| since.elapsed() >= self.options.commit_interval)
    }

    /// Forgets everything uncommitted (after a failure): the next record applied is the one
    /// after the committed checkpoint.
    fn roll_back(&mut self) {
        if let Err(error) = self.writer.rollback() {
            tracing::error!(%error, "search index rollback failed");
        }
        self.applied = self.committed;
        self.pending = Pending::default();
        self.dirty_since = None;
    }

    fn apply_records<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a LogRecord>,
    ) -> Result<(), ProjectionError> {
        for record in records {
            if record.seq <= self.applied.seq {
                continue;
            }
            self.applied.seq = record.seq;
            self.applied.applied_at = Some(record.appended_at);
            let relevant = record
                .batch
                .types
                .split(',')
                .any(|t| RELEVANT.contains(&t.trim()));
            if !relevant {
                continue;
            }
            match decode_batch(&record.batch) {
                Ok(events) => {
                    for (index, envelope) in events.into_iter().enumerate() {
                        self.apply_event(order_of(record.seq, index), envelope)?;
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        projection = NAME,
                        seq = record.seq,
                        types = record.batch.types.as_str(),
                        %error,
                        "skipping a record that does not decode"
                    );
                    self.applied.undecodable += 1;
                    self.applied.last_undecodable_seq = Some(record.seq);
                }
            }
        }
        Ok(())
    }

    fn apply_event(&mut self, order: u64, envelope: Envelope) -> Result<(), ProjectionError> {
        let AggregateId::Dialog(dialog) = envelope.aggregate else {
            return Ok(());
        };
        let project = envelope.project;
        let at = envelope.occurred_at;
        match envelope.payload {
            Event::DialogRegistered(e) => {
                let mut body = ClientBody::new(order, at);
                body.set_profile(&e.profile);
                if let Some(identity) = &e.identity {
                    body.link(identity, None);
                }
                self.put_client(project, dialog, body)?;
            }
            Event::ClientProfileUpdated(e) => {
                self.update_client(dialog, |c| c.set_profile(&e.profile))?;
            }
            Event::IdentityLinked(e) => {
                self.update_client(dialog, |c| c.link(&e.identity, e.display_name.as_deref()))?;
            }
            Event::IdentityUnlinked(e) => {
                self.update_client(dialog, |c| c.unlink(&e.identity))?;
            }
            Event::DialogsMerged(e) => {
                self.update_client(dialog, |c| {
                    for identity in &e.identities {
                        c.link(identity, None);
                    }
                })?;
            }
            Event::DialogMergedInto(e) => self.merge(project, dialog, e.survivor, order)?,
            Event::ClientDeleted(_) => self.forget(dialog)?,
            Event::MessageReceived(e) => self.add_message(project, dialog, order, &e.text)?,
            Event::MessageQueued(e) => self.add_message(project, dialog, order, &e.text)?,
            Event::NoteAdded(e) => self.add_message(project, dialog, order, &e.text)?,
            _ => {}
        }
        Ok(())
    }

    fn touch(&mut self, operations: usize) {
        self.pending.operations += operations;
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// The client document of `dialog` as it now is (pending overlay, then the last commit).
    fn client(&self, dialog: DialogId) -> Result<Option<(ProjectId, ClientBody)>, ProjectionError> {
        if let Some(pending) = self.pending.clients.get(&dialog) {
            return Ok(pending.clone());
        }
        if self.pending.cleared.contains(&dialog) {
            return Ok(None);
        }
        let fields = &self.opened.fields;
        let searcher = self.opened.reader.searcher();
        let found = searcher.search(&kind_in_dialog(fields, dialog, CLIENT), &DocSetCollector)?;
        let Some(address) = found.into_iter().min() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address)?;
        let columns = Columns::of(searcher.segment_reader(address.segment_ord))?;
        let project = columns.project(address.doc_id)?;
        let body = decode_client(&doc, fields, &columns, address.doc_id)?;
        Ok(Some((project, body)))
    }

    /// The dialogs merged into `survivor` (their merge documents name it), committed or
    /// pending.
    fn absorbed_by(&self, survivor: DialogId) -> Result<Vec<DialogId>, ProjectionError> {
        let fields = &self.opened.fields;
        let searcher = self.opened.reader.searcher();
        let mut absorbed: Vec<DialogId> = merges(&searcher, fields, fields.into, [survivor])?
            .into_iter()
            .map(|(absorbed, _)| absorbed)
            .filter(|a| !self.pending.merges.contains_key(a) && !self.pending.cleared.contains(a))
            .collect();
        absorbed.extend(
            self.pending
                .merges
                .iter()
                .filter(|(_, into)| **into == Some(survivor))
                .map(|(absorbed, _)| *absorbed),
        );
        absorbed.sort_unstable();
        absorbed.dedup();
        Ok(absorbed)
    }

    fn put_client(
        &mut self,
        project: ProjectId,
        dialog: DialogId,
        body: ClientBody,
    ) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        // The dialog's client document, if any, goes (a delete by query is tantivy's delete by
        // term generalised: it applies to what was added before it, this commit included).
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, dialog, CLIENT)))?;
        let mut doc = new_document(&fields, CLIENT, project, dialog, body.order);
        doc.add_i64(fields.at, body.registered_at.as_micros());
        let values = body.values();
        for value in &values {
            doc.add_text(fields.words, value);
        }
        let separator = VALUE_SEPARATOR.to_string();
        doc.add_text(fields.grams, values.join(&separator));
        let bytes = postcard::to_allocvec(&body)
            .map_err(|e| corrupt(format!("cannot encode a client: {e}")))?;
        doc.add_bytes(fields.body, &bytes);
        self.writer.add_document(doc)?;
        self.pending.clients.insert(dialog, Some((project, body)));
        self.touch(2);
        Ok(())
    }

    fn update_client(
        &mut self,
        dialog: DialogId,
        change: impl FnOnce(&mut ClientBody),
    ) -> Result<(), ProjectionError> {
        // No document: the dialog is deleted, merged away or unknown; nothing to update.
        let Some((project, mut body)) = self.client(dialog)? else {
            return Ok(());
        };
        let before = body.clone();
        change(&mut body);
        if body != before {
            self.put_client(project, dialog, body)?;
        }
        Ok(())
    }

    /// A message or note: its words only (the timeline has the rest, at the same place).
    fn add_message(
        &mut self,
        project: ProjectId,
        dialog: DialogId,
        order: u64,
        text: &str,
    ) -> Result<(), ProjectionError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let fields = self.opened.fields;
        let mut doc = new_document(&fields, MESSAGE, project, dialog, order);
        doc.add_text(fields.text, text);
        self.writer.add_document(doc)?;
        self.touch(1);
        Ok(())
    }

    /// Every document of `dialog` and of the dialogs it absorbed leaves the index.
    fn forget(&mut self, dialog: DialogId) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        let mut gone = self.absorbed_by(dialog)?;
        gone.push(dialog);
        for dialog in gone {
            // The dialog's client, messages and merge document (all carry its id).
            self.writer.delete_term(dialog_term(&fields, dialog));
            self.pending.cleared.insert(dialog);
            self.pending.clients.insert(dialog, None);
            self.pending.merges.insert(dialog, None);
            self.touch(1);
        }
        Ok(())
    }

    /// The merge document of `absorbed`, naming `survivor` (replacing one it had).
    fn put_merge(
        &mut self,
        project: ProjectId,
        absorbed: DialogId,
        survivor: DialogId,
        order: u64,
    ) -> Result<(), ProjectionError> {
        let fields = self.opened.fields;
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, absorbed, MERGED)))?;
        let mut doc = new_document(&fields, MERGED, project, absorbed, order);
        doc.add_bytes(fields.into, &survivor.as_uuid().as_u128().to_be_bytes());
        self.writer.add_document(doc)?;
        self.pending.merges.insert(absorbed, Some(survivor));
        self.touch(2);
        Ok(())
    }

    /// `absorbed` lives on in `survivor` (F4.9): its client document goes; its messages stay
    /// as they are, and a merge document sends them (and those of the dialogs it had absorbed)
    /// on to the survivor. Nothing is re-indexed: the index does not keep texts.
    fn merge(
        &mut self,
        project: ProjectId,
        absorbed: DialogId,
        survivor: DialogId,
        order: u64,
    ) -> Result<(), ProjectionError> {
        if absorbed == survivor {
            return Ok(());
        }
        // A survivor without a client document (deleted) keeps nothing (F4.8).
        if self.client(survivor)?.is_none() {
            return self.forget(absorbed);
        }
        let fields = self.opened.fields;
        self.writer
            .delete_query(Box::new(kind_in_dialog(&fields, absorbed, CLIENT)))?;
        self.pending.clients.insert(absorbed, None);
        self.touch(1);
        for earlier in self.absorbed_by(absorbed)? {
            self.put_merge(project, earlier, survivor, order)?;
        }
        self.put_merge(project, absorbed, survivor, order)
    }
}

impl Store for SearchIndex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn path(&self) -> &Path {
        self.reader.root()
    }

    fn checkpoint(&self) -> Checkpoint {
        self.committed
    }

    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError> {
        let applied = self
            .apply_records(records.iter().map(|r| &r.record))
            .and_then(|()| {
                if self.applied != self.committed && self.dirty_since.is_none() {
                    self.dirty_since = Some(Instant::now());
                }
                if self.commit_due() {
                    self.commit()?;
                }
                Ok(())
            });
        if let Err(error) = applied {
            let error = self.explained(error);
            self.roll_back();
            return Err(error);
        }
        Ok(self.committed)
    }

    fn skip_unreadable(&mut self, seq: u64) -> Result<Checkpoint, ProjectionError> {
        if seq > self.applied.seq {
            self.applied.seq = seq;
            self.applied.applied_at = None;
            self.applied.undecodable += 1;
            self.applied.last_undecodable_seq = Some(seq);
            if self.dirty_since.is_none() {
                self.dirty_since = Some(Instant::now());
            }
            if self.commit_due() {
                return self.finish();
            }
        }
        Ok(self.committed)
    }

    fn applied_seq(&self) -> u64 {
        self.applied.seq
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.options.commit_interval / 4).max(Duration::from_millis(10)))
    }

    fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
        if !self.commit_due() {
            return Ok(self.committed);
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<Checkpoint, ProjectionError> {
        if let Err(error) = self.commit() {
            let error = self.explained(error);
            self.roll_back();
            return Err(error);
        }
        Ok(self.committed)
    }
}

/// Free space under which a failed index write is put down to the disk (a segment takes up to
/// the writer's memory budget).
const LOW_SPACE: u64 = 64 << 20;

impl SearchIndex {
    /// tantivy reports a write its worker thread could not make only as "an index writer was
    /// killed", without the cause: on a disk with little room left, that is named.
    fn explained(&self, error: ProjectionError) -> ProjectionError {
        let ProjectionError::Index(source) = error else {
            return error;
        };
        let root = self.reader.root();
        match free_bytes(root) {
            Some(free) if free < LOW_SPACE => ProjectionError::IndexDiskFull {
                root: root.to_path_buf(),
                free,
                source,
            },
            _ => ProjectionError::Index(source),
        }
    }
}

/// Bytes an unprivileged writer may still take on the file system of `path`.
#[cfg(unix)]
fn free_bytes(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Opens the index under `root` off the async threads and starts a runner feeding it from
/// `log`. The reader sees every commit of the runner.
pub async fn start<L: EventLog>(
    log: L,
    root: &Path,
    options: SearchOptions,
    runner: RunnerOptions,
) -> Result<(ProjectionRunner<L>, SearchReader), ProjectionError> {
    let root = root.to_path_buf();
    let index = tokio::task::spawn_blocking(move || SearchIndex::open(&root, options))
        .await
        .map_err(|e| ProjectionError::Stopped {
            projection: NAME.to_owned(),
            reason: format!("open task failed: {e}"),
        })??;
    let reader = index.reader();
    let runner = ProjectionRunner::start_store(log, index, runner)?;
    Ok((runner, reader))
}

/// Rebuilds the index under `root` from the log (to the end, a sequence or a moment) into a new
/// version directory, then points `CURRENT` at it atomically. Stop the index's runner first;
/// afterwards open it again ([`SearchIndex::open_with`] an existing reader, or
/// [`SearchReader::reopen`] on readers) and it resumes from the rebuilt checkpoint. A crash
/// before the swap leaves the old version in use.
pub async fn rebuild<L: EventLog>(
    log: &L,
    root: &Path,
    until: Until,
    max_batch: usize,
    options: SearchOptions,
    progress: impl FnMut(RebuildProgress) + Send,
) -> Result<Checkpoint, ProjectionError> {
    let root = root.to_path_buf();
    let build_root = root.clone();
    let index = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&build_root)
            .map_err(|e| ProjectionError::io("create", &build_root, e))?;
        let current = read_pointer(&build_root)?.unwrap_or(0);
        let existing = versions(&build_root)?;
        // Leftovers of rebuilds that never swapped (a crash) are not in use.
        for version in existing.iter().filter(|v| **v > current) {
            let dir = build_root.join(version_name(*version));
            std::fs::remove_dir_all(&dir).map_err(|e| ProjectionError::io("remove", &dir, e))?;
        }
        let next = existing.iter().copied().chain([current]).max().unwrap_or(0) + 1;
        let opened = Arc::new(Opened::open(&build_root, next)?);
        // A reader of the new version only: nothing else sees it before the swap.
        let reader = SearchReader {
            shared: Arc::new(Shared {
                root: build_root.clone(),
                current: RwLock::new(Arc::clone(&opened)),
            }),
        };
        SearchIndex::writer_for(reader, opened, options)
    })
    .await
    .map_err(|e| ProjectionError::Stopped {
        projection: NAME.to_owned(),
        reason: format!("rebuild task failed: {e}"),
    })??;
    let index = rebuild_store(log, index, until, max_batch, progress).await?;
    tokio::task::spawn_blocking(move || {
        let version = index.opened.version;
        let checkpoint = index.close()?;
        write_pointer(&root, version)?;
        tracing::info!(root = %root.display(), version, checkpoint = checkpoint.seq, "search index rebuilt");
        Ok(checkpoint)
    })
    .await
    .map_err(|e| ProjectionError::Stopped {
        projection: NAME.to_owned(),
        reason: format!("rebuild task failed: {e}"),
    })?
}
