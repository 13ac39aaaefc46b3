//! `switchboard bench api`: the operator API under load, end to end.
//!
//! 1. **Setup** (`setup`): a data directory with the dataset's log (filled here when empty, or
//!    left by `bench projections --data DIR`) and read models in `serve`'s layout (built with
//!    `switchboard rebuild all` when missing); accounts for some of the dataset's admins and
//!    operators of several projects; the real `switchboard serve` started as a child process on
//!    a loopback port; a sign-in per account.
//! 2. **Load** (`load`, `kinds`, `client`): `--clients` closed-loop clients, each with one
//!    keep-alive connection, run each kind of request alone and then the mix, `--seconds` each.
//! 3. **Baseline** (`baseline`): the same clients against a static JSON body of a list page's
//!    size served by axum inside the bench process: the HTTP limit of this machine.
//! 4. **Report** (`report`): requests/s and latency per kind, its ratio to the baseline, the
//!    peak and current RSS of `serve`, the targets; the last stdout line is one JSON object.
//!
//! 5. **Live** (`live`): for each of `--live-streams`, that many `GET /v1/live` streams
//!    connected, the memory of an idle one, and the latency from an append to its event on a
//!    stream while changes arrive at `--live-rate` per second.

mod baseline;
pub(crate) mod client;
mod kinds;
mod live;
pub(crate) mod load;
pub(crate) mod report;
pub(crate) mod setup;

use super::SizeArgs;
use bytes::Bytes;
use client::Conn;
use kinds::{Client, Kind};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The size of the dataset: that of the log in --data (the flags `bench projections` was
    /// given), or the size to fill an empty --data with.
    #[command(flatten)]
    pub size: SizeArgs,
    /// Data directory: a log left by `bench projections --data DIR` (its flat read models are
    /// moved aside to DIR/read.bench-projections), one left by an earlier `bench api`, or an
    /// empty one to fill (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Concurrent clients, each with one keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds each phase is measured.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Seconds each phase runs before it is measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Accounts the clients share (sign-in from one address is throttled at 30 per 2 s).
    #[arg(long, default_value_t = 24)]
    pub accounts: usize,
    /// Only these phases, in their usual order (e.g. `--phases list,counters` to profile one
    /// kind for longer); the default runs all: static, list, counters, dialog_timeline, search,
    /// commands, mix.
    #[arg(long, value_delimiter = ',', value_parser = parse_phase)]
    pub phases: Vec<Kind>,
    /// Live streams connected in each live run (`0`: no live run).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 10_000])]
    pub live_streams: Vec<usize>,
    /// Accounts the live streams are spread over (default: every operator of the dataset, one
    /// admin of each project first). A stream is one operator's browser (its tabs share one).
    #[arg(long)]
    pub live_accounts: Option<usize>,
    /// Dialog changes per second during a live run.
    #[arg(long, default_value_t = 1000.0)]
    pub live_rate: f64,
    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,
}

fn parse_phase(name: &str) -> Result<Kind, String> {
    Kind::PHASES
        .into_iter()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = Kind::PHASES.iter().map(|k| k.name()).collect();
            format!("unknown phase `{name}`; one of {}", names.join(", "))
        })
}

fn say(args: &ApiArgs, line: impl AsRef<str>) {
    if !args.json {
        eprintln!("{}", line.as_ref());
    }
}

/// `switchboard bench api`.
pub async fn api(args: ApiArgs) -> Result<(), String> {
    let size = args.size.size()?;
    if args.clients == 0 || args.accounts == 0 {
        return Err("--clients and --accounts must be at least 1".into());
    }
    let load_before = report::load_average();
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dataset = setup::prepare(&args, &dir, size).await?;
    let people = setup::choose(&dataset, args.accounts.min(args.clients));
    setup::accounts(&dir, &people).await?;
    let live_people = if args.live_streams.iter().any(|&n| n > 0) {
        setup::choose(&dataset, args.live_accounts.unwrap_or(usize::MAX).max(1))
    } else {
        Vec::new()
    };
    setup::accounts(&dir, &live_people).await?;
    let live_sessions = setup::sessions_in_store(&dir, &live_people, &dataset.projects).await?;
    say(
        &args,
        format!(
            "{} accounts, {} for the live streams; starting serve",
            people.len(),
            live_people.len()
        ),
    );
    let server = setup::Server::start(&dir).await?;
    let outcome = Box::pin(measure(
        &args,
        &server,
        &dataset.projects,
        &people,
        &live_sessions,
    ))
    .await;
    let (peak, current) = setup::rss_of(server.pid);
    server.stop().await;
    let (phases, static_body, sessions, rss_after, live) = outcome?;
    report::print(report::Input {
        args: &args,
        size,
        load_before,
        phases: &phases,
        static_body,
        sessions,
        rss_after: &rss_after,
        live: &live,
        serve_peak_rss: peak,
        serve_rss: current,
    });
    Ok(())
}

