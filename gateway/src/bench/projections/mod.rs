//! `switchboard bench projections`: what the read models cost on a realistic history.
//!
//! 1. **Generate** (`generate`): the seeded history of [`switchboard_dataset::history`]
//!    (projects, operators, Zipf-distributed conversations, the whole event mix, every event
//!    decided by the domain) is appended to a fresh log.
//! 2. **Rebuild** (`rebuild`) each read model alone from the log into a new file, then all of
//!    them at once: events per second; the sizes of the files and where a rebuild's time goes.
//! 3. **Queries** (`queries`) on the rebuilt files: list pages, counters and badges, searches.
//! 4. **Live** (`live`): runners follow the log while a writer appends the continuation of the
//!    history at `--live-rate` events per second; apply rate and append-to-visible lag.
//! 5. **Report** (`report`): the figures against their targets, the peak resident memory.
//!
//! Each phase is a function taking a struct of what it needs and returning its figures;
//! `measure` holds what they measure with. The read models are [`Kind::ALL`], each in one
//! file (or index directory) named after it in a flat directory, without generations.
//!
//! Human-readable lines go to stderr; the last line on stdout is one JSON object with every
//! figure, and each figure with a target is printed beside it with ✓ or ✗.

mod generate;
mod live;
mod measure;
mod queries;
mod rebuild;
mod report;

use super::SizeArgs;
use crate::readmodels::Kind;
use measure::{load_average, memory, reset_peak_rss};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_core::AnyLog;
use switchboard_core::log::LogLimits;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions, StreamSetup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogChoice {
    Embedded,
    Jetstream,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ProjectionsArgs {
    #[command(flatten)]
    pub size: SizeArgs,
    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,
    /// Directory for the log and the read models (default: a temp dir, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The log to fill: the embedded one in the data directory, or JetStream (needs --nats).
    #[arg(long, value_enum, default_value = "embedded")]
    pub log: LogChoice,
    /// JetStream server (implies --log jetstream); its stream should be empty.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Appends in flight while generating.
    #[arg(long, default_value_t = 4096)]
    pub window: usize,
    /// Samples of each first-page and counter query.
    #[arg(long, default_value_t = 300)]
    pub samples: usize,
    /// Projects whose list is walked page by page (deep pages).
    #[arg(long, default_value_t = 4)]
    pub walk_projects: usize,
    /// Most pages followed in one walk.
    #[arg(long, default_value_t = 200)]
    pub deep_pages: usize,
    /// Rows per list page.
    #[arg(long, default_value_t = 50)]
    pub page_rows: usize,
    /// Pages from this index on (0-based) count as deep.
    #[arg(long, default_value_t = 10)]
    pub deep_from_page: usize,
    /// How long the live phase appends and measures.
    #[arg(long, default_value_t = 10.0)]
    pub live_seconds: f64,
    /// How long the live phase appends before it measures, at the same rate: the read models'
    /// writers start with empty page caches (a service that has been running has them warm).
    /// The lag of these appends is reported apart (`lag_in_warmup`).
    #[arg(long, default_value_t = 3.0)]
    pub live_warmup_seconds: f64,
    /// Events per second appended in the live phase (10 % above the 30k target, so that
    /// keeping up shows as meeting it).
    #[arg(long, default_value_t = 33_000)]
    pub live_rate: u64,
    /// Skip the breakdown of a rebuild into reading the log, decoding and each read model's
    /// SQLite work (one more pass over the log).
    #[arg(long)]
    pub no_breakdown: bool,
    /// The log in `--data` already holds this history (an earlier run with the same size flags
    /// and `--data`, nothing appended since): the generator runs without appending, to know
    /// the history and its continuation. For repeating later phases at full size without the
    /// generation's minutes.
    #[arg(long, requires = "data")]
    pub reuse_log: bool,
    /// Phases not to run (repeatable). Without `rebuild`, the read models must already be in
    /// `<data>/read` at the log's end (left there by an earlier run with `--data`).
    #[arg(long, value_enum, value_name = "PHASE")]
    pub skip: Vec<Phase>,
}

/// A phase of the bench that `--skip` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Rebuild,
    Queries,
    Live,
}

