//! `switchboard rebuild` and `switchboard verify`.
//!
//! - `rebuild <projection|all>` builds read models from the log into a new generation (see
//!   [`crate::readmodels`]) with a progress bar on stderr and publishes it; a running `serve`
//!   swaps it in within a fraction of a second and continues it from its checkpoint. The last
//!   stdout line is one JSON object describing what was built.
//! - `verify` takes every live read model's checksums in one snapshot, rebuilds it from the log
//!   up to that snapshot's checkpoint in a scratch directory, compares table by table and prints
//!   one JSON object; any difference, or a live file that cannot be read (reported with its error
//!   beside the other models' comparisons), makes the exit code 3.

use crate::readmodels::{Kind, ReadModelError, Slot, SlotLock, blocking};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_core::EventLog;
use switchboard_projections::search::{self, SearchReader};
use switchboard_projections::verify::{FileSums, TableSum, compare, file_sums};
use switchboard_projections::{
    Checkpoint, ProjectionError, RebuildProgress, Until, open_for_rebuild, open_reader,
    rebuild_files,
};

/// Records per rebuild transaction.
pub const REBUILD_BATCH: usize = 4096;

/// Which read models a command acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSelection {
    All,
    One(Kind),
}

impl ModelSelection {
    pub fn kinds(self) -> Vec<Kind> {
        match self {
            ModelSelection::All => Kind::ALL.to_vec(),
            ModelSelection::One(kind) => vec![kind],
        }
    }

    /// `all` or a projection's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "all" {
            return Ok(ModelSelection::All);
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .map(ModelSelection::One)
            .ok_or_else(|| {
                let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown projection {text:?}; one of: all, {}",
                    names.join(", ")
                )
            })
    }
}

/// A moment given on the command line, RFC 3339 (`2026-11-22T10:00:00Z`).
pub fn parse_time(text: &str) -> Result<switchboard_schemas::Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| switchboard_schemas::Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|e| format!("not an RFC 3339 time ({e}): {text:?}"))
}

/// Progress of several rebuilds at once, drawn on stderr.
#[derive(Debug, Clone, Default)]
struct Bar {
    state: Arc<Mutex<BTreeMap<&'static str, RebuildProgress>>>,
}

impl Bar {
    fn update(&self, kind: Kind, progress: RebuildProgress) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.name(), progress);
    }

    fn line(&self, started: Instant) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut parts = Vec::new();
        let mut applied = 0u64;
        for (name, p) in state.iter() {
            let percent = if p.target_seq == 0 {
                100.0
            } else {
                p.applied_seq as f64 * 100.0 / p.target_seq as f64
            };
            let width = 20usize;
            let filled = ((percent / 100.0) * width as f64).round() as usize;
            parts.push(format!(
                "{name} [{}{}] {percent:5.1}%",
                "#".repeat(filled.min(width)),
                " ".repeat(width - filled.min(width))
            ));
            applied += p.applied_seq;
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "{}  {:.0} records/s",
            parts.join("  "),
            applied as f64 / elapsed
        )
    }

    /// Redraws every 200 ms on a terminal, prints a line every 5 s otherwise.
    fn draw_until_done(
        &self,
        done: Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let bar = self.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            let terminal = std::io::stderr().is_terminal();
            let every = if terminal {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            let mut last = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() < every {
                    continue;
                }
                last = Instant::now();
                let line = bar.line(started);
                let mut err = std::io::stderr().lock();
                let _ = if terminal {
                    write!(err, "\r{line}\x1b[K")
                } else {
                    writeln!(err, "rebuild: {line}")
                };
                let _ = err.flush();
            }
            let line = bar.line(started);
            let mut err = std::io::stderr().lock();
            let _ = if terminal {
                writeln!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "rebuild: {line}")
            };
        })
    }
}

/// What one rebuild produced.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub kind: Kind,
    pub generation: String,
    pub replaced: Option<String>,
    pub checkpoint: Checkpoint,
    pub seconds: f64,
}

