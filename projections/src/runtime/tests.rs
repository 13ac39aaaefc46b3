use super::sqlite::to_i64;
use super::store::BULK_COMMIT_RECORDS;
use super::writer::{Stops, Work, write_loop};
use super::*;
use crate::files::{remove_database, sibling};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{AppendRequest, Expected, MsgId};
use switchboard_core::log::{EventLog, LogRecord, Subject, SubjectFilter};
use switchboard_schemas::Envelope;
use switchboard_schemas::events::BotPaused;
use switchboard_schemas::{
    Actor, AggregateId, DialogId, EncodedBatch, Event, EventId, ProjectId, Timestamp, encode_batch,
};
use tokio::sync::{mpsc, watch};

/// Counts the events it sees per sequence; refuses the sequence `fail_at`.
#[derive(Debug)]
pub(super) struct Tally {
    pub(super) fail_at: Option<u64>,
}

impl Projection for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
        conn.create_scalar_function(
            "tally_double",
            1,
            rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| Ok(ctx.get::<i64>(0)? * 2),
        )
    }
    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS seq_events (seq INTEGER PRIMARY KEY, events INTEGER);"
    }
    fn query_indexes(&self) -> &'static str {
        "CREATE INDEX IF NOT EXISTS seq_events_by_events ON seq_events (events, seq);"
    }
    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            // A primary key: applying a sequence twice would fail loudly.
            tx.execute(
                "INSERT INTO seq_events (seq, events) VALUES (?1, ?2)",
                params![to_i64(record.seq), record.events.len() as i64],
            )?;
            if Some(record.seq) == self.fail_at {
                return Err(ProjectionError::Corrupt(format!("refused {}", record.seq)));
            }
        }
        Ok(())
    }
}

pub(super) fn record(seq: u64) -> LogRecord {
    let project = ProjectId::from_u128(1);
    let dialog = DialogId::from_u128(2);
    let envelope = Envelope {
        event_id: EventId::new(),
        project,
        aggregate: AggregateId::Dialog(dialog),
        occurred_at: Timestamp::from_micros(1_000),
        actor: Actor::System,
        causation_id: None,
        correlation_id: None,
        payload: Event::BotPaused(BotPaused {}),
    };
    LogRecord {
        seq,
        subject: Subject::dialog(project, dialog),
        msg_id: format!("m{seq}"),
        appended_at: Timestamp::from_micros(1_000),
        batch: encode_batch(&[envelope]).expect("encode"),
    }
}

fn garbage(seq: u64) -> LogRecord {
    LogRecord {
        batch: EncodedBatch {
            types: "no.such_event".into(),
            versions: "1".into(),
            body: vec![1, 0].into(),
        },
        ..record(seq)
    }
}