fn say(args: &ProjectionsArgs, line: impl AsRef<str>) {
    if !args.json {
        eprintln!("{}", line.as_ref());
    }
}

/// The file (or index directory) of a read model in the bench's flat directory `dir`.
fn model_path(kind: Kind, dir: &Path) -> PathBuf {
    kind.file_in(dir, kind.name())
}

/// `switchboard bench projections`.
pub async fn projections(args: ProjectionsArgs) -> Result<(), String> {
    let size = args.size.size()?;
    let load_before = load_average();
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let log = open_log(&args, &dir).await?;
    let generated = Box::pin(generate::run(generate::Input {
        log: &log,
        size,
        args: &args,
    }))
    .await?;
    let skip = |phase: Phase| args.skip.contains(&phase);
    let mut phase_peaks = Map::new();
    let peak_reset = reset_peak_rss();

    let together = dir.join("read");
    let rebuilt = Box::pin(rebuild::run(rebuild::Input {
        log: &log,
        dir: &dir,
        together: &together,
        stats: &generated.stats,
        skip: skip(Phase::Rebuild),
        args: &args,
    }))
    .await?;
    phase_peaks.insert("rebuild".into(), json!(memory().0));
    reset_peak_rss();
    let sizes = rebuild::sizes(&together, generated.figures.log_bytes, &args)?;
    let breakdown = if args.no_breakdown || skip(Phase::Rebuild) {
        Value::Null
    } else {
        Box::pin(rebuild::breakdown_phase(
            &log,
            &dir.join("breakdown"),
            generated.stats.events,
            &args,
        ))
        .await?
    };

    let queried = if skip(Phase::Queries) {
        queries::Figures::skipped()
    } else {
        queries::run(queries::Input {
            together: &together,
            projects: generated.generator.project_ids(),
            args: &args,
        })
        .await?
    };
    phase_peaks.insert("queries".into(), json!(memory().0));
    reset_peak_rss();

    let live = if skip(Phase::Live) {
        Value::Null
    } else {
        Box::pin(live::run(live::Input {
            log: &log,
            generated: &generated,
            dir: &together,
            args: &args,
        }))
        .await?
    };
    phase_peaks.insert("live".into(), json!(memory().0));

    report::print(report::Input {
        log: &log,
        size,
        load_before,
        generated: &generated,
        rebuilt,
        sizes,
        breakdown,
        queried,
        live,
        peak_reset,
        phase_peaks,
        args: &args,
    });
    Ok(())
}

/// The log to fill: a fresh embedded one in `dir` (or the one `--reuse-log` names), or
/// JetStream.
async fn open_log(args: &ProjectionsArgs, dir: &Path) -> Result<AnyLog, String> {
    let backend = match (&args.nats, args.log) {
        (Some(_), _) | (None, LogChoice::Jetstream) => LogChoice::Jetstream,
        (None, LogChoice::Embedded) => LogChoice::Embedded,
    };
    Ok(match backend {
        LogChoice::Embedded => {
            let path = dir.join(crate::backend::EMBEDDED_FILE);
            if path.exists() != args.reuse_log {
                return Err(if args.reuse_log {
                    format!("--reuse-log: {} does not exist", path.display())
                } else {
                    format!(
                        "{} exists: the bench needs a fresh log (another --data, or --reuse-log)",
                        path.display()
                    )
                });
            }
            // Message ids are remembered for 10 s instead of 120: the generator never retries,
            // and 20 million ids of the last two minutes would be gigabytes of the writer's
            // memory that no real log holds at once.
            let options = EmbeddedOptions {
                limits: LogLimits {
                    duplicate_window: Duration::from_secs(10),
                    ..LogLimits::default()
                },
                ..EmbeddedOptions::default()
            };
            AnyLog::Embedded(EmbeddedLog::open(&path, options).map_err(|e| e.to_string())?)
        }
        LogChoice::Jetstream => {
            let url = args
                .nats
                .clone()
                .ok_or("--log jetstream needs --nats URL")?;
            AnyLog::JetStream(
                // The operator's server: its stream must exist, and is not changed.
                JetStreamLog::connect(
                    &url,
                    JetStreamOptions {
                        setup: StreamSetup::MustExist,
                        ..JetStreamOptions::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?,
            )
        }
    })
}
