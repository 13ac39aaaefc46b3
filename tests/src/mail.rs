//! Real mail servers for the email tests, on loopback ports with their state in temp dirs.
//!
//! - [`DovecotServer`]: Dovecot's IMAP server from a config written into a temp dir (plain IMAP on
//!   127.0.0.1, one password for every user, maildirs in the temp dir). Test mail is delivered
//!   into a maildir directly ([`DovecotServer::deliver`]), as a local delivery agent would.
//!   Found at `DOVECOT_BIN`, else `/usr/sbin/dovecot`, else on `PATH`; `deploy/install-dovecot.sh`
//!   installs Debian's `dovecot-imapd`.
//! - [`SmtpReceiver`]: aiosmtpd (`python3 -m aiosmtpd`) with its stock `Mailbox` handler, which
//!   writes each received message into a maildir, with the envelope in `X-MailFrom` and
//!   `X-RcptTo`. Found at `AIOSMTPD_PYTHONPATH`, else `<root>/.tools/aiosmtpd`;
//!   `deploy/install-aiosmtpd.sh` installs the pinned one.
//!
//! Both panic (never skip) when their server is missing or does not come up.

use crate::{file_tail, free_port, workspace_root};
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Every user of a [`DovecotServer`] logs in with this password.
pub const IMAP_PASSWORD: &str = "switchboard-test-password";

/// Which capabilities a [`DovecotServer`] announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capabilities {
    /// Dovecot's own list, IDLE included.
    Default,
    /// A short list without IDLE, as a server that only supports polling would announce.
    WithoutIdle,
}

/// The owner of maildirs and of the mail processes.
#[derive(Debug, Clone)]
struct MailUser {
    uid: u32,
    gid: u32,
    /// Dovecot's internal and login users: its own when run as root, else the caller.
    internal: String,
    login: String,
    /// Root hands the maildirs to the mail user; anyone else owns them already.
    chown: bool,
}

