//! Helper of the embedded crash test (`tests/tests/embedded_crash.rs`): appends to the embedded
//! log at the path given as first argument, from several concurrent tasks, forever, and prints
//! `<seq> <msg id>` for every acknowledged append. The test kills it with SIGKILL mid-run and
//! checks that every printed append survived.

use std::io::Write;
use std::path::PathBuf;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{AppendRequest, EventLog, Expected, MsgId, Subject};
use switchboard_schemas::EncodedBatch;

/// Concurrent appenders, each on its own subject (so that group commits form).
const TASKS: usize = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: embedded-appender <log file>");
        std::process::exit(2);
    };
    let log = match EmbeddedLog::open(&path, EmbeddedOptions::default()) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("cannot open {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let subject = Subject::parse(&format!("sb.crash.dialog.d{task}"))
                .unwrap_or_else(|e| panic!("subject: {e}"));
            let mut last = 0;
            for i in 0u64.. {
                let msg_id = format!("crash-{task}-{i}");
                let request = AppendRequest {
                    subject: subject.clone(),
                    expected: Expected::from_last(last),
                    msg_id: MsgId::new(msg_id.clone()).unwrap_or_else(|e| panic!("msg id: {e}")),
                    batch: EncodedBatch {
                        types: "crash.test".into(),
                        versions: "1".into(),
                        body: format!("{task}:{i}:{}", "x".repeat(200)).into(),
                    },
                };
                match log.append(request).await {
                    Ok(ack) => {
                        last = ack.seq;
                        let mut out = std::io::stdout().lock();
                        if writeln!(out, "{} {msg_id}", ack.seq)
                            .and_then(|()| out.flush())
                            .is_err()
                        {
                            std::process::exit(0);
                        }
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}