impl Rebuilt {
    pub fn to_json(&self) -> Value {
        json!({
            "projection": self.kind.name(),
            "generation": self.generation,
            "replaced": self.replaced,
            "checkpoint": self.checkpoint.seq,
            "undecodable": self.checkpoint.undecodable,
            "seconds": self.seconds,
            "log_messages_per_s": self.checkpoint.seq as f64 / self.seconds.max(1e-9),
        })
    }
}

/// A new generation being built: the slot's lock is held until it is published.
struct Building {
    slot: Slot,
    lock: SlotLock,
    replaced: Option<String>,
    generation: String,
}

/// Locks the read model's slot and names its next generation.
async fn prepare(root: &Path, kind: Kind) -> Result<Building, ReadModelError> {
    let slot = Slot::new(root, kind);
    let locking = slot.clone();
    blocking("lock", move || {
        let lock = locking.try_lock()?;
        let replaced = locking.current()?;
        let generation = locking.next_generation()?;
        Ok(Building {
            slot: locking,
            lock,
            replaced,
            generation,
        })
    })
    .await
}

/// Publishes a built generation (fingerprint, `CURRENT`) and releases the lock.
async fn publish(
    building: Building,
    checkpoint: Checkpoint,
    seconds: f64,
) -> Result<Rebuilt, ReadModelError> {
    let Building {
        slot,
        lock,
        replaced,
        generation,
    } = building;
    let kind = slot.kind();
    let (new, old) = (generation.clone(), replaced.clone());
    blocking("publish", move || {
        slot.write_fingerprint(&new)?;
        slot.publish(&new)?;
        // The replaced generation stays until a running service has let go of it (it deletes
        // it after the swap, or at its next start).
        let mut keep = vec![new.as_str()];
        keep.extend(old.as_deref());
        slot.remove_except(&keep)?;
        drop(lock);
        Ok(())
    })
    .await?;
    Ok(Rebuilt {
        kind,
        generation,
        replaced,
        checkpoint,
        seconds,
    })
}

/// Rebuilds one read model into a new generation under `root` and publishes it.
async fn rebuild_one<L: EventLog>(
    log: &L,
    root: &Path,
    kind: Kind,
    until: Until,
    bar: &Bar,
) -> Result<Rebuilt, ReadModelError> {
    let building = prepare(root, kind).await?;
    let path = building.slot.path(&building.generation);
    let started = Instant::now();
    let checkpoint = kind
        .rebuild(log, &path, until, REBUILD_BATCH, |p| bar.update(kind, p))
        .await
        .map_err(|error| ReadModelError::Projection {
            kind: kind.name(),
            error,
        })?;
    publish(building, checkpoint, started.elapsed().as_secs_f64()).await
}

