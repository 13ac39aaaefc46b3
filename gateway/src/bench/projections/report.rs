//! The end of `bench projections`: every figure against its target (printed with ✓ or ✗),
//! and the one JSON object of the last stdout line.

use super::generate::Generated;
use super::measure::{load_average, memory};
use super::{ProjectionsArgs, queries, rebuild, say};
use crate::bench::{size_json, stats_json};
use serde_json::{Map, Value, json};
use switchboard_core::{AnyLog, EventLog};
use switchboard_dataset::history::Size;

/// Every phase's figures, and what the report says of the run.
pub(super) struct Input<'a> {
    pub log: &'a AnyLog,
    pub size: Size,
    pub load_before: Option<Vec<f64>>,
    pub generated: &'a Generated,
    pub rebuilt: rebuild::Figures,
    pub sizes: rebuild::Sizes,
    pub breakdown: Value,
    pub queried: queries::Figures,
    pub live: Value,
    /// Whether the peak RSS could be reset after the generation.
    pub peak_reset: bool,
    /// The peak RSS of each phase after the generation.
    pub phase_peaks: Map<String, Value>,
    pub args: &'a ProjectionsArgs,
}

/// Prints the targets table (stderr) and the JSON object (the last stdout line).
pub(super) fn print(input: Input<'_>) {
    let Input {
        log,
        size,
        load_before,
        generated,
        rebuilt,
        sizes,
        breakdown,
        queried,
        live,
        peak_reset,
        phase_peaks,
        args,
    } = input;
    let stats = &generated.stats;
    // The peak since the generation: the largest of the phases' (each reset the count).
    let (_, rss) = memory();
    let peak = phase_peaks.values().filter_map(Value::as_u64).max();
    let load_after = load_average();

    let targets = targets(&rebuilt, &queried, &live, &sizes, peak);
    say(
        args,
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
            args,
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
        "counts": stats_json(stats),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "generate": generated.figures.to_json(stats),
        "rebuild": rebuilt.rates,
        "rebuild_breakdown": breakdown,
        "queries": queried.queries,
        "search": queried.search,
        "live": live,
        "sizes_bytes": Value::Object(sizes.by_model),
        "peak_rss_bytes": peak,
        "peak_rss_reset_after_generate": peak_reset,
        "peak_rss_bytes_by_phase": Value::Object(phase_peaks),
        "rss_bytes": rss,
        "targets": target_json,
    });
    println!("{report}");
}

/// Every figure with a target.
fn targets(
    rebuilt: &rebuild::Figures,
    queried: &queries::Figures,
    live: &Value,
    sizes: &rebuild::Sizes,
    peak: Option<u64>,
) -> Vec<Goal> {
    let ev = |v: &Value| v["events_per_sec"].as_f64();
    let us_to_ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
    vec![
        at_least(
            "rebuild, SQLite read models together",
            100_000.0,
            ev(&rebuilt.rates["all_sqlite"]),
            "events/s",
        ),
        at_least(
            "rebuild, all incl. search",
            50_000.0,
            ev(&rebuilt.rates["all"]),
            "events/s",
        ),
        at_least(
            "live apply",
            30_000.0,
            live["apply_events_per_sec"].as_f64(),
            "events/s",
        ),
        at_most(
            "append→visible p99 (slowest SQLite model)",
            100.0,
            live["lag_worst_p99_ms"].as_f64(),
            "ms",
        ),
        at_most(
            "append→searchable p99 (design: within 1 s)",
            1000.0,
            live["lag"]["search"]["p99_ms"].as_f64(),
            "ms",
        ),
        at_most(
            "list page p99, any depth, ≤ 3 filters",
            2.0,
            us_to_ms(queried.queries["list_worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "counters + badges p99",
            1.0,
            us_to_ms(queried.queries["counters_worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "search p99 (word, substring, newest first)",
            20.0,
            us_to_ms(queried.search["worst_p99_us"].as_u64()),
            "ms",
        ),
        at_most(
            "read models on disk",
            3.0,
            Some(sizes.total as f64 / 1e9),
            "GB",
        ),
        at_most(
            "peak RSS",
            2.0,
            peak.map(|b| b as f64 / (1u64 << 30) as f64),
            "GiB",
        ),
    ]
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
