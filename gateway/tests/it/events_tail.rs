//! `switchboard events tail`: the real binary over real logs, and the follow mode in-process.

use crate::common::*;
use bytes::Bytes;
use serde_json::{Value, json};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::{AppendRequest, EventLog, Expected, MsgId, SubjectFilter};
use switchboard_gateway::events::{TailOptions, tail};
use switchboard_schemas::{EncodedBatch, Envelope};
use switchboard_tests::NatsServer;

/// What a line must hold for one event: seq, subject, index, then exactly `to_json()`.
fn expected_line(seq: u64, index: usize, event: &Envelope) -> Value {
    let mut object = event.to_json();
    object.insert("seq".into(), seq.into());
    object.insert(
        "subject".into(),
        subject_of(dialog_of(event)).as_str().into(),
    );
    object.insert("index".into(), index.into());
    Value::Object(object)
}

/// Three messages: a note on d1, a two-event message on d2, a note on d1.
async fn three_messages(log: &impl EventLog) -> Vec<(u64, Vec<Envelope>)> {
    let (d1, d2) = (dialog(1), dialog(2));
    let messages = vec![
        vec![note(d1, "hello")],
        vec![pinned(d2), closed(d2)],
        vec![note(d1, "bye")],
    ];
    let mut stored = Vec::new();
    for events in messages {
        let seq = append(log, &events).await;
        stored.push((seq, events));
    }
    stored
}

fn expected_lines(stored: &[(u64, Vec<Envelope>)]) -> Vec<Value> {
    stored
        .iter()
        .flat_map(|(seq, events)| {
            events
                .iter()
                .enumerate()
                .map(move |(index, event)| expected_line(*seq, index, event))
        })
        .collect()
}

async fn embedded_with_three_messages(data: &Path) -> Vec<(u64, Vec<Envelope>)> {
    let log = open_embedded(data);
    three_messages(&log).await
}

