//! The outbound phase: replies queued through the operator API (`POST
//! /v1/dialogs/{dialog}/actions`, `send_message`) to many chats of many Telegram bots, delivered
//! by the worker `serve` runs to the local Bot API server; what that server took, when, and
//! whether any chat or bot got more than Telegram allows. And the limit: the same server's
//! raw rate with the bench's own clients calling `sendMessage` straight.

use super::super::api::client::{Conn, Tally};
use super::super::api::load::cpu_time;
use super::inbound::{post, telegram_update};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_connectors::telegram;
use switchboard_providers::{FakeProvider, Received};

/// What the limits are checked over: a second less the jitter allowed between the worker's
/// call and the provider server's taking it (both timed on a machine under load): a chat's
/// two messages at least this far apart, a bot's at most 30 within any window this long.
pub const WINDOW: Duration = Duration::from_millis(950);

/// One chat of one bot, and its dialog once the client wrote.
#[derive(Debug, Clone)]
pub struct Chat {
    pub bot: usize,
    pub channel: String,
    pub client: u64,
    pub dialog: String,
}

/// A bot: its webhook path and secret token.
#[derive(Debug, Clone)]
pub struct Bot {
    pub channel: String,
    pub path: String,
    pub secret: String,
}

/// Each chat's client writes once (the dialog exists then), and the dialogs are read back from
/// the list; `chats` come back with their dialogs.
pub async fn dialogs(
    addr: SocketAddr,
    admin: &str,
    bots: &[Bot],
    mut chats: Vec<Chat>,
    senders: usize,
) -> Result<Vec<Chat>, String> {
    let chats_arc = Arc::new(chats.clone());
    let bots_arc = Arc::new(bots.to_vec());
    let mut tasks = Vec::new();
    for i in 0..senders.max(1) {
        let (chats, bots) = (Arc::clone(&chats_arc), Arc::clone(&bots_arc));
        let mut conn = Conn::connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            for chat in chats.iter().skip(i).step_by(senders.max(1)) {
                let bot = &bots[chat.bot];
                let body = telegram_update(chat.client, chat.client, "Здравствуйте");
                let header = Some((telegram::SECRET_HEADER, bot.secret.clone()));
                let (status, answer) = post(&mut conn, &bot.path, body, &header).await?;
                if status != 200 {
                    return Err(format!(
                        "a first message answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    ));
                }
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    // The list shows each client's id on its channel; wait until every chat's dialog is there.
    let mut conn = Conn::connect(addr).await?;
    let wanted: HashMap<String, usize> = chats
        .iter()
        .enumerate()
        .map(|(i, c)| (c.client.to_string(), i))
        .collect();
    let started = Instant::now();
    loop {
        let mut found = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/dialogs?tab=all&limit=500&cursor={c}"),
                None => "/v1/dialogs?tab=all&limit=500".to_owned(),
            };
            let (status, body) = conn.call("GET", &path, Some(admin), None).await?;
            if status != 200 {
                return Err(format!("the dialog list answered {status}"));
            }
            let page: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            for item in page["items"].as_array().into_iter().flatten() {
                let external = item["client"]["external_id"].as_str().unwrap_or("");
                if let (Some(&i), Some(dialog)) = (wanted.get(external), item["dialog"].as_str()) {
                    chats[i].dialog = dialog.to_owned();
                    found += 1;
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if found == chats.len() {
            return Ok(chats);
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "{found} of {} dialogs listed after 120 s",
                chats.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How the outbound phase went.
#[derive(Debug)]
pub struct Outbound {
    pub queued: usize,
    /// The `POST …/actions` calls.
    pub queue: Tally,
    pub queue_elapsed: Duration,
    /// What the provider server took of ours.
    pub sent: usize,
    /// First queue call to the last message taken by the provider server.
    pub elapsed: Duration,
    /// The first to the last message taken.
    pub sending: Duration,
    /// From a message's queue call to the provider server taking it, µs.
    pub latency: Histogram<u64>,
    /// Messages the provider server took more than once.
    pub twice: usize,
    /// The smallest gap between two messages of one chat.
    pub chat_min_gap: Option<Duration>,
    /// The most messages one bot sent within any [`WINDOW`].
    pub bot_max_per_second: usize,
    pub serve_cpu: Duration,
}

/// Queues `per_chat` messages to each chat (round by round, `senders` at once) and waits until
/// the provider server took them all (or nothing more came for 60 s).
pub async fn run(
    addr: SocketAddr,
    serve_pid: u32,
    admin: &str,
    provider: &FakeProvider,
    chats: &[Chat],
    per_chat: usize,
    senders: usize,
) -> Result<Outbound, String> {
    // Job `j` is chat `j % chats` in round `j / chats`; its text names `j`.
    let total = chats.len() * per_chat;
    let taken_before = provider.received_count();
    let chats_arc = Arc::new(chats.to_vec());
    let cpu_before = cpu_time(Some(serve_pid));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..senders.max(1) {
        let chats = Arc::clone(&chats_arc);
        let admin = admin.to_owned();
        let mut conn = Conn::connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut started = Vec::new();
            for job in (i..total).step_by(senders.max(1)) {
                let chat = &chats[job % chats.len()];
                let body = json!({"action": "send_message", "channel": chat.channel,
                                  "text": format!("bench {job}")});
                let path = format!("/v1/dialogs/{}/actions", chat.dialog);
                let at = Instant::now();
                let outcome = conn
                    .call(
                        "POST",
                        &path,
                        Some(&admin),
                        Some(Bytes::from(body.to_string())),
                    )
                    .await;
                tally.record(at, &outcome);
                started.push((job, at));
            }
            (tally, started)
        }));
    }
    let mut queue = Tally::default();
    let mut started = vec![start; total];
    for task in tasks {
        let (tally, times) = task.await.map_err(|e| e.to_string())?;
        queue.merge(&tally);
        for (job, at) in times {
            started[job] = at;
        }
    }
    let queue_elapsed = start.elapsed();
    let queued = queue.statuses.get(&200).copied().unwrap_or(0) as usize;
    // Wait for the provider server to take them.
    let (mut count, mut progress) = (provider.received_count(), Instant::now());
    while count < taken_before + queued && progress.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = provider.received_count();
        if now != count {
            (count, progress) = (now, Instant::now());
        }
    }
    let serve_cpu = cpu_time(Some(serve_pid)).saturating_sub(cpu_before);
    let received: Vec<Received> = provider
        .received()
        .into_iter()
        .skip(taken_before)
        .filter(|r| r.text.starts_with("bench "))
        .collect();
    let mut outbound = measure(&received, chats, &started);
    outbound.queued = queued;
    outbound.queue = queue;
    outbound.queue_elapsed = queue_elapsed;
    outbound.elapsed = received
        .iter()
        .map(|r| r.at)
        .max()
        .map_or(Duration::ZERO, |last| last.saturating_duration_since(start));
    outbound.serve_cpu = serve_cpu;
    Ok(outbound)
}

/// Latencies, repeats and the limits, from what the provider server took.
fn measure(received: &[Received], chats: &[Chat], started: &[Instant]) -> Outbound {
    let mut latency = Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 figures")));
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let chat_of: HashMap<String, usize> = chats
        .iter()
        .enumerate()
        .map(|(i, c)| (c.client.to_string(), i))
        .collect();
    let mut by_chat: HashMap<usize, Vec<Instant>> = HashMap::new();
    let mut by_bot: BTreeMap<usize, Vec<Instant>> = BTreeMap::new();
    for r in received {
        let job: Option<usize> = r.text.strip_prefix("bench ").and_then(|n| n.parse().ok());
        if let Some(at) = job.and_then(|j| started.get(j)) {
            let micros = r.at.saturating_duration_since(*at).as_micros();
            let _ = latency.record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
        }
        if let Some(job) = job {
            *seen.entry(job).or_default() += 1;
        }
        if let Some(&chat) = chat_of.get(&r.chat) {
            by_chat.entry(chat).or_default().push(r.at);
            by_bot.entry(chats[chat].bot).or_default().push(r.at);
        }
    }
    let chat_min_gap = by_chat
        .values_mut()
        .filter_map(|times| {
            times.sort();
            times.windows(2).map(|w| w[1] - w[0]).min()
        })
        .min();
    let bot_max_per_second = by_bot
        .values_mut()
        .map(|times| {
            times.sort();
            // The most calls in a half-open window starting at a call.
            let mut most = 0;
            let mut end = 0;
            for begin in 0..times.len() {
                while end < times.len() && times[end] - times[begin] < WINDOW {
                    end += 1;
                }
                most = most.max(end - begin);
            }
            most
        })
        .max()
        .unwrap_or(0);
    let first = received.iter().map(|r| r.at).min();
    let last = received.iter().map(|r| r.at).max();
    Outbound {
        queued: 0,
        queue: Tally::default(),
        queue_elapsed: Duration::ZERO,
        sent: seen.len(),
        elapsed: Duration::ZERO,
        sending: match (first, last) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        },
        latency,
        twice: seen.values().filter(|&&n| n > 1).count(),
        chat_min_gap,
        bot_max_per_second,
        serve_cpu: Duration::ZERO,
    }
}

/// The limit: `senders` closed-loop clients calling the Bot API server's `sendMessage`
/// straight for `seconds`, each to chats of its own.
pub async fn raw(
    provider: &FakeProvider,
    token: &str,
    senders: usize,
    seconds: f64,
) -> Result<(Tally, Duration, Duration), String> {
    let addr: SocketAddr = provider
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("the provider's address: {e}"))?;
    let path = format!("/bot{token}/sendMessage");
    let mut conns = Vec::new();
    for _ in 0..senders.max(1) {
        conns.push(Conn::connect(addr).await?);
    }
    let cpu_before = cpu_time(None);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let path = path.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let chat = 2_000_000_000 + i as u64 * 1000 + n % 1000;
                    let body = json!({"chat_id": chat, "text": format!("raw {n}")});
                    let at = Instant::now();
                    let outcome = conn
                        .call("POST", &path, None, Some(Bytes::from(body.to_string())))
                        .await;
                    tally.record(at, &outcome);
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(&task.await.map_err(|e| e.to_string())?);
    }
    Ok((
        total,
        start.elapsed(),
        cpu_time(None).saturating_sub(cpu_before),
    ))
}
