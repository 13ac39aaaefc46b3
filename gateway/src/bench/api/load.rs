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
        },
    ))
}
