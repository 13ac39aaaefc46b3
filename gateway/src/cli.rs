//! The `switchboard` command line: argument definitions and what each command does. `main` only
//! parses and maps the outcome to an exit code (0 ok, 1 runtime error, 2 bad usage).

use crate::backend::{LogLocation, LogUse, open_log};
use crate::events::{TailError, TailOptions};
use crate::owner::{self, Claim, Owner, Role};
use crate::readmodels::{READ_DIR, ReadModels};
use clap::{Args, Parser, Subcommand};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_core::{EventLog, SubjectFilter};
use switchboard_projections::{RunnerOptions, Until};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: an event-sourced omnichannel operator inbox"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (`GET /v1/health`, ...) until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Look at the event log.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Measure this machine (prints figures; the last stdout line is one JSON object).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Rebuild read models from the log into new files and swap them in (also while `serve`
    /// runs: it picks the new files up and continues them). Progress on stderr; the last
    /// stdout line is one JSON object.
    Rebuild(RebuildArgs),
    /// Rebuild every read model into a scratch directory up to the live one's checkpoint and
    /// compare table by table. Prints one JSON object; exit code 3 on any difference.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// `all`, or one of: dialogs, timeline, card, project, search.
    #[arg(value_name = "PROJECTION", value_parser = crate::rebuild::ModelSelection::parse)]
    pub projection: crate::rebuild::ModelSelection,
    /// Data directory: the read models live in DIR/read (and the embedded log in
    /// DIR/log.sqlite unless --nats is given).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Read the JetStream log on this NATS server instead of the embedded one.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Stop after this log sequence (the read models as they were then).
    #[arg(long, value_name = "N", conflicts_with = "until_time")]
    pub until_seq: Option<u64>,
    /// Stop at what the log had stored at this moment (RFC 3339, e.g. 2026-11-22T10:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = crate::rebuild::parse_time)]
    pub until_time: Option<switchboard_schemas::Timestamp>,
    /// Write the read models under DIR/read instead of the --data directory's (e.g. to look at
    /// a past state with --until-* while the service keeps the live ones current).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Data directory (read models in DIR/read, embedded log in DIR/log.sqlite).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Read the JetStream log on this NATS server instead of the embedded one.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Where to rebuild (default: a temporary directory inside DIR/read, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The operator API under load: a real `serve` on loopback, closed-loop clients sending
    /// lists, counters, dialogs, searches and commands, against a static-body baseline.
    Api(Box<crate::bench::api::ApiArgs>),
    /// Appends through the command service on both backends, and raw JetStream publishes.
    Append(crate::bench::append::AppendArgs),
    /// Authentication on both credential backends: cached and uncached lookups, sign-in, and
    /// the delay until another handle refuses a revoked token.
    Credentials(crate::bench::credentials::CredentialsArgs),
    /// Writes a generated inbox history (the one `bench projections` measures) as JSON lines.
    Dataset(crate::bench::dataset::DatasetArgs),
    /// Generates a history into a fresh log and measures the read models on it: rebuild rates,
    /// list and counter queries, live apply rate and lag, sizes, memory.
    Projections(Box<crate::bench::projections::ProjectionsArgs>),
    /// The clients export (F8) of the dataset's first project through a real `serve`, as
    /// CSV and XLSX: time, rows/s and the growth of `serve`'s memory.
    Export(crate::bench::export::ExportArgs),
    /// The messengers' side of a real `serve`: signed webhooks of Telegram, WhatsApp and VK
    /// (new clients, retries), replies delivered to local provider servers within Telegram's
    /// limits, and those servers' raw rate.
    Channels(crate::bench::channels::ChannelsArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of the local state; the embedded event log lives in DIR/log.sqlite unless
    /// --nats is given. Created if missing.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Address to listen on. The bound address is printed on stdout as `listening on ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Use the JetStream log on this NATS server instead of the embedded one. A missing stream
    /// is created; an existing one is never changed (differing settings are logged, and those
    /// that would lose events stop the start).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Replicas of the stream when `serve` creates it (1 on one server, 3 or 5 in a cluster).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "nats",
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
    /// Fill an empty log with a demo project (operators with the password `switchboard-demo`,
    /// channels, folders, tags, a few hundred conversations) and print how to sign in. A log
    /// that holds anything is served as it is.
    #[arg(long)]
    pub demo: bool,
    /// Where the messengers reach this server (the base of the webhook URLs a connected
    /// channel gives its provider), e.g. `https://inbox.example.com`. Default: `http://ADDR`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events as JSON lines (one per event; `seq`, `subject`, `index`, then the event).
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Data directory of the embedded log (DIR/log.sqlite).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,
    /// Read the JetStream log on this NATS server instead.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    pub nats: Option<String>,
    /// First sequence to print.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub from_seq: u64,
    /// Keep printing events as they are appended (without it, stop at the last one at start).
    #[arg(long)]
    pub follow: bool,
    /// Only messages whose subject matches, NATS style: `sb.<project>.>`, `sb.*.dialog.*`.
    #[arg(long, value_name = "SUBJECT_FILTER", value_parser = SubjectFilter::parse, default_value = "sb.>")]
    pub filter: SubjectFilter,
}

