//! `switchboard bench projections`: what the read models cost on a realistic history.
//!
//! 1. **Generate**: the seeded history of [`crate::dataset::history`] (projects, operators,
//!    Zipf-distributed conversations, the whole event mix, every event decided by the domain)
//!    is appended to a fresh log, pipelined (`--window` appends in flight), each append with
//!    its message id and expected last subject sequence.
//! 2. **Rebuild** each read model alone from the log into a new file, then all of them at once
//!    (each its own file, concurrently, as `rebuild all` does): events per second.
//! 3. **Queries** on the rebuilt files, each timed on its own reader connection (the query, not
//!    the hop to the blocking pool): the dialog list (first pages, and deep pages by following
//!    the keyset cursor) with 0, 1 and 3 filters, as an admin and as an operator, with closed
//!    dialogs hidden (the default view) and shown; the header counter, *Unanswered* and every
//!    folder badge of a caller together.
//! 4. **Live**: runners follow the log while a writer appends the continuation of the history
//!    at `--live-rate` events per second; the apply rate, and per read model the time from an
//!    append's acknowledgement to the runner's checkpoint covering it.
//! 5. Sizes of the read-model files, and the peak resident memory.
//!
//! Human-readable lines go to stderr; the last line on stdout is one JSON object with every
//! figure, and each figure with a target is printed beside it with ✓ or ✗.

use crate::dataset::history::{Generator, Item, ProjectIds, Size};
use crate::dataset::{SizeArgs, log_record, size_json, stats_json};
use crate::readmodels::{Kind, open_stores};
use crate::rebuild::REBUILD_BATCH;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::log::LogLimits;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::{AnyLog, AppendRequest, EventLog, MsgId};
use switchboard_projections::dialogs::{
    self, AuthorKind, Condition, Expr, Filter, Folder, ListQuery, Order, Tab, Viewer,
};
use switchboard_projections::search::{
    self, HitDetail, SearchOptions, SearchOrder, SearchQuery, SearchReader, Target,
};
use switchboard_projections::{
    ProjectionRunner, RunnerOptions, Until, open_for_rebuild, open_reader, rebuild_files,
};
use switchboard_schemas::{OperatorId, ProjectId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogChoice {
    Embedded,
    Jetstream,
}

/// A read model the bench builds: one of the SQLite ones, or the search index (a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Sql(Kind),
    Search,
}

impl Model {
    fn all() -> Vec<Model> {
        Kind::ALL
            .iter()
            .map(|&k| match k {
                Kind::Search => Model::Search,
                other => Model::Sql(other),
            })
            .collect()
    }

    fn name(self) -> &'static str {
        match self {
            Model::Sql(kind) => kind.name(),
            Model::Search => search::NAME,
        }
    }

    fn path(self, dir: &Path) -> PathBuf {
        match self {
            Model::Sql(kind) => dir.join(format!("{}.sqlite", kind.name())),
            Model::Search => dir.join(search::NAME),
        }
    }

    async fn rebuild(self, log: &AnyLog, dir: &Path) -> Result<(), String> {
        let path = self.path(dir);
        let built = match self {
            Model::Sql(kind) => {
                kind.rebuild(log, &path, Until::End, REBUILD_BATCH, |_| {})
                    .await
            }
            Model::Search => {
                search::rebuild(
                    log,
                    &path,
                    Until::End,
                    REBUILD_BATCH,
                    SearchOptions::rebuild(),
                    |_| {},
                )
                .await
            }
        };
        built
            .map(|_| ())
            .map_err(|e| format!("rebuild of {} failed: {e}", self.name()))
    }
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

/// Log messages the generator hands over at once.
const CHUNK: usize = 1024;

fn say(args: &ProjectionsArgs, line: impl AsRef<str>) {
    if !args.json {
        eprintln!("{}", line.as_ref());
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 is valid")))
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record(
        u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 600_000_000),
    );
}

/// p50/p99/max in microseconds, or null when nothing was measured.
fn quantiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "samples": h.len(),
        "p50_us": h.value_at_quantile(0.50),
        "p99_us": h.value_at_quantile(0.99),
        "max_us": h.max(),
    })
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// `VmHWM` (peak) and `VmRSS` of this process in bytes, from /proc/self/status.
fn memory() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak RSS to the current RSS (Linux: `5` into /proc/self/clear_refs), so that the
/// peak of the read-model phases is not the generator's.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn load_average() -> Option<Vec<f64>> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect(),
    )
}

/// Bytes of a file with its `-wal` and `-shm` companions, or of everything under a directory.
fn disk_size(path: &Path) -> u64 {
    fn walk(path: &Path) -> u64 {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
                .map(|entries| entries.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        }
    }
    let mut total = walk(path);
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += walk(Path::new(&name));
    }
    total
}

