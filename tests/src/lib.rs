//! Test harness for Switchboard's end-to-end tests: a real `nats-server` with JetStream per test.
//!
//! [`NatsServer::start`] finds a `nats-server` ≥ 2.12 (`NATS_SERVER_BIN`, else
//! `<workspace>/.tools/nats/bin/nats-server`, else `PATH`) and fails loudly when there is none:
//! run `bash deploy/test.sh` (or `bash deploy/install-nats-server.sh`) to install the pinned one.
//! [`NatsCluster::start`] starts three of them as a JetStream cluster from the shipped
//! `deploy/nats/` configs (module `cluster`). [`mail`] starts a real Dovecot IMAP server and an
//! aiosmtpd SMTP receiver for the email tests. [`providers`] (the `switchboard-providers`
//! crate) serves the Telegram, WhatsApp Cloud and VK APIs on loopback for the delivery tests.

mod cluster;
pub mod mail;

/// The local provider servers, a crate of their own so that `switchboard bench channels` can
/// start them too.
pub use switchboard_providers as providers;

pub use cluster::{NODES, NatsCluster};

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Oldest server accepted (atomic batches, the stream settings the log relies on).
pub const MIN_SERVER_VERSION: (u32, u32) = (2, 12);

const HOW_TO_INSTALL: &str =
    "run `bash deploy/test.sh` or `bash deploy/install-nats-server.sh` to install it";

/// A `nats-server` with JetStream on 127.0.0.1, its store in a temporary directory. Killed when
/// dropped.
#[derive(Debug)]
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server on a free port with a fresh store. Panics (never skips) when no suitable
    /// `nats-server` is found or it does not come up.
    pub fn start() -> Self {
        let bin = find_server();
        let dir = tempfile::Builder::new()
            .prefix("sb-nats-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let mut server = Self {
            bin,
            port: free_port(),
            dir,
            child: None,
        };
        let mut last_error = String::new();
        // A port picked as free may be taken by a parallel test before the server binds it.
        for _ in 0..5 {
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.port = free_port();
                }
            }
        }
        panic!("nats-server did not start: {last_error}");
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Stops the server gracefully (it flushes its store) and starts it again on the same port
    /// and store; returns once it accepts connections again.
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        // The port is ours but the old socket may linger for a moment.
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server did not restart: {last_error}");
    }

    /// Stops the server gracefully (SIGTERM via `nats-server --signal`), killing it when it does
    /// not exit within 10 s.
    pub fn stop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        stop_gracefully(&self.bin, child);
    }

    /// The last lines the server logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let mut child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "nats-server exited with {status}:\n{}",
                    self.log_tail()
                ));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nats-server did not accept connections within 15 s:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `nats-server` to use: `NATS_SERVER_BIN`, else `<root>/.tools/nats/bin/nats-server`, else
/// one on `PATH`; it must be ≥ [`MIN_SERVER_VERSION`]. Panics with how to install it otherwise.
pub fn find_server() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        // An explicit choice is the only candidate: a wrong one must not be silently replaced.
        let bin = PathBuf::from(bin);
        return match server_version(&bin) {
            Some(v) if v >= MIN_SERVER_VERSION => bin,
            Some((major, minor)) => panic!(
                "NATS_SERVER_BIN={} is version {major}.{minor}, older than {}.{}; {HOW_TO_INSTALL}",
                bin.display(),
                MIN_SERVER_VERSION.0,
                MIN_SERVER_VERSION.1
            ),
            None => panic!(
                "NATS_SERVER_BIN={} does not run `--version`; {HOW_TO_INSTALL}",
                bin.display()
            ),
        };
    }
    candidates.push(workspace_root().join(".tools/nats/bin/nats-server"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    let mut seen = Vec::new();
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        match server_version(&candidate) {
            Some(v) if v >= MIN_SERVER_VERSION => return candidate,
            Some((major, minor)) => {
                seen.push(format!("{} is {major}.{minor}", candidate.display()))
            }
            None => seen.push(format!("{} does not run", candidate.display())),
        }
    }
    panic!(
        "no nats-server >= {}.{} found ({}); {HOW_TO_INSTALL}",
        MIN_SERVER_VERSION.0,
        MIN_SERVER_VERSION.1,
        if seen.is_empty() {
            "none on PATH or in .tools/nats/bin".to_owned()
        } else {
            seen.join(", ")
        }
    );
}

/// `(major, minor)` of `nats-server --version` (`nats-server: v2.15.1`).
pub fn server_version(bin: &Path) -> Option<(u32, u32)> {
    let output = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text)
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut parts = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[doc(hidden)]
pub use switchboard_core as __core;
#[doc(hidden)]
pub use tempfile as __tempfile;

/// Instantiates each named `async fn name<L: EventLog>(log: L)` once per backend, as
/// `embedded::name` (a log file in a temp dir) and `jetstream::name` (a nats-server started for
/// the test). Use it at the top level of an integration test file.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    use $crate::__core::log::embedded::{EmbeddedLog, EmbeddedOptions};
                    let dir = $crate::__tempfile::tempdir().expect("temp dir");
                    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
                        .expect("open");
                    super::$name(log).await;
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    use $crate::__core::log::jetstream::{JetStreamLog, JetStreamOptions};
                    let server = $crate::NatsServer::start();
                    let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
                        .await
                        .expect("connect");
                    super::$name(log).await;
                }
            )*
        }
    };
}

/// Stops a nats-server process gracefully (SIGTERM via `nats-server --signal`, so that it
/// flushes its store), killing it when it does not exit within 10 s.
fn stop_gracefully(bin: &Path, mut child: Child) {
    let signalled = Command::new(bin)
        .arg("--signal")
        .arg(format!("term={}", child.id()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if signalled {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn parses_server_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.0"), Some((2, 9)));
        assert_eq!(parse_version("nats-server"), None);
        assert!(parse_version("nats-server: v2.11.4").unwrap() < super::MIN_SERVER_VERSION);
    }
}
