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
