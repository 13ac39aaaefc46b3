//! The live part of `bench api` (F10, issue 16): `GET /v1/live` streams connected while
//! changes arrive at a fixed rate.
//!
//! For each stream count: the streams are opened, spread evenly over the live accounts (every
//! operator of the dataset unless `--live-accounts` says fewer, an admin of each project
//! first): a stream is one operator's browser, whose tabs share it; `serve`'s RSS before and
//! after, once they are idle, gives the memory of an idle stream. Then appenders change dialogs at `--live-rate` per second, open loop (a change
//! is sent when it is due, whatever the answers before it), each a `pin` or `unpin` of a
//! dialog of the sessions' own lists through `POST /v1/dialogs/{id}/actions` — an append that
//! changes the row every viewer of the dialog sees, the path an arriving message takes from the
//! log to the streams. One stream per live account is a probe: it matches each `row` event's `id`
//! (the log sequence) with the sequence the appender's answer named, and the latency is from
//! the moment the appender sent the request to the event's arrival. The other streams read
//! and drop what they receive.

use super::client::Conn;
use super::load::cpu_time;
use super::setup::{Session, rss_of};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Connections the appenders send on.
const APPENDERS: usize = 32;

/// What one stream count measured.
#[derive(Debug)]
pub struct LiveRun {
    pub streams: usize,
    /// The accounts the streams are spread over.
    pub accounts: usize,
    pub connected: usize,
    pub rss_before: u64,
    pub rss_idle: u64,
    pub rate: f64,
    pub seconds: f64,
    pub appends: u64,
    pub append_errors: u64,
    /// Append → event on a probe stream, µs.
    pub latency: Histogram<u64>,
    /// Changes no probe saw within the wait after the last append.
    pub unseen: u64,
    /// Events all streams received, and their bytes.
    pub events: u64,
    pub bytes: u64,
    pub serve_cpu: Duration,
}

impl LiveRun {
    /// Bytes of `serve`'s memory per connected idle stream.
    pub fn per_stream(&self) -> f64 {
        self.rss_idle.saturating_sub(self.rss_before) as f64 / self.connected.max(1) as f64
    }

    pub fn json(&self) -> Value {
        // No change seen is no latency (an empty histogram answers 0): null.
        let ms = |q: f64| {
            (!self.latency.is_empty())
                .then(|| (self.latency.value_at_quantile(q) as f64 / 10.0).round() / 100.0)
        };
        json!({
            "streams": self.streams,
            "stream_accounts": self.accounts,
            "connected": self.connected,
            "serve_rss_before_bytes": self.rss_before,
            "serve_rss_idle_bytes": self.rss_idle,
            "idle_stream_bytes": self.per_stream().round(),
            "rate_asked": self.rate,
            "seconds": self.seconds,
            "appends_per_sec": (self.appends as f64 / self.seconds.max(1e-9)).round(),
            "append_errors": self.append_errors,
            "matched": self.latency.len(),
            "unseen": self.unseen,
            "p50_ms": ms(0.5),
            "p90_ms": ms(0.9),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "events_received": self.events,
            "bytes_received": self.bytes,
            "serve_cpu_cores": (self.serve_cpu.as_secs_f64() / self.seconds.max(1e-9) * 1000.0).round() / 1000.0,
        })
    }

    pub fn line(&self) -> String {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "live {:>6} streams ({} up, {} accounts)  idle {:>6.1} KB/stream  {:>5.0} changes/s  append→event p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  matched {} unseen {}  errors {}  cpu serve {:.2} cores",
            self.streams,
            self.connected,
            self.accounts,
            self.per_stream() / 1024.0,
            self.appends as f64 / self.seconds.max(1e-9),
            ms(0.5),
            ms(0.99),
            self.latency.max() as f64 / 1000.0,
            self.latency.len(),
            self.unseen,
            self.append_errors,
            self.serve_cpu.as_secs_f64() / self.seconds.max(1e-9),
        )
    }
}

/// A dialog an appender changes, as one session sees it.
#[derive(Debug, Clone)]
pub struct Target {
    pub session: usize,
    pub dialog: String,
    pub pinned: bool,
}

