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
use std::net::TcpListener;
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
        file_tail(&self.log_path(), 20)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_offset = log_len(&self.log_path());
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
        wait_ready(
            &mut child,
            &self.log_path(),
            log_offset,
            Duration::from_secs(15),
        )
        .map_err(|e| format!("nats-server: {e}"))?;
        self.child = Some(child);
        Ok(())
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

/// A port for a server we start: random below the kernel's ephemeral range (where outgoing
/// connections take their local ports, and where binding port 0 hands out the same few ports to
/// every parallel test process), free when we looked, and never handed out twice by this process.
/// Another process can still take it before our server binds it: callers start the server with
/// [`wait_ready`], which tells that apart, and pick again.
pub(crate) fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = if ephemeral_low > 12_000 {
        (10_000, ephemeral_low)
    } else {
        (ephemeral_low.max(1024), u16::MAX)
    };
    let random = RandomState::new();
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for attempt in 0u32..10_000 {
        let port =
            low + (random.hash_one((std::process::id(), attempt)) % u64::from(high - low)) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("cannot find a free port between {low} and {high}");
}

/// Waits until the nats-server `child`, logging to `log` (its length before the start was
/// `log_offset`), says "Server is ready": every listener of its own is bound. A connect to its
/// client port would also succeed on another process's listener that took the port first, and
/// miss that our server exited on "address already in use" ([`StartError::PortTaken`]).
pub(crate) fn wait_ready(
    child: &mut Child,
    log: &Path,
    log_offset: u64,
    timeout: Duration,
) -> Result<(), StartError> {
    let deadline = Instant::now() + timeout;
    let since_start = || -> String {
        let text = std::fs::read(log).unwrap_or_default();
        let from = usize::try_from(log_offset).unwrap_or(0).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = since_start();
            let tail = tail_lines(&text, 20);
            return Err(if text.contains("address already in use") {
                StartError::PortTaken(tail)
            } else {
                StartError::Other(format!("exited with {status}:\n{tail}"))
            });
        }
        if since_start().contains("Server is ready") {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::Other(format!(
                "not ready within {timeout:?}:\n{}",
                tail_lines(&since_start(), 20)
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Why a nats-server we started is not serving.
#[derive(Debug)]
pub(crate) enum StartError {
    /// One of its ports was taken by another process (its log's last lines): pick other ports.
    PortTaken(String),
    /// Anything else, described.
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PortTaken(tail) => write!(f, "a port was taken by another process:\n{tail}"),
            Self::Other(text) => f.write_str(text),
        }
    }
}

/// The last `n` lines of the file at `path` (none when it cannot be read), for failure messages.
pub(crate) fn file_tail(path: &Path, n: usize) -> String {
    tail_lines(&std::fs::read_to_string(path).unwrap_or_default(), n)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The length of a log file before a server is started on it (0 when it does not exist yet).
pub(crate) fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
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