pub(super) fn applied(path: &Path) -> Vec<i64> {
    let conn = open_reader(path).expect("reader");
    conn.prepare("SELECT seq FROM seq_events ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Forwards to a store and notes how many records each write call carried.
struct Noted<S> {
    store: S,
    calls: Arc<Mutex<Vec<String>>>,
}

impl<S: Store> Noted<S> {
    fn note(&self, call: String) {
        self.calls.lock().expect("not poisoned").push(call);
    }
}

impl<S: Store> Store for Noted<S> {
    fn name(&self) -> &'static str {
        self.store.name()
    }
    fn path(&self) -> &Path {
        self.store.path()
    }
    fn checkpoint(&self) -> Checkpoint {
        self.store.checkpoint()
    }
    fn apply_shared(&mut self, records: &[SharedRecord]) -> Result<Checkpoint, ProjectionError> {
        self.note(format!("apply {}", records.len()));
        self.store.apply_shared(records)
    }
    fn apply_batches(&mut self, batches: &[SharedBatch]) -> Result<Checkpoint, ProjectionError> {
        let records: usize = batches.iter().map(|b| b.len()).sum();
        self.note(format!("together {records} in {}", batches.len()));
        self.store.apply_batches(batches)
    }
    fn skip_unreadable(&mut self, seq: u64) -> Result<Checkpoint, ProjectionError> {
        self.note(format!("skip {seq}"));
        self.store.skip_unreadable(seq)
    }
    fn tick(&mut self) -> Result<Checkpoint, ProjectionError> {
        self.note("tick".to_owned());
        self.store.tick()
    }
}

#[test]
fn batches_queued_behind_a_busy_writer_share_one_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let store = Noted {
        store: ProjectionStore::open(&path, Tally { fail_at: None }).expect("open"),
        calls: Arc::clone(&calls),
    };
    let batch = |seqs: std::ops::RangeInclusive<u64>| -> SharedBatch {
        seqs.map(|seq| SharedRecord::new(record(seq))).collect()
    };
    // What a feed queued while the writer was busy: two batches, a tick, one more, the end.
    let (tx, rx) = mpsc::channel(16);
    for work in [
        Work::Batch(batch(1..=3)),
        Work::Batch(batch(4..=6)),
        Work::Tick,
        Work::Batch(batch(7..=9)),
        Work::Stop,
    ] {
        tx.try_send(work).expect("room");
    }
    let (status_tx, status) = watch::channel(RunnerStatus::default());
    write_loop(store, rx, Arc::new(status_tx), &Stops::default());
    assert_eq!(
        *calls.lock().expect("not poisoned"),
        ["together 6 in 2", "tick", "apply 3"]
    );
    assert_eq!(status.borrow().checkpoint.seq, 9);
    assert_eq!(status.borrow().failed, None);
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
    assert_eq!(reopened.checkpoint().seq, 9);
    let rows: i64 = reopened
        .conn
        .query_row("SELECT count(*) FROM seq_events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 9);
}

#[cfg(target_os = "linux")]
#[test]
fn a_live_file_is_written_unsynced_behind_a_mark_of_this_boot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mark = crate::unsynced::mark_path(&path);
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    let level: i64 = store
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("level");
    assert_eq!(level, 0, "OFF");
    let boot = crate::unsynced::boot_id().expect("Linux tells its boot");
    let marked = std::fs::read_to_string(&mark).expect("marked");
    assert_eq!(marked.lines().next(), Some(boot.as_str()), "{marked}");
    store.apply((1..=3).map(record).collect()).expect("apply");
    store.close().expect("close");
    assert!(
        !mark.exists(),
        "a clean close syncs the file and removes its mark"
    );
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
    assert_eq!(reopened.checkpoint().seq, 3);
    assert!(mark.exists());
    // Dropped instead of closed (a runner's writer thread ends so): the mark goes too.
    drop(reopened);
    assert!(!mark.exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_writer_that_died_leaves_a_mark_this_boot_trusts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    store.apply((1..=4).map(record).collect()).expect("apply");
    // What a killed process leaves: its writes in the OS cache, its mark, no close.
    std::mem::forget(store);
    assert!(crate::unsynced::mark_path(&path).exists());
    assert_eq!(
        crate::unsynced::from_another_boot(&path).expect("read"),
        None
    );
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
    assert_eq!(reopened.checkpoint().seq, 4);
    assert_eq!(applied(&path), vec![1, 2, 3, 4]);
}

#[test]
fn a_file_another_boot_left_unsynced_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    store.apply((1..=2).map(record).collect()).expect("apply");
    store.close().expect("close");
    // The machine went down while the file was written: its mark names an older boot.
    let mark = crate::unsynced::mark_path(&path);
    std::fs::write(&mark, "00000000-0000-0000-0000-000000000000").expect("write");
    assert_eq!(
        crate::unsynced::from_another_boot(&path).expect("read"),
        Some("00000000-0000-0000-0000-000000000000".to_owned())
    );
    let refused = ProjectionStore::open(&path, Tally { fail_at: None })
        .expect_err("a torn file is not opened");
    assert!(
        refused.to_string().contains("when the machine stopped"),
        "{refused}"
    );
    assert!(mark.exists(), "refusing changes nothing");
    // A rebuild over it replaces the file and, with it, the mark.
    remove_database(&path).expect("remove");
    assert!(!mark.exists());
}

