//! Phase 1 of `bench projections`: the seeded history of [`switchboard_dataset::history`] into a
//! fresh log, pipelined (`--window` appends in flight), each append with its message id and
//! expected last subject sequence; with `--reuse-log`, the generator runs without appending.
//! The appending helpers are shared with the live phase.

use super::measure::{disk_size, memory};
use super::{ProjectionsArgs, say};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard_core::{AnyLog, AppendRequest, EventLog, MsgId};
use switchboard_dataset::history::{Append, Generator, Item, Size, Stats};
use switchboard_dataset::log_record;

/// Log messages the generator hands over at once.
const CHUNK: usize = 1024;

/// One log message ready to append: its sequence, its number of events, the request.
pub(super) type Ready = (u64, u32, AppendRequest);

pub(super) fn ready(append: Append) -> Result<Ready, String> {
    let record = log_record(&append)?;
    let events = u32::try_from(append.events.len()).unwrap_or(u32::MAX);
    Ok((
        append.seq,
        events,
        AppendRequest {
            subject: record.subject,
            expected: append.expected,
            msg_id: MsgId::new(record.msg_id).map_err(|e| e.to_string())?,
            batch: record.batch,
        },
    ))
}

type AppendFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (u64, Result<switchboard_core::AppendAck, String>)> + Send,
    >,
>;

/// Starts an append and polls it once, so that the log receives appends in the order they
/// are started (the generator has given every one its sequence).
pub(super) async fn start_append(log: &AnyLog, seq: u64, request: AppendRequest) -> AppendFuture {
    let log = log.clone();
    let mut future: AppendFuture = Box::pin(async move {
        let ack = log.append(request).await.map_err(|e| e.to_string());
        (seq, ack)
    });
    match futures::poll!(&mut future) {
        std::task::Poll::Ready(done) => Box::pin(async move { done }),
        std::task::Poll::Pending => future,
    }
}

pub(super) fn check_ack(
    (seq, ack): (u64, Result<switchboard_core::AppendAck, String>),
) -> Result<u64, String> {
    let ack = ack.map_err(|e| format!("append of seq {seq} failed: {e}"))?;
    if ack.seq != seq || ack.duplicate {
        return Err(format!(
            "the log gave seq {} (duplicate: {}) to the message the generator numbered {seq}: \
             is the log empty and this the only writer?",
            ack.seq, ack.duplicate
        ));
    }
    Ok(seq)
}

/// What phase 1 needs.
pub(super) struct Input<'a> {
    pub log: &'a AnyLog,
    pub size: Size,
    pub args: &'a ProjectionsArgs,
}

/// The history in the log: the generator (which knows the history and its continuation), the
/// last sequence it gave, its counts and the phase's figures.
pub(super) struct Generated {
    pub generator: Generator,
    pub last_seq: u64,
    pub stats: Stats,
    pub figures: Figures,
}

/// Phase 1's figures.
pub(super) struct Figures {
    /// Generating and appending.
    pub seconds: f64,
    /// The generator's own time.
    pub generator_seconds: f64,
    pub peak_rss_bytes: Option<u64>,
    /// The embedded log's file (none for JetStream).
    pub log_bytes: Option<u64>,
}

impl Figures {
    fn events_per_sec(&self, stats: &Stats) -> f64 {
        stats.events as f64 / self.seconds.max(1e-9)
    }

    /// The report's `generate` object.
    pub fn to_json(&self, stats: &Stats) -> Value {
        json!({
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "events_per_sec": self.events_per_sec(stats).round(),
            "log_messages_per_sec": (stats.appends as f64 / self.seconds.max(1e-9)).round(),
            "generator_events_per_sec":
                (stats.events as f64 / self.generator_seconds.max(1e-9)).round(),
            "peak_rss_bytes": self.peak_rss_bytes,
        })
    }
}