/// A runtime failure: printed as one line on stderr, exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot create the data directory {}: {error}", path.display())]
    DataDir { path: PathBuf, error: io::Error },
    #[error(transparent)]
    OpenLog(#[from] crate::backend::OpenError),
    #[error(transparent)]
    Owner(#[from] crate::owner::OwnerError),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: SocketAddr, error: io::Error },
    #[error("server failed: {0}")]
    Serve(io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("{0}")]
    Tail(#[from] TailError),
    #[error("bench failed: {0}")]
    Bench(String),
    #[error("demo: {0}")]
    Demo(String),
    #[error("credential store: {0}")]
    Credentials(crate::credentials::CredentialError),
    #[error("{0}")]
    Jobs(String),
    #[error("read models: {0}")]
    ReadModels(#[from] crate::readmodels::ReadModelError),
    #[error("channels: {0}")]
    Channels(String),
    #[error("{count} read model(s) differ from a rebuild from the log")]
    Differences { count: usize },
}

impl CliError {
    /// The process exit code: 3 when `verify` found differences, 1 for any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Differences { .. } => 3,
            _ => 1,
        }
    }
}

/// Run a parsed command to its end.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        // Tools writing data to stdout stay quiet on stderr unless asked.
        Command::Events(_) | Command::Bench(_) | Command::Rebuild(_) | Command::Verify(_) => "warn",
    };
    init_tracing(default_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Events(EventsCommand::Tail(args)) => events_tail(args).await,
            Command::Bench(BenchCommand::Api(args)) => Box::pin(crate::bench::api::api(*args))
                .await
                .map_err(CliError::Bench),
            Command::Bench(BenchCommand::Append(args)) => crate::bench::append::append(args)
                .await
                .map_err(CliError::Bench),
            Command::Rebuild(args) => rebuild(args).await,
            Command::Verify(args) => verify(args).await,
            Command::Bench(BenchCommand::Credentials(args)) => {
                crate::bench::credentials::credentials(args)
                    .await
                    .map_err(CliError::Bench)
            }
            Command::Bench(BenchCommand::Projections(args)) => {
                Box::pin(crate::bench::projections::projections(*args))
                    .await
                    .map_err(CliError::Bench)
            }
            Command::Bench(BenchCommand::Export(args)) => {
                Box::pin(crate::bench::export::export(args))
                    .await
                    .map_err(CliError::Bench)
            }
            Command::Bench(BenchCommand::Channels(args)) => {
                Box::pin(crate::bench::channels::channels(args))
                    .await
                    .map_err(CliError::Bench)
            }
            Command::Bench(BenchCommand::Dataset(args)) => {
                tokio::task::spawn_blocking(move || crate::bench::dataset::dataset(args))
                    .await
                    .map_err(|e| CliError::Bench(e.to_string()))?
                    .map_err(CliError::Bench)
            }
        }
    })
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: `default_level`).
fn init_tracing(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // A second initialisation (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    // Before anything is opened: a second process must not touch the owner's files.
    let _owner = claim(&args.data, Role::Serve).await?;
    let location = LogLocation::new(&args.data, args.nats.as_deref());
    let access = LogUse::Serve {
        replicas: usize::from(args.replicas),
    };
    let log = open_log(&location, access).await?;
    // Where delivery begins in a data directory that never ran it (see `start_delivery`).
    let log_end_at_open = log
        .last_seq()
        .await
        .map_err(|e| CliError::Channels(e.to_string()))?;
    // Before `listening`: a data directory whose read models cannot serve stops the start here.
    let models = ReadModels::start(
        log.clone(),
        &args.data.join(READ_DIR),
        RunnerOptions::default(),
    )
    .await?;
    let (credentials, root_notice) =
        crate::serve::open_credentials(&args.data, &location, usize::from(args.replicas))
            .await
            .map_err(CliError::Credentials)?;
    let jobs = crate::serve::open_jobs(&args.data, &location, usize::from(args.replicas))
        .await
        .map_err(|error| CliError::Jobs(error.to_string()))?;
    let demo = if args.demo {
        crate::demo::fill(&log, &credentials)
            .await
            .map_err(|error| CliError::Demo(error.to_string()))?
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| CliError::Listen {
            addr: args.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(CliError::Serve)?;
    // The first stdout line tells scripts and tests the bound address (also with port 0).
    {
        let mut stdout = io::stdout().lock();
        // A closed stdout must not stop the server; the address is logged too.
        let _ = writeln!(stdout, "listening on {addr}").and_then(|()| stdout.flush());
    }
    root_notice.print();
    print_demo(args.demo, demo.as_deref(), addr);
    match &location {
        LogLocation::Embedded { data_dir } => {
            tracing::info!(%addr, log = log.backend(), data = %data_dir.display(), "listening");
        }
        LogLocation::JetStream { url } => {
            tracing::info!(%addr, log = log.backend(), nats = %url, "listening");
        }
    }
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let channels = crate::channels::Channels::new(credentials.clone(), &public_url);
    let attachments =
        crate::serve::open_attachments(&location, &args.data, usize::from(args.replicas))
            .await
            .map_err(CliError::Channels)?;
    let state = crate::api::AppState::new(log)
        .with_read_models(Arc::clone(&models))
        .with_credentials(credentials)
        .with_jobs(jobs)
        .with_channels(channels.clone())
        .with_attachments(attachments.clone());
    let delivery = crate::serve::start_delivery(
        &location,
        &args.data,
        state.commands.clone(),
        &channels,
        log_end_at_open,
        attachments.clone(),
    )
    .await
    .map_err(CliError::Channels)?;
    let mailboxes =
        crate::channels::mailboxes::Mailboxes::new(state.commands.clone(), attachments, &args.data);
    channels.set_mailboxes(mailboxes.clone());
    let reconciling = mailboxes.reconcile_forever(channels.clone(), Arc::clone(&models));
    let served = crate::serve::serve(listener, state, crate::serve::shutdown_signal()).await;
    // A send under way is abandoned: its row in the worker's state makes the next start send
    // it again (VK drops the repeat; elsewhere it is marked as possibly sent twice). A mailbox
    // loop stops between batches: what it fetched and did not record is fetched again.
    delivery.stop();
    reconciling.abort();
    mailboxes.stop_all().await;
    // Nothing appends any more: the log is made durable, then the read models stop.
    let stopped = models.shutdown().await;
    served.map_err(CliError::Serve)?;
    stopped.map_err(|error| {
        CliError::ReadModels(crate::readmodels::ReadModelError::Projection {
            kind: "read models",
            error,
        })
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// How to sign in to a demo `serve --demo` just filled (stdout, after `listening`).
fn print_demo(asked: bool, accounts: Option<&[crate::demo::DemoAccount]>, addr: SocketAddr) {
    if !asked {
        return;
    }
    let mut stdout = io::stdout().lock();
    let Some(accounts) = accounts else {
        let _ = writeln!(stdout, "demo: the log is not empty; serving it as it is");
        return;
    };
    let _ = writeln!(
        stdout,
        "demo: open http://{addr}/ and sign in with the password {:?} as:",
        crate::demo::DEMO_PASSWORD
    );
    for account in accounts {
        let role = if account.admin { "admin" } else { "operator" };
        let _ = writeln!(stdout, "demo:   {} ({role})", account.email);
    }
    let _ = stdout.flush();
}

/// Claims the data directory for `role` (see [`crate::owner`]); `None` beside a running `serve`
/// (a `rebuild` then publishes a generation that the `serve` swaps in).
async fn claim(data: &std::path::Path, role: Role) -> Result<Option<Owner>, CliError> {
    let data = data.to_path_buf();
    let claimed = tokio::task::spawn_blocking(move || owner::claim(&data, role))
        .await
        .map_err(|e| CliError::Serve(io::Error::other(e)))??;
    Ok(match claimed {
        Claim::Owned(owner) => Some(owner),
        Claim::BesideServe { holder } => {
            tracing::info!(serve = holder.as_str(), "rebuilding beside a running serve");
            None
        }
    })
}

/// One JSON object as the last stdout line.
fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{value}")
        .and_then(|()| stdout.flush())
        .map_err(CliError::Serve)
}

async fn rebuild(args: RebuildArgs) -> Result<(), CliError> {
    let target = args.into.as_ref().unwrap_or(&args.data).clone();
    let _owner = claim(&target, Role::Rebuild).await?;
    let location = LogLocation::new(&args.data, args.nats.as_deref());
    let log = open_log(&location, LogUse::Read).await?;
    let until = match (args.until_seq, args.until_time) {
        (Some(seq), _) => Until::Seq(seq),
        (None, Some(at)) => Until::Time(at),
        (None, None) => Until::End,
    };
    let root = target.join(READ_DIR);
    let rebuilt = crate::rebuild::rebuild_models(&log, &root, args.projection, until, true).await?;
    print_json(&serde_json::json!({
        "log": log.backend(),
        "read_models": root,
        "rebuilt": rebuilt.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
    }))
}

async fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let location = LogLocation::new(&args.data, args.nats.as_deref());
    let log = open_log(&location, LogUse::Read).await?;
    let root = args.data.join(READ_DIR);
    let (_temporary, scratch) = match &args.scratch {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|error| CliError::DataDir {
                path: dir.clone(),
                error,
            })?;
            (None, dir.clone())
        }
        None => {
            std::fs::create_dir_all(&root).map_err(|error| CliError::DataDir {
                path: root.clone(),
                error,
            })?;
            let dir = tempfile::Builder::new()
                .prefix(".verify-")
                .tempdir_in(&root)
                .map_err(|error| CliError::DataDir {
                    path: root.clone(),
                    error,
                })?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let verdicts = crate::rebuild::verify_models(&log, &root, &scratch, true).await?;
    let differing = verdicts.iter().filter(|v| !v.equal()).count();
    print_json(&serde_json::json!({
        "ok": differing == 0,
        "log": log.backend(),
        "projections": verdicts.iter().map(|v| v.to_json()).collect::<Vec<_>>(),
    }))?;
    if differing > 0 {
        return Err(CliError::Differences { count: differing });
    }
    Ok(())
}

async fn events_tail(args: TailArgs) -> Result<(), CliError> {
    let location = LogLocation::new(&args.data, args.nats.as_deref());
    let log = open_log(&location, LogUse::Read).await?;
    let options = TailOptions {
        from_seq: args.from_seq,
        follow: args.follow,
        filter: args.filter,
        ..TailOptions::default()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    crate::events::tail(&log, &options, &mut out).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tail_takes_either_a_data_dir_or_a_nats_url() {
        let parsed = Cli::try_parse_from(["switchboard", "events", "tail", "--nats", "nats://x"]);
        assert!(parsed.is_ok());
        let both = Cli::try_parse_from([
            "switchboard",
            "events",
            "tail",
            "--nats",
            "nats://x",
            "--data",
            "d",
        ]);
        assert_eq!(
            both.unwrap_err().kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
        let bad_filter =
            Cli::try_parse_from(["switchboard", "events", "tail", "--filter", "sb.>.x"]);
        assert_eq!(
            bad_filter.unwrap_err().kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }
}