fn remove_model(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// One log message ready to append: its sequence, its number of events, the request.
type Ready = (u64, u32, AppendRequest);

fn ready(append: crate::dataset::history::Append) -> Result<Ready, String> {
    let record = log_record(&append)?;
    let events = u32::try_from(append.events.len()).unwrap_or(u32::MAX);
    Ok((
        append.seq,
        events,
        AppendRequest {
            subject: record.subject,
            expected: append.expected,
            msg_id: MsgId::new(record.msg_id).map_err(|e| e.to_string())?,
            batch: record.batch,
        },
    ))
}

type AppendFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (u64, Result<switchboard_core::AppendAck, String>)> + Send,
    >,
>;

/// Starts an append and polls it once, so that the log receives appends in the order they
/// are started (the generator has given every one its sequence).
async fn start_append(log: &AnyLog, seq: u64, request: AppendRequest) -> AppendFuture {
    let log = log.clone();
    let mut future: AppendFuture = Box::pin(async move {
        let ack = log.append(request).await.map_err(|e| e.to_string());
        (seq, ack)
    });
    match futures::poll!(&mut future) {
        std::task::Poll::Ready(done) => Box::pin(async move { done }),
        std::task::Poll::Pending => future,
    }
}

fn check_ack(
    (seq, ack): (u64, Result<switchboard_core::AppendAck, String>),
) -> Result<u64, String> {
    let ack = ack.map_err(|e| format!("append of seq {seq} failed: {e}"))?;
    if ack.seq != seq || ack.duplicate {
        return Err(format!(
            "the log gave seq {} (duplicate: {}) to the message the generator numbered {seq}: \
             is the log empty and this the only writer?",
            ack.seq, ack.duplicate
        ));
    }
    Ok(seq)
}

struct Generated {
    generator: Generator,
    seconds: f64,
    generator_seconds: f64,
    last_seq: u64,
}

/// Phase 1: the history into the log.
async fn generate(
    log: &AnyLog,
    size: Size,
    window: usize,
    append: bool,
) -> Result<Generated, String> {
    let first_seq = if append {
        log.last_seq().await.map_err(|e| e.to_string())? + 1
    } else {
        1
    };
    let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<Ready>>(8);
    let started = Instant::now();
    let producer = std::thread::Builder::new()
        .name("bench-generator".into())
        .spawn(move || -> Result<(Generator, Duration), String> {
            let mut generator = Generator::new(size, first_seq);
            let mut busy = Duration::ZERO;
            let mut since = Instant::now();
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in generator.by_ref() {
                if let Item::Append(append) = item {
                    chunk.push(ready(append)?);
                    if chunk.len() == CHUNK {
                        busy += since.elapsed();
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                        if chunks.blocking_send(full).is_err() {
                            return Err("the appender stopped".into());
                        }
                        since = Instant::now();
                    }
                }
            }
            busy += since.elapsed();
            if !chunk.is_empty() && chunks.blocking_send(chunk).is_err() {
                return Err("the appender stopped".into());
            }
            Ok((generator, busy))
        })
        .map_err(|e| format!("cannot start the generator thread: {e}"))?;
    let mut in_flight = FuturesOrdered::new();
    let mut last_seq = first_seq.saturating_sub(1);
    while let Some(chunk) = received.recv().await {
        if !append {
            last_seq = chunk.last().map_or(last_seq, |r| r.0);
            continue;
        }
        for (seq, _, request) in chunk {
            in_flight.push_back(start_append(log, seq, request).await);
            while in_flight.len() >= window.max(1) {
                if let Some(done) = in_flight.next().await {
                    last_seq = check_ack(done)?;
                }
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        last_seq = check_ack(done)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (generator, busy) = tokio::task::spawn_blocking(move || producer.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the generator thread panicked".to_owned())??;
    Ok(Generated {
        generator,
        seconds,
        generator_seconds: busy.as_secs_f64(),
        last_seq,
    })
}

/// A rebuild's figures.
fn rate_json(events: u64, log_messages: u64, seconds: f64) -> Value {
    json!({
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "events_per_sec": (events as f64 / seconds.max(1e-9)).round(),
        "log_messages_per_sec": (log_messages as f64 / seconds.max(1e-9)).round(),
    })
}

/// Rebuilds the models at once, as `switchboard rebuild all` does: two or more SQLite models
/// from one pass over the log (each record read and decoded once), the search index beside
/// them with a reader of its own.
async fn rebuild_all(log: &AnyLog, models: &[Model], dir: &Path) -> Result<f64, String> {
    let started = Instant::now();
    let files: Vec<Kind> = models
        .iter()
        .filter_map(|m| match m {
            Model::Sql(kind) => Some(*kind),
            Model::Search => None,
        })
        .collect();
    let together = async {
        if files.len() < 2 {
            return Ok(());
        }
        let wanted: Vec<(Kind, PathBuf)> = files
            .iter()
            .map(|&kind| (kind, Model::Sql(kind).path(dir)))
            .collect();
        let stores = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|(kind, path)| {
                    let store = open_for_rebuild(&path, |p| kind.create_file_store(p))?;
                    Ok::<_, switchboard_projections::ProjectionError>((path, store))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open the read models: {e}"))?;
        rebuild_files(log, stores, Until::End, REBUILD_BATCH, |_, _| {})
            .await
            .map(|_| ())
            .map_err(|e| format!("rebuild of the SQLite models failed: {e}"))
    };
    let apart = models
        .iter()
        .filter(|m| files.len() < 2 || matches!(m, Model::Search))
        .map(|&model| model.rebuild(log, dir));
    let (together, apart) =
        futures::future::join(together, futures::future::try_join_all(apart)).await;
    together?;
    apart?;
    Ok(started.elapsed().as_secs_f64())
}

/// Where a rebuild's time goes: one pass over the log in rebuild-sized reads, each chunk
/// decoded once on its own (to time decoding) and applied to every read model in turn (each
/// apply decodes again, so apply minus decode is the SQLite work). Microseconds per event.
async fn breakdown(log: &AnyLog, dir: &Path, events: u64) -> Result<Value, String> {
    use switchboard_core::SubjectFilter;
    use switchboard_projections::Store;
    use switchboard_projections::search::SearchIndex;

    fn open(dir: &Path, model: Model) -> Result<Box<dyn Store>, String> {
        let path = model.path(dir);
        remove_model(&path);
        let store: Box<dyn Store> = match model {
            Model::Search | Model::Sql(Kind::Search) => Box::new(
                SearchIndex::open(&path, SearchOptions::rebuild()).map_err(|e| e.to_string())?,
            ),
            Model::Sql(kind) => kind.create_file_store(&path).map_err(|e| e.to_string())?,
        };
        Ok(store)
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut stores: Vec<(&'static str, Box<dyn Store>, Duration)> = Vec::new();
    for model in Model::all() {
        stores.push((model.name(), open(dir, model)?, Duration::ZERO));
    }
    let last = log.last_seq().await.map_err(|e| e.to_string())?;
    let filter = SubjectFilter::all();
    let (mut read, mut decode) = (Duration::ZERO, Duration::ZERO);
    let mut from = 1;
    while from <= last {
        let started = Instant::now();
        let records = log
            .read(from, &filter, REBUILD_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        read += started.elapsed();
        let Some(end) = records.last().map(|r| r.seq) else {
            break;
        };
        from = end + 1;
        let (back, took) = tokio::task::spawn_blocking(move || {
            let mut stores = stores;
            let started = Instant::now();
            for record in &records {
                let _ = switchboard_schemas::decode_batch(&record.batch);
            }
            let decoding = started.elapsed();
            for (_, store, spent) in &mut stores {
                let started = Instant::now();
                store.apply(records.clone()).map_err(|e| e.to_string())?;
                *spent += started.elapsed();
            }
            Ok::<_, String>((stores, decoding))
        })
        .await
        .map_err(|e| e.to_string())??;
        stores = back;
        decode += took;
    }
    // What is still uncommitted (the search index commits in large steps) counts too.
    let stores = tokio::task::spawn_blocking(move || {
        let mut stores = stores;
        for (_, store, spent) in &mut stores {
            let started = Instant::now();
            store.finish().map_err(|e| e.to_string())?;
            *spent += started.elapsed();
        }
        Ok::<_, String>(stores)
    })
    .await
    .map_err(|e| e.to_string())??;
    let per_event = |d: Duration| (d.as_secs_f64() * 1e8 / events.max(1) as f64).round() / 100.0;
    let mut apply = Map::new();
    let mut sql = Map::new();
    for (name, _, spent) in &stores {
        apply.insert((*name).to_owned(), json!(per_event(*spent)));
        sql.insert(
            (*name).to_owned(),
            json!(per_event(spent.saturating_sub(decode))),
        );
    }
    drop(stores);
    let _ = std::fs::remove_dir_all(dir);
    Ok(json!({
        "read_us_per_event": per_event(read),
        "decode_us_per_event": per_event(decode),
        "apply_us_per_event": Value::Object(apply),
        "sqlite_us_per_event": Value::Object(sql),
    }))
}

/// Who asks, in one project.
#[derive(Debug, Clone)]
struct Asker {
    project: ProjectId,
    admin: Viewer,
    operator: Viewer,
    folders: Vec<Folder>,
    tags: Vec<switchboard_schemas::TagId>,
}

/// The projects to query: for each, its first admin and its busiest operator (not an admin).
fn askers(conn: &rusqlite::Connection, projects: &[ProjectIds]) -> Result<Vec<Asker>, String> {
    let mut out = Vec::new();
    for project in projects {
        let Some(&admin) = project.admins.first() else {
            continue;
        };
        // The assignee is stored as its `idkey` key, the key's token in `idkey`.
        let busiest: Vec<String> = conn
            .prepare(
                "SELECT k.id FROM dialog_row d JOIN idkey k ON k.key = d.assignee_key
                 WHERE d.project_key = (SELECT key FROM idkey WHERE id = ?1)
                 GROUP BY d.assignee_key ORDER BY count(*) DESC LIMIT 8",
            )
            .and_then(|mut s| {
                s.query_map([project.id.token()], |r| r.get::<_, String>(0))?
                    .collect()
            })
            .map_err(|e| e.to_string())?;
        let operator = busiest
            .iter()
            .filter_map(|token| token.parse::<OperatorId>().ok())
            .find(|id| project.operators.contains(id))
            .or_else(|| project.operators.first().copied())
            .unwrap_or(admin);
        let mut folders = vec![Folder::All, Folder::WithOperator];
        folders.extend(project.folders.iter().map(|&f| Folder::Custom(f)));
        out.push(Asker {
            project: project.id,
            admin: Viewer {
                operator: admin,
                admin: true,
            },
            operator: Viewer {
                operator,
                admin: false,
            },
            folders,
            tags: project.tags.clone(),
        });
    }
    Ok(out)
}

fn filters(count: usize, asker: &Asker) -> Filter {
    let tag = |i: usize| asker.tags.get(i).copied();
    let mut conditions = Vec::new();
    if count >= 1 {
        conditions.extend(tag(0).map(|t| Condition::TagsAll(vec![t])));
    }
    if count >= 3 {
        conditions.extend(tag(1).map(|t| Condition::TagsNone(vec![t])));
        conditions.push(Condition::LastAuthor(AuthorKind::Client));
    }
    // Up to three conditions of one value each: within every bound of `Filter::new`.
    Filter::new(Expr::all(conditions)).unwrap_or_default()
}

fn list_query(
    asker: &Asker,
    viewer: Viewer,
    filter_count: usize,
    closed: bool,
    rows: usize,
) -> ListQuery {
    ListQuery {
        project: asker.project,
        viewer,
        tab: Tab::All,
        folder: Folder::All,
        include_closed: closed,
        order: Order::Activity,
        filter: filters(filter_count, asker),
        after: None,
        limit: rows,
    }
}

/// Phase 3 on one reader connection (blocking).
fn queries(path: &Path, projects: &[ProjectIds], args: &ProjectionsArgs) -> Result<Value, String> {
    let conn = switchboard_projections::open_reader_for::<dialogs::DialogsProjection>(path)
        .map_err(|e| e.to_string())?;
    let askers = askers(&conn, projects)?;
    if askers.is_empty() {
        return Err("no project to query".into());
    }
    let mut list = Map::new();
    let mut summary = Vec::new();
    for (view, closed) in [("open", false), ("all", true)] {
        let mut by_role = Map::new();
        for role in ["admin", "operator"] {
            let mut by_filters = Map::new();
            for filter_count in [0usize, 1, 3] {
                let viewer = |a: &Asker| if role == "admin" { a.admin } else { a.operator };
                let mut first = histogram();
                // Warm the statement cache and the pages of every project once.
                for asker in &askers {
                    let query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                }
                for i in 0..args.samples {
                    let asker = &askers[i % askers.len()];
                    let query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    let started = Instant::now();
                    dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                    record(&mut first, started.elapsed());
                }
                let mut deep = histogram();
                let mut deepest = 0usize;
                for asker in askers.iter().take(args.walk_projects.max(1)) {
                    let mut query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    for page_index in 0..args.deep_pages {
                        let started = Instant::now();
                        let page =
                            dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                        let took = started.elapsed();
                        if page_index >= args.deep_from_page {
                            record(&mut deep, took);
                        }
                        deepest = deepest.max(page_index * args.page_rows + page.rows.len());
                        match page.next {
                            Some(next) => query.after = Some(next),
                            None => break,
                        }
                    }
                }
                summary.push((view, role, filter_count, first.clone(), deep.clone()));
                by_filters.insert(
                    format!("filters_{filter_count}"),
                    json!({
                        "first_page": quantiles(&first),
                        "deep_pages": quantiles(&deep),
                        "deepest_row": deepest,
                    }),
                );
            }
            by_role.insert(role.to_owned(), Value::Object(by_filters));
        }
        list.insert(view.to_owned(), Value::Object(by_role));
    }
    let mut counters = Map::new();
    for role in ["admin", "operator"] {
        let mut h = histogram();
        for i in 0..args.samples.max(askers.len()) {
            let asker = &askers[i % askers.len()];
            let viewer = if role == "admin" {
                asker.admin
            } else {
                asker.operator
            };
            let started = Instant::now();
            dialogs::unread_dialogs(&conn, asker.project, viewer).map_err(|e| e.to_string())?;
            dialogs::unanswered_dialogs(&conn, asker.project, viewer).map_err(|e| e.to_string())?;
            for &folder in &asker.folders {
                dialogs::folder_badge(&conn, asker.project, viewer, folder)
                    .map_err(|e| e.to_string())?;
            }
            record(&mut h, started.elapsed());
        }
        counters.insert(role.to_owned(), quantiles(&h));
    }
    let list_worst = summary
        .iter()
        .flat_map(|(_, _, _, first, deep)| [first, deep])
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(0.99))
        .max();
    let counters_worst = ["admin", "operator"]
        .iter()
        .filter_map(|r| counters.get(*r).and_then(|v| v["p99_us"].as_u64()))
        .max();
    Ok(json!({
        "projects_queried": askers.len(),
        "page_rows": args.page_rows,
        "deep_from_page": args.deep_from_page,
        "list": Value::Object(list),
        "counters": Value::Object(counters),
        "list_worst_p99_us": list_worst,
        "counters_worst_p99_us": counters_worst,
    }))
}

/// Search queries on the index under `root`, across the projects: word search over message
/// texts by relevance (stemmed: `заказы` finds `заказ`), substring search over clients (names,
/// phones, emails, channel ids), and word search newest first. Each message hit is read from
/// the timeline file `timeline` (its text, author and id are there, not in the index), as a
/// caller's search does (`query::search_items`).
fn search_queries(
    root: &Path,
    timeline: &Path,
    projects: &[ProjectIds],
    samples: usize,
) -> Result<Value, String> {
    const WORDS: &[&str] = &[
        "заказы",
        "доставку",
        "скидки",
        "курьером",
        "refunds",
        "ordered",
    ];
    const SUBSTRINGS: &[&str] = &["ова", "1988", "ivan", "gmail", "791", "petrov"];
    const NEWEST: &[&str] = &["заказ", "доставка", "order", "возврат"];
    let reader = SearchReader::open(root).map_err(|e| e.to_string())?;
    let timeline = open_reader(timeline).map_err(|e| e.to_string())?;
    let mut out = Map::new();
    let mut worst = 0u64;
    let mut hits = 0usize;
    for (name, target, order, texts) in [
        ("word", Target::Messages, SearchOrder::Relevance, WORDS),
        (
            "substring",
            Target::Clients,
            SearchOrder::Newest,
            SUBSTRINGS,
        ),
        (
            "newest_first",
            Target::Messages,
            SearchOrder::Newest,
            NEWEST,
        ),
    ] {
        let mut h = histogram();
        for i in 0..samples.max(texts.len()) {
            let project = projects[i % projects.len().max(1)].id;
            let mut query = SearchQuery::new(project, target, texts[i % texts.len()]);
            query.order = order;
            let started = Instant::now();
            let page = reader.search(&query).map_err(|e| e.to_string())?;
            for hit in &page.hits {
                if let HitDetail::Message(m) = &hit.detail {
                    let item = switchboard_projections::timeline::item_at(&timeline, m.place)
                        .map_err(|e| e.to_string())?;
                    if item.is_none() {
                        return Err(format!("no timeline item at {} for a hit", m.place));
                    }
                }
            }
            record(&mut h, started.elapsed());
            hits += page.hits.len();
        }
        worst = worst.max(h.value_at_quantile(0.99));
        out.insert(name.to_owned(), quantiles(&h));
    }
    out.insert("hits".to_owned(), json!(hits));
    out.insert("worst_p99_us".to_owned(), json!(worst));
    Ok(Value::Object(out))
}

/// Phase 4.
async fn live(
    log: &AnyLog,
    generated: &Generated,
    dir: &Path,
    models: &[Model],
    args: &ProjectionsArgs,
) -> Result<Value, String> {
    let warmup_events = ((args.live_rate as f64) * args.live_warmup_seconds.max(0.0)) as u64;
    let target_events =
        warmup_events + ((args.live_rate as f64) * args.live_seconds).max(1.0) as u64;
    // The same inbox going on: new dialogs in the same projects, from the next sequence.
    let dialogs = (target_events / 25).max(20);
    let mut more =
        generated
            .generator
            .continuation(dialogs, dialogs * 10, args.size.seed ^ 0x6c69_7665);
    let mut appends = Vec::new();
    let mut events = 0u64;
    for item in more.by_ref() {
        if let Item::Append(append) = item {
            let r = ready(append)?;
            events += u64::from(r.1);
            appends.push(r);
            if events >= target_events {
                break;
            }
        }
    }
    let last_seq = appends.last().map_or(generated.last_seq, |a| a.0);
    // One group, as `serve` runs them: the log is read and decoded once for every model.
    let wanted = models
        .iter()
        .map(|&model| {
            let kind = match model {
                Model::Sql(kind) => kind,
                Model::Search => Kind::Search,
            };
            (kind, model.path(dir))
        })
        .collect();
    let stores = open_stores(wanted)
        .await
        .map_err(|e| format!("cannot open the read models: {e}"))?
        .into_iter()
        .map(|(store, _)| store)
        .collect();
    let started = ProjectionRunner::start_group(log.clone(), stores, RunnerOptions::default())
        .map_err(|e| format!("cannot start the read models: {e}"))?;
    let mut runners = Vec::new();
    for (&model, runner) in models.iter().zip(started) {
        runner
            .wait_for(generated.last_seq, Duration::from_secs(600))
            .await
            .map_err(|e| e.to_string())?;
        runners.push((model, Arc::new(runner)));
    }
    // One tracker per read model: the time from an append's ack to its checkpoint covering it,
    // apart for the appends of the warm-up (`warm` is true for those after it).
    let mut senders = Vec::new();
    let mut trackers = Vec::new();
    for (kind, runner) in &runners {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant, bool)>();
        senders.push(tx);
        let runner = Arc::clone(runner);
        let kind = *kind;
        trackers.push(tokio::spawn(async move {
            let (mut lag, mut cold) = (histogram(), histogram());
            while let Some((seq, acked, warm)) = rx.recv().await {
                if runner.applied_seq() < seq {
                    runner
                        .wait_for(seq, Duration::from_secs(600))
                        .await
                        .map_err(|e| format!("{}: {e}", kind.name()))?;
                }
                let into = if warm { &mut lag } else { &mut cold };
                record(into, Instant::now().saturating_duration_since(acked));
            }
            Ok::<_, String>((kind, lag, cold))
        }));
    }
    let started = Instant::now();
    let mut in_flight = FuturesOrdered::new();
    let mut sent_events = 0u64;
    // Events acknowledged so far (an ack is the log message's: `n` events).
    let mut acked_events = 0u64;
    // The events of the appends in flight, in the order they complete (`FuturesOrdered`).
    let mut in_flight_events = std::collections::VecDeque::new();
    let mut measured_from = None;
    let mut next = 0usize;
    let mut appends = appends.into_iter().peekable();
    let mut acked = 0usize;
    let total = appends.len();
    while acked < total {
        let allowed = (args.live_rate as f64 * started.elapsed().as_secs_f64()) as u64 + 1;
        while sent_events < allowed && in_flight.len() < args.window.max(1) {
            let Some((seq, n, request)) = appends.next() else {
                break;
            };
            sent_events += u64::from(n);
            next += 1;
            in_flight.push_back(start_append(log, seq, request).await);
            in_flight_events.push_back(u64::from(n));
        }
        if in_flight.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        tokio::select! {
            biased;
            Some(done) = in_flight.next() => {
                let seq = check_ack(done)?;
                let now = Instant::now();
                acked += 1;
                acked_events += in_flight_events.pop_front().unwrap_or(0);
                let warm = acked_events > warmup_events;
                if warm && measured_from.is_none() {
                    measured_from = Some((now, acked_events));
                }
                for tx in &senders {
                    let _ = tx.send((seq, now, warm));
                }
            }
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    let appended = started.elapsed().as_secs_f64();
    drop(senders);
    let mut applied_at = Vec::new();
    for (kind, runner) in &runners {
        runner
            .wait_for(last_seq, Duration::from_secs(600))
            .await
            .map_err(|e| e.to_string())?;
        applied_at.push((*kind, started.elapsed().as_secs_f64()));
    }
    let all_applied = started.elapsed().as_secs_f64();
    let sqlite_applied = applied_at
        .iter()
        .filter(|(m, _)| *m != Model::Search)
        .map(|(_, s)| *s)
        .fold(0.0, f64::max);
    let mut lags = Map::new();
    let mut lags_in_warmup = Map::new();
    let mut worst_p99 = 0u64;
    let figures = |lag: &Histogram<u64>| {
        json!({
            "p50_ms": ms(lag.value_at_quantile(0.5)),
            "p99_ms": ms(lag.value_at_quantile(0.99)),
            "max_ms": ms(lag.max()),
        })
    };
    for tracker in trackers {
        let (kind, lag, cold) = tracker.await.map_err(|e| e.to_string())??;
        // The search index commits on a timer (visible within a second by design); the
        // 100 ms figure is the SQLite models'.
        if kind != Model::Search {
            worst_p99 = worst_p99.max(lag.value_at_quantile(0.99));
        }
        lags.insert(kind.name().to_owned(), figures(&lag));
        lags_in_warmup.insert(kind.name().to_owned(), figures(&cold));
    }
    // The rates of the measured part (after the warm-up).
    let (from_seconds, from_events) = measured_from.map_or((0.0, 0), |(at, events)| {
        (at.saturating_duration_since(started).as_secs_f64(), events)
    });
    let measured_events = sent_events.saturating_sub(from_events) as f64;
    let rate = |until: f64| (measured_events / (until - from_seconds).max(1e-9)).round();
    for (_, runner) in runners {
        if let Ok(runner) = Arc::try_unwrap(runner) {
            let status = runner.shutdown().await;
            if let Some(failure) = status.failed {
                return Err(format!("a runner failed: {failure}"));
            }
        }
    }
    let _ = next;
    let applied_seconds: Map<String, Value> = applied_at
        .iter()
        .map(|(k, s)| (k.name().to_owned(), json!((s * 1000.0).round() / 1000.0)))
        .collect();
    Ok(json!({
        "rate_target_events_per_sec": args.live_rate,
        "events": sent_events,
        "log_messages": total,
        "warmup_events": from_events,
        "warmup_seconds": (from_seconds * 1000.0).round() / 1000.0,
        "append_events_per_sec": rate(appended),
        "apply_events_per_sec": rate(all_applied),
        "apply_events_per_sec_sqlite": rate(sqlite_applied),
        "append_seconds": (appended * 1000.0).round() / 1000.0,
        "applied_seconds": Value::Object(applied_seconds),
        "lag": Value::Object(lags),
        "lag_in_warmup": Value::Object(lags_in_warmup),
        "lag_worst_p99_ms": ms(worst_p99),
    }))
}

/// One line of the targets table.
struct Goal {
    name: &'static str,
    target: String,
    measured: Option<f64>,
    unit: &'static str,
    met: Option<bool>,
}

fn at_least(name: &'static str, goal: f64, measured: Option<f64>, unit: &'static str) -> Goal {
    Goal {
        name,
        target: format!("≥ {goal} {unit}"),
        measured,
        unit,
        met: measured.map(|m| m >= goal),
    }
}

fn at_most(name: &'static str, goal: f64, measured: Option<f64>, unit: &'static str) -> Goal {
    Goal {
        name,
        target: format!("≤ {goal} {unit}"),
        measured,
        unit,
        met: measured.map(|m| m <= goal),
    }
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
    let backend = match (&args.nats, args.log) {
        (Some(_), _) | (None, LogChoice::Jetstream) => LogChoice::Jetstream,
        (None, LogChoice::Embedded) => LogChoice::Embedded,
    };
    let log = match backend {
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
                JetStreamLog::connect(&url, JetStreamOptions::default())
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    say(
        &args,
        format!(
            "generating {} projects, {} dialogs, {} messages, {} operators per project (seed {}) into the {} log…",
            size.projects,
            size.dialogs,
            size.messages,
            size.operators,
            size.seed,
            log.backend()
        ),
    );
    let generated = Box::pin(generate(&log, size, args.window, !args.reuse_log)).await?;
    if args.reuse_log {
        let last = log.last_seq().await.map_err(|e| e.to_string())?;
        if last != generated.last_seq {
            return Err(format!(
                "--reuse-log: the log ends at {last}, this history at {}: not the log of these \
                 size flags, or something was appended since",
                generated.last_seq
            ));
        }
    }
    let skip = |phase: Phase| args.skip.contains(&phase);
    let mut phase_peaks = Map::new();
    let stats = generated.generator.stats().clone();
    let (gen_peak, _) = memory();
    let log_bytes = match &log {
        AnyLog::Embedded(embedded) => Some(disk_size(embedded.path())),
        AnyLog::JetStream(_) => None,
    };
    let gen_rate = stats.events as f64 / generated.seconds.max(1e-9);
    if args.reuse_log {
        say(
            &args,
            "the log holds this history already (--reuse-log): generated without appending",
        );
    }
    say(
        &args,
        format!(
            "generate      {:>10.0} events/s  ({} events in {} log messages, {:.1} s; the generator alone {:.0} events/s; {} refusals)",
            gen_rate,
            stats.events,
            stats.appends,
            generated.seconds,
            stats.events as f64 / generated.generator_seconds.max(1e-9),
            stats.refusals
        ),
    );
    let peak_reset = reset_peak_rss();

    // Phase 2: rebuilds.
    let models = Model::all();
    let sqlite: Vec<Model> = models
        .iter()
        .copied()
        .filter(|m| *m != Model::Search)
        .collect();
    let mut rebuilds = Map::new();
    let together = dir.join("read");
    if skip(Phase::Rebuild) {
        for &model in &models {
            if !model.path(&together).exists() {
                return Err(format!(
                    "--skip rebuild: {} does not exist (an earlier run with --data leaves the \
                     read models there)",
                    model.path(&together).display()
                ));
            }
        }
    } else {
        let alone = dir.join("alone");
        for &model in &models {
            let seconds = Box::pin(rebuild_all(&log, &[model], &alone)).await?;
            let figures = rate_json(stats.events, stats.appends, seconds);
            say(
                &args,
                format!(
                    "rebuild {:<9} {:>8.0} events/s  ({seconds:.1} s)",
                    model.name(),
                    figures["events_per_sec"].as_f64().unwrap_or(0.0)
                ),
            );
            rebuilds.insert(model.name().to_owned(), figures);
            remove_model(&model.path(&alone));
        }
        let _ = std::fs::remove_dir_all(&alone);
        let scratch = dir.join("sqlite-only");
        let all_sqlite_seconds = Box::pin(rebuild_all(&log, &sqlite, &scratch)).await?;
        let _ = std::fs::remove_dir_all(&scratch);
        let all_seconds = Box::pin(rebuild_all(&log, &models, &together)).await?;
        rebuilds.insert(
            "all_sqlite".into(),
            rate_json(stats.events, stats.appends, all_sqlite_seconds),
        );
        rebuilds.insert(
            "all".into(),
            rate_json(stats.events, stats.appends, all_seconds),
        );
        say(
            &args,
            format!(
                "rebuild every SQLite model at once {:>8.0} events/s  ({all_sqlite_seconds:.1} s); with search {:>8.0} events/s ({all_seconds:.1} s)",
                stats.events as f64 / all_sqlite_seconds.max(1e-9),
                stats.events as f64 / all_seconds.max(1e-9),
            ),
        );
    }
    phase_peaks.insert("rebuild".into(), json!(memory().0));
    reset_peak_rss();
    let rebuilds = Value::Object(rebuilds);

    // Sizes.
    let mut sizes = Map::new();
    let mut total_size = 0u64;
    for &model in &models {
        let path = model.path(&together);
        let bytes = match model {
            // The version in use: an older one (a run on a data directory that had read
            // models) waits there until a writer opens the index and removes it.
            Model::Search => search::version_in_use(&path)
                .map_err(|e| e.to_string())?
                .map_or(0, |version| disk_size(&version)),
            Model::Sql(_) => disk_size(&path),
        };
        total_size += bytes;
        sizes.insert(model.name().to_owned(), json!(bytes));
    }
    sizes.insert("total".into(), json!(total_size));
    sizes.insert("log".into(), json!(log_bytes));
    say(
        &args,
        format!(
            "read models on disk: {:.1} MB ({})",
            total_size as f64 / 1e6,
            models
                .iter()
                .map(|k| format!(
                    "{} {:.1} MB",
                    k.name(),
                    sizes[k.name()].as_u64().unwrap_or(0) as f64 / 1e6
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    let rebuild_breakdown = if args.no_breakdown || skip(Phase::Rebuild) {
        Value::Null
    } else {
        let figures = Box::pin(breakdown(&log, &dir.join("breakdown"), stats.events)).await?;
        say(
            &args,
            format!(
                "rebuild breakdown, µs per event: read the log {}, decode {}, apply (decode + SQLite) {}",
                figures["read_us_per_event"],
                figures["decode_us_per_event"],
                figures["apply_us_per_event"]
            ),
        );
        figures
    };

    // Phase 3: queries.
    let (query_figures, search_figures) = if skip(Phase::Queries) {
        (Value::Null, Value::Null)
    } else {
        let projects = generated.generator.project_ids();
        let dialogs_path = together.join("dialogs.sqlite");
        let query_args = args.clone();
        let query_figures =
            tokio::task::spawn_blocking(move || queries(&dialogs_path, &projects, &query_args))
                .await
                .map_err(|e| e.to_string())??;
        if !args.json {
            for view in ["open", "all"] {
                for role in ["admin", "operator"] {
                    for f in [0, 1, 3] {
                        let v = &query_figures["list"][view][role][format!("filters_{f}")];
                        let show = |q: &Value| match q.is_null() {
                            true => "—".to_owned(),
                            false => format!("p50 {:>5} µs p99 {:>6} µs", q["p50_us"], q["p99_us"]),
                        };
                        say(
                            &args,
                            format!(
                                "list {view:<4} {role:<8} {f} filters: first page {}   deep pages {}   (deepest row {})",
                                show(&v["first_page"]),
                                show(&v["deep_pages"]),
                                v["deepest_row"]
                            ),
                        );
                    }
                }
            }
            for role in ["admin", "operator"] {
                let c = &query_figures["counters"][role];
                say(
                    &args,
                    format!(
                        "counters + every badge, {role:<8}: p50 {} µs p99 {} µs",
                        c["p50_us"], c["p99_us"]
                    ),
                );
            }
        }

        let search_root = Model::Search.path(&together);
        let timeline_file = Model::Sql(Kind::Timeline).path(&together);
        let search_projects = generated.generator.project_ids();
        let samples = args.samples;
        let search_figures = tokio::task::spawn_blocking(move || {
            search_queries(&search_root, &timeline_file, &search_projects, samples)
        })
        .await
        .map_err(|e| e.to_string())??;
        for name in ["word", "substring", "newest_first"] {
            let q = &search_figures[name];
            say(
                &args,
                format!(
                    "search {name:<12}: p50 {} µs p99 {} µs",
                    q["p50_us"], q["p99_us"]
                ),
            );
        }
        (query_figures, search_figures)
    };
    phase_peaks.insert("queries".into(), json!(memory().0));
    reset_peak_rss();

    // Phase 4: live.
    let live_figures = if skip(Phase::Live) {
        Value::Null
    } else {
        let live_figures = Box::pin(live(&log, &generated, &together, &models, &args)).await?;
        say(
            &args,
            format!(
                "live: appended {:.0} events/s (target {}), applied {:.0} events/s; append→visible p99 {}",
                live_figures["append_events_per_sec"]
                    .as_f64()
                    .unwrap_or(0.0),
                args.live_rate,
                live_figures["apply_events_per_sec"].as_f64().unwrap_or(0.0),
                live_figures["lag"]
                    .as_object()
                    .map(|m| m
                        .iter()
                        .map(|(k, v)| format!("{k} {} ms", v["p99_ms"]))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
        );
        live_figures
    };
    phase_peaks.insert("live".into(), json!(memory().0));

    // The peak since the generation: the largest of the phases' (each reset the count).
    let (_, rss) = memory();
    let peak = phase_peaks.values().filter_map(Value::as_u64).max();
    let load_after = load_average();

    // Targets.
    let ev = |v: &Value| v["events_per_sec"].as_f64();
    let us_to_ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
    let targets = vec![
        at_least(
            "rebuild, SQLite read models together",
            100_000.0,
            ev(&rebuilds["all_sqlite"]),
            "events/s",
        ),
        at_least(
            "rebuild, all incl. search",
            50_000.0,
            ev(&rebuilds["all"]),
            "events/s",
        ),
        at_least(
            "live apply",
            30_000.0,
            live_figures["apply_events_per_sec"].as_f64(),
            "events/s",
        ),
        at_most(
            "append→visible p99 (slowest SQLite model)",
            100.0,
            live_figures["lag_worst_p99_ms"].as_f64(),
            "ms",
        ),
        at_most(
            "append→searchable p99 (design: within 1 s)",
            1000.0,
            live_figures["lag"]["search"]["p99_ms"].as_f64(),
            "ms",
        ),
        at_most(
            "list page p99, any depth, ≤ 3 filters",
            2.0,
            us_to_ms(query_figures["list_worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "counters + badges p99",
            1.0,
            us_to_ms(query_figures["counters_worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "search p99 (word, substring, newest first)",
            20.0,
            us_to_ms(search_figures["worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "read models on disk",
            3.0,
            Some(total_size as f64 / 1e9),
            "GB",
        ),
        at_most(
            "peak RSS",
            2.0,
            peak.map(|b| b as f64 / (1u64 << 30) as f64),
            "GiB",
        ),
    ];
    say(
        &args,
        "— against the targets (at 1M dialogs / 10M messages):",
    );
    let mut target_json = Vec::new();
    for t in &targets {
        let mark = match t.met {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "–",
        };
        let measured = t
            .measured
            .map_or("not measured".to_owned(), |m| format!("{m:.2} {}", t.unit));
        say(
            &args,
            format!(
                "  {mark} {:<40} {:>22}   target {}",
                t.name, measured, t.target
            ),
        );
        target_json.push(json!({
            "name": t.name,
            "target": t.target,
            "measured": t.measured,
            "met": t.met,
        }));
    }
    let report = json!({
        "bench": "projections",
        "backend": log.backend(),
        "size": size_json(size),
        "counts": stats_json(&stats),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "generate": {
            "seconds": (generated.seconds * 1000.0).round() / 1000.0,
            "events_per_sec": gen_rate.round(),
            "log_messages_per_sec": (stats.appends as f64 / generated.seconds.max(1e-9)).round(),
            "generator_events_per_sec":
                (stats.events as f64 / generated.generator_seconds.max(1e-9)).round(),
            "peak_rss_bytes": gen_peak,
        },
        "rebuild": rebuilds,
        "rebuild_breakdown": rebuild_breakdown,
        "queries": query_figures,
        "search": search_figures,
        "live": live_figures,
        "sizes_bytes": Value::Object(sizes),
        "peak_rss_bytes": peak,
        "peak_rss_reset_after_generate": peak_reset,
        "peak_rss_bytes_by_phase": Value::Object(phase_peaks),
        "rss_bytes": rss,
        "targets": target_json,
    });
    println!("{report}");
    Ok(())
}
