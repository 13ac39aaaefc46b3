//! A JetStream cluster under faults: while writers append pipelined to several aggregates
//! through the JetStream `EventLog` (the stream at 3 replicas on the cluster of `deploy/nats/`),
//! a follower is killed (`kill -9`) and restarted, then the leader, the leader is stopped
//! cleanly, the leader steps down, a
//! node's store is wiped and it rejoins, and a node is cut off from its routes (a partition).
//! Afterwards every acknowledged append is read back at its sequence, none is duplicated, the
//! sequences have no gap, and the three replicas hold the same stream. The longest append stall
//! of each phase is printed (`cargo nextest run -p switchboard-tests cluster_faults
//! --no-capture`).

use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::log::{
    AppendRequest, EventLog, Expected, LogError, LogRecord, MsgId, Subject, SubjectFilter,
};
use switchboard_schemas::EncodedBatch;
use switchboard_tests::{NODES, NatsCluster};

/// Writers appending at once, one aggregate (subject) each.
const WRITERS: usize = 6;

/// How long one append may keep failing before the test gives up on the cluster.
const GIVE_UP: Duration = Duration::from_secs(60);

/// What the writers share with the test.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Appends acknowledged so far.
    acked: AtomicU64,
    /// Longest time (µs) from an append's first attempt to its ack, since the last reset.
    stall_us: AtomicU64,
    /// Attempts that failed and were retried.
    retries: AtomicU64,
    /// Of the retried attempts, those that got no answer within the ack timeout (sent to a
    /// server that died or lost its leadership with the request in flight).
    timeouts: AtomicU64,
    /// Acks that said `duplicate` (a retry of an append that had landed).
    duplicates: AtomicU64,
}

impl Load {
    /// The longest stall since the last call, and resets it.
    fn take_stall(&self) -> Duration {
        Duration::from_micros(self.stall_us.swap(0, Ordering::SeqCst))
    }
}

