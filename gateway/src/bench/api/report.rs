//! The figures: a line per phase on stderr, the targets of issue 16 with ✓ or ✗, and the last
//! stdout line, one JSON object with every figure.

use super::kinds::Kind;
use super::live::LiveRun;
use super::load::Phase;
use super::{ApiArgs, say, setup};
use serde_json::{Map, Value, json};
use switchboard_dataset::history::Size;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug)]
pub struct Input<'a> {
    pub args: &'a ApiArgs,
    pub size: Size,
    pub load_before: Option<Vec<f64>>,
    pub phases: &'a [Phase],
    pub static_body: usize,
    pub sessions: usize,
    pub rss_after: &'a [(Kind, setup::Memory)],
    pub live: &'a [LiveRun],
    pub serve_peak_rss: u64,
    pub serve_rss: u64,
}

/// The load average (1, 5, 15 minutes).
pub fn load_average() -> Option<Vec<f64>> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace()
        .take(3)
        .map(|x| x.parse().ok())
        .collect()
}

/// One phase in a line.
pub fn line(phase: &Phase, rss: u64) -> String {
    let total = phase.total();
    let ms = |q: f64| total.latency.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "{:<16} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}  serve rss {:.2} GiB  cpu serve {:.2} bench {:.2} cores",
        phase.kind.name(),
        total.requests() as f64 / phase.elapsed.as_secs_f64().max(1e-9),
        ms(0.5),
        ms(0.99),
        total.latency.max() as f64 / 1000.0,
        total.errors(),
        rss as f64 / GIB,
        phase.serve_cpu.as_secs_f64() / phase.elapsed.as_secs_f64().max(1e-9),
        phase.bench_cpu.as_secs_f64() / phase.elapsed.as_secs_f64().max(1e-9),
    )
}

fn phase_json(phase: &Phase, static_rate: f64) -> Value {
    let mut figures = phase.total().json(phase.elapsed);
    let rate = figures["requests_per_sec"].as_f64().unwrap_or(0.0);
    figures["ratio_to_static"] = json!(if static_rate > 0.0 {
        (rate / static_rate * 1000.0).round() / 1000.0
    } else {
        0.0
    });
    let requests = figures["requests"].as_f64().unwrap_or(0.0).max(1.0);
    let seconds = phase.elapsed.as_secs_f64().max(1e-9);
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    figures["serve_cpu_ms_per_request"] =
        json!(round(phase.serve_cpu.as_secs_f64() * 1000.0 / requests));
    figures["bench_cpu_ms_per_request"] =
        json!(round(phase.bench_cpu.as_secs_f64() * 1000.0 / requests));
    figures["serve_cpu_cores"] = json!(round(phase.serve_cpu.as_secs_f64() / seconds));
    figures["bench_cpu_cores"] = json!(round(phase.bench_cpu.as_secs_f64() / seconds));
    if phase.kind == Kind::Mix {
        let by_kind: Map<String, Value> = phase
            .tallies
            .iter()
            .map(|(k, t)| (k.name().to_owned(), t.json(phase.elapsed)))
            .collect();
        figures["by_kind"] = Value::Object(by_kind);
    }
    figures
}