/// Rebuilds SQLite read models together (one pass over the log feeds them all, each record
/// decoded once) into new generations under `root`, and publishes them once all are built.
async fn rebuild_files_together<L: EventLog>(
    log: &L,
    root: &Path,
    kinds: Vec<Kind>,
    until: Until,
    bar: &Bar,
) -> Result<Vec<Rebuilt>, ReadModelError> {
    let mut builds = Vec::with_capacity(kinds.len());
    for &kind in &kinds {
        builds.push(prepare(root, kind).await?);
    }
    let wanted: Vec<(Kind, PathBuf)> = builds
        .iter()
        .map(|b| (b.slot.kind(), b.slot.path(&b.generation)))
        .collect();
    let opening = wanted.clone();
    let stores = blocking("open read models", move || {
        opening
            .into_iter()
            .map(|(kind, path)| {
                let store = open_for_rebuild(&path, |building| kind.create_file_store(building))
                    .map_err(|error| ReadModelError::Projection {
                        kind: kind.name(),
                        error,
                    })?;
                Ok((path, store))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let started = Instant::now();
    let checkpoints = rebuild_files(log, stores, until, REBUILD_BATCH, |index, p| {
        if let Some((kind, _)) = wanted.get(index) {
            bar.update(*kind, p);
        }
    })
    .await
    .map_err(|error| ReadModelError::Projection {
        kind: "read models",
        error,
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut rebuilt = Vec::with_capacity(builds.len());
    for (building, checkpoint) in builds.into_iter().zip(checkpoints) {
        rebuilt.push(publish(building, checkpoint, seconds).await?);
    }
    Ok(rebuilt)
}

/// `switchboard rebuild`: every read model of `target` into `root` (`DIR/read`): the SQLite
/// ones together from one pass over the log, the search index beside them.
pub async fn rebuild_models<L: EventLog>(
    log: &L,
    root: &Path,
    selection: ModelSelection,
    until: Until,
    progress: bool,
) -> Result<Vec<Rebuilt>, ReadModelError> {
    let bar = Bar::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drawer = progress.then(|| bar.draw_until_done(Arc::clone(&done)));
    let (files, directories): (Vec<Kind>, Vec<Kind>) = selection
        .kinds()
        .into_iter()
        .partition(|k| !k.is_directory());
    let together = async {
        match files.len() {
            0 => Ok(Vec::new()),
            // One alone needs no group (and keeps `rebuild <one>` exactly as it was).
            1 => rebuild_one(log, root, files[0], until, &bar)
                .await
                .map(|r| vec![r]),
            _ => rebuild_files_together(log, root, files.clone(), until, &bar).await,
        }
    };
    let apart = futures::future::join_all(
        directories
            .iter()
            .map(|&kind| rebuild_one(log, root, kind, until, &bar)),
    );
    let (together, apart) = futures::future::join(together, apart).await;
    done.store(true, std::sync::atomic::Ordering::Release);
    if let Some(drawer) = drawer {
        let _ = drawer.join();
    }
    let mut rebuilt = together?;
    for result in apart {
        rebuilt.push(result?);
    }
    // In the order of `selection`, as before.
    let order = selection.kinds();
    rebuilt.sort_by_key(|r| order.iter().position(|k| *k == r.kind));
    Ok(rebuilt)
}

/// One read model's comparison, or why its live files could not be read (a corrupt file, a
/// missing generation): then it differs, and the other read models are still compared.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub kind: Kind,
    pub generation: Option<String>,
    pub sums: Result<(FileSums, FileSums), String>,
}

impl Verdict {
    pub fn equal(&self) -> bool {
        match &self.sums {
            Ok((live, rebuilt)) => {
                live.checkpoints == rebuilt.checkpoints
                    && compare(live, rebuilt).iter().all(|t| t.equal)
            }
            Err(_) => false,
        }
    }

    fn checkpoint_json(sums: &FileSums) -> Value {
        sums.checkpoints
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    json!({
                        "seq": c.seq,
                        "undecodable": c.undecodable,
                        "last_undecodable_seq": c.last_undecodable_seq,
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn to_json(&self) -> Value {
        match &self.sums {
            Ok((live, rebuilt)) => json!({
                "projection": self.kind.name(),
                "generation": self.generation,
                "equal": self.equal(),
                "live_checkpoint": Self::checkpoint_json(live),
                "rebuilt_checkpoint": Self::checkpoint_json(rebuilt),
                "tables": compare(live, rebuilt),
            }),
            Err(error) => json!({
                "projection": self.kind.name(),
                "generation": self.generation,
                "equal": false,
                "error": error,
            }),
        }
    }
}

/// The search index's digest in the shape of a file's sums: its checkpoint, and one "table",
/// `documents`, with the document count and the digest of every document.
fn index_sums(path: PathBuf) -> Result<FileSums, ReadModelError> {
    let invalid = |error: ProjectionError| ReadModelError::Invalid {
        path: path.clone(),
        reason: error.to_string(),
    };
    let reader = SearchReader::open(&path).map_err(invalid)?;
    let digest = reader.digest().map_err(invalid)?;
    Ok(FileSums {
        checkpoints: [(search::NAME.to_owned(), digest.checkpoint)]
            .into_iter()
            .collect(),
        tables: [(
            "documents".to_owned(),
            TableSum {
                rows: digest.documents,
                sha256: digest.sha256,
            },
        )]
        .into_iter()
        .collect(),
    })
}

fn sums_of(path: PathBuf) -> Result<FileSums, ReadModelError> {
    let conn = open_reader(&path).map_err(|error| ReadModelError::Invalid {
        path: path.clone(),
        reason: error.to_string(),
    })?;
    file_sums(&conn).map_err(|error| ReadModelError::Invalid {
        path,
        reason: error.to_string(),
    })
}

async fn verify_one<L: EventLog>(
    log: &L,
    root: &Path,
    kind: Kind,
    scratch: &Path,
    bar: &Bar,
) -> Result<Verdict, ReadModelError> {
    let slot = Slot::new(root, kind);
    let unreadable = |generation: Option<String>, error: ReadModelError| Verdict {
        kind,
        generation,
        sums: Err(error.to_string()),
    };
    let generation = match slot.current() {
        Ok(Some(generation)) => generation,
        Ok(None) => {
            return Ok(unreadable(
                None,
                ReadModelError::Invalid {
                    path: slot.dir().to_path_buf(),
                    reason: "no read model here (run `switchboard serve` or `switchboard \
                             rebuild` first)"
                        .to_owned(),
                },
            ));
        }
        Err(error) => return Ok(unreadable(None, error)),
    };
    let path = slot.path(&generation);
    if !path.exists() {
        let error = ReadModelError::Invalid {
            path,
            reason: "the live generation's file is missing".to_owned(),
        };
        return Ok(unreadable(Some(generation), error));
    }
    let sums = if kind.is_directory() {
        index_sums
    } else {
        sums_of
    };
    // One snapshot of the live model: its checkpoint and every table at that checkpoint. A
    // file that cannot be read is this model's verdict; a log that cannot be read (below) is
    // the command's failure.
    let live = match blocking("checksum", move || sums(path)).await {
        Ok(live) => live,
        Err(error) => return Ok(unreadable(Some(generation), error)),
    };
    let seq = live
        .checkpoints
        .get(kind.name())
        .map(|c| c.seq)
        .unwrap_or(0);
    let rebuilt_path = Slot::new(scratch, kind).path("verify");
    kind.rebuild(log, &rebuilt_path, Until::Seq(seq), REBUILD_BATCH, |p| {
        bar.update(kind, p)
    })
    .await
    .map_err(|error| ReadModelError::Projection {
        kind: kind.name(),
        error,
    })?;
    let rebuilt = blocking("checksum", move || sums(rebuilt_path)).await?;
    Ok(Verdict {
        kind,
        generation: Some(generation),
        sums: Ok((live, rebuilt)),
    })
}

/// `switchboard verify`: every read model under `root` against a rebuild in `scratch`.
pub async fn verify_models<L: EventLog>(
    log: &L,
    root: &Path,
    scratch: &Path,
    progress: bool,
) -> Result<Vec<Verdict>, ReadModelError> {
    let bar = Bar::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drawer = progress.then(|| bar.draw_until_done(Arc::clone(&done)));
    let results = futures::future::join_all(
        Kind::ALL
            .into_iter()
            .map(|kind| verify_one(log, root, kind, scratch, &bar)),
    )
    .await;
    done.store(true, std::sync::atomic::Ordering::Release);
    if let Some(drawer) = drawer {
        let _ = drawer.join();
    }
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_times_parse() {
        assert_eq!(ModelSelection::parse("all"), Ok(ModelSelection::All));
        assert_eq!(
            ModelSelection::parse("dialogs"),
            Ok(ModelSelection::One(Kind::Dialogs))
        );
        let unknown = ModelSelection::parse("dialog").unwrap_err();
        assert!(unknown.contains("one of: all, dialogs"), "{unknown}");
        assert_eq!(ModelSelection::All.kinds().len(), Kind::ALL.len());
        let at = parse_time("2026-11-22T10:00:00+03:00").expect("time");
        assert_eq!(at.to_rfc3339(), "2026-11-22T07:00:00.000000Z");
        assert!(parse_time("yesterday").is_err());
    }
}
