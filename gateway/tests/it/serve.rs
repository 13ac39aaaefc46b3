//! The real `switchboard` binary: `serve` on both logs, shutdown, exit codes.

use crate::common::*;
use std::process::Command;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_tests::NatsServer;

/// The health body lists every read model, each at `applied` with no lag and no failure.
fn assert_projections(body: &serde_json::Value, applied: u64) {
    let projections = body["projections"].as_array().expect("projections");
    let names: Vec<_> = projections
        .iter()
        .map(|p| p["projection"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["dialogs", "timeline", "card", "project", "search"],
        "{body}"
    );
    for p in projections {
        assert_eq!(p["applied_seq"], applied, "{body}");
        assert_eq!(p["lag"], 0, "{body}");
        assert_eq!(p["failed"], serde_json::Value::Null, "{body}");
        assert_eq!(p["generation"], "g000001", "{body}");
    }
}

#[test]
fn serve_without_flags_keeps_an_embedded_log_under_data() {
    let cwd = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(cwd.path(), &[]);

    let (status, body) = http(addr, "GET", "/v1/health");
    assert_eq!(status, 200);
    assert_eq!(
        (&body["status"], &body["log"], &body["last_seq"]),
        (&"ok".into(), &"embedded".into(), &0.into()),
        "{body}"
    );
    assert_projections(&body, 0);
    assert!(cwd.path().join("data/log.sqlite").is_file());
    assert!(cwd.path().join("data/read/dialogs/CURRENT").is_file());

    // An unknown API path answers in the API's error shape (other paths are the web inbox's).
    let (status, body) = http(addr, "GET", "/v1/nowhere");
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    // The startup log (stderr) names the address.
    assert!(
        server.stderr().contains(&addr.to_string()),
        "{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_nats_uses_the_jetstream_log() {
    let nats = NatsServer::start();
    // Something in the stream already, so last_seq proves the server reads this stream.
    let log = JetStreamLog::connect(&nats.url(), JetStreamOptions::default())
        .await
        .unwrap();
    append(&log, &[note(dialog(1), "one")]).await;
    append(&log, &[pinned(dialog(2)), closed(dialog(2))]).await;

    let cwd = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server(cwd.path(), &["--nats", &nats.url()]);
    let (status, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/v1/health"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        (&body["status"], &body["log"], &body["last_seq"]),
        (&"ok".into(), &"jetstream".into(), &2.into()),
        "{body}"
    );
    assert!(!cwd.path().join("data/log.sqlite").exists());
    // The read models follow the JetStream log (their files stay under --data).
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (_, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/v1/health"))
            .await
            .unwrap();
        let caught_up = body["projections"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["applied_seq"] == 2));
        if caught_up {
            assert_projections(&body, 2);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("elsewhere");
    let (mut server, addr) = start_server(cwd.path(), &["--data", data.to_str().unwrap()]);
    assert_eq!(http(addr, "GET", "/v1/health").0, 200);
    assert!(data.join("log.sqlite").is_file());

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait_exit();
    assert!(status.success(), "{status}; stderr:\n{}", server.stderr());
    assert!(server.stderr().contains("SIGTERM"), "{}", server.stderr());
}

#[test]
fn bad_usage_exits_2() {
    let output = run(&["serve", "--listen", "not-an-address"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_runtime_error_exits_1_with_one_lowercase_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cwd = tempfile::tempdir().unwrap();
    let output = bin()
        .current_dir(cwd.path())
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("error: cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
