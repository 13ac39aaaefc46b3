//! An acknowledged append to the embedded log survives `kill -9` of the process.
//!
//! The `embedded-appender` helper appends from several tasks and prints every acknowledged
//! sequence; we kill it with SIGKILL mid-run, reopen the file and check that every printed append
//! is there with its message id, that the log has no hole, and that appends continue after it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{AppendRequest, EventLog, Expected, MsgId, Subject, SubjectFilter};
use switchboard_schemas::EncodedBatch;

/// Acknowledged appends to wait for before killing (mid-run: the helper never stops on its own).
const ACKS_BEFORE_KILL: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_embedded-appender"))
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start embedded-appender");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();

    let mut acked: HashMap<u64, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.len() < ACKS_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the helper is too slow");
        let line = lines
            .next()
            .expect("the helper stopped early")
            .expect("read line");
        let (seq, id) = line.split_once(' ').expect("<seq> <msg id>");
        acked.insert(seq.parse().expect("seq"), id.to_owned());
    }
    child.kill().expect("kill -9"); // SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success());
    // What the helper printed before it died was acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some((seq, id)) = line.split_once(' ')
            && let Ok(seq) = seq.parse()
        {
            acked.insert(seq, id.to_owned());
        }
    }

    let log = EmbeddedLog::open(&path, EmbeddedOptions::default()).expect("reopen");
    let last = log.last_seq().await.unwrap();
    let max_acked = *acked.keys().max().unwrap();
    assert!(
        last >= max_acked,
        "last seq {last} < acknowledged {max_acked}"
    );

    let mut stored: HashMap<u64, String> = HashMap::new();
    let mut next = 1;
    loop {
        let page = log.read(next, &SubjectFilter::all(), 1000).await.unwrap();
        let Some(tail) = page.last() else { break };
        next = tail.seq + 1;
        for record in page {
            assert_eq!(record.seq, stored.len() as u64 + 1, "hole in the log");
            stored.insert(record.seq, record.msg_id);
        }
    }
    assert_eq!(stored.len() as u64, last);
    for (seq, id) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(id),
            "acknowledged seq {seq} lost or changed"
        );
    }
    eprintln!(
        "{} appends acknowledged before kill -9, {} stored",
        acked.len(),
        stored.len()
    );

    // Appends continue after the crash, with the expectations intact.
    let subject = Subject::parse("sb.crash.dialog.d0").unwrap();
    let last_d0 = log.last_subject_seq(&subject).await.unwrap();
    assert!(last_d0 > 0);
    let ack = log
        .append(AppendRequest {
            subject,
            expected: Expected::At(last_d0),
            msg_id: MsgId::new("after-crash").unwrap(),
            batch: EncodedBatch {
                types: "crash.test".into(),
                versions: "1".into(),
                body: "after".into(),
            },
        })
        .await
        .expect("append after the crash");
    assert_eq!(ack.seq, last + 1);
}
