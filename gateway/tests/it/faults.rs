//! Issue 15 item 13, the faults the other suites leave out: `serve` killed (`kill -9`) while it
//! swaps a rebuilt generation in or builds new generations of models of another log, and a
//! data directory on a full disk (a small tmpfs, mounted by
//! the test: these tests need root or `CAP_SYS_ADMIN`, and fail saying so without them).

use crate::common::*;
use crate::health::{all_applied, append_notes, health_until, model, stop};
use crate::readmodels::verify;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use switchboard_core::log::embedded::EmbeddedLog;
use switchboard_core::{
    AppendAck, AppendRequest, EventLog, Expected, LogError, MsgId, SubjectFilter,
};
use switchboard_schemas::{Envelope, Event, EventId, decode_batch, encode_batch};

/// A tmpfs of a few megabytes mounted on a fresh directory; unmounted when dropped (lazily, so
/// that a process a failed test left on it does not keep it mounted).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Self { dir },
            Ok(output) => panic!(
                "cannot mount a tmpfs on {} for the full-disk test (it needs root or \
                 CAP_SYS_ADMIN): {}",
                dir.path().display(),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => panic!("cannot run mount for the full-disk test: {error}"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with a file until it refuses more (ENOSPC); returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096, 64] {
        let bytes = vec![0x5a_u8; chunk];
        loop {
            match file.write_all(&bytes).and_then(|()| file.flush()) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(28) => break,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
    }
    path
}

/// Appends one note (about a kilobyte, carrying `n`) to the embedded log, as a command would.
async fn try_append(log: &EmbeddedLog, n: u128) -> Result<AppendAck, LogError> {
    let text = format!("note {n} {}", "x".repeat(1000));
    let event = note(dialog(n % 50), &text);
    log.append(AppendRequest {
        subject: subject_of(dialog_of(&event)),
        expected: Expected::Any,
        msg_id: MsgId::new(EventId::new().to_string()).unwrap(),
        batch: encode_batch(&[event]).unwrap(),
    })
    .await
}

/// The `n` of every note in the log, by sequence.
async fn notes_in(log: &EmbeddedLog) -> Vec<(u64, u128)> {
    let mut found = Vec::new();
    let mut from = 1;
    loop {
        let records = log
            .read_all(from, &SubjectFilter::all(), 1000)
            .await
            .unwrap();
        let Some(last) = records.last() else {
            return found;
        };
        from = last.as_ref().map(|r| r.seq).unwrap() + 1;
        for record in records {
            let record = record.unwrap();
            for envelope in decode_batch(&record.batch).unwrap() {
                found.push((record.seq, note_number(&envelope)));
            }
        }
    }
}

fn note_number(envelope: &Envelope) -> u128 {
    let Event::NoteAdded(added) = &envelope.payload else {
        panic!("not a note: {envelope:?}");
    };
    let n = added.text.split(' ').nth(1).unwrap();
    n.parse().unwrap()
}

/// The embedded log's data directory on a disk that fills up: the append that finds no room
/// fails naming the cause, every append acknowledged before is there once and nothing else
/// is, appends succeed again (on the same open log) once there is room, and `serve` then
/// builds read models equal to a rebuild.
#[test]
fn appends_on_a_full_disk_fail_clearly_lose_nothing_and_resume() {
    let disk = Tmpfs::mount(48);
    let data = disk.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let last = runtime.block_on(async {
        let log = open_embedded(&data);
        // All but a few megabytes taken by a filler; the log takes the rest.
        let filler = fill(disk.path());
        let size = std::fs::metadata(&filler).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(size.saturating_sub(4 << 20))
            .unwrap();
        let mut acked: Vec<(u64, u128)> = Vec::new();
        let mut refused = None;
        for n in 0..100_000 {
            match try_append(&log, n).await {
                Ok(ack) => {
                    assert!(!ack.duplicate);
                    acked.push((ack.seq, n));
                }
                Err(error) => {
                    refused = Some((n, error));
                    break;
                }
            }
        }
        let (n, error) = refused.expect("the disk never filled");
        let message = error.to_string();
        eprintln!("{} appends fitted, then: {message}", acked.len());
        assert!(
            message.contains("disk is full") || message.contains("No space left"),
            "the error names the cause: {message}"
        );
        assert!(acked.len() > 100, "{} appends fitted", acked.len());
        // Full: more appends are refused as clearly (or fit, in a page freed meanwhile).
        for m in n + 1..n + 4 {
            match try_append(&log, m).await {
                Ok(ack) => acked.push((ack.seq, m)),
                Err(error) => {
                    let message = error.to_string();
                    assert!(
                        message.contains("full") || message.contains("No space"),
                        "{message}"
                    );
                }
            }
        }
        // Exactly what was acknowledged, each once, at its sequence.
        assert_eq!(notes_in(&log).await, acked);

        // Room again: the same log appends again.
        std::fs::remove_file(&filler).unwrap();
        for m in n + 10..n + 20 {
            let ack = try_append(&log, m).await.expect("room again");
            acked.push((ack.seq, m));
        }
        assert_eq!(notes_in(&log).await, acked);
        acked.last().unwrap().0
    });
    drop(runtime);

    let data_arg = data.to_str().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    health_until(addr, |status, body| {
        status == 200 && all_applied(body, last)
    });
    stop(server);
    let (code, report) = verify(&["--data", data_arg]);
    assert_eq!(code, Some(0), "{report}");
}

/// A running `serve` whose read models' disk fills up (the log is on JetStream, elsewhere):
/// health says 503 naming the models that cannot write, and never "ok" meanwhile; `serve`
/// keeps running; once there is room again the models take up where they stopped by
/// themselves, health says 200, and they equal a rebuild (nothing skipped or applied twice).
#[tokio::test(flavor = "multi_thread")]
async fn read_models_on_a_full_disk_fail_then_catch_up_when_space_returns() {
    use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
    let nats = switchboard_tests::NatsServer::start();
    let url = nats.url();
    let log = JetStreamLog::connect(&url, JetStreamOptions::default())
        .await
        .unwrap();
    for i in 1..=3 {
        append(&log, &[note(dialog(i), "before the disk filled")]).await;
    }
    let disk = Tmpfs::mount(48);
    let data = disk.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let cwd = tempfile::tempdir().unwrap();
    let (server, addr) = start_server(cwd.path(), &["--data", &data_arg, "--nats", &url]);
    tokio::task::spawn_blocking(move || {
        health_until(addr, |status, body| status == 200 && all_applied(body, 3))
    })
    .await
    .unwrap();

    let filler = fill(disk.path());
    let mut last = 0;
    for i in 0..3000 {
        let text = format!("note {i} {}", "y".repeat(2000));
        last = append(&log, &[note(dialog(100 + i % 40), &text)]).await;
    }
    let (status, body) = tokio::task::spawn_blocking(move || {
        health_until(addr, |status, body| {
            assert!(
                !(status == 200 && all_applied(body, last)),
                "the read models took 6 MB on a full disk? {body}"
            );
            let no_room = |p: &serde_json::Value| {
                p["state"] == "failed"
                    && p["failed"]
                        .as_str()
                        .is_some_and(|f| f.contains("full") || f.contains("No space"))
            };
            // Each names the cause: SQLite's "database or disk is full"; the search index's
            // writer dies without saying why, so the index adds that its disk is full.
            status == 503
                && body["projections"]
                    .as_array()
                    .is_some_and(|p| p.iter().all(no_room))
        })
    })
    .await
    .unwrap();
    eprintln!("on the full disk: {body}");
    assert_eq!(body["status"], "failing", "{status} {body}");
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none(), "serve ended");

    // Room again: every model goes on by itself.
    std::fs::remove_file(&filler).unwrap();
    let (_, body) = tokio::task::spawn_blocking(move || {
        health_until(addr, |status, body| {
            status == 200 && all_applied(body, last)
        })
    })
    .await
    .unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    for p in body["projections"].as_array().unwrap() {
        assert_eq!(p["generation"], "g000001", "went on, not rebuilt: {body}");
    }
    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
    let (code, report) =
        tokio::task::spawn_blocking(move || verify(&["--data", &data_arg, "--nats", &url]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{report}");
    drop(disk);
}

/// `serve` killed (`kill -9`) while a generation a rebuild published is catching up to the
/// live one, before it is swapped in: the next `serve` takes the published generation (the
/// pointer names it; it resumes from its own checkpoint), removes the replaced one, and ends
/// with read models equal to a rebuild.
#[test]
fn serve_killed_while_it_swaps_in_a_rebuilt_generation_comes_back_consistent() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let data_arg = data.to_str().unwrap();
    let last = append_notes(&data, 1, 12_000);
    let (mut server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    health_until(addr, |status, body| {
        status == 200 && all_applied(body, last)
    });

    // A dialogs generation as of record 1: `serve` must bring it to the live one's 12000
    // before it swaps it in, and is killed meanwhile.
    let rebuilt = json_lines(&["rebuild", "dialogs", "--data", data_arg, "--until-seq", "1"]);
    assert_eq!(
        rebuilt.last().unwrap()["rebuilt"][0]["generation"],
        "g000002",
        "{rebuilt:?}"
    );
    let pointer = data.join("read/dialogs/CURRENT");
    assert_eq!(std::fs::read_to_string(&pointer).unwrap().trim(), "g000002");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, body) = http(addr, "GET", "/v1/health");
        // Still the old one live (the new one is catching up, or not opened yet).
        assert_eq!(
            model(&body, "dialogs")["generation"],
            "g000001",
            "swapped in before the kill: make the log longer; {body}"
        );
        if std::fs::read_dir(data.join("read/dialogs"))
            .unwrap()
            .any(|e| e.unwrap().file_name() == "g000002.sqlite-wal")
        {
            // Opened by `serve`: its runner is applying.
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new generation was never opened"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    let (server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    let (_, body) = health_until(addr, |status, body| {
        status == 200 && all_applied(body, last)
    });
    assert_eq!(model(&body, "dialogs")["generation"], "g000002", "{body}");
    stop(server);
    let left: Vec<String> = std::fs::read_dir(data.join("read/dialogs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("g000001"))
        .collect();
    assert!(left.is_empty(), "the replaced generation is gone: {left:?}");
    let (code, report) = verify(&["--data", data_arg]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report["projections"][0]["live_checkpoint"]["dialogs"]["seq"], last,
        "{report}"
    );
}

/// `serve` killed (`kill -9`) while it builds new generations of read models found to be of
/// another log (the log was replaced while it was down): the next `serve` goes on with those
/// generations from their own checkpoints (they are of this log), not with the old ones and
/// not from scratch, and ends with read models equal to a rebuild.
#[test]
fn serve_killed_while_it_rebuilds_models_of_another_log_comes_back_consistent() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let data_arg = data.to_str().unwrap();
    let first = append_notes(&data, 1, 3);
    let (server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    health_until(addr, |status, body| {
        status == 200 && all_applied(body, first)
    });
    stop(server);

    crate::health::move_log_aside(&data);
    let last = append_notes(&data, 100, 8_000);
    let (mut server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    let (_, at_kill) = health_until(addr, |_, body| {
        body["projections"].as_array().is_some_and(|p| {
            p.iter().all(|p| p["generation"] == "g000002")
                && p.iter().any(|p| p["applied_seq"].as_u64() > Some(0))
        })
    });
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(
        !all_applied(&at_kill, last),
        "killed only after the new generations caught up: make the log longer; {at_kill}"
    );

    let (server, addr) = start_server(cwd.path(), &["--data", data_arg]);
    let (_, body) = health_until(addr, |status, body| {
        status == 200 && all_applied(body, last)
    });
    for p in body["projections"].as_array().unwrap() {
        assert_eq!(p["generation"], "g000002", "went on with it: {body}");
    }
    stop(server);
    for kind in ["dialogs", "timeline", "card", "project", "search"] {
        let old: Vec<String> = std::fs::read_dir(data.join("read").join(kind))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("g000001"))
            .collect();
        assert!(
            old.is_empty(),
            "{kind}: the old generation is gone: {old:?}"
        );
    }
    let (code, report) = verify(&["--data", data_arg]);
    assert_eq!(code, Some(0), "{report}");
}

/// A read model whose store refused writes for so long that too much waited for it stops (the
/// others go on); the running service starts it again on the same file, with pauses, until it
/// writes again, with nothing skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_model_stopped_by_a_store_that_kept_failing_is_started_again() {
    use switchboard_gateway::readmodels::ReadModels;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = open_embedded(&data);
    let first = append(&log, &[note(dialog(1), "first")]).await;
    let root = data.join("read");
    let options = switchboard_projections::RunnerOptions {
        max_batch: 1,
        queued_batches: 2,
        max_waiting_records: 5,
        ..switchboard_projections::RunnerOptions::default()
    };
    let models = ReadModels::start(log.clone(), &root, options)
        .await
        .unwrap();
    models.wait_for(first, PATIENCE).await.unwrap();
    let dialogs = |models: &ReadModels<EmbeddedLog>| {
        models
            .status()
            .into_iter()
            .find(|s| s.projection == "dialogs")
            .unwrap()
    };

    // The dialogs file refuses every checkpoint from now on.
    let conn = rusqlite::Connection::open(root.join("dialogs/g000001.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE UPDATE ON checkpoint \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let mut last = 0;
    for i in 0..30 {
        last = append(&log, &[note(dialog(i), "more")]).await;
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = models.status();
        let others_done = status
            .iter()
            .filter(|s| s.projection != "dialogs")
            .all(|s| s.applied_seq == last);
        let refused = dialogs(&models)
            .failed
            .is_some_and(|f| f.contains("refused by the test"));
        if others_done && refused {
            break;
        }
        assert!(Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dialogs(&models).applied_seq, first);

    // The cause goes: only a new runner can take the dialogs on from its checkpoint.
    conn.execute_batch("DROP TRIGGER refuse").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !(dialogs(&models).applied_seq == last && dialogs(&models).failed.is_none()) {
        assert!(Instant::now() < deadline, "{:?}", dialogs(&models));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    models.shutdown().await.unwrap();
    drop(models);
    let (code, report) =
        tokio::task::spawn_blocking(move || verify(&["--data", data.to_str().unwrap()]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{report}");
}
