//! One data directory, one owner, and what a stop leaves behind: a second `serve` is refused
//! before it touches anything (the first one's unsynced marks stay), a clean stop leaves the
//! embedded log durable before the marks go, a swapped-in generation never takes an answer
//! back, and a directory `bench projections` filled is refused before `listening`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The unsynced marks under `data/read` (one per live read model file while `serve` writes).
fn marks(data: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(slots) = std::fs::read_dir(data.join("read")) else {
        return found;
    };
    for slot in slots {
        let slot = slot.unwrap().path();
        if !slot.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&slot).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with("-unsynced") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Polls health until every read model runs (their files are open and marked).
fn wait_running(addr: std::net::SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = http(addr, "GET", "/v1/health");
        if status == 200 && body["projections"].as_array().is_some_and(|p| p.len() == 5) {
            return;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_serve_is_refused_naming_the_owner_and_leaves_its_marks() {
    if switchboard_projections::unsynced::boot_id().is_none() {
        return; // no marks where the boot cannot be told
    }
    let cwd = tempfile::tempdir().unwrap();
    let (first, addr) = start_server(cwd.path(), &[]);
    wait_running(addr);
    let data = cwd.path().join("data");
    let before = marks(&data);
    assert!(!before.is_empty(), "the live files are marked");

    let second = bin()
        .current_dir(cwd.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    // The first one's marks stay: a power cut now must still rebuild its unsynced files.
    assert_eq!(marks(&data), before, "{stderr}");
    assert!(
        second.stdout.is_empty(),
        "refused before listening: {}",
        String::from_utf8_lossy(&second.stdout)
    );
    let pid = first.child.id().to_string();
    assert!(
        stderr.contains("in use by process") && stderr.contains(&pid),
        "names the owner {pid}: {stderr}"
    );
    let (status, _) = http(addr, "GET", "/v1/health");
    assert_eq!(status, 200);
}

/// The bytes of `path`, 0 when it is missing.
fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_makes_the_log_durable_before_the_marks_go() {
    use switchboard_gateway::readmodels::ReadModels;
    let dir = tempfile::tempdir().unwrap();
    let log = open_embedded(dir.path());
    let wal = dir.path().join("log.sqlite-wal");
    let models = ReadModels::start(
        log.clone(),
        &dir.path().join("read"),
        switchboard_projections::RunnerOptions::default(),
    )
    .await
    .unwrap();
    let mut last = 0;
    for n in 0..20 {
        last = append(&log, &[note(dialog(n), "acknowledged")]).await;
    }
    models.wait_for(last, PATIENCE).await.unwrap();
    assert!(
        size(&wal) > 0,
        "the appends are in the WAL, not yet in the file"
    );
    let marked = !marks(dir.path()).is_empty();

    // The log stays open (a process stops its read models before it drops the log).
    models.shutdown().await.expect("a clean stop");
    if marked {
        assert_eq!(
            marks(dir.path()),
            Vec::<PathBuf>::new(),
            "the marks are gone"
        );
    }
    // So every acknowledged append must be in the synced file by now: the WAL is checkpointed
    // (emptied) before the read models claimed to be durable.
    assert_eq!(
        size(&wal),
        0,
        "the log's WAL is checkpointed by the clean stop"
    );
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(dir.path().join("log.sqlite"), &copy).unwrap();
    let file_only = rusqlite::Connection::open(&copy).unwrap();
    let in_file: i64 = file_only
        .query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        u64::try_from(in_file).unwrap(),
        last,
        "the log file alone holds every acknowledged append"
    );
    drop(log);
}

/// Each read model's `applied_seq` in a health body, by name.
fn applied_by_model(body: &serde_json::Value) -> Vec<(String, u64, String)> {
    body["projections"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .map(|p| {
                    (
                        p["projection"].as_str().unwrap_or_default().to_owned(),
                        p["applied_seq"].as_u64().unwrap_or(0),
                        p["generation"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_rebuilt_to_an_older_seq_goes_live_only_once_caught_up() {
    use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
    let nats = switchboard_tests::NatsServer::start();
    let url = nats.url();
    let log = JetStreamLog::connect(&url, JetStreamOptions::default())
        .await
        .unwrap();
    let mut last = 0;
    for n in 0..1500 {
        last = append(&log, &[note(dialog(n % 50), "before the rebuild")]).await;
    }
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let (_server, addr) = start_server(cwd.path(), &["--nats", &url]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, body) = http(addr, "GET", "/v1/health");
        let applied = applied_by_model(&body);
        if applied.len() == 5 && applied.iter().all(|(_, seq, _)| *seq >= last) {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Health is watched as fast as it answers while a rebuild to seq 1 is published beside the
    // running service and swapped in.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<Vec<(String, u64, String)>> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                seen.push(applied_by_model(&http(addr, "GET", "/v1/health").1));
            }
            seen
        })
    };
    let data_arg = data.to_str().unwrap().to_owned();
    let rebuilt = json_lines(&[
        "rebuild",
        "all",
        "--until-seq",
        "1",
        "--data",
        &data_arg,
        "--nats",
        &url,
    ]);
    assert_eq!(rebuilt.last().unwrap()["rebuilt"][0]["checkpoint"], 1);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, body) = http(addr, "GET", "/v1/health");
        if applied_by_model(&body)
            .iter()
            .all(|(_, _, g)| g == "g000002")
        {
            break;
        }
        assert!(Instant::now() < deadline, "not swapped in: {body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let seen = watching.join().unwrap();
    assert!(
        seen.len() > 10,
        "health was watched: {} answers",
        seen.len()
    );
    for answer in &seen {
        for (name, seq, generation) in answer {
            assert!(
                *seq >= last,
                "{name} went back to {seq} (of {last}) on {generation}"
            );
        }
    }
}