/// (name, measured, target, met) of every target this bench measures.
fn targets(
    phases: &Map<String, Value>,
    live: &[LiveRun],
    peak: u64,
) -> Vec<(String, f64, String, bool)> {
    let f = |kind: &str, field: &str| {
        phases
            .get(kind)
            .and_then(|p| p[field].as_f64())
            .unwrap_or(f64::NAN)
    };
    let peak_gib = peak as f64 / GIB;
    // The live targets are for 10k streams: the run with the most streams stands for them.
    let most = live.iter().max_by_key(|run| run.streams);
    // No change seen is no latency (an empty histogram answers 0).
    let live_p99 = most
        .filter(|run| !run.latency.is_empty())
        .map_or(f64::NAN, |run| {
            run.latency.value_at_quantile(0.99) as f64 / 1000.0
        });
    let idle_kb = most.map_or(f64::NAN, |run| run.per_stream() / 1024.0);
    let streams = most.map_or(0, |run| run.streams);
    let mut targets = vec![
        (
            "list requests/s".into(),
            f("list", "requests_per_sec"),
            "≥ 5,000".into(),
            f("list", "requests_per_sec") >= 5000.0,
        ),
        (
            "list p99 ms".into(),
            f("list", "p99_ms"),
            "≤ 10".into(),
            f("list", "p99_ms") <= 10.0,
        ),
        (
            "counters p99 ms".into(),
            f("counters", "p99_ms"),
            "≤ 5".into(),
            f("counters", "p99_ms") <= 5.0,
        ),
        (
            "commands/s".into(),
            f("commands", "requests_per_sec"),
            "≥ 5,000".into(),
            f("commands", "requests_per_sec") >= 5000.0,
        ),
        (
            "commands p99 ms".into(),
            f("commands", "p99_ms"),
            "≤ 20".into(),
            f("commands", "p99_ms") <= 20.0,
        ),
        (
            "serve peak RSS GiB".into(),
            (peak_gib * 1000.0).round() / 1000.0,
            "≤ 2.5".into(),
            peak_gib <= 2.5,
        ),
    ];
    if most.is_some() {
        targets.push((
            format!("live p99 ms ({streams} streams)"),
            live_p99,
            "≤ 50".into(),
            live_p99 <= 50.0,
        ));
        targets.push((
            format!("idle stream KB ({streams})"),
            (idle_kb * 100.0).round() / 100.0,
            "≤ 20".into(),
            idle_kb <= 20.0,
        ));
    }
    targets
}

pub fn print(input: Input<'_>) {
    let Input {
        args,
        size,
        load_before,
        phases,
        static_body,
        sessions,
        rss_after,
        live,
        serve_peak_rss,
        serve_rss,
    } = input;
    let static_rate = phases
        .iter()
        .find(|p| p.kind == Kind::Static)
        .map_or(0.0, |p| {
            p.total().requests() as f64 / p.elapsed.as_secs_f64().max(1e-9)
        });
    let by_phase: Map<String, Value> = phases
        .iter()
        .map(|p| (p.kind.name().to_owned(), phase_json(p, static_rate)))
        .collect();
    let mut targets = targets(&by_phase, live, serve_peak_rss);
    // The same target read as what the process holds: the read models' mapped pages once.
    let pss_gib = rss_after.iter().map(|(_, m)| m.pss).max().unwrap_or(0) as f64 / GIB;
    targets.push((
        "serve PSS GiB (most after a phase)".into(),
        (pss_gib * 1000.0).round() / 1000.0,
        "≤ 2.5".into(),
        pss_gib <= 2.5,
    ));
    say(args, "");
    for (name, measured, target, met) in &targets {
        say(
            args,
            format!(
                "{name:<20} {measured:>10.2}  target {target:<8} {}",
                if *met { "✓" } else { "✗" }
            ),
        );
    }
    let report = json!({
        "bench": "api",
        "size": super::super::size_json(size),
        "clients": args.clients,
        "accounts": sessions,
        "seconds_per_phase": args.seconds,
        "warmup_seconds": args.warmup,
        "static_body_bytes": static_body,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "phases": by_phase,
        "serve": {
            "peak_rss_bytes": serve_peak_rss,
            "rss_bytes": serve_rss,
            "rss_after_phase": rss_after.iter().map(|(k, m)| (k.name().to_owned(), json!(m.rss))).collect::<Map<_, _>>(),
            "pss_after_phase": rss_after.iter().map(|(k, m)| (k.name().to_owned(), json!(m.pss))).collect::<Map<_, _>>(),
            "anon_after_phase": rss_after.iter().map(|(k, m)| (k.name().to_owned(), json!(m.anon))).collect::<Map<_, _>>(),
        },
        "live": live.iter().map(LiveRun::json).collect::<Vec<_>>(),
        "targets": targets.iter().map(|(name, measured, target, met)| json!({
            "name": name, "measured": measured, "target": target, "met": met,
        })).collect::<Vec<_>>(),
    });
    println!("{report}");
}
