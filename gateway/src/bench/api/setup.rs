//! Before the load: a data directory with the dataset's log and read models in `serve`'s layout,
//! accounts for some of the dataset's operators, the real `switchboard serve` as a child process,
//! and a signed-in token per account.

use super::client::Conn;
use super::{ApiArgs, say};
use crate::backend::EMBEDDED_FILE;
use crate::credentials::{
    CredentialError, CredentialOptions, CredentialStore, ThrottleConfig, sqlite,
};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard_core::log::LogLimits;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::{AnyLog, AppendRequest, EventLog, MsgId};
use switchboard_dataset::history::{Generator, Item, ProjectIds, Size};
use switchboard_dataset::log_record;
use switchboard_schemas::{Event, OperatorId, ProjectId, Role};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The password of the bench's accounts.
pub const BENCH_PASSWORD: &str = "switchboard-bench-api";

/// Appends in flight while filling an empty log.
const WINDOW: usize = 4096;

/// One of the dataset's operators with an account.
#[derive(Debug, Clone)]
pub struct Person {
    pub project: ProjectId,
    pub operator: OperatorId,
    pub email: String,
    pub admin: bool,
}

/// A signed-in account and the ids of its project.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub project: ProjectIds,
}

/// Fills an empty data directory with the dataset at `size` (the log), builds the read models
/// in `serve`'s layout with the real `switchboard rebuild all` when they are missing, and
/// returns the dataset's projects and operators.
pub async fn prepare(args: &ApiArgs, dir: &Path, size: Size) -> Result<Dataset, String> {
    let log_path = dir.join(EMBEDDED_FILE);
    if !log_path.exists() {
        say(
            args,
            format!("filling {} with the dataset", log_path.display()),
        );
        fill(&log_path, size).await?;
    }
    let read = dir.join(crate::readmodels::READ_DIR);
    if !read.join("dialogs").join("CURRENT").exists() {
        if read.exists() {
            // `bench projections` leaves its read models flat in DIR/read; `serve` has its own
            // layout (generations under a pointer) and refuses that one.
            let aside = dir.join("read.bench-projections");
            say(
                args,
                format!("moving {} to {}", read.display(), aside.display()),
            );
            std::fs::rename(&read, &aside)
                .map_err(|e| format!("cannot move {}: {e}", read.display()))?;
        }
        say(args, "building the read models: switchboard rebuild all");
        let started = Instant::now();
        let status = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .args(["rebuild", "all", "--data"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("cannot run rebuild: {e}"))?;
        if !status.success() {
            return Err(format!("switchboard rebuild all failed: {status}"));
        }
        say(
            args,
            format!(
                "read models built in {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(dataset(size))
}

/// What the bench needs to know of the generated history.
#[derive(Debug)]
pub struct Dataset {
    pub projects: Vec<ProjectIds>,
    pub people: Vec<Person>,
}

/// The dataset's projects and operators: the generator's setup comes first, so only its start
/// is generated.
fn dataset(size: Size) -> Dataset {
    let wanted = size.projects * size.operators;
    let mut people = Vec::new();
    let mut generator = Generator::new(size, 1);
    for item in generator.by_ref() {
        if let Item::Append(append) = item {
            for envelope in &append.events {
                if let Event::OperatorAdded(added) = &envelope.payload {
                    people.push(Person {
                        project: envelope.project,
                        operator: added.operator,
                        email: added.email.clone(),
                        admin: added.role == Role::Admin,
                    });
                }
            }
        }
        if people.len() >= wanted {
            break;
        }
    }
    Dataset {
        projects: generator.project_ids(),
        people,
    }
}

/// Appends the generated history to a new embedded log at `path`.
async fn fill(path: &Path, size: Size) -> Result<(), String> {
    let options = EmbeddedOptions {
        limits: LogLimits {
            duplicate_window: Duration::from_secs(10),
            ..LogLimits::default()
        },
        ..EmbeddedOptions::default()
    };
    let log = AnyLog::Embedded(EmbeddedLog::open(path, options).map_err(|e| e.to_string())?);
    let mut in_flight = FuturesOrdered::new();
    for item in Generator::new(size, 1) {
        let Item::Append(append) = item else {
            continue;
        };
        let record = log_record(&append)?;
        let request = AppendRequest {
            subject: record.subject,
            expected: append.expected,
            msg_id: MsgId::new(record.msg_id).map_err(|e| e.to_string())?,
            batch: record.batch,
        };
        let log = log.clone();
        in_flight.push_back(async move { log.append(request).await });
        if in_flight.len() >= WINDOW
            && let Some(done) = in_flight.next().await
        {
            done.map_err(|e| e.to_string())?;
        }
    }
    while let Some(done) = in_flight.next().await {
        done.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Up to `count` people, spread over the projects, admins and operators alternating.
pub fn choose(dataset: &Dataset, count: usize) -> Vec<Person> {
    let mut by_project: Vec<(Vec<&Person>, Vec<&Person>)> = dataset
        .projects
        .iter()
        .map(|p| {
            let of = |admin: bool| {
                dataset
                    .people
                    .iter()
                    .filter(|x| x.project == p.id && x.admin == admin)
                    .collect::<Vec<_>>()
            };
            (of(true), of(false))
        })
        .collect();
    let mut chosen = Vec::new();
    let mut round = 0;
    while chosen.len() < count
        && by_project
            .iter()
            .any(|(a, o)| !a.is_empty() || !o.is_empty())
    {
        for (admins, operators) in &mut by_project {
            let pool = if (round % 2 == 0 && !admins.is_empty()) || operators.is_empty() {
                admins
            } else {
                operators
            };
            if let Some(person) = pool.pop()
                && chosen.len() < count
            {
                chosen.push(person.clone());
            }
        }
        round += 1;
    }
    chosen
}

/// The data directory's credential store, as `serve` opens it (with `throttle`).
async fn store(dir: &Path, throttle: ThrottleConfig) -> Result<CredentialStore, String> {
    let (options, _, _) = CredentialOptions::from_environment(dir).map_err(|e| e.to_string())?;
    let options = CredentialOptions {
        throttle,
        ..options
    };
    CredentialStore::open_sqlite(&dir.join(sqlite::CREDENTIALS_FILE), options)
        .await
        .map_err(|e| e.to_string())
}

/// Gives each chosen person an account with the bench password in the data directory's
/// credential store (an account made by an earlier run is kept).
pub async fn accounts(dir: &Path, people: &[Person]) -> Result<(), String> {
    let store = store(dir, ThrottleConfig::default()).await?;
    for person in people {
        match store
            .create_account(
                person.project,
                person.operator,
                &person.email,
                BENCH_PASSWORD,
            )
            .await
        {
            // Made by an earlier run (its email is checked first).
            Ok(_) | Err(CredentialError::OperatorExists | CredentialError::EmailTaken) => {}
            Err(e) => {
                return Err(format!(
                    "cannot create the account of {}: {e}",
                    person.email
                ));
            }
        }
    }
    Ok(())
}

/// The real `switchboard serve` on a loopback port, stopped (SIGTERM, then killed) on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Server {
    pub async fn start(dir: &Path) -> Result<Self, String> {
        let exe: PathBuf = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start serve: {e}"))?;
        let pid = child.id().ok_or("serve exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(600), async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().parse::<SocketAddr>().map_err(|e| e.to_string());
                }
            }
            Err("serve ended before it listened".to_owned())
        })
        .await
        .map_err(|_| "serve did not listen within 600 s".to_owned())??;
        // Keep reading its stdout so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, pid })
    }

    /// Asks serve to stop (SIGTERM) and waits up to 30 s, then kills it.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Begins a session for each person in the data directory's credential store itself, the
/// one `serve` reads (hundreds of sign-ins through `serve` wait 2 s each for its per-address
/// throttle after the first 30), and pairs the token with the project's ids.
pub async fn sessions_in_store(
    dir: &Path,
    people: &[Person],
    projects: &[ProjectIds],
) -> Result<Vec<Session>, String> {
    // Far more than any bench signs in (the limiter multiplies it by the period in ns).
    let unthrottled = NonZeroU32::new(100_000).unwrap_or(NonZeroU32::MIN);
    let store = store(
        dir,
        ThrottleConfig {
            per_account_burst: unthrottled,
            per_address_burst: unthrottled,
            ..ThrottleConfig::default()
        },
    )
    .await?;
    let mut sessions = Vec::with_capacity(people.len());
    for person in people {
        let session = store
            .login(&person.email, BENCH_PASSWORD, Ipv4Addr::LOCALHOST.into())
            .await
            .map_err(|e| format!("cannot begin a session of {}: {e}", person.email))?;
        let project = project_of(projects, person)?;
        sessions.push(Session {
            token: session.token.expose().to_owned(),
            project,
        });
    }
    Ok(sessions)
}

/// The ids of a person's project.
fn project_of(projects: &[ProjectIds], person: &Person) -> Result<ProjectIds, String> {
    projects
        .iter()
        .find(|p| p.id == person.project)
        .cloned()
        .ok_or_else(|| "a person of an unknown project".to_owned())
}

/// Signs each person in (a 429 waits for the throttle's next token) and pairs the token with
/// the project's ids.
pub async fn sign_in(
    addr: SocketAddr,
    people: &[Person],
    projects: &[ProjectIds],
) -> Result<Vec<Session>, String> {
    let mut conn = Conn::connect(addr).await?;
    let mut sessions = Vec::new();
    for person in people {
        let body = json!({ "email": person.email, "password": BENCH_PASSWORD }).to_string();
        let mut tries = 0;
        let token = loop {
            let (status, answer) = conn
                .call("POST", "/v1/auth/login", None, Some(body.clone().into()))
                .await?;
            if status == 429 && tries < 60 {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            if status != 200 {
                return Err(format!(
                    "sign-in of {} answered {status}: {}",
                    person.email,
                    String::from_utf8_lossy(&answer)
                ));
            }
            let answer: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
            break answer["token"]
                .as_str()
                .ok_or("sign-in answer without a token")?
                .to_owned();
        };
        let project = project_of(projects, person)?;
        sessions.push(Session { token, project });
    }
    Ok(sessions)
}

/// Resident memory of a process: (VmHWM, VmRSS) in bytes.
pub fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    (
        status_bytes(&status, "VmHWM:"),
        status_bytes(&status, "VmRSS:"),
    )
}

/// What a process's memory is after a phase: its resident set (`VmRSS`), its proportional set
/// (`Pss` of `/proc/<pid>/smaps_rollup`) and the anonymous part (`RssAnon`: heap and stacks).
///
/// The read models are mapped by each reader connection (`PRAGMA mmap_size`): the same cached
/// page of a file counts once per connection in `VmRSS` (8 connections: up to 8 times), once in
/// `Pss`, which is what the process holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss: u64,
    pub pss: u64,
    pub anon: u64,
}

/// [`Memory`] of a process now (zeros for what cannot be read).
pub fn memory_of(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    Memory {
        rss: status_bytes(&status, "VmRSS:"),
        pss: status_bytes(&rollup, "Pss:"),
        anon: status_bytes(&status, "RssAnon:"),
    }
}

/// A `kB` field of `/proc/<pid>/status` (`name` with its colon) in bytes; 0 when missing.
pub fn status_bytes(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}
