//! One data directory, one owner, and what a stop leaves behind: a second `serve` is refused
//! before it touches anything (the first one's unsynced marks stay), a clean stop leaves the
//! embedded log durable before the marks go, a swapped-in generation never takes an answer
//! back, a directory `bench projections` filled is refused before `listening`, and `verify`
//! reports a corrupt file beside the other models' comparisons.

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

/// Linux only: elsewhere the boot cannot be told and files are synced, never marked.
#[cfg(target_os = "linux")]
#[test]
fn a_second_serve_is_refused_naming_the_owner_and_leaves_its_marks() {
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

#[test]
fn serve_on_a_directory_bench_projections_filled_says_why_before_listening() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("bench");
    let data_arg = data.to_str().unwrap();
    let bench = run(&[
        "bench",
        "projections",
        "--json",
        "--projects",
        "1",
        "--dialogs",
        "20",
        "--messages",
        "100",
        "--operators",
        "2",
        "--seed",
        "1",
        "--data",
        data_arg,
        "--samples",
        "2",
        "--walk-projects",
        "1",
        "--deep-pages",
        "2",
        "--page-rows",
        "5",
        "--deep-from-page",
        "1",
        "--live-seconds",
        "0.2",
        "--live-rate",
        "200",
    ]);
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let served = bin()
        .args(["serve", "--data", data_arg, "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert_eq!(served.status.code(), Some(1), "{stderr}");
    assert!(
        served.stdout.is_empty(),
        "says why before listening: {}",
        String::from_utf8_lossy(&served.stdout)
    );
    assert!(
        stderr.contains("read/search/CURRENT") && stderr.contains("not written by"),
        "{stderr}"
    );
    for kind in ["dialogs", "timeline", "card", "project"] {
        assert!(
            !data.join("read").join(kind).exists(),
            "no half-made slot for {kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_corrupt_file_with_exit_3_and_still_compares_the_others() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let log = open_embedded(&data);
    for n in 0..10 {
        append(&log, &[note(dialog(n), "verified")]).await;
    }
    drop(log);
    let data_arg = data.to_str().unwrap().to_owned();
    json_lines(&["rebuild", "all", "--data", &data_arg]);
    let timeline = data.join("read/timeline/g000001.sqlite");
    std::fs::write(&timeline, vec![0x5a; 8192]).unwrap();

    let output = run(&["verify", "--data", &data_arg]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("one JSON line")).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let models = report["projections"].as_array().unwrap();
    assert_eq!(models.len(), 5, "{report}");
    for model in models {
        if model["projection"] == "timeline" {
            assert_eq!(model["equal"], false, "{report}");
            assert!(
                model["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("g000001.sqlite")),
                "{report}"
            );
        } else {
            assert_eq!(model["equal"], true, "{report}");
        }
    }
}

#[test]
fn sigterm_leaves_the_log_checkpointed_and_no_mark() {
    let cwd = tempfile::tempdir().unwrap();
    let (mut server, addr) = start_server(cwd.path(), &[]);
    wait_running(addr);
    let data = cwd.path().join("data");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait_exit();
    assert!(status.success(), "{status}: {}", server.stderr());
    assert_eq!(marks(&data), Vec::<PathBuf>::new(), "{}", server.stderr());
    assert_eq!(size(&data.join("log.sqlite-wal")), 0);
    // The owner's lock went with it: the next serve starts.
    let (_again, addr) = start_server(cwd.path(), &[]);
    wait_running(addr);
}
