//! What the phases of `bench projections` measure with: latency histograms and their
//! quantiles, the process's memory, the machine's load, the bytes of a read model on disk.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 is valid")))
}

pub(super) fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record(
        u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 600_000_000),
    );
}

/// p50/p99/max in microseconds, or null when nothing was measured.
pub(super) fn quantiles(h: &Histogram<u64>) -> Value {
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

pub(super) fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// `VmHWM` (peak) and `VmRSS` of this process in bytes, from /proc/self/status.
pub(super) fn memory() -> (Option<u64>, Option<u64>) {
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
pub(super) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub(super) fn load_average() -> Option<Vec<f64>> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect(),
    )
}

/// Bytes of a file with its `-wal` and `-shm` companions, or of everything under a directory.
pub(super) fn disk_size(path: &Path) -> u64 {
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

pub(super) fn remove_model(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}