/// Phase 1: the history into the log (or, with `--reuse-log`, checked against it).
pub(super) async fn run(input: Input<'_>) -> Result<Generated, String> {
    let Input { log, size, args } = input;
    say(
        args,
        format!(
            "generating {} projects, {} dialogs, {} messages, {} operators per project (seed {}) into the {} log…",
            size.projects,
            size.dialogs,
            size.messages,
            size.operators,
            size.seed,
            log.backend()
        ),
    );
    let generated = Box::pin(append_history(log, size, args.window, !args.reuse_log)).await?;
    if args.reuse_log {
        let last = log.last_seq().await.map_err(|e| e.to_string())?;
        if last != generated.last_seq {
            return Err(format!(
                "--reuse-log: the log ends at {last}, this history at {}: not the log of these \
                 size flags, or something was appended since",
                generated.last_seq
            ));
        }
    }
    let stats = generated.generator.stats().clone();
    let (gen_peak, _) = memory();
    let log_bytes = match log {
        AnyLog::Embedded(embedded) => Some(disk_size(embedded.path())),
        AnyLog::JetStream(_) => None,
    };
    let figures = Figures {
        seconds: generated.seconds,
        generator_seconds: generated.generator_seconds,
        peak_rss_bytes: gen_peak,
        log_bytes,
    };
    if args.reuse_log {
        say(
            args,
            "the log holds this history already (--reuse-log): generated without appending",
        );
    }
    say(
        args,
        format!(
            "generate      {:>10.0} events/s  ({} events in {} log messages, {:.1} s; the generator alone {:.0} events/s; {} refusals)",
            figures.events_per_sec(&stats),
            stats.events,
            stats.appends,
            generated.seconds,
            stats.events as f64 / generated.generator_seconds.max(1e-9),
            stats.refusals
        ),
    );
    Ok(Generated {
        generator: generated.generator,
        last_seq: generated.last_seq,
        stats,
        figures,
    })
}

/// The generator after appending its history.
struct Appended {
    generator: Generator,
    seconds: f64,
    generator_seconds: f64,
    last_seq: u64,
}

/// Appends the history to the log, pipelined (or only generates it when `append` is false).
async fn append_history(
    log: &AnyLog,
    size: Size,
    window: usize,
    append: bool,
) -> Result<Appended, String> {
    let first_seq = if append {
        log.last_seq().await.map_err(|e| e.to_string())? + 1
    } else {
        1
    };
    let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<Ready>>(8);
    let started = Instant::now();
    let producer = std::thread::Builder::new()
        .name("bench-generator".into())
        .spawn(move || -> Result<(Generator, Duration), String> {
            let mut generator = Generator::new(size, first_seq);
            let mut busy = Duration::ZERO;
            let mut since = Instant::now();
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in generator.by_ref() {
                if let Item::Append(append) = item {
                    chunk.push(ready(append)?);
                    if chunk.len() == CHUNK {
                        busy += since.elapsed();
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                        if chunks.blocking_send(full).is_err() {
                            return Err("the appender stopped".into());
                        }
                        since = Instant::now();
                    }
                }
            }
            busy += since.elapsed();
            if !chunk.is_empty() && chunks.blocking_send(chunk).is_err() {
                return Err("the appender stopped".into());
            }
            Ok((generator, busy))
        })
        .map_err(|e| format!("cannot start the generator thread: {e}"))?;
    let mut in_flight = FuturesOrdered::new();
    let mut last_seq = first_seq.saturating_sub(1);
    while let Some(chunk) = received.recv().await {
        if !append {
            last_seq = chunk.last().map_or(last_seq, |r| r.0);
            continue;
        }
        for (seq, _, request) in chunk {
            in_flight.push_back(start_append(log, seq, request).await);
            while in_flight.len() >= window.max(1) {
                if let Some(done) = in_flight.next().await {
                    last_seq = check_ack(done)?;
                }
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        last_seq = check_ack(done)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (generator, busy) = tokio::task::spawn_blocking(move || producer.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the generator thread panicked".to_owned())??;
    Ok(Appended {
        generator,
        seconds,
        generator_seconds: busy.as_secs_f64(),
        last_seq,
    })
}
