//! Phase 4 of `bench projections`: runners follow the log while a writer appends the
//! continuation of the history at `--live-rate` events per second; the apply rate, and per read
//! model the time from an append's acknowledgement to the runner's checkpoint covering it.

use super::generate::{Generated, Ready, check_ack, ready, start_append};
use super::measure::{histogram, ms, record};
use super::{ProjectionsArgs, model_path, say};
use crate::readmodels::{Kind, open_stores};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::AnyLog;
use switchboard_dataset::history::Item;
use switchboard_projections::{ProjectionRunner, RunnerOptions};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// What phase 4 needs.
pub(super) struct Input<'a> {
    pub log: &'a AnyLog,
    /// The history in the log, whose continuation is appended.
    pub generated: &'a Generated,
    /// The directory of the rebuilt read models, which the runners continue.
    pub dir: &'a Path,
    pub args: &'a ProjectionsArgs,
}

/// Phase 4: its figures (the report's `live` object), printed.
pub(super) async fn run(input: Input<'_>) -> Result<Value, String> {
    let Input {
        log,
        generated,
        dir,
        args,
    } = input;
    let live_figures = Box::pin(live(log, generated, dir, args)).await?;
    say(
        args,
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
    Ok(live_figures)
}

/// The appends of the live phase: the history going on, warm-up included.
struct Continuation {
    appends: Vec<Ready>,
    /// The sequence of the last one.
    last_seq: u64,
    /// Events appended before the measured part.
    warmup_events: u64,
}

/// The same inbox going on, for the warm-up and `--live-seconds` at `--live-rate`.
fn continuation(generated: &Generated, args: &ProjectionsArgs) -> Result<Continuation, String> {
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
    Ok(Continuation {
        appends,
        last_seq,
        warmup_events,
    })
}

/// Every read model's runner, each shared with its lag tracker.
type Runners = Vec<(Kind, Arc<ProjectionRunner<AnyLog>>)>;

/// Starts the runners on the read models in `dir` and waits until they have caught up with
/// `from_seq`.
async fn start_runners(log: &AnyLog, dir: &Path, from_seq: u64) -> Result<Runners, String> {
    // One group, as `serve` runs them: the log is read and decoded once for every model.
    let wanted = Kind::ALL
        .iter()
        .map(|&kind| (kind, model_path(kind, dir)))
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
    for (&model, runner) in Kind::ALL.iter().zip(started) {
        runner
            .wait_for(from_seq, Duration::from_secs(600))
            .await
            .map_err(|e| e.to_string())?;
        runners.push((model, Arc::new(runner)));
    }
    Ok(runners)
}

/// Sends each acknowledged append to a read model's tracker: its sequence, when it was
/// acknowledged, whether it is past the warm-up.
type LagSender = UnboundedSender<(u64, Instant, bool)>;
/// A tracker's lags, after the warm-up and in it.
type Tracker = JoinHandle<Result<(Kind, Histogram<u64>, Histogram<u64>), String>>;

fn track_lags(runners: &Runners) -> (Vec<LagSender>, Vec<Tracker>) {
    // One tracker per read model: the time from an append's ack to its checkpoint covering it,
    // apart for the appends of the warm-up (`warm` is true for those after it).
    let mut senders = Vec::new();
    let mut trackers = Vec::new();
    for (kind, runner) in runners {
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
    (senders, trackers)
}

/// What the paced appender did.
struct Paced {
    started: Instant,
    /// Seconds until the last acknowledgement.
    appended: f64,
    sent_events: u64,
    /// Log messages appended.
    total: usize,
    /// When the warm-up ended, and the events acknowledged then.
    measured_from: Option<(Instant, u64)>,
}

/// Appends at `--live-rate` events per second, `--window` in flight at most, and tells the
/// trackers of every acknowledgement (they stop when it returns).
async fn append_paced(
    log: &AnyLog,
    appends: Vec<Ready>,
    warmup_events: u64,
    senders: Vec<LagSender>,
    args: &ProjectionsArgs,
) -> Result<Paced, String> {
    let started = Instant::now();
    let mut in_flight = FuturesOrdered::new();
    let mut sent_events = 0u64;
    // Events acknowledged so far (an ack is the log message's: `n` events).
    let mut acked_events = 0u64;
    // The events of the appends in flight, in the order they complete (`FuturesOrdered`).
    let mut in_flight_events = std::collections::VecDeque::new();
    let mut measured_from = None;
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
    Ok(Paced {
        started,
        appended,
        sent_events,
        total,
        measured_from,
    })
}

/// Phase 4's figures.
async fn live(
    log: &AnyLog,
    generated: &Generated,
    dir: &Path,
    args: &ProjectionsArgs,
) -> Result<Value, String> {
    let Continuation {
        appends,
        last_seq,
        warmup_events,
    } = continuation(generated, args)?;
    let runners = start_runners(log, dir, generated.last_seq).await?;
    let (senders, trackers) = track_lags(&runners);
    let Paced {
        started,
        appended,
        sent_events,
        total,
        measured_from,
    } = append_paced(log, appends, warmup_events, senders, args).await?;
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
        .filter(|(m, _)| *m != Kind::Search)
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
        if kind != Kind::Search {
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