#[test]
fn records_at_or_below_the_checkpoint_are_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(store.checkpoint(), Checkpoint::default());
    store.apply((1..=3).map(record).collect()).expect("apply");
    // A replaying source: everything again, and more.
    let checkpoint = store.apply((1..=5).map(record).collect()).expect("apply");
    assert_eq!(checkpoint.seq, 5);
    // Out of order within a batch: the older one is skipped too.
    store.apply(vec![record(7), record(6)]).expect("apply");
    drop(store);
    assert_eq!(applied(&path), vec![1, 2, 3, 4, 5, 7]);
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(reopened.checkpoint().seq, 7, "the checkpoint is stored");
}

#[test]
fn undecodable_records_are_counted_and_checkpointed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    let checkpoint = store
        .apply(vec![record(1), garbage(2), record(3), garbage(4)])
        .expect("apply");
    assert_eq!(
        checkpoint,
        Checkpoint {
            seq: 4,
            undecodable: 2,
            last_undecodable_seq: Some(4),
            applied_at: Some(record(4).appended_at),
        }
    );
    // Only garbage: still checkpointed, so it is not read again.
    assert_eq!(store.apply(vec![garbage(5)]).expect("apply").seq, 5);
    drop(store);
    assert_eq!(applied(&path), vec![1, 3]);
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(reopened.checkpoint().undecodable, 3);
}

#[test]
fn a_failed_batch_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: Some(3) }).expect("open");
    store.apply(vec![record(1)]).expect("apply");
    let refused = store.apply(vec![record(2), record(3)]);
    assert!(matches!(refused, Err(ProjectionError::Corrupt(_))));
    assert_eq!(store.checkpoint().seq, 1);
    drop(store);
    assert_eq!(applied(&path), vec![1], "the whole batch rolled back");
    let reopened = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(reopened.checkpoint().seq, 1);
}

fn journal_mode(path: &Path) -> String {
    open_reader(path)
        .expect("reader")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode")
}

#[test]
fn a_rebuild_file_commits_in_long_transactions_and_closes_into_a_live_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    std::fs::write(&path, b"left over from a rebuild that crashed").expect("write");
    let mut store =
        ProjectionStore::create_for_rebuild(&path, Tally { fail_at: None }).expect("create");
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "off");
    let query_index = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'seq_events_by_events'",
            [],
            |r| r.get(0),
        )
        .expect("schema")
    };
    assert_eq!(query_index(&store.conn), 0, "built at the end");
    store.apply((1..=10).map(record).collect()).expect("apply");
    assert!(!store.conn.is_autocommit(), "the transaction stays open");
    let total = u64::try_from(BULK_COMMIT_RECORDS).expect("fits") + 100;
    let mut next = 11;
    while next <= total {
        let end = (next + 4095).min(total);
        let before = store.bulk.as_ref().map(|b| b.since_commit).unwrap_or(0);
        store
            .apply((next..=end).map(record).collect())
            .expect("apply");
        let crossed =
            before + usize::try_from(end - next + 1).expect("fits") >= BULK_COMMIT_RECORDS;
        assert_eq!(store.conn.is_autocommit(), crossed, "at {end}");
        next = end + 1;
    }
    assert!(
        !store.conn.is_autocommit(),
        "the last 100 are not committed yet"
    );
    assert_eq!(Store::finish(&mut store).expect("finish").seq, total);
    assert!(store.conn.is_autocommit(), "finish commits");
    // Free pages inside the file (what updates and page splits leave) are packed away.
    store
        .conn
        .execute_batch(
            "CREATE TABLE junk (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO junk SELECT zeroblob(1000) FROM n;
             DROP TABLE junk;",
        )
        .expect("junk");
    let free = |conn: &Connection| -> i64 {
        conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .expect("freelist")
    };
    assert!(free(&store.conn) > 400, "{}", free(&store.conn));
    store.close().expect("close");
    assert_eq!(journal_mode(&path), "wal");
    let reader = open_reader(&path).expect("reader");
    assert_eq!(query_index(&reader), 1);
    assert_eq!(free(&reader), 0, "packed");
    assert!(!sibling(&path, ".packed").exists());
    let indexed: i64 = reader
        .query_row(
            "SELECT count(*) FROM seq_events INDEXED BY seq_events_by_events WHERE events = 1",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        u64::try_from(indexed).expect("count"),
        total,
        "the index holds every row"
    );
    assert_eq!(
        applied(&path),
        (1..=to_i64(total)).collect::<Vec<i64>>(),
        "every record, once"
    );
    // A live store continues it.
    let mut live = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(live.checkpoint().seq, total);
    live.apply(vec![record(total + 1)]).expect("apply");
    assert_eq!(
        applied(&path).len(),
        usize::try_from(total + 1).expect("fits")
    );
}