/// One writer: appends `f-<w>-<i>` to `sb.faults.dialog.w<w>`, each expecting the previous one's
/// sequence, retrying the same request (same message id, same expectation) until it is
/// acknowledged. Returns `(msg_id, seq)` of every acknowledged append, in order.
async fn writer(log: JetStreamLog, w: usize, load: Arc<Load>) -> Vec<(String, u64)> {
    let subject = Subject::parse(&format!("sb.faults.dialog.w{w}")).expect("subject");
    let mut acked = Vec::new();
    let mut last = 0u64;
    for i in 0.. {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        let msg_id = format!("f-{w}-{i}");
        let request = AppendRequest {
            subject: subject.clone(),
            expected: Expected::from_last(last),
            msg_id: MsgId::new(&msg_id).expect("msg id"),
            batch: EncodedBatch {
                types: "test.event".into(),
                versions: "1".into(),
                body: format!("{w}:{i}").into(),
            },
        };
        let started = Instant::now();
        let ack = loop {
            match log.append(request.clone()).await {
                Ok(ack) => break ack,
                // Unavailable: no leader, a node gone, an ack lost. Conflict: while an earlier
                // attempt of this very append is still being replicated, the leader refuses
                // another one on the subject; the retry then finds it through deduplication.
                Err(e @ (LogError::Unavailable(_) | LogError::Conflict { .. }))
                    if started.elapsed() < GIVE_UP =>
                {
                    match &e {
                        LogError::Conflict { actual, .. } => {
                            assert!(*actual >= last, "{msg_id}: the subject went backwards: {e}");
                        }
                        LogError::Unavailable(why) if why.contains("no ack within") => {
                            load.timeouts.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                    load.retries.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => panic!("append {msg_id} failed for good after {started:?}: {e}"),
            }
        };
        assert!(
            ack.seq > last,
            "{msg_id}: acked at {} after {last}",
            ack.seq
        );
        if ack.duplicate {
            load.duplicates.fetch_add(1, Ordering::SeqCst);
        }
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        load.stall_us.fetch_max(took, Ordering::SeqCst);
        load.acked.fetch_add(1, Ordering::SeqCst);
        last = ack.seq;
        acked.push((msg_id, ack.seq));
    }
    acked
}

fn options() -> JetStreamOptions {
    JetStreamOptions {
        replicas: 3,
        ..Default::default()
    }
}

/// Connects the log to every node at 3 replicas, retrying while the cluster settles.
async fn connect(cluster: &NatsCluster) -> JetStreamLog {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match JetStreamLog::connect(&cluster.urls(), options()).await {
            Ok(log) => return log,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("connect (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("connect: {e}\n{}", cluster.log_tail()),
        }
    }
}

/// The log on `client` (whose server the test can ask), retrying while the cluster settles.
async fn log_on(cluster: &NatsCluster, client: &async_nats::Client) -> JetStreamLog {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match JetStreamLog::with_client(client.clone(), options()).await {
            Ok(log) => return log,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("create the stream (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("create the stream: {e}\n{}", cluster.log_tail()),
        }
    }
}

/// Asks the stream leader to step down; returns once another node leads.
async fn step_down(cluster: &NatsCluster, client: &async_nats::Client) {
    let leader = stream_leader(cluster, client).await;
    let reply = client
        .request("$JS.API.STREAM.LEADER.STEPDOWN.SB", "".into())
        .await
        .expect("step down");
    let reply = String::from_utf8_lossy(&reply.payload).into_owned();
    assert!(reply.contains("\"success\":true"), "step down: {reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stream_leader(cluster, client).await == leader {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {leader} still leads 30 s after stepping down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node leading the stream `SB`, asked through `client` (waits while there is none).
async fn stream_leader(cluster: &NatsCluster, client: &async_nats::Client) -> usize {
    let js = async_nats::jetstream::new(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut stream) = js.get_stream("SB").await
            && let Ok(info) = stream.info().await
            && let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.as_deref())
            && let Some(node) = cluster.node_of(leader)
        {
            return node;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stream leader within 30 s\n{}",
            cluster.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `n` more appends were acknowledged after `from` (the load goes on), and returns
/// the longest stall seen meanwhile.
async fn progress(load: &Load, from: u64, n: u64, what: &str) -> Duration {
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    while load.acked.load(Ordering::SeqCst) < from + n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: appends stalled (no {n} acks within {GIVE_UP:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    load.take_stall()
}

/// `(messages, last_seq)` of stream `SB` as node `i` stores it (its monitoring `/jsz`).
fn replica_state(cluster: &NatsCluster, i: usize) -> Option<(u64, u64)> {
    let (status, body) = cluster.http_get(i, "/jsz?accounts=true&streams=true");
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    find_stream(&json)
}

fn find_stream(value: &serde_json::Value) -> Option<(u64, u64)> {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("name").and_then(|n| n.as_str()) == Some("SB")
                && let Some(state) = map.get("state")
            {
                return Some((
                    state.get("messages")?.as_u64()?,
                    state.get("last_seq")?.as_u64()?,
                ));
            }
            map.values().find_map(find_stream)
        }
        serde_json::Value::Array(items) => items.iter().find_map(find_stream),
        _ => None,
    }
}

/// Everything in the log, read in pages.
async fn read_all(log: &JetStreamLog) -> Vec<LogRecord> {
    let mut out: Vec<LogRecord> = Vec::new();
    let mut next = 1;
    loop {
        let page = log
            .read(next, &SubjectFilter::all(), 500)
            .await
            .unwrap_or_else(|e| panic!("read from {next}: {e}"));
        let Some(last) = page.last() else {
            return out;
        };
        next = last.seq + 1;
        out.extend(page);
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_loses_a_node_and_nothing_else() {
    let started = Instant::now();
    let mut cluster = blocking(NatsCluster::start);
    // One client for the writers and the test's questions: the test knows which node it is on.
    let nodes: Vec<String> = (0..NODES).map(|i| cluster.url(i)).collect();
    let admin = async_nats::connect(nodes).await.expect("client");
    let log = log_on(&cluster, &admin).await;
    let load = Arc::new(Load::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(log.clone(), w, Arc::clone(&load))))
        .collect();
    let mut stalls: Vec<(&str, Duration)> = Vec::new();

    let warm = progress(&load, 0, 200, "warm-up").await;
    stalls.push(("no fault", warm));

    // 1. A follower is killed, the load goes on, the follower comes back and catches up.
    let leader = stream_leader(&cluster, &admin).await;
    let follower = (leader + 1) % NODES;
    blocking(|| cluster.kill(follower));
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "follower killed",
        progress(&load, at, 200, "follower killed").await,
    ));
    blocking(|| {
        cluster.start_node(follower);
        cluster.wait_healthy();
    });
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "follower back",
        progress(&load, at, 100, "follower back").await,
    ));

    // 2. The leader is killed: the others elect a new one; the old one rejoins.
    let leader = stream_leader(&cluster, &admin).await;
    load.take_stall();
    blocking(|| cluster.kill(leader));
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "leader killed (-9)",
        progress(&load, at, 200, "leader killed").await,
    ));
    let new_leader = stream_leader(&cluster, &admin).await;
    assert_ne!(new_leader, leader, "a killed node cannot lead");
    blocking(|| {
        cluster.start_node(leader);
        cluster.wait_healthy();
    });

    // 2b. The leader is stopped cleanly (SIGTERM, as systemd stops it) and started again.
    let leader = stream_leader(&cluster, &admin).await;
    load.take_stall();
    blocking(|| cluster.stop(leader));
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "leader stopped (SIGTERM)",
        progress(&load, at, 200, "leader stopped").await,
    ));
    blocking(|| {
        cluster.start_node(leader);
        cluster.wait_healthy();
    });

    // 3. The leader steps down (as an operator does before maintenance).
    load.take_stall();
    step_down(&cluster, &admin).await;
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "leader stepped down",
        progress(&load, at, 200, "step down").await,
    ));

    // 4. A follower's store is wiped: it rejoins empty and receives the stream again.
    let leader = stream_leader(&cluster, &admin).await;
    let wiped = (leader + 2) % NODES;
    blocking(|| cluster.wipe(wiped));
    blocking(|| cluster.wait_healthy());
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "store wiped, node rejoined",
        progress(&load, at, 200, "wiped node").await,
    ));

    // 5. A partition: the stream leader is cut off from its routes (it still accepts clients).
    // The majority elects a new leader; the cut-off node acknowledges nothing. The writers'
    // client is on the majority side (a client on the cut-off node waits for the partition to
    // heal: its appends fail, nothing is lost), so the leader moves off its node first.
    let ours = cluster.node_of(&admin.server_info().server_name);
    if ours == Some(stream_leader(&cluster, &admin).await) {
        step_down(&cluster, &admin).await;
    }
    let leader = stream_leader(&cluster, &admin).await;
    assert_ne!(Some(leader), ours);
    load.take_stall();
    blocking(|| cluster.isolate(leader));
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push((
        "leader cut off (partition)",
        progress(&load, at, 200, "partition").await,
    ));
    let lonely = async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(cluster.url(leader))
        .await
        .expect("connect to the cut-off node");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "cut-off-1");
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        lonely.request_with_headers("sb.faults.dialog.cut", headers, "lost?".into()),
    )
    .await;
    if let Ok(Ok(reply)) = &answer {
        let text = String::from_utf8_lossy(&reply.payload);
        assert!(
            text.contains("\"error\""),
            "a node cut off from the cluster acknowledged an append: {text}"
        );
    }
    drop(lonely);
    blocking(|| {
        cluster.heal(leader);
        cluster.wait_healthy();
    });
    let at = load.acked.load(Ordering::SeqCst);
    stalls.push(("partition healed", progress(&load, at, 100, "healed").await));

    // Stop the load; every writer finishes its append in flight.
    load.stop.store(true, Ordering::SeqCst);
    let mut acked: Vec<(String, u64)> = Vec::new();
    let mut per_writer: Vec<Vec<(String, u64)>> = Vec::new();
    for writer in writers {
        let mine = writer.await.expect("writer");
        acked.extend(mine.iter().cloned());
        per_writer.push(mine);
    }

    // Every acknowledged append is there, at its sequence, once; no gap.
    let checking = Instant::now();
    let records = read_all(&log).await;
    let last = log.last_seq().await.expect("last seq");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    let expected_seqs: Vec<u64> = (1..=last).collect();
    assert_eq!(seqs, expected_seqs, "the stream's sequences have a gap");
    let mut ids = HashSet::new();
    for record in &records {
        assert!(
            ids.insert(record.msg_id.clone()),
            "{} stored twice",
            record.msg_id
        );
    }
    let by_seq: HashMap<u64, &LogRecord> = records.iter().map(|r| (r.seq, r)).collect();
    for (msg_id, seq) in &acked {
        let record = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("{msg_id} acknowledged at {seq} is missing"));
        assert_eq!(&record.msg_id, msg_id, "seq {seq} holds another append");
    }
    assert_eq!(
        records.len(),
        acked.len(),
        "the stream holds appends nobody saw acknowledged"
    );
    assert!(
        !ids.contains("cut-off-1"),
        "the cut-off node's append landed"
    );
    // Each writer's appends are in its subject in order, one after the other.
    for (w, mine) in per_writer.iter().enumerate() {
        let subject = format!("sb.faults.dialog.w{w}");
        let stored: Vec<&str> = records
            .iter()
            .filter(|r| r.subject.as_str() == subject)
            .map(|r| r.msg_id.as_str())
            .collect();
        let wanted: Vec<String> = (0..mine.len()).map(|i| format!("f-{w}-{i}")).collect();
        assert_eq!(stored, wanted, "writer {w}'s subject");
    }

    // The three replicas converge on the same stream (the wiped one included).
    let deadline = Instant::now() + Duration::from_secs(30);
    let states = loop {
        let states: BTreeMap<usize, Option<(u64, u64)>> = (0..NODES)
            .map(|i| (i, blocking(|| replica_state(&cluster, i))))
            .collect();
        if states.values().all(|s| *s == Some((last, last))) {
            break states;
        }
        assert!(
            Instant::now() < deadline,
            "replicas differ from ({last}, {last}): {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // A tail from the start delivers the same records.
    let mut tail = log.tail(1, SubjectFilter::all());
    for want in &records {
        let got = tokio::time::timeout(Duration::from_secs(10), tail.next())
            .await
            .expect("tail stalled")
            .expect("tail ended")
            .expect("tail record");
        assert_eq!((got.seq, &got.msg_id), (want.seq, &want.msg_id));
    }

    for (phase, stall) in &stalls {
        eprintln!("cluster faults: longest append stall, {phase}: {stall:?}");
    }
    eprintln!(
        "cluster faults: {} appends acknowledged by {WRITERS} writers, {} retried attempts ({} \
         ack timeouts), {} duplicate acks, replicas {states:?}, {:?} in all, {:?} of which \
         reading back",
        acked.len(),
        load.retries.load(Ordering::SeqCst),
        load.timeouts.load(Ordering::SeqCst),
        load.duplicates.load(Ordering::SeqCst),
        started.elapsed(),
        checking.elapsed()
    );
}

/// `--nats` with several URLs: the log connects while the first node is down, and a list with
/// no URL is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_urls_reach_a_live_node() {
    let mut cluster = blocking(NatsCluster::start);
    blocking(|| cluster.kill(0));
    let urls = cluster.urls();
    assert!(urls.starts_with(&cluster.url(0)));
    let log = connect(&cluster).await;
    let subject = Subject::parse("sb.urls.project").expect("subject");
    let ack = log
        .append(AppendRequest {
            subject,
            expected: Expected::NoEvents,
            msg_id: MsgId::new("urls-1").expect("msg id"),
            batch: EncodedBatch {
                types: "test.event".into(),
                versions: "1".into(),
                body: "x".into(),
            },
        })
        .await
        .expect("append with node 1 down");
    assert_eq!(ack.seq, 1);
    match JetStreamLog::connect(" , ", JetStreamOptions::default()).await {
        Err(LogError::Invalid(message)) => assert!(message.contains("no NATS server URL")),
        other => panic!("expected an invalid-URL error, got {other:?}"),
    }
}
