//! `switchboard bench api` at a tiny size through the real binary: it fills a data directory,
//! builds the read models, starts `serve`, and the JSON line has every figure of every phase,
//! with answered requests and no failures, and the live runs saw every change they made
//! (timings are the bench's business, not the test's).

use crate::common::json_lines;
use serde_json::Value;

#[test]
fn bench_api_reports_every_phase_with_answered_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("api");
    let data_arg = data.to_str().unwrap();
    let lines = json_lines(&[
        "bench",
        "api",
        "--json",
        "--projects",
        "2",
        "--dialogs",
        "120",
        "--messages",
        "1200",
        "--operators",
        "5",
        "--seed",
        "7",
        "--clients",
        "6",
        "--accounts",
        "4",
        "--seconds",
        "0.7",
        "--warmup",
        "0.2",
        "--live-streams",
        "3,9",
        "--live-rate",
        "40",
        "--data",
        data_arg,
    ]);
    assert_eq!(lines.len(), 1, "--json prints only the JSON line");
    let report: &Value = &lines[0];

    assert_eq!(report["clients"], 6);
    assert_eq!(report["accounts"], 4);
    for kind in [
        "static",
        "list",
        "counters",
        "dialog_timeline",
        "search",
        "commands",
        "mix",
    ] {
        let phase = &report["phases"][kind];
        let requests = phase["requests"].as_u64().unwrap_or(0);
        assert!(requests > 0, "{kind}: no request was made: {phase}");
        assert_eq!(phase["errors"], 0, "{kind}: failed requests: {phase}");
        assert_eq!(
            phase["statuses"]["200"].as_u64(),
            Some(requests),
            "{kind}: {phase}"
        );
        for field in [
            "requests_per_sec",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
            "ratio_to_static",
        ] {
            assert!(
                phase[field].as_f64().is_some_and(|x| x > 0.0),
                "{kind}.{field}: {phase}"
            );
        }
        assert!(
            phase["mean_body_bytes"].as_u64().unwrap_or(0) > 0,
            "{kind}: {phase}"
        );
    }
    assert_eq!(report["phases"]["static"]["ratio_to_static"], 1.0);
    let by_kind = report["phases"]["mix"]["by_kind"].as_object().unwrap();
    assert!(
        by_kind.contains_key("list") && by_kind.contains_key("counters"),
        "{by_kind:?}"
    );
    // The static body is as large as a list page (a list page is a few KB of JSON).
    assert!(
        report["static_body_bytes"].as_u64().unwrap() > 500,
        "{report}"
    );
    let static_bytes = report["phases"]["static"]["mean_body_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(static_bytes, report["static_body_bytes"].as_u64().unwrap());

    let peak = report["serve"]["peak_rss_bytes"].as_u64().unwrap();
    let rss = report["serve"]["rss_bytes"].as_u64().unwrap();
    assert!(
        peak >= rss && rss > 1_000_000,
        "serve RSS {rss}, peak {peak}"
    );
    // After each phase: the proportional set (what the process holds, mapped read-model pages
    // once) is read, and is at most the resident set, which counts them once per mapping.
    for (phase, rss) in report["serve"]["rss_after_phase"].as_object().unwrap() {
        let pss = report["serve"]["pss_after_phase"][phase].as_u64().unwrap();
        let anon = report["serve"]["anon_after_phase"][phase].as_u64().unwrap();
        let rss = rss.as_u64().unwrap();
        assert!(
            pss > 0 && anon > 0 && pss <= rss + 1_000_000 && anon <= rss,
            "{phase}: rss {rss}, pss {pss}, anon {anon}"
        );
    }
    // Live: every stream connected, every change of the counted seconds seen on a probe
    // stream, and an idle stream's memory measured.
    let live = report["live"].as_array().unwrap();
    assert_eq!(live.len(), 2, "{live:?}");
    for (run, streams) in live.iter().zip([3, 9]) {
        assert_eq!(run["streams"], streams, "{run}");
        assert_eq!(run["connected"], streams, "{run}");
        assert_eq!(run["append_errors"], 0, "{run}");
        assert!(run["matched"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["unseen"], 0, "{run}");
        assert!(run["p99_ms"].as_f64().is_some_and(|x| x > 0.0), "{run}");
        assert!(run["events_received"].as_u64().unwrap() > 0, "{run}");
        assert!(run["serve_rss_idle_bytes"].as_u64().unwrap() > 0, "{run}");
    }
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 9, "{targets:?}");
    assert!(
        targets
            .iter()
            .all(|t| t["met"].is_boolean() && t["measured"].is_number())
    );

    // The data directory is in serve's layout and can be measured again as it is.
    assert!(data.join("read/dialogs/CURRENT").exists());
    assert!(data.join("credentials.sqlite").exists());
}