type Measured = (
    Vec<load::Phase>,
    usize,
    usize,
    Vec<(Kind, setup::Memory)>,
    Vec<live::LiveRun>,
);

/// Signs in, starts the baseline, and runs every phase against `server`.
async fn measure(
    args: &ApiArgs,
    server: &setup::Server,
    projects: &[switchboard_dataset::history::ProjectIds],
    people: &[setup::Person],
    live_sessions: &[setup::Session],
) -> Result<Measured, String> {
    let sessions = setup::sign_in(server.addr, people, projects).await?;
    // First pages of each session: the static body's size and the words to search for.
    let mut conn = Conn::connect(server.addr).await?;
    let mut pages = Vec::new();
    let mut sizes = Vec::new();
    for session in &sessions {
        let (status, body) = conn
            .call("GET", "/v1/dialogs?tab=all", Some(&session.token), None)
            .await?;
        if status != 200 {
            return Err(format!("a first list page answered {status}"));
        }
        sizes.push(body.len());
        pages.push(serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())?);
    }
    sizes.sort_unstable();
    let body_size = sizes[sizes.len() / 2];
    let words = Arc::new(kinds::words_of(&pages));
    let static_addr = baseline::start(Bytes::from(static_body(body_size))).await?;
    let mut clients = Vec::new();
    for i in 0..args.clients {
        let mut client = Client::new(
            Conn::connect(server.addr).await?,
            sessions[i % sessions.len()].clone(),
            i as u64 + 1,
            words.clone(),
        );
        client.static_conn = Some(Conn::connect(static_addr).await?);
        clients.push(client);
    }
    say(
        args,
        format!(
            "{} clients over {} accounts; list page {} bytes; {} search words",
            clients.len(),
            sessions.len(),
            body_size,
            words.len()
        ),
    );
    let mut phases = Vec::new();
    let mut rss_after = Vec::new();
    for kind in Kind::PHASES {
        if !args.phases.is_empty() && !args.phases.contains(&kind) {
            continue;
        }
        let (back, phase) = load::run(server.pid, clients, kind, args.warmup, args.seconds).await?;
        clients = back;
        let memory = setup::memory_of(server.pid);
        say(args, report::line(&phase, memory.rss));
        rss_after.push((kind, memory));
        phases.push(phase);
    }
    drop(clients);
    // The lists as they are now (the commands phases pinned and unpinned dialogs).
    let mut pages = Vec::new();
    for session in &sessions {
        let (status, body) = conn
            .call("GET", "/v1/dialogs?tab=all", Some(&session.token), None)
            .await?;
        if status != 200 {
            return Err(format!("a list page answered {status}"));
        }
        pages.push(serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())?);
    }
    let mut targets = live::targets(&pages);
    let mut live = Vec::new();
    for &streams in args.live_streams.iter().filter(|&&n| n > 0) {
        let run = live::run(
            server.addr,
            server.pid,
            &sessions,
            live_sessions,
            &mut targets,
            streams,
            args.live_rate,
            args.warmup,
            args.seconds,
        )
        .await?;
        say(args, run.line());
        live.push(run);
    }
    Ok((phases, body_size, sessions.len(), rss_after, live))
}

/// A JSON body of exactly `bytes` bytes (a list-like array of strings).
fn static_body(bytes: usize) -> Vec<u8> {
    let mut body = br#"{"items":[""#.to_vec();
    let tail = br#""]}"#;
    while body.len() + tail.len() < bytes {
        body.push(b'x');
    }
    body.extend_from_slice(tail);
    body
}
