//! `switchboard bench projections` at a tiny size through the real binary: the JSON line has
//! every figure, and the log it filled holds exactly the history `bench dataset` writes.

use serde_json::Value;
use std::process::Command;

const SIZE: [&str; 10] = [
    "--projects",
    "2",
    "--dialogs",
    "150",
    "--messages",
    "1500",
    "--operators",
    "5",
    "--seed",
    "11",
];

fn switchboard(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "switchboard {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| &v[key])
}

#[test]
fn bench_projections_reports_every_figure_on_the_dataset_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench");
    let mut args = vec!["bench", "projections", "--json"];
    args.extend(SIZE);
    let data_arg = data.to_str().unwrap();
    args.extend([
        "--data",
        data_arg,
        "--samples",
        "5",
        "--walk-projects",
        "1",
        "--deep-pages",
        "30",
        "--page-rows",
        "10",
        "--deep-from-page",
        "2",
        "--live-seconds",
        "0.5",
        "--live-rate",
        "2000",
    ]);
    let output = switchboard(&args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "--json prints only the JSON line"
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    for number in [
        "counts.events",
        "counts.messages",
        "generate.events_per_sec",
        "generate.generator_events_per_sec",
        "rebuild.dialogs.events_per_sec",
        "rebuild.timeline.events_per_sec",
        "rebuild.card.events_per_sec",
        "rebuild.project.events_per_sec",
        "rebuild.all_sqlite.events_per_sec",
        "rebuild.all.events_per_sec",
        "rebuild_breakdown.read_us_per_event",
        "rebuild_breakdown.decode_us_per_event",
        "rebuild_breakdown.apply_us_per_event.dialogs",
        "rebuild_breakdown.apply_us_per_event.timeline",
        "queries.list.open.admin.filters_0.first_page.p99_us",
        "queries.list.open.operator.filters_1.first_page.p50_us",
        "queries.list.all.admin.filters_3.first_page.p99_us",
        "queries.list.all.admin.filters_0.deep_pages.p99_us",
        "queries.list.all.admin.filters_0.deepest_row",
        "queries.counters.admin.p99_us",
        "queries.counters.operator.p99_us",
        "queries.list_worst_p99_us",
        "queries.counters_worst_p99_us",
        "live.append_events_per_sec",
        "live.apply_events_per_sec",
        "live.lag.dialogs.p99_ms",
        "live.lag.timeline.p99_ms",
        "live.lag.card.p99_ms",
        "live.lag.search.p99_ms",
        "rebuild.search.events_per_sec",
        "rebuild_breakdown.apply_us_per_event.search",
        "search.word.p99_us",
        "search.substring.p99_us",
        "search.newest_first.p99_us",
        "search.worst_p99_us",
        "search.hits",
        "sizes_bytes.search",
        "live.lag_worst_p99_ms",
        "sizes_bytes.dialogs",
        "sizes_bytes.timeline",
        "sizes_bytes.card",
        "sizes_bytes.total",
        "sizes_bytes.log",
        "peak_rss_bytes",
        "generate.peak_rss_bytes",
    ] {
        let value = at(&report, number);
        assert!(
            value.as_f64().is_some_and(|v| v > 0.0),
            "{number} is {value}"
        );
    }
    assert_eq!(at(&report, "counts.messages").as_u64(), Some(1500));
    assert_eq!(at(&report, "counts.refusals").as_u64(), Some(0));
    assert!(at(&report, "live.events").as_u64().unwrap() >= 1000);
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 10);
    for target in targets {
        assert!(target["name"].is_string() && target["target"].is_string());
        assert!(target["met"].is_boolean() || target["measured"].is_null());
    }
    let total: u64 = ["dialogs", "timeline", "card", "project", "search"]
        .iter()
        .map(|k| report["sizes_bytes"][*k].as_u64().unwrap())
        .sum();
    assert!(report["sizes_bytes"]["total"].as_u64().unwrap() >= total);

    // The log the bench filled starts with exactly the history of `bench dataset`, line for line
    // as `events tail` prints it; the live phase's appends follow.
    let out = dir.path().join("dataset");
    let mut dataset = vec!["bench", "dataset", "--json", "--out", out.to_str().unwrap()];
    dataset.extend(SIZE);
    switchboard(&dataset);
    let expected = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let tail = switchboard(&["events", "tail", "--data", data_arg]);
    let tail = String::from_utf8(tail.stdout).unwrap();
    let history_lines = expected.lines().count();
    assert_eq!(
        report["counts"]["events"].as_u64(),
        Some(history_lines as u64)
    );
    assert!(
        tail.lines().count() > history_lines,
        "the live appends follow"
    );
    for (n, (got, want)) in tail.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {n}");
    }
}
