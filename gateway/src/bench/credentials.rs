//! `switchboard bench credentials`: what authentication costs on each credential backend.
//!
//! Per backend (a SQLite file in a temp dir; a bucket on a local nats-server started for the
//! bench, or `--nats`):
//! - cached: `--lookups` bearer authentications of `--tokens` live API tokens (and a few
//!   sessions) from `--tasks` tasks at once, after every token was looked up once: the hot path
//!   of every request (SHA-256 of the token, one map lookup);
//! - uncached: each token authenticated once on a fresh handle: the backend's reads;
//! - sign-in: `--logins` sign-ins one after the other (argon2id on the blocking pool);
//! - revocation: `--revocations` rounds of a token cached on handle b and revoked through
//!   handle a; the time from the revocation call until b refuses it (polled every 100 µs). The
//!   rounds start at staggered moments (0–99 ms apart), or they would fall in step with the
//!   SQLite poller and all wait for its whole period.
//!
//! Human-readable lines go to stderr; the last stdout line is one JSON object.

use crate::credentials::{CredentialOptions, CredentialStore, IssuedToken, KvOptions};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_schemas::{OperatorId, ProjectId};

#[derive(clap::Args, Debug, Clone)]
pub struct CredentialsArgs {
    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,
    /// JetStream server for the KV backend; without it a local nats-server is started.
    #[arg(long)]
    pub nats: Option<String>,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,kv")]
    pub backends: Vec<String>,
    /// Live API tokens authenticated (over 10 operators).
    #[arg(long, default_value_t = 200)]
    pub tokens: usize,
    /// Cached authentications measured.
    #[arg(long, default_value_t = 1_000_000)]
    pub lookups: usize,
    /// Tasks authenticating at once.
    #[arg(long, default_value_t = 2)]
    pub tasks: usize,
    /// Sign-ins measured.
    #[arg(long, default_value_t = 20)]
    pub logins: usize,
    /// Revocation rounds measured.
    #[arg(long, default_value_t = 20)]
    pub revocations: usize,
}

const PASSWORD: &str = "bench password 1";
const OPERATORS: usize = 10;

fn say(args: &CredentialsArgs, line: String) {
    if !args.json {
        eprintln!("{line}");
    }
}

fn client_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Percentiles of `samples` (sorted here), in microseconds.
fn percentiles(samples: &mut [Duration]) -> serde_json::Value {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len().saturating_sub(1)) as f64 * q).round() as usize;
        samples
            .get(index)
            .map_or(0.0, |d| (d.as_secs_f64() * 1e7).round() / 10.0)
    };
    json!({ "p50_us": at(0.5), "p90_us": at(0.9), "max_us": at(1.0), "n": samples.len() })
}

/// A handle opened the way `serve` would for `backend`.
struct Opener {
    backend: String,
    sqlite_path: std::path::PathBuf,
    nats_url: Option<String>,
}