impl MailUser {
    fn detect() -> Self {
        let euid = command_output("id", &["-u"]);
        if euid.trim() == "0" {
            // Dovecot refuses mail processes as root: they run as `nobody`.
            Self {
                uid: 65534,
                gid: 65534,
                internal: "dovecot".to_owned(),
                login: "dovenull".to_owned(),
                chown: true,
            }
        } else {
            let name = command_output("id", &["-un"]).trim().to_owned();
            Self {
                uid: euid.trim().parse().expect("a numeric uid"),
                gid: command_output("id", &["-g"])
                    .trim()
                    .parse()
                    .expect("a numeric gid"),
                internal: name.clone(),
                login: name,
                chown: false,
            }
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Dovecot IMAP server on 127.0.0.1. Stopped when dropped.
#[derive(Debug)]
pub struct DovecotServer {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    user: MailUser,
    capabilities: Capabilities,
    child: Option<Child>,
}

impl DovecotServer {
    /// Starts a server announcing Dovecot's own capabilities (IDLE included).
    pub fn start() -> Self {
        Self::start_with(Capabilities::Default)
    }

    pub fn start_with(capabilities: Capabilities) -> Self {
        let bin = find_dovecot();
        let dir = tempfile::Builder::new()
            .prefix("sb-dovecot-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let mut server = Self {
            bin,
            port: free_port(),
            dir,
            user: MailUser::detect(),
            capabilities,
            child: None,
        };
        server.prepare_dirs();
        let mut last_error = String::new();
        for _ in 0..5 {
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.port = free_port();
                }
            }
        }
        panic!("dovecot did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The maildir of `user` (created on first use).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user).join("Maildir")
    }

    /// Delivers one message into `user`'s INBOX, as a local delivery agent does: written into
    /// `tmp/`, then renamed into `new/`.
    pub fn deliver(&self, user: &str, raw: &[u8]) {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let maildir = self.maildir(user);
        for sub in ["", "tmp", "new", "cur"] {
            let dir = maildir.join(sub);
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            self.give_to_mail_user(&dir);
        }
        let mut parent = maildir.parent();
        while let Some(dir) = parent {
            if dir == self.dir.path() {
                break;
            }
            self.give_to_mail_user(dir);
            parent = dir.parent();
        }
        let unique = format!(
            "{}.P{}Q{}.switchboard-tests",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = maildir.join("tmp").join(&unique);
        std::fs::write(&tmp, raw).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        self.give_to_mail_user(&tmp);
        std::fs::rename(&tmp, maildir.join("new").join(&unique))
            .unwrap_or_else(|e| panic!("cannot move mail into new/: {e}"));
    }

    /// Makes the server give `user`'s INBOX a new UIDVALIDITY, as a server whose mailbox was
    /// rebuilt or migrated does: stops it, removes the mailbox's UID list and indexes (the mails
    /// stay), and starts it again on the same port.
    pub fn reset_uidvalidity(&mut self, user: &str) {
        self.stop();
        let maildir = self.maildir(user);
        let entries = std::fs::read_dir(&maildir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", maildir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| {
                n == "dovecot-uidlist"
                    || n.starts_with("dovecot.index")
                    || n.starts_with("dovecot.list.index")
            }) {
                std::fs::remove_file(&path)
                    .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
            }
        }
        // UIDVALIDITY is derived from the clock; a new second guarantees a new value.
        std::thread::sleep(Duration::from_millis(1100));
        let mut last_error = String::new();
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dovecot did not restart: {last_error}");
    }

    /// Stops the server (`dovecot stop`), killing it when it has not exited within 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The last lines Dovecot logged, for failure messages.
    pub fn log_tail(&self) -> String {
        file_tail(&self.dir.path().join("dovecot.log"), 20)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    fn give_to_mail_user(&self, path: &Path) {
        if self.user.chown {
            std::os::unix::fs::chown(path, Some(self.user.uid), Some(self.user.gid))
                .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
        }
    }

    fn prepare_dirs(&self) {
        use std::os::unix::fs::PermissionsExt;
        let root = self.dir.path();
        // The mail processes (not root) must reach the maildirs inside the temp dir.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot open up {}: {e}", root.display()));
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {sub}: {e}"));
        }
        self.give_to_mail_user(&root.join("mail"));
    }

    fn write_config(&self) -> Result<(), String> {
        let root = self.dir.path().display().to_string();
        let capability = match self.capabilities {
            Capabilities::Default => String::new(),
            Capabilities::WithoutIdle => {
                "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n".to_owned()
            }
        };
        let config = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {root}/run\n\
             state_dir = {root}/state\n\
             log_path = {root}/dovecot.log\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             default_internal_user = {internal}\n\
             default_login_user = {login}\n\
             first_valid_uid = 1\n\
             mailbox_idle_check_interval = 1 secs\n\
             {capability}\
             passdb {{\n  driver = static\n  args = password={IMAP_PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={root}/mail/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n  chroot =\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            internal = self.user.internal,
            login = self.user.login,
            uid = self.user.uid,
            gid = self.user.gid,
            port = self.port,
        );
        std::fs::write(self.config_path(), config)
            .map_err(|e| format!("cannot write the dovecot config: {e}"))
    }

    fn spawn(&mut self) -> Result<(), String> {
        self.write_config()?;
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dovecot.out"))
            .map_err(|e| format!("cannot open dovecot's output file: {e}"))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open dovecot's output file: {e}"))?;
        let child = Command::new(&self.bin)
            .arg("-F")
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let output = self.dir.path().join("dovecot.out");
        let child = wait_for_port(child, self.port, "dovecot", || {
            let out = std::fs::read_to_string(&output).unwrap_or_default();
            format!("{out}\n{}", self.log_tail())
        })?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for DovecotServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `port` accepts connections; `Err` with `log()` when `child` exits first or
/// 15 s pass.
fn wait_for_port(
    mut child: Child,
    port: u16,
    what: &str,
    log: impl Fn() -> String,
) -> Result<Child, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited with {status}:\n{}", log()));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what} did not accept connections within 15 s:\n{}",
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `dovecot` to use: `DOVECOT_BIN`, else `/usr/sbin/dovecot`, else one on `PATH`.
pub fn find_dovecot() -> PathBuf {
    if let Some(bin) = std::env::var_os("DOVECOT_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "DOVECOT_BIN={} does not exist; run `bash deploy/install-dovecot.sh`",
            bin.display()
        );
        return bin;
    }
    let mut candidates = vec![PathBuf::from("/usr/sbin/dovecot")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("dovecot")));
    }
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no dovecot found (DOVECOT_BIN, /usr/sbin/dovecot, PATH); run `bash deploy/test.sh` \
                 or `bash deploy/install-dovecot.sh` to install Debian's dovecot-imapd"
            )
        })
}

/// aiosmtpd receiving SMTP on 127.0.0.1 into a maildir. Killed when dropped.
#[derive(Debug)]
pub struct SmtpReceiver {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpReceiver {
    pub fn start() -> Self {
        let pythonpath = find_aiosmtpd();
        let dir = tempfile::Builder::new()
            .prefix("sb-smtp-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log_path = dir.path().join("aiosmtpd.log");
            let log = File::create(&log_path).expect("the receiver's log file");
            let log_err = log.try_clone().expect("the receiver's log file");
            let child = Command::new("python3")
                .env("PYTHONPATH", &pythonpath)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(dir.path().join("maildir"))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run python3 -m aiosmtpd: {e}"));
            match wait_for_port(child, port, "aiosmtpd", || {
                std::fs::read_to_string(&log_path).unwrap_or_default()
            }) {
                Ok(child) => {
                    return Self {
                        port,
                        dir,
                        child: Some(child),
                    };
                }
                Err(e) => last_error = e,
            }
        }
        panic!("aiosmtpd did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first (by file time), as the raw bytes aiosmtpd
    /// stored.
    pub fn received(&self) -> Vec<Vec<u8>> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                files.push((modified, entry.path()));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect()
    }

    /// Waits until at least `count` messages arrived (or 10 s passed) and answers them all.
    pub fn wait_for(&self, count: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The directory holding the aiosmtpd package: `AIOSMTPD_PYTHONPATH`, else
/// `<root>/.tools/aiosmtpd`.
pub fn find_aiosmtpd() -> PathBuf {
    let dir = std::env::var_os("AIOSMTPD_PYTHONPATH")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools/aiosmtpd"));
    assert!(
        dir.join("aiosmtpd").is_dir(),
        "no aiosmtpd at {}; run `bash deploy/test.sh` or `bash deploy/install-aiosmtpd.sh`",
        dir.display()
    );
    dir
}
