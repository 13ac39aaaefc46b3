//! `switchboard bench export` at a tiny size through the real binary: it fills a data
//! directory, starts `serve`, exports the first project as CSV and XLSX, and the JSON line has
//! each format's figures (the figures themselves are the bench's business, not the test's).

use crate::common::{json_lines, run};
use serde_json::Value;

#[test]
fn bench_export_reports_both_formats_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("export");
    let data_arg = data.to_str().unwrap();
    let lines = json_lines(&[
        "bench",
        "export",
        "--json",
        "--projects",
        "2",
        "--dialogs",
        "150",
        "--messages",
        "900",
        "--operators",
        "4",
        "--seed",
        "3",
        "--data",
        data_arg,
    ]);
    assert_eq!(lines.len(), 1, "--json prints only the JSON line");
    let report: &Value = &lines[0];
    assert_eq!(report["bench"], "export");
    assert_eq!(report["size"]["dialogs"], 150);
    let csv = &report["formats"]["csv"];
    let rows = csv["rows"].as_u64().unwrap();
    // The first project's clients: some of the two projects' 150 (spread at random), not all.
    assert!(rows > 0 && rows < 150, "{report}");
    for format in ["csv", "xlsx"] {
        let figures = &report["formats"][format];
        assert!(figures["bytes"].as_u64().unwrap() > 0, "{format}: {report}");
        assert!(
            figures["seconds"].as_f64().unwrap() > 0.0,
            "{format}: {report}"
        );
        assert!(
            figures["rows_per_second"].as_f64().unwrap() > 0.0,
            "{format}: {report}"
        );
        assert!(
            figures["serve_rss_peak_mib"].as_f64().unwrap() > 0.0,
            "{format}: {report}"
        );
    }
    // Unknown formats are refused before anything is set up.
    let never = dir.path().join("never");
    let refused = run(&[
        "bench",
        "export",
        "--formats",
        "pdf",
        "--data",
        never.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pdf"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!never.exists());
}