#[test]
fn a_rebuild_file_is_unusable_after_a_failed_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store =
        ProjectionStore::create_for_rebuild(&path, Tally { fail_at: Some(3) }).expect("create");
    store.apply(vec![record(1)]).expect("apply");
    assert!(store.apply(vec![record(2), record(3)]).is_err());
    assert_eq!(store.checkpoint().seq, 1);
    // Without a journal the half-applied batch cannot be undone: nothing more is taken.
    assert!(store.apply(vec![record(4)]).is_err());
    assert!(Store::finish(&mut store).is_err());
    assert!(store.close().is_err());
}

pub(super) async fn append_some(log: &EmbeddedLog, n: u64) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        let r = record(1);
        last = log
            .append(AppendRequest {
                subject: r.subject,
                expected: Expected::Any,
                msg_id: MsgId::new(format!("m-{}", EventId::new().token())).expect("msg id"),
                batch: r.batch,
            })
            .await
            .expect("append")
            .seq;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_has_the_sql_functions_of_its_projection_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    store.apply(vec![record(1)]).expect("apply");
    drop(store);
    let doubled = |conn: &Connection| {
        conn.query_row("SELECT tally_double(seq) FROM seq_events", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let reader = open_reader_for::<Tally>(&path).expect("reader");
    assert_eq!(doubled(&reader).expect("registered"), 2);
    let plain = open_reader(&path).expect("reader");
    assert!(doubled(&plain).is_err(), "a plain reader has none");
    let readers = Readers::for_projection::<Tally>(&path, 1);
    for _ in 0..2 {
        let answer = readers
            .query(move |conn| Ok(doubled(conn)?))
            .await
            .expect("query");
        assert_eq!(answer, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shares_one_feed_and_each_store_applies_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let (ahead_path, behind_path) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    let first = append_some(&log, 5).await;
    // `ahead` has applied the first five already, `behind` nothing.
    let mut ahead = ProjectionStore::open(&ahead_path, Tally { fail_at: None }).expect("open");
    let records = log.read(1, &SubjectFilter::all(), 100).await.expect("read");
    assert_eq!(ahead.apply(records).expect("apply").seq, first);
    let behind = ProjectionStore::open(&behind_path, Tally { fail_at: None }).expect("open");
    let last = append_some(&log, 5).await;
    let mut runners = ProjectionRunner::start_group(
        log.clone(),
        vec![Box::new(ahead) as Box<dyn Store>, Box::new(behind)],
        RunnerOptions {
            max_batch: 3,
            ..RunnerOptions::default()
        },
    )
    .expect("start");
    for runner in &runners {
        runner
            .wait_for(last, Duration::from_secs(10))
            .await
            .expect("applied");
    }
    // A primary key per sequence: anything applied twice would have failed the runner.
    let all: Vec<i64> = (1..=to_i64(last)).collect();
    assert_eq!(applied(&ahead_path), all);
    assert_eq!(applied(&behind_path), all);

    // One runner leaves the group; the other goes on with the feed.
    let behind = runners.pop().expect("behind");
    let ahead = runners.pop().expect("ahead");
    let status = behind.shutdown().await;
    assert_eq!((status.checkpoint.seq, status.failed), (last, None));
    let more = append_some(&log, 3).await;
    ahead
        .wait_for(more, Duration::from_secs(10))
        .await
        .expect("applied after the other left");
    assert_eq!(applied(&ahead_path).len(), 13);
    assert_eq!(applied(&behind_path).len(), 10);
    let status = ahead.shutdown().await;
    assert_eq!((status.checkpoint.seq, status.failed), (more, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rebuild_reads_once_and_installs_every_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let last = append_some(&log, 9).await;
    let paths = [dir.path().join("a.sqlite"), dir.path().join("b.sqlite")];
    // An old file at the first path, holding something the log does not say.
    {
        let old = ProjectionStore::open(&paths[0], Tally { fail_at: None }).expect("open");
        old.conn
            .execute("INSERT INTO seq_events (seq, events) VALUES (100, 1)", [])
            .expect("insert");
        old.close().expect("close");
    }
    let mut stores = Vec::new();
    for path in &paths {
        let store = open_for_rebuild(path, |p| {
            Ok(Box::new(ProjectionStore::create_for_rebuild(
                p,
                Tally { fail_at: None },
            )?) as Box<dyn FileStore>)
        })
        .expect("open");
        stores.push((path.clone(), store));
    }
    let mut seen = Vec::new();
    let checkpoints = rebuild_files(&log, stores, Until::End, 4, |index, p| {
        seen.push((index, p.applied_seq))
    })
    .await
    .expect("rebuild");
    assert_eq!(
        checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [last, last]
    );
    let all: Vec<i64> = (1..=to_i64(last)).collect();
    for path in &paths {
        assert_eq!(applied(path), all, "{}", path.display());
        assert!(!sibling(path, ".rebuild").exists());
        assert_eq!(journal_mode(path), "wal", "installed files are live files");
    }
    assert!(
        seen.contains(&(0, last)) && seen.contains(&(1, last)),
        "{seen:?}"
    );

    // Up to a sequence: both stop there.
    let mut stores = Vec::new();
    for path in &paths {
        let store = open_for_rebuild(path, |p| {
            Ok(Box::new(ProjectionStore::create_for_rebuild(
                p,
                Tally { fail_at: None },
            )?) as Box<dyn FileStore>)
        })
        .expect("open");
        stores.push((path.clone(), store));
    }
    rebuild_files(&log, stores, Until::Seq(5), 4, |_, _| {})
        .await
        .expect("rebuild");
    for path in &paths {
        assert_eq!(applied(path), (1..=5).collect::<Vec<i64>>());
    }
}

/// Writes a row that is no message of the log (its subject is not a subject) at `seq`, into
/// the log file itself, as a hand-edited or foreign file would have it.
fn write_unreadable_row(log_path: &Path, seq: u64) {
    Connection::open(log_path)
        .expect("open the log file")
        .execute(
            "INSERT INTO log VALUES (?1, 'sb.Bad', 'bad', 0, 'test.event', '1', x'00')",
            [to_i64(seq)],
        )
        .expect("insert a bad row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_record_is_counted_checkpointed_and_skipped_by_the_runner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("log.sqlite");
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("open");
    append_some(&log, 1).await;
    drop(log);
    // The last record of the log is the unreadable one: a runner that skips it without moving
    // its checkpoint stays one behind for ever.
    write_unreadable_row(&log_path, 2);
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("reopen");
    let path = dir.path().join("tally.sqlite");
    let runner = ProjectionRunner::start(
        log.clone(),
        &path,
        Tally { fail_at: None },
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    runner
        .wait_for(2, Duration::from_secs(10))
        .await
        .expect("the checkpoint moves past the unreadable record");
    assert_eq!(runner.lag().await.expect("lag"), 0);
    let last = append_some(&log, 2).await;
    runner
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("applied after it");
    let status = runner.shutdown().await;
    assert_eq!(status.failed, None);
    assert_eq!(
        (
            status.checkpoint.undecodable,
            status.checkpoint.last_undecodable_seq
        ),
        (1, Some(2))
    );
    assert_eq!(applied(&path), [1, 3, 4]);
    // Durable: the file's checkpoint says so too.
    let store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("reopen");
    assert_eq!(store.checkpoint(), status.checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_counts_an_unreadable_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("log.sqlite");
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("open");
    append_some(&log, 1).await;
    drop(log);
    write_unreadable_row(&log_path, 2);
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("reopen");
    let last = append_some(&log, 1).await;
    let path = dir.path().join("tally.sqlite");
    let checkpoint = rebuild(&log, &path, Tally { fail_at: None }, Until::End, 4, |_| {})
        .await
        .expect("rebuild");
    assert_eq!(
        (
            checkpoint.seq,
            checkpoint.undecodable,
            checkpoint.last_undecodable_seq
        ),
        (last, 1, Some(2))
    );
    assert_eq!(applied(&path), [1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_on_another_log_fails_instead_of_skipping_its_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    let first = EmbeddedLog::open(&dir.path().join("first.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let last = append_some(&first, 3).await;
    let runner = ProjectionRunner::start(
        first.clone(),
        &path,
        Tally { fail_at: None },
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    runner
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("applied");
    runner.shutdown().await;

    // A longer log with other records: today the runner applies its record 4 only.
    let other = EmbeddedLog::open(&dir.path().join("other.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let other_last = append_some(&other, 5).await;
    assert!(
        check_against_log(&other, "tally", &checkpoint_of(&path))
            .await
            .is_err()
    );
    let runner = ProjectionRunner::start(
        other.clone(),
        &path,
        Tally { fail_at: None },
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    let waited = runner.wait_for(other_last, Duration::from_secs(10)).await;
    assert!(
        matches!(&waited, Err(ProjectionError::Stopped { reason, .. }) if reason.contains("another log")),
        "{waited:?}"
    );
    runner.shutdown().await;
    assert_eq!(
        applied(&path),
        [1, 2, 3],
        "nothing of the other log applied"
    );

    // A shorter log (an older copy): the log is behind the read model.
    let short = EmbeddedLog::open(&dir.path().join("short.sqlite"), EmbeddedOptions::default())
        .expect("open");
    append_some(&short, 1).await;
    let checked = check_against_log(&short, "tally", &checkpoint_of(&path)).await;
    assert!(
        matches!(&checked, Err(ProjectionError::OtherLog { reason, .. }) if reason.contains("ends at 1")),
        "{checked:?}"
    );
    // Its own log matches.
    check_against_log(&first, "tally", &checkpoint_of(&path))
        .await
        .expect("its own log");
}

fn checkpoint_of(path: &Path) -> Checkpoint {
    ProjectionStore::open(path, Tally { fail_at: None })
        .expect("open")
        .checkpoint()
}

#[test]
fn a_checkpoint_table_from_before_the_log_check_is_read_as_unknown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.sqlite");
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE checkpoint (projection TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                 undecodable INTEGER NOT NULL DEFAULT 0, last_undecodable_seq INTEGER);
             INSERT INTO checkpoint VALUES ('tally', 7, 0, NULL);",
        )
        .expect("old schema");
    }
    let mut store = ProjectionStore::open(&path, Tally { fail_at: None }).expect("open");
    assert_eq!(
        (store.checkpoint().seq, store.checkpoint().applied_at),
        (7, None)
    );
    let after = store.apply(vec![record(8)]).expect("apply");
    assert_eq!(after.applied_at, Some(record(8).appended_at));
}