impl Opener {
    async fn open(&self) -> Result<CredentialStore, String> {
        let store = match self.backend.as_str() {
            "sqlite" => {
                CredentialStore::open_sqlite(&self.sqlite_path, CredentialOptions::default()).await
            }
            "kv" => {
                let url = self.nats_url.as_deref().ok_or("no nats-server")?;
                let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
                CredentialStore::open_kv(client, KvOptions::default(), CredentialOptions::default())
                    .await
            }
            other => return Err(format!("unknown backend {other} (sqlite, kv)")),
        }
        .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !store.cache_is_live() {
            if Instant::now() > deadline {
                return Err("the invalidation feed did not come up".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(store)
    }
}

/// Accounts and tokens to authenticate with: the tokens and one operator per account.
async fn populate(
    store: &CredentialStore,
    tokens: usize,
) -> Result<(Vec<IssuedToken>, Vec<OperatorId>), String> {
    let mut operators = Vec::new();
    for n in 0..OPERATORS {
        let operator = OperatorId::new();
        store
            .create_account(
                ProjectId::new(),
                operator,
                &format!("bench{n}@example.com"),
                PASSWORD,
            )
            .await
            .map_err(|e| e.to_string())?;
        operators.push(operator);
    }
    let mut issued = Vec::with_capacity(tokens);
    for n in 0..tokens {
        let token = store
            .create_api_token(operators[n % OPERATORS], &format!("token {n}"))
            .await
            .map_err(|e| e.to_string())?;
        issued.push(token.token);
    }
    Ok((issued, operators))
}

async fn cached_rate(
    store: &CredentialStore,
    tokens: &Arc<Vec<IssuedToken>>,
    args: &CredentialsArgs,
) -> Result<f64, String> {
    for token in tokens.iter() {
        store
            .authenticate_bearer(token.expose())
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a live token was refused")?;
    }
    let per_task = args.lookups / args.tasks.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..args.tasks.max(1) {
        let store = store.clone();
        let tokens = Arc::clone(tokens);
        tasks.push(tokio::spawn(async move {
            let mut refused = 0usize;
            for n in 0..per_task {
                let token = &tokens[(n + task * 7) % tokens.len()];
                if !matches!(store.authenticate_bearer(token.expose()).await, Ok(Some(_))) {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for task in tasks {
        refused += task.await.map_err(|e| e.to_string())?;
    }
    let took = started.elapsed();
    if refused > 0 {
        return Err(format!("{refused} cached authentications failed"));
    }
    Ok((per_task * args.tasks.max(1)) as f64 / took.as_secs_f64())
}

async fn measure(opener: &Opener, args: &CredentialsArgs) -> Result<serde_json::Value, String> {
    let a = opener.open().await?;
    let (tokens, operators) = populate(&a, args.tokens.max(1)).await?;
    let tokens = Arc::new(tokens);

    let rate = cached_rate(&a, &tokens, args).await?;
    say(
        args,
        format!(
            "  cached: {rate:.0} authentications/s ({} tasks)",
            args.tasks
        ),
    );

    let fresh = opener.open().await?;
    let mut uncached = Vec::new();
    for token in tokens.iter() {
        let started = Instant::now();
        fresh
            .authenticate_bearer(token.expose())
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a live token was refused")?;
        uncached.push(started.elapsed());
    }
    let uncached = percentiles(&mut uncached);
    say(args, format!("  uncached: {uncached}"));

    let mut logins = Vec::new();
    for n in 0..args.logins {
        let started = Instant::now();
        a.login(
            &format!("bench{}@example.com", n % OPERATORS),
            PASSWORD,
            client_address(),
        )
        .await
        .map_err(|e| e.to_string())?;
        logins.push(started.elapsed());
    }
    let logins = percentiles(&mut logins);
    say(args, format!("  sign-in: {logins}"));

    let b = opener.open().await?;
    let mut delays = Vec::new();
    for n in 0..args.revocations {
        let operator = operators[n % OPERATORS];
        let account = a
            .account(operator)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no account")?;
        let token = a
            .create_api_token(operator, "revoked")
            .await
            .map_err(|e| e.to_string())?;
        b.authenticate_bearer(token.token.expose())
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a live token was refused")?;
        tokio::time::sleep(Duration::from_millis((n as u64 * 37) % 100)).await;
        let started = Instant::now();
        a.revoke_api_token(account.project, token.record.id)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let answer = b
                .authenticate_bearer(token.token.expose())
                .await
                .map_err(|e| e.to_string())?;
            if answer.is_none() {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("a revocation was not seen within 10 s".into());
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        delays.push(started.elapsed());
    }
    let delays = percentiles(&mut delays);
    say(
        args,
        format!("  revocation seen by the other handle: {delays}"),
    );
    Ok(json!({
        "cached_per_sec": rate.round(),
        "uncached": uncached,
        "sign_in": logins,
        "revocation_delay": delays,
    }))
}

/// Runs the bench; prints the JSON summary as the last line on stdout.
pub async fn credentials(args: CredentialsArgs) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut local = None;
    let mut report = serde_json::Map::new();
    report.insert("bench".into(), json!("credentials"));
    report.insert(
        "params".into(),
        json!({
            "tokens": args.tokens, "lookups": args.lookups, "tasks": args.tasks,
            "logins": args.logins, "revocations": args.revocations,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }),
    );
    for backend in &args.backends {
        let nats_url = if backend == "kv" {
            match &args.nats {
                Some(url) => Some(url.clone()),
                None => {
                    let server = super::append::start_nats().await?;
                    let url = server.url.clone();
                    local = Some(server);
                    Some(url)
                }
            }
        } else {
            None
        };
        say(&args, format!("{backend}:"));
        let opener = Opener {
            backend: backend.clone(),
            sqlite_path: dir.path().join(format!("{backend}-credentials.sqlite")),
            nats_url,
        };
        report.insert(backend.clone(), measure(&opener, &args).await?);
    }
    drop(local);
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
