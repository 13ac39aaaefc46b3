//! The JetStream stream belongs to the operator: tools only look it up, `serve` creates it only
//! when it is missing and never changes an existing one. A real nats-server each.

use crate::common::*;
use async_nats::jetstream::{self, stream};
use serde_json::Value;
use std::time::Duration;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_tests::NatsServer;

/// A stream as an operator would make it by hand: what Switchboard needs, with a 300 s duplicate
/// window instead of the 120 s Switchboard would pick.
fn hand_made(discard: stream::DiscardPolicy) -> stream::Config {
    stream::Config {
        name: "SB".into(),
        subjects: vec!["sb.>".into()],
        storage: stream::StorageType::File,
        discard,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        duplicate_window: Duration::from_secs(300),
        max_message_size: 1024 * 1024,
        ..Default::default()
    }
}

async fn context(nats: &NatsServer) -> jetstream::Context {
    jetstream::new(async_nats::connect(nats.url()).await.unwrap())
}

/// The stream's configuration as the server reports it.
async fn stored_config(js: &jetstream::Context) -> Value {
    let mut stream = js.get_stream("SB").await.unwrap();
    serde_json::to_value(&stream.info().await.unwrap().config).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_tail_leaves_an_existing_stream_as_it_is() {
    let nats = NatsServer::start();
    let js = context(&nats).await;
    js.create_stream(hand_made(stream::DiscardPolicy::New))
        .await
        .unwrap();
    let before = stored_config(&js).await;
    assert_eq!(before["duplicate_window"], 300_000_000_000u64, "{before}");

    let output = run(&["events", "tail", "--nats", &nats.url()]);
    assert!(output.status.success(), "{output:?}");

    assert_eq!(stored_config(&js).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_without_the_stream_fails_naming_it_and_creates_nothing() {
    let nats = NatsServer::start();
    let url = nats.url();
    for args in [
        vec!["events", "tail", "--nats", &url],
        vec!["verify", "--nats", &url, "--data", "unused"],
    ] {
        let cwd = tempfile::tempdir().unwrap();
        let output = bin()
            .current_dir(cwd.path())
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("stream SB") && stderr.contains(&url),
            "{args:?}: {stderr}"
        );
    }
    let js = context(&nats).await;
    assert!(
        js.get_stream("SB").await.is_err(),
        "a tool created the stream"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_default_limits_a_tool_prints_no_warning() {
    let nats = NatsServer::start();
    // The stream as `serve` makes it on a server with the default max_payload (1 MB).
    JetStreamLog::connect(&nats.url(), JetStreamOptions::default())
        .await
        .unwrap();
    let output = run(&["events", "tail", "--nats", &nats.url()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_leaves_a_differing_stream_alone_and_names_the_difference() {
    let nats = NatsServer::start();
    let js = context(&nats).await;
    js.create_stream(hand_made(stream::DiscardPolicy::New))
        .await
        .unwrap();
    let before = stored_config(&js).await;

    let cwd = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(cwd.path(), &["--nats", &nats.url()]);
    let (status, _) = http(addr, "GET", "/v1/health");
    assert_eq!(status, 200);
    assert!(
        server.stderr().contains("duplicate_window"),
        "{}",
        server.stderr()
    );
    drop(server);
    assert_eq!(stored_config(&js).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_a_stream_that_drops_old_events() {
    let nats = NatsServer::start();
    let js = context(&nats).await;
    js.create_stream(hand_made(stream::DiscardPolicy::Old))
        .await
        .unwrap();
    let before = stored_config(&js).await;

    let cwd = tempfile::tempdir().unwrap();
    let mut command = bin();
    command.current_dir(cwd.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--nats",
        &nats.url(),
    ]);
    let mut server = Running::spawn(&mut command, cwd.path().join("serve.stderr"));
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", server.stderr());
    assert!(server.stderr().contains("discard"), "{}", server.stderr());
    // Refused before binding: no `listening on` line.
    assert_eq!(
        server.lines.recv_timeout(PATIENCE),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    );
    assert_eq!(stored_config(&js).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_creates_a_missing_stream_with_the_replicas_asked() {
    let nats = NatsServer::start();
    // One server cannot hold three replicas: asked for three, serve fails to create the stream
    // and says why (on a cluster it gets them; one server cannot show it).
    let cwd = tempfile::tempdir().unwrap();
    let mut command = bin();
    command.current_dir(cwd.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--nats",
        &nats.url(),
        "--replicas",
        "3",
    ]);
    let mut server = Running::spawn(&mut command, cwd.path().join("serve.stderr"));
    assert_eq!(server.wait_exit().code(), Some(1), "{}", server.stderr());
    assert!(
        server.stderr().contains("cannot create stream SB") && server.stderr().contains("eplicas"),
        "{}",
        server.stderr()
    );
    let js = context(&nats).await;
    assert!(js.get_stream("SB").await.is_err());

    let (_server, addr) = start_server(cwd.path(), &["--nats", &nats.url(), "--replicas", "1"]);
    assert_eq!(http(addr, "GET", "/v1/health").0, 200);
    let config = stored_config(&js).await;
    assert_eq!(
        (&config["num_replicas"], &config["duplicate_window"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(120_000_000_000u64)
        ),
        "{config}"
    );
}