/// The dialogs of the sessions' first list pages, each once (the session that listed it first),
/// pinned or not as the pages say: a `pin` of a pinned dialog changes nothing and would be
/// waited for in vain.
pub fn targets(pages: &[Value]) -> Vec<Target> {
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    for (session, page) in pages.iter().enumerate() {
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(dialog) = item["dialog"].as_str()
                && seen.insert(dialog.to_owned())
            {
                targets.push(Target {
                    session,
                    dialog: dialog.to_owned(),
                    pinned: item["pinned"].as_bool().unwrap_or(false),
                });
            }
        }
    }
    targets
}

/// Shared by the streams: what they received.
#[derive(Default)]
struct Received {
    connected: AtomicUsize,
    failed: AtomicUsize,
    events: AtomicU64,
    bytes: AtomicU64,
}

/// Runs one stream count: opens `streams` streams over `streamers`, measures their idle
/// memory, then appends (as `sessions`) at `rate` per second for `warmup` + `seconds` (only
/// the last `seconds` counted).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    addr: SocketAddr,
    serve_pid: u32,
    sessions: &[Session],
    streamers: &[Session],
    targets: &mut Vec<Target>,
    streams: usize,
    rate: f64,
    warmup: f64,
    seconds: f64,
) -> Result<LiveRun, String> {
    if targets.is_empty() {
        return Err("no dialog to change: the sessions' lists are empty".into());
    }
    if streamers.is_empty() {
        return Err("no account to stream as".into());
    }
    let rss_before = rss_of(serve_pid).1;
    let received = Arc::new(Received::default());
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let mut tasks = Vec::with_capacity(streams);
    for i in 0..streams {
        let token = streamers[i % streamers.len()].token.clone();
        let probe = (i < streamers.len()).then(|| seen_tx.clone());
        let received = Arc::clone(&received);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = stream(addr, &token, probe, &received).await {
                received.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "a live stream failed");
            }
        }));
        // Connect in waves: a burst of 10k handshakes overflows the listen backlog.
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(seen_tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.connected.load(Ordering::Relaxed) + received.failed.load(Ordering::Relaxed)
        < streams
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Idle: the streams' first events (counters) sent, nothing changing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = rss_of(serve_pid).1;
    let connected = received.connected.load(Ordering::Relaxed);

    // The appenders, each with its share of the dialogs.
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let start = Instant::now();
    let counted_from = start + Duration::from_secs_f64(warmup);
    let end = counted_from + Duration::from_secs_f64(seconds);
    let appenders = APPENDERS.min(targets.len());
    let interval = Duration::from_secs_f64(appenders as f64 / rate.max(1e-3));
    let errors = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for a in 0..appenders {
        let mut mine: Vec<Target> = targets.iter().skip(a).step_by(appenders).cloned().collect();
        let tokens: Vec<String> = sessions.iter().map(|s| s.token.clone()).collect();
        let sent_tx = sent_tx.clone();
        let errors = Arc::clone(&errors);
        let mut conn = Conn::connect(addr).await?;
        senders.push(tokio::spawn(async move {
            // Spread the appenders' ticks over one interval.
            let mut due = start + interval.mul_f64(a as f64 / appenders as f64);
            let mut next = 0;
            let mut appended = 0u64;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                due += interval;
                let count = mine.len();
                let target = &mut mine[next % count];
                next += 1;
                let action = if target.pinned { "unpin" } else { "pin" };
                let sent = Instant::now();
                let outcome = conn
                    .call(
                        "POST",
                        &format!("/v1/dialogs/{}/actions", target.dialog),
                        Some(&tokens[target.session]),
                        Some(Bytes::from(json!({ "action": action }).to_string())),
                    )
                    .await;
                match outcome {
                    Ok((200, body)) => {
                        // The next change undoes this one.
                        target.pinned = !target.pinned;
                        let seq = serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v["seq"].as_u64());
                        if let Some(seq) = seq
                            && sent >= counted_from
                        {
                            appended += 1;
                            let _ = sent_tx.send((seq, sent));
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (appended, mine)
        }));
    }
    drop(sent_tx);
    tokio::time::sleep_until(counted_from.into()).await;
    let cpu_from = cpu_time(Some(serve_pid));
    // The counted seconds only: appenders whose last requests are slow finish later.
    tokio::time::sleep_until(end.into()).await;
    let serve_cpu = cpu_time(Some(serve_pid)).saturating_sub(cpu_from);
    let mut appends = 0;
    let mut after = Vec::with_capacity(targets.len());
    for sender in senders {
        let (appended, mine) = sender.await.map_err(|e| e.to_string())?;
        appends += appended;
        after.extend(mine);
    }
    // Where the dialogs are now: the next run starts from there.
    *targets = after;
    // The last changes' events.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut sent = HashMap::new();
    while let Some((seq, at)) = sent_rx.recv().await {
        sent.insert(seq, at);
    }
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let mut matched = HashSet::new();
    while let Some((seq, at)) = seen_rx.recv().await {
        if let Some(sent_at) = sent.get(&seq) {
            let micros = u64::try_from(at.saturating_duration_since(*sent_at).as_micros())
                .unwrap_or(u64::MAX);
            let _ = latency.record(micros.max(1));
            matched.insert(seq);
        }
    }
    Ok(LiveRun {
        streams,
        accounts: streamers.len(),
        connected,
        rss_before,
        rss_idle,
        rate,
        seconds,
        appends,
        append_errors: errors.load(Ordering::Relaxed),
        latency,
        unseen: sent.len().saturating_sub(matched.len()) as u64,
        events: received.events.load(Ordering::Relaxed),
        bytes: received.bytes.load(Ordering::Relaxed),
        serve_cpu,
    })
}

/// One stream: `GET /v1/live`, read until aborted; a probe reports each `row` event's id.
async fn stream(
    addr: SocketAddr,
    token: &str,
    probe: Option<mpsc::UnboundedSender<(u64, Instant)>>,
    received: &Received,
) -> Result<(), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut send, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .method("GET")
        .uri("/v1/live")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::ACCEPT, "text/event-stream")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = send
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status() != 200 {
        return Err(format!("GET /v1/live answered {}", answer.status()));
    }
    received.connected.fetch_add(1, Ordering::Relaxed);
    let mut body = answer.into_body();
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let at = Instant::now();
        received
            .bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let Some(probe) = &probe else {
            received.events.fetch_add(
                data.windows(2).filter(|w| w == b"\n\n").count() as u64,
                Ordering::Relaxed,
            );
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            received.events.fetch_add(1, Ordering::Relaxed);
            if let Some(seq) = row_event_id(&event) {
                let _ = probe.send((seq, at));
            }
        }
    }
    Ok(())
}

