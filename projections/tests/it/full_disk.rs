//! The search index on a disk that fills up (a tmpfs the test mounts: it needs root or
//! `CAP_SYS_ADMIN`, and fails saying so without them): its runner reports the store failing
//! while tantivy cannot write, goes on by itself once there is room, and ends equal to a
//! rebuild (nothing skipped, nothing indexed twice); and a SQLite read model whose clean close
//! fails there keeps its unsynced mark. The rest of the SQLite read models' part is in the
//! gateway's `faults` suite, through the real `serve`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{AppendRequest, EventLog, Expected, LogRecord, MsgId, Subject};
use switchboard_projections::search::{self, SearchOptions, SearchReader};
use switchboard_projections::timeline::TimelineProjection;
use switchboard_projections::unsynced;
use switchboard_projections::{ProjectionStore, RunnerOptions, Until};
use switchboard_schemas::events::NoteAdded;
use switchboard_schemas::{
    Actor, AggregateId, DialogId, Envelope, Event, EventId, NoteId, ProjectId, Timestamp,
    encode_batch,
};

const WAIT: Duration = Duration::from_secs(60);

/// A tmpfs mounted on a fresh directory; unmounted (lazily) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            mounted.status.success(),
            "cannot mount a tmpfs on {} for the full-disk test (it needs root or \
             CAP_SYS_ADMIN): {}",
            dir.path().display(),
            String::from_utf8_lossy(&mounted.stderr)
        );
        Self { dir }
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

/// Fills the file system of `dir` with a file until it refuses more (ENOSPC).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
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

