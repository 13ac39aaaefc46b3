//! Throughput and latency of both backends. Ignored by default; run in release:
//!
//! ```text
//! cargo test --release -p switchboard-tests --test log_bench -- --ignored --nocapture --test-threads 1
//! ```

use std::time::{Duration, Instant};
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions, SyncMode};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::log::{AppendRequest, EventLog, Expected, MsgId, Subject};
use switchboard_schemas::EncodedBatch;
use switchboard_tests::NatsServer;

fn request(subject: &Subject, expected: Expected, msg_id: String) -> AppendRequest {
    AppendRequest {
        subject: subject.clone(),
        expected,
        msg_id: MsgId::new(msg_id).expect("msg id"),
        batch: EncodedBatch {
            types: "message.received".into(),
            versions: "1".into(),
            body: vec![42u8; 300].into(),
        },
    }
}

/// `tasks` appenders, each on its own subject with optimistic concurrency; appends per second.
async fn throughput<L: EventLog>(log: &L, tasks: usize, per_task: usize) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let subject = Subject::parse(&format!("sb.bench.dialog.t{t}")).unwrap();
            let mut last = log.last_subject_seq(&subject).await.unwrap();
            for i in 0..per_task {
                let req = request(&subject, Expected::from_last(last), format!("tp-{t}-{i}"));
                last = log.append(req).await.expect("append").seq;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    (tasks * per_task) as f64 / started.elapsed().as_secs_f64()
}

/// One append at a time; (p50, p99, max) latency.
async fn latency<L: EventLog>(log: &L, count: usize) -> (Duration, Duration, Duration) {
    let subject = Subject::parse("sb.bench.dialog.latency").unwrap();
    let mut last = log.last_subject_seq(&subject).await.unwrap();
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let req = request(&subject, Expected::from_last(last), format!("lat-{i}"));
        let started = Instant::now();
        last = log.append(req).await.expect("append").seq;
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    (
        samples[count / 2],
        samples[count * 99 / 100],
        samples[count - 1],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run in release with --ignored"]
async fn bench_embedded() {
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(
            &dir.path().join("bench.sqlite"),
            EmbeddedOptions {
                sync,
                ..Default::default()
            },
        )
        .unwrap();
        let (p50, p99, max) = latency(&log, 5_000).await;
        eprintln!("embedded {sync:?}: one by one p50 {p50:?} p99 {p99:?} max {max:?}");
        let tasks_list: Vec<usize> = std::env::var("SB_BENCH_TASKS")
            .ok()
            .map(|v| v.split(',').filter_map(|t| t.parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 16, 256]);
        for tasks in tasks_list {
            let rate = throughput(&log, tasks, 100_000 / tasks).await;
            eprintln!("embedded {sync:?}: {tasks} appenders: {rate:.0} appends/s");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run in release with --ignored"]
async fn bench_jetstream() {
    let server = tokio::task::block_in_place(NatsServer::start);
    let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .unwrap();
    let (p50, p99, max) = latency(&log, 2_000).await;
    eprintln!("jetstream: one by one p50 {p50:?} p99 {p99:?} max {max:?}");
    for tasks in [1, 16, 256] {
        let rate = throughput(&log, tasks, 20_000 / tasks).await;
        eprintln!("jetstream: {tasks} appenders: {rate:.0} appends/s");
    }
}
