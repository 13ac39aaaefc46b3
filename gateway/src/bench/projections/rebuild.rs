//! Phase 2 of `bench projections`: each read model rebuilt alone from the log into a new file,
//! then all of them at once (each its own file, concurrently, as `rebuild all` does); what the
//! rebuilt files take on disk; and where a rebuild's time goes (reading, decoding, SQLite).

use super::measure::{disk_size, remove_model};
use super::{ProjectionsArgs, model_path, say};
use crate::readmodels::Kind;
use crate::rebuild::REBUILD_BATCH;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard_core::{AnyLog, EventLog};
use switchboard_dataset::history::Stats;
use switchboard_projections::search::{self, SearchOptions};
use switchboard_projections::{Until, open_for_rebuild, rebuild_files};

/// What phase 2 needs.
pub(super) struct Input<'a> {
    pub log: &'a AnyLog,
    /// The bench's data directory (scratch directories go there).
    pub dir: &'a Path,
    /// Where the read models are left, all rebuilt at once, for the later phases.
    pub together: &'a Path,
    pub stats: &'a Stats,
    /// `--skip rebuild`: only check the read models are there.
    pub skip: bool,
    pub args: &'a ProjectionsArgs,
}

/// Phase 2's figures: per read model alone, `all_sqlite` and `all`, each [`rate_json`] (an
/// empty object when skipped).
pub(super) struct Figures {
    pub rates: Value,
}

/// Phase 2: every read model rebuilt alone, the SQLite ones together, then all of them
/// together into `together`.
pub(super) async fn run(input: Input<'_>) -> Result<Figures, String> {
    let Input {
        log,
        dir,
        together,
        stats,
        skip,
        args,
    } = input;
    let models = Kind::ALL;
    let sqlite: Vec<Kind> = models
        .iter()
        .copied()
        .filter(|m| *m != Kind::Search)
        .collect();
    let mut rebuilds = Map::new();
    if skip {
        for &model in &models {
            if !model_path(model, together).exists() {
                return Err(format!(
                    "--skip rebuild: {} does not exist (an earlier run with --data leaves the \
                     read models there)",
                    model_path(model, together).display()
                ));
            }
        }
    } else {
        let alone = dir.join("alone");
        for &model in &models {
            let seconds = Box::pin(rebuild_all(log, &[model], &alone)).await?;
            let figures = rate_json(stats.events, stats.appends, seconds);
            say(
                args,
                format!(
                    "rebuild {:<9} {:>8.0} events/s  ({seconds:.1} s)",
                    model.name(),
                    figures["events_per_sec"].as_f64().unwrap_or(0.0)
                ),
            );
            rebuilds.insert(model.name().to_owned(), figures);
            remove_model(&model_path(model, &alone));
        }
        let _ = std::fs::remove_dir_all(&alone);
        let scratch = dir.join("sqlite-only");
        let all_sqlite_seconds = Box::pin(rebuild_all(log, &sqlite, &scratch)).await?;
        let _ = std::fs::remove_dir_all(&scratch);
        let all_seconds = Box::pin(rebuild_all(log, &models, together)).await?;
        rebuilds.insert(
            "all_sqlite".into(),
            rate_json(stats.events, stats.appends, all_sqlite_seconds),
        );
        rebuilds.insert(
            "all".into(),
            rate_json(stats.events, stats.appends, all_seconds),
        );
        say(
            args,
            format!(
                "rebuild every SQLite model at once {:>8.0} events/s  ({all_sqlite_seconds:.1} s); with search {:>8.0} events/s ({all_seconds:.1} s)",
                stats.events as f64 / all_sqlite_seconds.max(1e-9),
                stats.events as f64 / all_seconds.max(1e-9),
            ),
        );
    }
    Ok(Figures {
        rates: Value::Object(rebuilds),
    })
}

/// What the rebuilt read models take on disk.
pub(super) struct Sizes {
    /// Bytes per read model, `total` and `log` (the embedded log's file).
    pub by_model: Map<String, Value>,
    pub total: u64,
}