#[tokio::test]
async fn every_event_is_one_json_line_with_seq_subject_and_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stored = embedded_with_three_messages(&data).await;
    assert_eq!(
        stored.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    let output = run(&["events", "tail", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, expected_lines(&stored));

    // The fields the brief names, spelled out.
    let first = &lines[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["subject"], subject_of(dialog(1)).as_str());
    assert_eq!(first["type"], "note.added");
    assert_eq!(first["version"], 1);
    assert_eq!(first["occurred_at"], "2025-11-22T04:00:00.123456Z");
    assert_eq!(first["text"], "hello");
    assert_eq!(first["project"], PROJECT.to_string());
    // The two events of message 2: two lines, same seq, index 0 and 1.
    assert_eq!(
        (&lines[1]["seq"], &lines[1]["index"], &lines[1]["type"]),
        (&json!(2), &json!(0), &json!("dialog.pinned"))
    );
    assert_eq!(
        (&lines[2]["seq"], &lines[2]["index"], &lines[2]["type"]),
        (&json!(2), &json!(1), &json!("dialog.closed"))
    );
    // Humans read the position first.
    assert!(text.starts_with(r#"{"seq":1,"subject":"sb."#), "{text}");
}

#[tokio::test]
async fn from_seq_and_filter_select_what_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stored = embedded_with_three_messages(&data).await;
    let data = data.to_str().unwrap();
    let all = expected_lines(&stored);

    let lines = json_lines(&["events", "tail", "--data", data, "--from-seq", "2"]);
    assert_eq!(lines, all[1..]);
    let lines = json_lines(&["events", "tail", "--data", data, "--from-seq", "4"]);
    assert!(lines.is_empty());

    let only_d1 = subject_of(dialog(1)).to_string();
    let lines = json_lines(&["events", "tail", "--data", data, "--filter", &only_d1]);
    assert_eq!(lines, [all[0].clone(), all[3].clone()]);
    let project = format!("sb.{}.>", PROJECT.token());
    let lines = json_lines(&[
        "events",
        "tail",
        "--data",
        data,
        "--filter",
        &project,
        "--from-seq",
        "3",
    ]);
    assert_eq!(lines, all[3..]);
}

#[tokio::test]
async fn an_undecodable_message_prints_an_error_line_and_the_tail_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = open_embedded(&data);
    let bad = AppendRequest {
        subject: subject_of(dialog(1)),
        expected: Expected::Any,
        msg_id: MsgId::new("broken-1").unwrap(),
        batch: EncodedBatch {
            types: "note.added".into(),
            versions: "1".into(),
            body: Bytes::from_static(b"\x05garbage"),
        },
    };
    assert_eq!(log.append(bad).await.unwrap().seq, 1);
    let good = note(dialog(1), "after");
    append(&log, std::slice::from_ref(&good)).await;
    drop(log);

    let lines = json_lines(&["events", "tail", "--data", data.to_str().unwrap()]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(!error.is_empty());
    let mut without_error = lines[0].clone();
    without_error.as_object_mut().unwrap().remove("error");
    assert_eq!(
        without_error,
        json!({"seq": 1, "subject": subject_of(dialog(1)).as_str(), "type": "note.added", "version": "1"})
    );
    assert_eq!(lines[1], expected_line(2, 0, &good));
}

#[tokio::test]
async fn a_closed_pipe_ends_the_tail_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = open_embedded(&data);
    // Far more output than a pipe buffers (~1 MB), so the writer must meet the closed pipe.
    for n in 0..30 {
        let events: Vec<Envelope> = (0..100)
            .map(|i| note(dialog(n), &format!("note {i} of a long enough text")))
            .collect();
        append(&log, &events).await;
    }
    drop(log);

    let mut child = bin()
        .args(["events", "tail", "--data", data.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with(r#"{"seq":1,"#), "{first}");
    drop(stdout); // like `| head -1`

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn a_missing_log_is_a_runtime_error_not_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let output = run(&["events", "tail", "--data", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: no event log at "), "{stderr}");
    assert!(!missing.exists(), "tail must not create a data directory");
}

#[test]
fn data_and_nats_together_is_bad_usage() {
    let output = run(&[
        "events",
        "tail",
        "--data",
        "d",
        "--nats",
        "nats://127.0.0.1:1",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_prints_events_appended_later_on_jetstream() {
    let nats = NatsServer::start();
    let log = JetStreamLog::connect(&nats.url(), JetStreamOptions::default())
        .await
        .unwrap();
    let stored = three_messages(&log).await;
    let all = expected_lines(&stored);

    let dir = tempfile::tempdir().unwrap();
    let mut command = bin();
    command.args([
        "events",
        "tail",
        "--nats",
        &nats.url(),
        "--follow",
        "--from-seq",
        "2",
    ]);
    let mut tail_process = Running::spawn(&mut command, dir.path().join("tail.stderr"));
    for expected in &all[1..] {
        let line: Value = serde_json::from_str(&tail_process.next_line()).unwrap();
        assert_eq!(&line, expected);
    }

    // Appended while the tail runs: it shows up without the tail restarting.
    let late = note(dialog(3), "late");
    let seq = append(&log, std::slice::from_ref(&late)).await;
    assert_eq!(seq, 4);
    let line: Value = serde_json::from_str(&tail_process.next_line()).unwrap();
    assert_eq!(line, expected_line(4, 0, &late));
    assert!(
        tail_process.child.try_wait().unwrap().is_none(),
        "--follow must keep running"
    );
}

/// A stdout stand-in: hands each line to the test and reports a closed pipe at the first flush
/// once it has `close_after` lines, which is how `tail --follow` learns that `| head` went away.
struct Probe {
    partial: Vec<u8>,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
    seen: usize,
    close_after: usize,
}

impl Write for Probe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            if byte == b'\n' {
                let line = String::from_utf8(std::mem::take(&mut self.partial)).unwrap();
                self.seen += 1;
                let _ = self.lines.send(line);
            } else {
                self.partial.push(byte);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.seen >= self.close_after {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn follow_on_the_embedded_log_prints_live_events_until_the_output_closes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_embedded(dir.path());
    let first = note(dialog(1), "stored");
    append(&log, std::slice::from_ref(&first)).await;

    let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let mut probe = Probe {
        partial: Vec::new(),
        lines: sender,
        seen: 0,
        close_after: 3,
    };
    let options = TailOptions {
        follow: true,
        filter: SubjectFilter::all(),
        ..TailOptions::default()
    };
    let live = [pinned(dialog(2)), closed(dialog(2))];
    let writer = async {
        let line: Value = serde_json::from_str(&lines.recv().await.unwrap()).unwrap();
        assert_eq!(line, expected_line(1, 0, &first));
        // Only now, with the tail waiting on the live log, append the next message.
        append(&log, &live).await;
        let mut received = Vec::new();
        while let Some(line) = lines.recv().await {
            received.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        received
    };
    let (log_ref, options_ref) = (&log, &options);
    let tailing = async move {
        let result = tail(log_ref, options_ref, &mut probe).await;
        drop(probe); // closes the channel, so that `writer` finishes
        result
    };
    let (result, received) =
        tokio::time::timeout(PATIENCE, async { tokio::join!(tailing, writer) })
            .await
            .expect("the tail did not stop when its output closed");
    result.unwrap();
    assert_eq!(
        received,
        [expected_line(2, 0, &live[0]), expected_line(2, 1, &live[1])]
    );
}

/// The log file's bytes and modification time, and the size of its WAL (0 when absent).
fn file_state(data: &Path) -> (Vec<u8>, std::time::SystemTime, u64) {
    let path = data.join("log.sqlite");
    let bytes = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let wal = std::fs::metadata(data.join("log.sqlite-wal")).map_or(0, |m| m.len());
    (bytes, modified, wal)
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_tools_leave_the_log_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    embedded_with_three_messages(&data).await;
    let before = file_state(&data);
    let data_arg = data.to_str().unwrap();

    let lines = json_lines(&["events", "tail", "--data", data_arg]);
    assert_eq!(lines.len(), 4);
    assert!(file_state(&data) == before, "events tail changed the log");

    let output = run(&["rebuild", "all", "--data", data_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(file_state(&data) == before, "rebuild changed the log");
    assert!(data.join("read").is_dir(), "rebuild writes the read models");

    let output = run(&["verify", "--data", data_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(file_state(&data) == before, "verify changed the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_tail_adds_no_wal_frame_to_a_live_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The writer stays open, as a running `serve` keeps it: its WAL holds the appends.
    let log = open_embedded(&data);
    three_messages(&log).await;
    let before = file_state(&data);
    assert!(before.2 > 0, "the live log has a WAL");

    let lines = json_lines(&["events", "tail", "--data", data.to_str().unwrap()]);
    assert_eq!(lines.len(), 4);
    let after = file_state(&data);
    assert_eq!(
        (after.1, after.2),
        (before.1, before.2),
        "mtime and WAL size"
    );
    assert!(after.0 == before.0, "the log file's bytes changed");
    drop(log);
}

#[test]
fn an_empty_log_file_is_an_error_and_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("log.sqlite");
    std::fs::File::create(&path).unwrap();
    let data_arg = data.to_str().unwrap();
    for args in [
        vec!["events", "tail", "--data", data_arg],
        vec!["rebuild", "all", "--data", data_arg],
        vec!["verify", "--data", data_arg],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("log.sqlite"), "{args:?}: {stderr}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "{args:?}");
        assert!(!data.join("log.sqlite-wal").exists(), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_on_the_embedded_log_shows_appends_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // This test process is the writer; the tail is another process.
    let log = open_embedded(&data);
    let first = note(dialog(1), "before the tail");
    append(&log, std::slice::from_ref(&first)).await;

    let mut command = bin();
    command.args([
        "events",
        "tail",
        "--follow",
        "--data",
        data.to_str().unwrap(),
    ]);
    let mut tail_process = Running::spawn(&mut command, dir.path().join("tail.stderr"));
    let line: Value = serde_json::from_str(&tail_process.next_line()).unwrap();
    assert_eq!(line, expected_line(1, 0, &first));

    let mut waits = Vec::new();
    for n in 0..5 {
        let late = note(dialog(2), &format!("appended by another process {n}"));
        let started = std::time::Instant::now();
        let seq = append(&log, std::slice::from_ref(&late)).await;
        let line: Value = serde_json::from_str(&tail_process.next_line()).unwrap();
        waits.push(started.elapsed());
        assert_eq!(line, expected_line(seq, 0, &late));
    }
    eprintln!("follow: appends of another process seen after {waits:?}");
}

#[tokio::test]
async fn unreadable_rows_are_error_lines_and_the_tail_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = open_embedded(&data);
    let good = note(dialog(1), "readable");
    append(&log, std::slice::from_ref(&good)).await;
    drop(log);
    // Rows no append can make: a subject that is not one, a body that is not a blob.
    let conn = rusqlite::Connection::open(data.join("log.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO log (seq, subject, msg_id, appended_at, types, versions, body) \
         VALUES (2, 'sb.Not A Subject', 'bad-1', 0, 'note.added', '1', x'00')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO log (seq, subject, msg_id, appended_at, types, versions, body) \
         VALUES (3, ?1, 'bad-2', 0, 'note.added', '1', 42)",
        [subject_of(dialog(1)).as_str()],
    )
    .unwrap();
    drop(conn);
    let log = open_embedded(&data);
    let after = note(dialog(1), "after the bad rows");
    assert_eq!(append(&log, std::slice::from_ref(&after)).await, 4);
    drop(log);

    let check = |lines: &[Value]| {
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], expected_line(1, 0, &good));
        assert_eq!(lines[1]["seq"], 2, "{lines:?}");
        assert_eq!(lines[1]["subject"], "sb.Not A Subject", "{lines:?}");
        assert_eq!(lines[2]["seq"], 3, "{lines:?}");
        for line in &lines[1..3] {
            assert!(!line["error"].as_str().unwrap().is_empty(), "{line}");
        }
        assert_eq!(lines[3], expected_line(4, 0, &after));
    };
    let data_arg = data.to_str().unwrap();
    check(&json_lines(&["events", "tail", "--data", data_arg]));

    let mut command = bin();
    command.args(["events", "tail", "--follow", "--data", data_arg]);
    let mut tail_process = Running::spawn(&mut command, dir.path().join("tail.stderr"));
    let followed: Vec<Value> = (0..4)
        .map(|_| serde_json::from_str(&tail_process.next_line()).unwrap())
        .collect();
    check(&followed);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_messages_on_jetstream_are_error_lines() {
    let nats = NatsServer::start();
    let log = JetStreamLog::connect(&nats.url(), JetStreamOptions::default())
        .await
        .unwrap();
    let good = note(dialog(1), "readable");
    append(&log, std::slice::from_ref(&good)).await;
    // Published straight onto the stream's subjects, not through the log.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    for (subject, body) in [
        ("sb.Not.a-subject".to_owned(), Bytes::from_static(b"x")),
        (
            subject_of(dialog(1)).to_string(),
            Bytes::from_static(b"\x05garbage"),
        ),
    ] {
        js.publish(subject, body).await.unwrap().await.unwrap();
    }
    let after = note(dialog(1), "after the bad messages");
    assert_eq!(append(&log, std::slice::from_ref(&after)).await, 4);

    let check = |lines: &[Value]| {
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], expected_line(1, 0, &good));
        assert_eq!(
            (&lines[1]["seq"], &lines[1]["subject"]),
            (&json!(2), &json!("sb.Not.a-subject")),
            "{lines:?}"
        );
        assert_eq!(lines[2]["seq"], 3, "{lines:?}");
        for line in &lines[1..3] {
            assert!(!line["error"].as_str().unwrap().is_empty(), "{line}");
        }
        assert_eq!(lines[3], expected_line(4, 0, &after));
    };
    check(&json_lines(&["events", "tail", "--nats", &nats.url()]));

    let dir = tempfile::tempdir().unwrap();
    let mut command = bin();
    command.args(["events", "tail", "--follow", "--nats", &nats.url()]);
    let mut tail_process = Running::spawn(&mut command, dir.path().join("tail.stderr"));
    let followed: Vec<Value> = (0..4)
        .map(|_| serde_json::from_str(&tail_process.next_line()).unwrap())
        .collect();
    check(&followed);
}
