//! Helpers shared by the gateway's integration tests: real events, the real binary, a tiny HTTP
//! client. Each suite uses a part of them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::{AppendRequest, EventLog, Expected, MsgId, Subject};
use switchboard_schemas::events::{DialogClosed, DialogPinned, NoteAdded};
use switchboard_schemas::{
    Actor, AggregateId, DialogId, Envelope, Event, EventId, NoteId, OperatorId, ProjectId,
    Timestamp, encode_batch,
};

pub const PROJECT: ProjectId = ProjectId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_00a1);
pub const OPERATOR: OperatorId = OperatorId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_00a2);
/// 2025-11-22T04:00:00.123456Z
pub const AT: Timestamp = Timestamp::from_micros(1_763_784_000_123_456);

/// How long a test waits for the binary to answer before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn dialog(n: u128) -> DialogId {
    DialogId::from_u128(0x0194_0000_0000_7000_8000_0000_0001_0000 + n)
}

pub fn envelope(dialog: DialogId, payload: Event) -> Envelope {
    Envelope {
        event_id: EventId::new(),
        project: PROJECT,
        aggregate: AggregateId::Dialog(dialog),
        occurred_at: AT,
        actor: Actor::Operator(OPERATOR),
        causation_id: None,
        correlation_id: None,
        payload,
    }
}

pub fn note(dialog: DialogId, text: &str) -> Envelope {
    envelope(
        dialog,
        Event::NoteAdded(NoteAdded {
            note: NoteId::new(),
            text: text.to_owned(),
        }),
    )
}

pub fn pinned(dialog: DialogId) -> Envelope {
    envelope(dialog, Event::DialogPinned(DialogPinned {}))
}

pub fn closed(dialog: DialogId) -> Envelope {
    envelope(dialog, Event::DialogClosed(DialogClosed {}))
}

pub fn subject_of(dialog: DialogId) -> Subject {
    Subject::dialog(PROJECT, dialog)
}

pub fn dialog_of(event: &Envelope) -> DialogId {
    match event.aggregate {
        AggregateId::Dialog(dialog) => dialog,
        _ => panic!("dialog events only"),
    }
}

/// Append the events (all of one dialog) as one log message; returns its sequence.
pub async fn append(log: &impl EventLog, events: &[Envelope]) -> u64 {
    let request = AppendRequest {
        subject: Subject::dialog(events[0].project, dialog_of(&events[0])),
        expected: Expected::Any,
        msg_id: MsgId::new(EventId::new().to_string()).unwrap(),
        batch: encode_batch(events).unwrap(),
    };
    let ack = log.append(request).await.unwrap();
    assert!(!ack.duplicate);
    ack.seq
}

/// The embedded log of a data directory, as `serve --data DIR` opens it.
pub fn open_embedded(data_dir: &Path) -> EmbeddedLog {
    std::fs::create_dir_all(data_dir).unwrap();
    EmbeddedLog::open(&data_dir.join("log.sqlite"), EmbeddedOptions::default()).unwrap()
}

pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env_remove("RUST_LOG");
    command
}

/// Run the binary to its end.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).stdin(Stdio::null()).output().unwrap()
}

/// The JSON lines of a successful `switchboard <args>`.
pub fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let output = run(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// A child process killed when the test ends, however it ends.
pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stderr_path: PathBuf,
}

impl Running {
    /// Start the binary with stdout read line by line and stderr going to a file.
    pub fn spawn(command: &mut Command, stderr_path: PathBuf) -> Self {
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let lines = read_lines(child.stdout.take().unwrap());
        Self {
            child,
            lines,
            stderr_path,
        }
    }

    /// The next stdout line, failing the test after [`PATIENCE`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(error) => panic!(
                "no line from the binary ({error}); exit: {:?}; stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Wait for the process to exit by itself, failing the test after [`PATIENCE`].
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the binary did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Start `switchboard serve <args> --listen 127.0.0.1:0` in `cwd` and return it with the address
/// it printed once bound.
pub fn start_server(cwd: &Path, args: &[&str]) -> (Running, SocketAddr) {
    start_server_with(bin().current_dir(cwd).arg("serve").args(args), cwd)
}

/// [`start_server`] with `root` as the root token (`SWITCHBOARD_ROOT_TOKEN`) and the data in
/// `cwd/data`.
pub fn start_server_as_root(cwd: &Path, root: &str) -> (Running, SocketAddr) {
    start_server_with(
        bin()
            .current_dir(cwd)
            .env("SWITCHBOARD_ROOT_TOKEN", root)
            .args(["serve", "--data", "data"]),
        cwd,
    )
}

/// Starts `command` (a `serve` without `--listen`) on a free loopback port, its stderr in
/// `cwd/serve.stderr`, and returns it with the address it printed once bound.
fn start_server_with(command: &mut Command, cwd: &Path) -> (Running, SocketAddr) {
    command.args(["--listen", "127.0.0.1:0"]);
    let mut server = Running::spawn(command, cwd.join("serve.stderr"));
    let first = server.next_line();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    (server, addr)
}

/// A plain HTTP/1.1 request; returns the status and the body parsed as JSON.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}
