//! A runner under failures: a store that refuses writes (a full disk) is tried again until it
//! takes them, nothing skipped; a log that keeps failing is reported and recovers.

use super::tests::{Tally, append_some, applied, record};
use super::writer::{FIRST_STORE_RETRY, Stops, Work, write_loop};
use super::*;
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::log::LogLimits;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use tokio::sync::{mpsc, watch};
/// Keeps each sequence once (a primary key: applying one twice fails loudly); refuses every
/// batch while `refuse` is set, as a full disk would.
struct Refusing {
    refuse: Arc<AtomicBool>,
}

impl Projection for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS seen (seq INTEGER PRIMARY KEY);"
    }
    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            tx.execute("INSERT INTO seen (seq) VALUES (?1)", [record.seq as i64])?;
        }
        if self.refuse.load(Ordering::Acquire) {
            return Err(ProjectionError::Corrupt(
                "database or disk is full".to_owned(),
            ));
        }
        Ok(())
    }
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Work {
    Work::Batch(seqs.map(|seq| SharedRecord::new(record(seq))).collect())
}

#[test]
fn a_refused_batch_is_applied_again_once_the_store_takes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("refusing.sqlite");
    let refuse = Arc::new(AtomicBool::new(false));
    let projection = Refusing {
        refuse: Arc::clone(&refuse),
    };
    let store = ProjectionStore::open(&path, projection).expect("open");
    let (tx, rx) = mpsc::channel(4);
    let (status_tx, status) = watch::channel(RunnerStatus::default());
    let writer = std::thread::spawn(move || {
        write_loop(store, rx, Arc::new(status_tx), &Stops::default());
    });
    tx.blocking_send(batch(1..=3)).expect("send");
    let wait = |what: &str, done: &dyn Fn(&RunnerStatus) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&status.borrow()) {
            assert!(Instant::now() < deadline, "{what}: {:?}", *status.borrow());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait("applied 3", &|s| s.checkpoint.seq == 3);
    refuse.store(true, Ordering::Release);
    tx.blocking_send(batch(4..=5)).expect("send");
    tx.blocking_send(Work::Unreadable(6)).expect("send");
    tx.blocking_send(batch(7..=8)).expect("send");
    wait("reported failing", &|s| s.store_failing.is_some());
    // Several attempts while refused: each rolled back, nothing past 3 kept.
    std::thread::sleep(FIRST_STORE_RETRY * 4);
    let failing = status.borrow().clone();
    assert_eq!(failing.checkpoint.seq, 3, "{failing:?}");
    assert_eq!(failing.failed, None, "{failing:?}");
    assert!(
        failing
            .failure()
            .is_some_and(|f| f.contains("disk is full")),
        "{failing:?}"
    );
    refuse.store(false, Ordering::Release);
    wait("recovered", &|s| {
        s.checkpoint.seq == 8 && s.store_failing.is_none()
    });
    tx.blocking_send(batch(9..=9)).expect("send");
    tx.blocking_send(Work::Stop).expect("send");
    writer.join().expect("writer");
    assert_eq!(status.borrow().checkpoint.seq, 9);
    assert_eq!(
        status.borrow().checkpoint.undecodable,
        1,
        "6 skipped as unreadable"
    );
    assert_eq!(status.borrow().failure(), None);
    let conn = rusqlite::Connection::open(&path).expect("reader");
    let seen: Vec<i64> = conn
        .prepare("SELECT seq FROM seen ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(seen, [1, 2, 3, 4, 5, 7, 8, 9], "each once, none skipped");
}

#[test]
fn a_writer_that_keeps_failing_stops_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("refusing.sqlite");
    let refuse = Arc::new(AtomicBool::new(true));
    let projection = Refusing { refuse };
    let store = ProjectionStore::open(&path, projection).expect("open");
    let (tx, rx) = mpsc::channel(1);
    let (status_tx, status) = watch::channel(RunnerStatus::default());
    let stops = Arc::new(Stops::default());
    let stopping = Arc::clone(&stops);
    let writer = std::thread::spawn(move || {
        write_loop(store, rx, Arc::new(status_tx), &stopping);
    });
    tx.blocking_send(batch(1..=2)).expect("send");
    let deadline = Instant::now() + Duration::from_secs(20);
    while status.borrow().store_failing.is_none() {
        assert!(Instant::now() < deadline, "not reported failing");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The queue is full meanwhile; the shutdown flag alone ends the attempts.
    tx.blocking_send(batch(3..=3)).expect("send");
    stops.shutting_down.store(true, Ordering::Release);
    writer.join().expect("writer");
    let stopped = status.borrow().clone();
    assert!(
        stopped
            .failed
            .as_deref()
            .is_some_and(|f| f.contains("disk is full")),
        "{stopped:?}"
    );
    assert_eq!(stopped.store_failing, None);
    assert_eq!(stopped.checkpoint.seq, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_reports_timeouts_and_a_failing_batch_until_shut_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let path = dir.path().join("tally.sqlite");
    let last = append_some(&log, 4).await;
    let runner = ProjectionRunner::start(
        log.clone(),
        &path,
        Tally { fail_at: Some(6) },
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    runner
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("applied");
    assert_eq!(runner.lag().await.expect("lag"), 0);
    let readers = Readers::new(runner.path(), 2);
    for _ in 0..3 {
        let rows: i64 = readers
            .query(|conn| Ok(conn.query_row("SELECT count(*) FROM seq_events", [], |r| r.get(0))?))
            .await
            .expect("query");
        assert_eq!(rows, 4);
    }
    let waited = runner.wait_for(last + 1, Duration::from_millis(50)).await;
    assert!(
        matches!(waited, Err(ProjectionError::Timeout { applied, .. }) if applied == last),
        "{waited:?}"
    );
    let last = append_some(&log, 3).await;
    // The batch with 6 is refused every time: reported failing, tried again, never skipped.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runner.status().store_failing.is_none() {
        assert!(std::time::Instant::now() < deadline, "not reported failing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = runner.wait_for(last, Duration::from_millis(300)).await;
    assert!(
        matches!(waited, Err(ProjectionError::Timeout { applied, .. }) if applied < 6),
        "a failing store is waited for: {waited:?}"
    );
    assert!(
        runner
            .status()
            .failure()
            .is_some_and(|f| f.contains("refused 6")),
        "{:?}",
        runner.status()
    );
    // A shutdown ends the attempts.
    let status = runner.shutdown().await;
    assert!(status.failed.is_some(), "{status:?}");
    assert!(
        status.checkpoint.seq < 6,
        "nothing of the failed batch is applied"
    );
    assert!(applied(&path).iter().all(|seq| *seq < 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_whose_log_keeps_failing_is_reported_failed_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("log.sqlite");
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("open");
    let last = append_some(&log, 2).await;
    let path = dir.path().join("tally.sqlite");
    let options = RunnerOptions {
        retry_after: Duration::from_millis(20),
        ..RunnerOptions::default()
    };
    // A reader of the file, as a second process is: it polls the file, so it sees the failure.
    let reader = EmbeddedLog::open_read_only(&log_path, LogLimits::default()).expect("reader");
    let runner = ProjectionRunner::start(reader, &path, Tally { fail_at: None }, options)
        .await
        .expect("start");
    runner
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("applied");
    // The log's table goes away under the tail: every read fails the same way.
    let conn = Connection::open(&log_path).expect("open the log file");
    conn.execute_batch("ALTER TABLE log RENAME TO log_aside")
        .expect("rename");
    let failed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let status = runner.status();
            if status.failure().is_some() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("reported failed within 30 s");
    assert!(
        failed
            .log_failing
            .as_deref()
            .is_some_and(|f| f.contains("log")),
        "{failed:?}"
    );
    assert_eq!(failed.failed, None, "the store itself is fine");
    // The table is back: the runner goes on and is no longer failed.
    conn.execute_batch("ALTER TABLE log_aside RENAME TO log")
        .expect("rename back");
    let last = append_some(&log, 1).await;
    runner
        .wait_for(last, Duration::from_secs(30))
        .await
        .expect("applied after the log recovered");
    assert_eq!(runner.status().failure(), None);
}

/// The log fails until the runner reports it, then answers again with nothing new to read:
/// the report clears all the same (it used to wait for the next record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_log_that_answers_again_with_nothing_new_is_no_longer_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("log.sqlite");
    let log = EmbeddedLog::open(&log_path, EmbeddedOptions::default()).expect("open");
    let last = append_some(&log, 2).await;
    let path = dir.path().join("tally.sqlite");
    let options = RunnerOptions {
        retry_after: Duration::from_millis(20),
        ..RunnerOptions::default()
    };
    let reader = EmbeddedLog::open_read_only(&log_path, LogLimits::default()).expect("reader");
    let runner = ProjectionRunner::start(reader, &path, Tally { fail_at: None }, options)
        .await
        .expect("start");
    runner
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("applied");
    let conn = Connection::open(&log_path).expect("open the log file");
    conn.execute_batch("ALTER TABLE log RENAME TO log_aside")
        .expect("rename");
    let deadline = Instant::now() + Duration::from_secs(30);
    while runner.status().log_failing.is_none() {
        assert!(Instant::now() < deadline, "not reported failing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    conn.execute_batch("ALTER TABLE log_aside RENAME TO log")
        .expect("rename back");
    // Nothing appended: the report clears once the log answers and the tail holds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while runner.status().failure().is_some() {
        assert!(
            Instant::now() < deadline,
            "still reported failing: {:?}",
            runner.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(runner.status().checkpoint.seq, last);
    assert_eq!(applied(&path), [1, 2]);
    // And it goes on with what comes next.
    let more = append_some(&log, 1).await;
    runner
        .wait_for(more, Duration::from_secs(30))
        .await
        .expect("applied after the log recovered");
    drop(log);
}

/// One read model of a group whose store keeps refusing does not hold the others back: its
/// writer keeps taking what the feed queues for it while it waits to try again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_does_not_hold_back_the_others_of_its_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
        .expect("open");
    let refusing_path = dir.path().join("refusing.sqlite");
    let tally_path = dir.path().join("tally.sqlite");
    let refuse = Arc::new(AtomicBool::new(true));
    let stores: Vec<Box<dyn Store>> = vec![
        Box::new(
            ProjectionStore::open(
                &refusing_path,
                Refusing {
                    refuse: Arc::clone(&refuse),
                },
            )
            .expect("open"),
        ),
        Box::new(ProjectionStore::open(&tally_path, Tally { fail_at: None }).expect("open")),
    ];
    // One record a batch and two batches a queue: without the taking, the tally would stop
    // a few records in, behind the refusing store's full queue.
    let options = RunnerOptions {
        max_batch: 1,
        queued_batches: 2,
        ..RunnerOptions::default()
    };
    let mut runners = ProjectionRunner::start_group(log.clone(), stores, options).expect("start");
    let tally = runners.pop().expect("tally");
    let refusing = runners.pop().expect("refusing");
    let last = append_some(&log, 60).await;
    tally
        .wait_for(last, Duration::from_secs(30))
        .await
        .expect("the tally goes on");
    assert!(
        refusing.status().store_failing.is_some(),
        "{:?}",
        refusing.status()
    );
    assert_eq!(refusing.applied_seq(), 0);
    // Room again: the refusing store takes all it kept, each once.
    refuse.store(false, Ordering::Release);
    refusing
        .wait_for(last, Duration::from_secs(30))
        .await
        .expect("caught up");
    assert_eq!(refusing.status().failure(), None);
    let seen: i64 = Connection::open(&refusing_path)
        .expect("reader")
        .query_row("SELECT count(*) FROM seen", [], |r| r.get(0))
        .expect("count");
    assert_eq!(seen, 60);
    drop((tally, refusing));
}