/// The sizes of the read models in `together`, beside the log's `log_bytes`.
pub(super) fn sizes(
    together: &Path,
    log_bytes: Option<u64>,
    args: &ProjectionsArgs,
) -> Result<Sizes, String> {
    let models = Kind::ALL;
    let mut sizes = Map::new();
    let mut total_size = 0u64;
    for &model in &models {
        let path = model_path(model, together);
        let bytes = match model {
            // The version in use: an older one (a run on a data directory that had read
            // models) waits there until a writer opens the index and removes it.
            Kind::Search => search::version_in_use(&path)
                .map_err(|e| e.to_string())?
                .map_or(0, |version| disk_size(&version)),
            _ => disk_size(&path),
        };
        total_size += bytes;
        sizes.insert(model.name().to_owned(), json!(bytes));
    }
    sizes.insert("total".into(), json!(total_size));
    sizes.insert("log".into(), json!(log_bytes));
    say(
        args,
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
    Ok(Sizes {
        by_model: sizes,
        total: total_size,
    })
}

/// The [`breakdown`] of a rebuild, printed.
pub(super) async fn breakdown_phase(
    log: &AnyLog,
    dir: &Path,
    events: u64,
    args: &ProjectionsArgs,
) -> Result<Value, String> {
    let figures = Box::pin(breakdown(log, dir, events)).await?;
    say(
        args,
        format!(
            "rebuild breakdown, µs per event: read the log {}, decode {}, apply (decode + SQLite) {}",
            figures["read_us_per_event"],
            figures["decode_us_per_event"],
            figures["apply_us_per_event"]
        ),
    );
    Ok(figures)
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
async fn rebuild_all(log: &AnyLog, models: &[Kind], dir: &Path) -> Result<f64, String> {
    let started = Instant::now();
    let files: Vec<Kind> = models
        .iter()
        .copied()
        .filter(|kind| !kind.is_directory())
        .collect();
    let together = async {
        if files.len() < 2 {
            return Ok(());
        }
        let wanted: Vec<(Kind, PathBuf)> = files
            .iter()
            .map(|&kind| (kind, model_path(kind, dir)))
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
        .filter(|m| files.len() < 2 || matches!(m, Kind::Search))
        .map(|&model| rebuild_alone(model, log, dir));
    let (together, apart) =
        futures::future::join(together, futures::future::try_join_all(apart)).await;
    together?;
    apart?;
    Ok(started.elapsed().as_secs_f64())
}

/// Rebuilds one read model from the log into its file in `dir`.
async fn rebuild_alone(kind: Kind, log: &AnyLog, dir: &Path) -> Result<(), String> {
    kind.rebuild(
        log,
        &model_path(kind, dir),
        Until::End,
        REBUILD_BATCH,
        |_| {},
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("rebuild of {} failed: {e}", kind.name()))
}

/// Where a rebuild's time goes: one pass over the log in rebuild-sized reads, each chunk
/// decoded once on its own (to time decoding) and applied to every read model in turn (each
/// apply decodes again, so apply minus decode is the SQLite work). Microseconds per event.
async fn breakdown(log: &AnyLog, dir: &Path, events: u64) -> Result<Value, String> {
    use switchboard_core::SubjectFilter;
    use switchboard_projections::Store;
    use switchboard_projections::search::SearchIndex;

    fn open(dir: &Path, model: Kind) -> Result<Box<dyn Store>, String> {
        let path = model_path(model, dir);
        remove_model(&path);
        let store: Box<dyn Store> = match model {
            Kind::Search => Box::new(
                SearchIndex::open(&path, SearchOptions::rebuild()).map_err(|e| e.to_string())?,
            ),
            kind => kind.create_file_store(&path).map_err(|e| e.to_string())?,
        };
        Ok(store)
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut stores: Vec<(&'static str, Box<dyn Store>, Duration)> = Vec::new();
    for model in Kind::ALL {
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
