//! A phase: every client runs one kind of step in a closed loop (the next request when the
//! answer is in) for a fixed time; the clients' tallies are merged per kind of request.

use super::client::Tally;
use super::kinds::{Client, Kind};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What a phase measured: per kind of request (a mix has several), and how long it ran.
#[derive(Debug)]
pub struct Phase {
    pub kind: Kind,
    pub elapsed: Duration,
    pub tallies: BTreeMap<Kind, Tally>,
    /// CPU time (user + system) over the measured time: `serve`'s, and the bench process's
    /// (clients and the static server).
    pub serve_cpu: Duration,
    pub bench_cpu: Duration,
}

impl Phase {
    /// Every request of the phase together.
    pub fn total(&self) -> Tally {
        let mut total = Tally::default();
        for tally in self.tallies.values() {
            total.merge(tally);
        }
        total
    }
}

/// Runs `kind` on every client for `seconds` after `warmup` seconds that are not counted;
/// the clients come back for the next phase.
pub async fn run(
    serve_pid: u32,
    clients: Vec<Client>,
    kind: Kind,
    warmup: f64,
    seconds: f64,
) -> Result<(Vec<Client>, Phase), String> {
    let start = Instant::now();
    let counted_from = start + Duration::from_secs_f64(warmup);
    let end = counted_from + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut tallies: HashMap<Kind, Tally> = HashMap::new();
                let mut warm = Instant::now() >= counted_from;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    if !warm && now >= counted_from {
                        // What the warm-up recorded is dropped.
                        tallies.clear();
                        warm = true;
                    }
                    client.step(kind, &mut tallies).await;
                }
                (client, tallies)
            })
        })
        .collect();
    tokio::time::sleep_until(counted_from.into()).await;
    let cpu_before = (cpu_time(Some(serve_pid)), cpu_time(None));
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = (cpu_time(Some(serve_pid)), cpu_time(None));
    let mut merged: BTreeMap<Kind, Tally> = BTreeMap::new();
    let mut back = Vec::new();
    for task in tasks {
        let (client, tallies) = task.await.map_err(|e| e.to_string())?;
        for (k, tally) in tallies {
            merged.entry(k).or_default().merge(&tally);
        }
        back.push(client);
    }
    let elapsed = Instant::now().saturating_duration_since(counted_from);
    Ok((
        back,
        Phase {
            kind,
            elapsed,
            tallies: merged,
            serve_cpu: cpu_after.0.saturating_sub(cpu_before.0),
            bench_cpu: cpu_after.1.saturating_sub(cpu_before.1),
        },
    ))
}

/// utime + stime of a process (`None`: this one), from `/proc/<pid>/stat`; zero when unreadable.
pub(crate) fn cpu_time(pid: Option<u32>) -> Duration {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let ticks = std::fs::read_to_string(path).ok().and_then(|stat| {
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<u64> = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        Some(fields.iter().sum::<u64>())
    });
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}