/// The `id` of an SSE event named `row` (or `message`, a row with new messages).
fn row_event_id(event: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(event).ok()?;
    let mut name = None;
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        }
    }
    matches!(name, Some("row" | "message"))
        .then_some(id)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_events_are_told_by_name_and_id() {
        assert_eq!(row_event_id(b"event: row\nid: 42\ndata: {}\n\n"), Some(42));
        assert_eq!(
            row_event_id(b"id: 7\nevent: message\ndata: {}\n\n"),
            Some(7)
        );
        assert_eq!(row_event_id(b"event: counters\nid: 42\ndata: {}\n\n"), None);
        assert_eq!(row_event_id(b"event: row\ndata: {}\n\n"), None);
    }

    #[test]
    fn each_dialog_is_one_target() {
        let pages = vec![
            json!({"items": [{"dialog": "a", "pinned": true}, {"dialog": "b"}]}),
            json!({"items": [{"dialog": "b"}, {"dialog": "c", "pinned": false}]}),
        ];
        let targets = targets(&pages);
        let names: Vec<_> = targets
            .iter()
            .map(|t| (t.session, t.dialog.as_str(), t.pinned))
            .collect();
        assert_eq!(
            names,
            vec![(0, "a", true), (0, "b", false), (1, "c", false)]
        );
    }
}
