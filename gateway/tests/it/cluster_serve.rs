//! Two `serve` processes on different nodes of a 3-node JetStream cluster (the shipped
//! `deploy/nats/` configs, the stream at 3 replicas) while events are appended and a follower,
//! then the stream leader, are killed with SIGKILL and restarted: both keep answering, both
//! end with every read model at the log's last sequence, and `verify` finds each equal to a
//! rebuild from the log.

use crate::common::*;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::{AppendRequest, EventLog, Expected, LogError, MsgId};
use switchboard_schemas::{EventId, encode_batch};
use switchboard_tests::{NODES, NatsCluster};

/// Dialogs the writer spreads its notes over.
const DIALOGS: u128 = 40;

fn r3() -> JetStreamOptions {
    JetStreamOptions {
        replicas: 3,
        ..Default::default()
    }
}

/// Appends one note to `dialog`, retrying the same message while the cluster is unavailable.
async fn append_retrying(log: &JetStreamLog, dialog_n: u128, text: &str) -> u64 {
    let events = [note(dialog(dialog_n), text)];
    let request = AppendRequest {
        subject: subject_of(dialog(dialog_n)),
        expected: Expected::Any,
        msg_id: MsgId::new(EventId::new().to_string()).unwrap(),
        batch: encode_batch(&events).unwrap(),
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        match log.append(request.clone()).await {
            Ok(ack) => return ack.seq,
            Err(LogError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => panic!("append: {e}"),
        }
    }
}

/// The stream's leader node and replica count, asked through `client` (waits for a leader).
async fn stream_state(cluster: &NatsCluster, client: &async_nats::Client) -> (usize, usize) {
    let js = async_nats::jetstream::new(client.clone());
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(mut stream) = js.get_stream("SB").await
            && let Ok(info) = stream.info().await
            && let Some(leader) = info
                .cluster
                .as_ref()
                .and_then(|c| c.leader.as_deref())
                .and_then(|l| cluster.node_of(l))
        {
            return (leader, info.config.num_replicas);
        }
        assert!(Instant::now() < deadline, "no stream leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /v1/health` of a `serve`: its status and body, or `None` when it does not answer within
/// 5 s (the health check answers within 2 s even when the log hangs).
fn health_of(addr: SocketAddr) -> Option<(u16, serde_json::Value)> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    Some(http(addr, "GET", "/v1/health"))
}

fn applied_all(body: &serde_json::Value, seq: u64) -> bool {
    body["projections"].as_array().is_some_and(|models| {
        !models.is_empty()
            && models
                .iter()
                .all(|m| m["applied_seq"].as_u64() >= Some(seq))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serves_on_a_cluster_under_faults_match_a_rebuild() {
    let mut cluster = tokio::task::block_in_place(NatsCluster::start);
    let nodes: Vec<String> = (0..NODES).map(|i| cluster.url(i)).collect();
    let admin = async_nats::connect(nodes).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let log = loop {
        match JetStreamLog::with_client(admin.clone(), r3()).await {
            Ok(log) => break log,
            Err(e) if Instant::now() < deadline => {
                eprintln!("create the stream (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("create the stream: {e}"),
        }
    };
    for n in 0..DIALOGS {
        append_retrying(&log, n, "first").await;
    }

    // Two services, each given one node (the client learns the others from it).
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url_a = cluster.url(0);
    let url_b = cluster.url(1);
    let (_serve_a, addr_a) = start_server(dir_a.path(), &["--nats", &url_a]);
    let (_serve_b, addr_b) = start_server(dir_b.path(), &["--nats", &url_b]);
    // `serve` leaves an existing stream as it is (issue 15 item 3): still 3 replicas.
    assert_eq!(
        stream_state(&cluster, &admin).await.1,
        3,
        "serve changed the stream's replicas"
    );

    // A writer appends notes all along; the test polls both services' health meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let (log, stop, written) = (log.clone(), Arc::clone(&stop), Arc::clone(&written));
        async move {
            let mut i = 0u128;
            while !stop.load(Ordering::SeqCst) {
                append_retrying(&log, i % DIALOGS, &format!("note {i}")).await;
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let answered = |addr: SocketAddr| {
        let status = tokio::task::block_in_place(|| health_of(addr)).map(|(status, _)| status);
        assert!(
            matches!(status, Some(200 | 503)),
            "serve at {addr} did not answer its health check: {status:?}"
        );
    };
    let progress = |n: u64| {
        let written = Arc::clone(&written);
        async move {
            let from = written.load(Ordering::SeqCst);
            let deadline = Instant::now() + PATIENCE;
            while written.load(Ordering::SeqCst) < from + n {
                assert!(Instant::now() < deadline, "appends stalled");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    progress(100).await;

    for fault in ["follower", "leader"] {
        let (leader, _) = stream_state(&cluster, &admin).await;
        let victim = if fault == "leader" {
            leader
        } else {
            (leader + 1) % NODES
        };
        tokio::task::block_in_place(|| cluster.kill(victim));
        answered(addr_a);
        answered(addr_b);
        progress(100).await;
        answered(addr_a);
        answered(addr_b);
        tokio::task::block_in_place(|| {
            cluster.start_node(victim);
            cluster.wait_healthy();
        });
        progress(100).await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let last = log.last_seq().await.unwrap();
    assert!(u128::from(last) >= DIALOGS + 400, "last seq {last}");

    // Both services catch up to the end of the log and say so.
    for addr in [addr_a, addr_b] {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let health = tokio::task::block_in_place(|| health_of(addr));
            if let Some((200, body)) = &health
                && applied_all(body, last)
            {
                assert_eq!(body["last_seq"], last, "{body}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "serve at {addr} not caught up to {last}: {health:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Each node's read models equal a rebuild from the log.
    let urls = cluster.urls();
    for dir in [&dir_a, &dir_b] {
        let data = dir.path().join("data");
        let output = run(&["verify", "--data", data.to_str().unwrap(), "--nats", &urls]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: serde_json::Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "verify printed no report: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        assert_eq!(output.status.code(), Some(0), "{report}");
        assert_eq!(report["ok"], true, "{report}");
    }
}