async fn append_notes(log: &EmbeddedLog, from: u64, n: u64) -> u64 {
    let project = ProjectId::from_u128(7);
    let mut last = 0;
    for i in from..from + n {
        let dialog = DialogId::from_u128(100 + u128::from(i % 30));
        let envelope = Envelope {
            event_id: EventId::new(),
            project,
            aggregate: AggregateId::Dialog(dialog),
            occurred_at: Timestamp::now(),
            actor: Actor::System,
            causation_id: None,
            correlation_id: None,
            payload: Event::NoteAdded(NoteAdded {
                note: NoteId::new(),
                text: format!("word{i} {}", "filler text ".repeat(80)),
            }),
        };
        last = log
            .append(AppendRequest {
                subject: Subject::dialog(project, dialog),
                expected: Expected::Any,
                msg_id: MsgId::new(EventId::new().to_string()).expect("msg id"),
                batch: encode_batch(&[envelope]).expect("encode"),
            })
            .await
            .expect("append")
            .seq;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_index_on_a_full_disk_fails_then_catches_up_when_space_returns() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(
        &elsewhere.path().join("log.sqlite"),
        EmbeddedOptions::default(),
    )
    .expect("open the log");
    let first = append_notes(&log, 0, 3).await;
    let disk = Tmpfs::mount(24);
    let root = disk.dir.path().join("search");
    let (runner, _reader) = search::start(
        log.clone(),
        &root,
        SearchOptions::default(),
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    runner.wait_for(first, WAIT).await.expect("applied");

    let filler = fill(disk.dir.path());
    let last = append_notes(&log, 3, 3000).await;
    let deadline = Instant::now() + WAIT;
    let failing = loop {
        let status = runner.status();
        if let Some(reason) = status.store_failing.clone() {
            break reason;
        }
        assert!(
            status.checkpoint.seq < last,
            "indexed 3000 notes on a full disk? {status:?}"
        );
        assert!(
            Instant::now() < deadline,
            "not reported failing: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        failing.contains("disk is full"),
        "the cause is named: {failing}"
    );
    assert!(runner.status().checkpoint.seq < last);
    assert_eq!(runner.status().failed, None);

    std::fs::remove_file(&filler).expect("remove the filler");
    runner
        .wait_for(last, WAIT)
        .await
        .expect("caught up once there was room");
    let status = runner.shutdown().await;
    assert_eq!(status.failure(), None, "{status:?}");
    assert_eq!(status.checkpoint.seq, last);

    // Equal to an index rebuilt from the log.
    let live = SearchReader::open(&root)
        .expect("live")
        .digest()
        .expect("digest");
    let rebuilt_root = elsewhere.path().join("rebuilt");
    search::rebuild(
        &log,
        &rebuilt_root,
        Until::End,
        512,
        SearchOptions::rebuild(),
        |_| {},
    )
    .await
    .expect("rebuild");
    let rebuilt = SearchReader::open(&rebuilt_root)
        .expect("rebuilt")
        .digest()
        .expect("digest");
    assert_eq!(live, rebuilt);
    drop(disk);
}

/// Log records of `n` notes (about 1 KB each) from sequence `from`, as the log would give them.
fn note_records(from: u64, n: u64) -> Vec<LogRecord> {
    let project = ProjectId::from_u128(7);
    (from..from + n)
        .map(|seq| {
            let at = Timestamp::from_micros(1_000 + i64::try_from(seq).expect("small"));
            let dialog = DialogId::from_u128(100 + u128::from(seq % 30));
            let envelope = Envelope {
                event_id: EventId::new(),
                project,
                aggregate: AggregateId::Dialog(dialog),
                occurred_at: at,
                actor: Actor::System,
                causation_id: None,
                correlation_id: None,
                payload: Event::NoteAdded(NoteAdded {
                    note: NoteId::new(),
                    text: format!("word{seq} {}", "filler text ".repeat(80)),
                }),
            };
            LogRecord {
                seq,
                subject: Subject::dialog(project, dialog),
                msg_id: format!("m{seq}"),
                appended_at: at,
                batch: encode_batch(&[envelope]).expect("encode"),
            }
        })
        .collect()
}

/// A live read-model file is written unsynced behind a mark (`switchboard_projections::unsynced`);
/// its clean close folds the WAL into the file, syncs both and only then removes the mark. When
/// that close fails (here: the disk fills between the last write and the close, so the WAL cannot
/// be folded in), the mark must stay, so that after a power cut the file is rebuilt instead of
/// trusted. Seen failing with the close dropping the mark instead of keeping it (the mark's own
/// drop syncs what is there and removes it: the file then claims to be whole without its WAL
/// folded in).
#[test]
fn a_clean_close_that_fails_on_a_full_disk_keeps_the_mark_and_forces_a_rebuild() {
    let disk = Tmpfs::mount(16);
    let path = disk.dir.path().join("timeline.sqlite");
    let mark = unsynced::mark_path(&path);
    let mut store =
        ProjectionStore::open(&path, TimelineProjection::default()).expect("open the live file");
    store.apply(note_records(1, 2_000)).expect("apply");
    assert!(mark.exists(), "a live file is marked while it is written");

    let filler = fill(disk.dir.path());
    let refused = store
        .close()
        .expect_err("the WAL cannot be folded into a full disk");
    assert!(
        refused.to_string().contains("full"),
        "the cause is named: {refused}"
    );
    assert!(mark.exists(), "a failed clean close leaves the mark");

    // In this boot the file's writes are in the kernel's cache: it is trusted and resumes.
    std::fs::remove_file(&filler).expect("remove the filler");
    assert_eq!(unsynced::from_another_boot(&path).expect("read"), None);
    let reopened =
        ProjectionStore::open(&path, TimelineProjection::default()).expect("reopen in this boot");
    assert_eq!(reopened.checkpoint().seq, 2_000);
    std::mem::forget(reopened); // dies, as a process would, before a second close

    // After a power cut the mark names another boot: the file is refused, to be rebuilt.
    std::fs::write(&mark, "00000000-0000-0000-0000-000000000000\n1\n").expect("another boot");
    let torn = ProjectionStore::open(&path, TimelineProjection::default())
        .expect_err("a file whose close failed is not trusted after a reboot");
    assert!(
        torn.to_string().contains("when the machine stopped"),
        "{torn}"
    );
    drop(disk);
}
