//! `switchboard bench channels`: the messengers' side of a real `serve` (embedded log) on
//! loopback, with the local provider servers of `switchboard-providers` in the bench process.
//!
//! 1. **Setup**: `serve` in a fresh data directory; a project and its admin made with the root
//!    token; channels connected through `POST /v1/channels` as an admin connects them, each
//!    with `api_base` at a local provider server (`--inbound-channels` per provider for the
//!    inbound phase, `--bots` Telegram bots for the outbound phase).
//! 2. **Inbound** (`inbound`): `--senders` closed-loop senders post Telegram updates, WhatsApp
//!    notifications (signed `X-Hub-Signature-256`) and VK `message_new` events (with the
//!    community's secret) in turn for `--seconds`; `--new-clients` of the messages come from a
//!    client who never wrote, `--retries` of the posts repeat the previous body (a provider's
//!    retry). Afterwards the log must hold each message answered 200 exactly once.
//! 3. **Outbound** (`outbound`): each of `--chats-per-bot` chats of every bot writes once (its
//!    dialog exists then; not measured), then `--per-chat` replies to every chat are queued
//!    through the operator API and delivered by `serve`'s delivery worker with Telegram's
//!    documented limits (1 message/s per chat, 30/s per bot): the limits allow `--bots` × 30
//!    messages/s. What the provider server took, how soon after the queue call, and the most
//!    any chat or bot got (allowing 50 ms of jitter between the call and its arrival:
//!    [`outbound::WINDOW`]).
//! 4. **Limit** (`outbound::raw`): the same Bot API server's `sendMessage` called straight by
//!    the bench's own `--senders` clients for `--seconds`.
//!
//! Human-readable lines go to stderr; the last stdout line is one JSON object.

mod inbound;
mod outbound;

use super::api::client::{Conn, Tally};
use super::api::report::load_average;
use super::api::setup::Server;
use crate::backend::{LogLocation, LogUse, open_log};
use bytes::Bytes;
use inbound::{Inbound, Mix, PROVIDERS, Target};
use outbound::{Bot, Chat, Outbound, WINDOW};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use switchboard_core::{EventLog, SubjectFilter};
use switchboard_providers::{FakeProvider, Provider};
use switchboard_schemas::{Event, decode_batch};

const BOT_TOKEN: &str = "7000000001:AAE-switchboard-bench-channels";
const WA_TOKEN: &str = "EAAG-switchboard-bench-channels";
const VK_TOKEN: &str = "vk1.a.switchboard-bench-channels";
const PASSWORD: &str = "switchboard-bench-channels";

#[derive(clap::Args, Debug, Clone)]
pub struct ChannelsArgs {
    /// Concurrent senders (webhook posts, queue calls, raw calls), each with one keep-alive
    /// connection.
    #[arg(long, default_value_t = 64)]
    pub senders: usize,
    /// Seconds the inbound phase and the raw phase run.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Channels per provider (Telegram, WhatsApp, VK) that take webhooks.
    #[arg(long, default_value_t = 2)]
    pub inbound_channels: usize,
    /// Share of inbound messages from a client who never wrote before.
    #[arg(long, default_value_t = 0.2)]
    pub new_clients: f64,
    /// Share of webhook posts that repeat the previous one (a provider's retry).
    #[arg(long, default_value_t = 0.1)]
    pub retries: f64,
    /// Telegram bots of the outbound phase (each allows 30 messages/s).
    #[arg(long, default_value_t = 200)]
    pub bots: usize,
    /// Chats per bot (each allows 1 message/s).
    #[arg(long, default_value_t = 30)]
    pub chats_per_bot: usize,
    /// Replies queued to each chat.
    #[arg(long, default_value_t = 3)]
    pub per_chat: usize,
    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,
}

fn say(args: &ChannelsArgs, line: impl AsRef<str>) {
    if !args.json {
        eprintln!("{}", line.as_ref());
    }
}

/// `switchboard bench channels`.
pub async fn channels(args: ChannelsArgs) -> Result<(), String> {
    if args.senders == 0 || args.inbound_channels == 0 || args.bots == 0 {
        return Err("--senders, --inbound-channels and --bots must be at least 1".into());
    }
    if args.chats_per_bot == 0 || args.per_chat == 0 {
        return Err("--chats-per-bot and --per-chat must be at least 1".into());
    }
    for (name, share) in [
        ("--new-clients", args.new_clients),
        ("--retries", args.retries),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("{name} is a share between 0 and 1"));
        }
    }
    let load_before = load_average();
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = temp.path().to_path_buf();
    let fakes = [
        FakeProvider::start(Provider::Telegram, BOT_TOKEN).await,
        FakeProvider::start(Provider::Whatsapp, WA_TOKEN).await,
        FakeProvider::start(Provider::Vk, VK_TOKEN).await,
    ];
    say(&args, "starting serve");
    let server = Server::start(&dir).await?;
    let outcome = measure(&args, &server, &dir, &fakes).await;
    server.stop().await;
    let (inbound, outbound, raw) = outcome?;
    let logged = count_received(&dir).await?;
    let report = report(&args, load_before, &inbound, &outbound, &raw, logged);
    println!("{report}");
    Ok(())
}

type Raw = (Tally, Duration, Duration);

async fn measure(
    args: &ChannelsArgs,
    server: &Server,
    dir: &Path,
    fakes: &[FakeProvider; 3],
) -> Result<(Inbound, Outbound, Raw), String> {
    let root = std::fs::read_to_string(dir.join("root-token"))
        .map_err(|e| format!("serve's root token: {e}"))?;
    let mut conn = Conn::connect(server.addr).await?;
    let project = json!({"name": "Bench", "admin": {"name": "Ada", "email": "ada@bench.test",
                         "password": PASSWORD}});
    call(&mut conn, root.trim(), "POST", "/v1/projects", &project).await?;
    let login = json!({"email": "ada@bench.test", "password": PASSWORD});
    let (status, answer) = conn
        .call("POST", "/v1/auth/login", None, Some(body(&login)))
        .await?;
    let admin = serde_json::from_slice::<Value>(&answer).map_err(|e| e.to_string())?["token"]
        .as_str()
        .ok_or(format!("sign-in answered {status}"))?
        .to_owned();

    // Channels, connected as an admin connects them.
    let mut targets = Vec::new();
    for (provider, fake) in fakes.iter().enumerate() {
        for i in 0..args.inbound_channels {
            let n = targets.len() as u64;
            targets.push(connect(&mut conn, &admin, fake, provider, i, n).await?);
        }
    }
    let mut bots = Vec::new();
    for i in 0..args.bots {
        let target = connect(&mut conn, &admin, &fakes[0], 0, 1000 + i, 0).await?;
        let channel = target.path.rsplit('/').next().unwrap_or("").to_owned();
        bots.push(Bot {
            channel,
            path: target.path,
            secret: target.secret,
        });
    }
    say(
        args,
        format!(
            "{} inbound channels and {} bots connected; their chats write first",
            targets.len(),
            bots.len()
        ),
    );
    let chats: Vec<Chat> = (0..args.bots * args.chats_per_bot)
        .map(|i| {
            let bot = i / args.chats_per_bot;
            Chat {
                bot,
                channel: bots[bot].channel.clone(),
                client: 900_000_000 + i as u64,
                dialog: String::new(),
            }
        })
        .collect();
    let chats = outbound::dialogs(server.addr, &admin, &bots, chats, args.senders).await?;

    say(args, format!("load average {:?}", load_average()));
    let mix = Mix {
        new_clients: args.new_clients,
        retries: args.retries,
    };
    let next = Arc::new(AtomicU64::new(1));
    let inbound = inbound::run(
        server.addr,
        server.pid,
        Arc::new(targets),
        args.senders,
        args.seconds,
        mix,
        next,
    )
    .await?;
    let mut all = Tally::default();
    for (name, tally) in PROVIDERS.iter().zip(&inbound.tallies) {
        say(
            args,
            line(&format!("inbound {name}"), tally, inbound.elapsed),
        );
        all.merge(tally);
    }
    say(
        args,
        format!(
            "{}  serve cpu {:.2} cores, {:.0} µs per message",
            line("inbound all", &all, inbound.elapsed),
            cores(inbound.serve_cpu, inbound.elapsed),
            micros_per(inbound.serve_cpu, inbound.messages as usize),
        ),
    );

    say(args, format!("load average {:?}", load_average()));
    let outbound = outbound::run(
        server.addr,
        server.pid,
        &admin,
        &fakes[0],
        &chats,
        args.per_chat,
        args.senders,
    )
    .await?;
    say(
        args,
        format!(
            "{}  ({} queued in {:.2} s)",
            line("queue (API)", &outbound.queue, outbound.queue_elapsed),
            outbound.queued,
            outbound.queue_elapsed.as_secs_f64()
        ),
    );
    let ms = |q: f64| outbound.latency.value_at_quantile(q) as f64 / 1000.0;
    say(
        args,
        format!(
            "outbound sent    {:>8.0} msg/s  ({} sent, {} twice, over {:.2} s from the first queue call; {:.0}/s first to last sent)  queue→sent p50 {:.1} ms p90 {:.1} ms p99 {:.1} ms max {:.1} ms  chat min gap {:?}  bot max {} per 0.95 s  serve cpu {:.2} cores, {:.0} µs per message",
            outbound.sent as f64 / outbound.elapsed.as_secs_f64().max(1e-9),
            outbound.sent,
            outbound.twice,
            outbound.elapsed.as_secs_f64(),
            outbound.sent as f64 / outbound.sending.as_secs_f64().max(1e-9),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            outbound.latency.max() as f64 / 1000.0,
            outbound.chat_min_gap,
            outbound.bot_max_per_second,
            cores(outbound.serve_cpu, outbound.elapsed),
            micros_per(outbound.serve_cpu, outbound.sent),
        ),
    );

    say(args, format!("load average {:?}", load_average()));
    let raw = outbound::raw(&fakes[0], BOT_TOKEN, args.senders, args.seconds).await?;
    say(
        args,
        format!(
            "{}  bench cpu {:.2} cores",
            line("raw Bot API", &raw.0, raw.1),
            cores(raw.2, raw.1)
        ),
    );
    Ok((inbound, outbound, raw))
}

fn body(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// One API call that must answer 2xx; its answer.
async fn call(
    conn: &mut Conn,
    token: &str,
    method: &str,
    path: &str,
    value: &Value,
) -> Result<Value, String> {
    let (status, answer) = conn
        .call(method, path, Some(token), Some(body(value)))
        .await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    serde_json::from_slice(&answer).map_err(|e| e.to_string())
}

/// Connects channel `i` of `provider` (`n`: its place among the inbound channels, which sets
/// its clients' ids apart) through `POST /v1/channels`, pointed at `fake`.
async fn connect(
    conn: &mut Conn,
    admin: &str,
    fake: &FakeProvider,
    provider: usize,
    i: usize,
    n: u64,
) -> Result<Target, String> {
    let name = format!("{} {i}", PROVIDERS[provider]);
    let (request, secret, account) = match PROVIDERS[provider] {
        "telegram" => (
            json!({"kind": "telegram", "name": name, "bot_token": BOT_TOKEN,
                   "api_base": fake.base_url()}),
            String::new(),
            String::new(),
        ),
        "whatsapp" => {
            let (number, secret) = (format!("1065403522{i:05}"), format!("app-secret-{i}"));
            let request = json!({"kind": "whatsapp", "name": name, "phone_number_id": number,
                   "access_token": WA_TOKEN, "app_secret": secret,
                   "verify_token": "bench-verify-token", "api_base": fake.base_url()});
            (request, secret, number)
        }
        _ => {
            let (group, secret) = (214_167_102 + i as u64, format!("vk-callback-secret-{i}"));
            let request = json!({"kind": "vk", "name": name, "group_id": group,
                   "access_token": VK_TOKEN, "secret": secret, "confirmation": "a1b2c3d4",
                   "api_base": fake.base_url()});
            (request, secret, group.to_string())
        }
    };
    let connected = call(conn, admin, "POST", "/v1/channels", &request).await?;
    let channel = connected["channel"]
        .as_str()
        .ok_or("POST /v1/channels answered no channel")?;
    // Telegram's secret token is ours: the provider was told it with `setWebhook`.
    let secret = if PROVIDERS[provider] == "telegram" {
        fake.webhook()
            .and_then(|w| w["secret_token"].as_str().map(str::to_owned))
            .ok_or("no setWebhook with a secret token")?
    } else {
        secret
    };
    Ok(Target {
        provider,
        path: format!("/v1/webhooks/{}/{channel}", PROVIDERS[provider]),
        secret,
        account,
        first_client: 100_000_000 + n * 10_000_000,
        clients: AtomicU64::new(0),
    })
}

/// The log's `message.received` events: (how many, how many distinct message ids).
async fn count_received(dir: &Path) -> Result<(u64, u64), String> {
    let location = LogLocation::new(dir, None);
    let log = open_log(&location, LogUse::Read)
        .await
        .map_err(|e| e.to_string())?;
    let filter = SubjectFilter::all();
    let (mut events, mut ids, mut from) = (0u64, HashSet::new(), 1u64);
    loop {
        let records = log
            .read(from, &filter, 10_000)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = records.last() else {
            break;
        };
        from = last.seq + 1;
        for record in &records {
            for envelope in decode_batch(&record.batch).map_err(|e| e.to_string())? {
                if let Event::MessageReceived(received) = envelope.payload {
                    events += 1;
                    ids.insert(received.message);
                }
            }
        }
    }
    Ok((events, ids.len() as u64))
}

/// CPU time per item in µs: less sensitive to a shared machine's load than a rate.
fn micros_per(cpu: Duration, items: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / items.max(1) as f64
}

fn cores(cpu: Duration, elapsed: Duration) -> f64 {
    cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
}

/// A phase in a line.
fn line(name: &str, tally: &Tally, elapsed: Duration) -> String {
    let ms = |q: f64| tally.latency.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "{name:<16} {:>8.0} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  statuses {:?}",
        tally.requests() as f64 / elapsed.as_secs_f64().max(1e-9),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        tally.latency.max() as f64 / 1000.0,
        tally.statuses,
    )
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

/// The JSON line, with the targets of issue 17 printed on stderr before it.
fn report(
    args: &ChannelsArgs,
    load_before: Option<Vec<f64>>,
    inbound: &Inbound,
    outbound: &Outbound,
    raw: &Raw,
    (logged, distinct): (u64, u64),
) -> Value {
    let mut all = Tally::default();
    let mut providers = serde_json::Map::new();
    for (name, tally) in PROVIDERS.iter().zip(&inbound.tallies) {
        providers.insert((*name).to_owned(), tally.json(inbound.elapsed));
        all.merge(tally);
    }
    // Each message the bench saw taken is in the log once; the chats' first messages of the
    // outbound setup are in the log too.
    let setup_messages = (args.bots * args.chats_per_bot) as u64;
    let expected = inbound.messages + setup_messages;
    let once = logged == expected && distinct == logged;
    let mut inbound_json = all.json(inbound.elapsed);
    inbound_json["by_provider"] = Value::Object(providers);
    inbound_json["messages"] = json!(inbound.messages);
    inbound_json["messages_per_sec"] =
        json!((inbound.messages as f64 / inbound.elapsed.as_secs_f64().max(1e-9)).round());
    inbound_json["retries"] = json!(inbound.retries);
    inbound_json["new_clients"] = json!(inbound.new_clients);
    inbound_json["log_messages_received"] = json!(logged);
    inbound_json["log_distinct_messages"] = json!(distinct);
    inbound_json["expected_in_log"] = json!(expected);
    inbound_json["appended_exactly_once"] = json!(once);
    inbound_json["serve_cpu_cores"] = json!(round(cores(inbound.serve_cpu, inbound.elapsed), 2));
    inbound_json["serve_cpu_us_per_message"] =
        json!(micros_per(inbound.serve_cpu, inbound.messages as usize).round());

    let ms = |q: f64| outbound.latency.value_at_quantile(q) as f64 / 1000.0;
    let sent_rate = outbound.sent as f64 / outbound.elapsed.as_secs_f64().max(1e-9);
    let min_gap_ms = outbound
        .chat_min_gap
        .map(|gap| round(gap.as_secs_f64() * 1000.0, 1));
    let limits_kept =
        outbound.chat_min_gap.is_none_or(|g| g >= WINDOW) && outbound.bot_max_per_second <= 30;
    let outbound_json = json!({
        "how": "queued by POST /v1/dialogs/{id}/actions (send_message), sent by serve's delivery worker",
        "bots": args.bots,
        "chats": args.bots * args.chats_per_bot,
        "per_chat": args.per_chat,
        "limits_allow_per_sec": args.bots * 30,
        "queued": outbound.queued,
        "queue": outbound.queue.json(outbound.queue_elapsed),
        "sent": outbound.sent,
        "sent_twice": outbound.twice,
        "seconds": round(outbound.elapsed.as_secs_f64(), 3),
        "sent_per_sec": sent_rate.round(),
        "sent_per_sec_first_to_last": (outbound.sent as f64 / outbound.sending.as_secs_f64().max(1e-9)).round(),
        "queue_to_sent_p50_ms": ms(0.5),
        "queue_to_sent_p90_ms": ms(0.9),
        "queue_to_sent_p99_ms": ms(0.99),
        "queue_to_sent_max_ms": outbound.latency.max() as f64 / 1000.0,
        "chat_min_gap_ms": min_gap_ms,
        "bot_max_per_window": outbound.bot_max_per_second,
        "limits_window_ms": WINDOW.as_millis() as u64,
        "limits_kept": limits_kept,
        "serve_cpu_cores": round(cores(outbound.serve_cpu, outbound.elapsed), 2),
        "serve_cpu_us_per_message": micros_per(outbound.serve_cpu, outbound.sent).round(),
    });
    let (raw_tally, raw_elapsed, raw_cpu) = raw;
    let mut raw_json = raw_tally.json(*raw_elapsed);
    raw_json["bench_cpu_cores"] = json!(round(cores(*raw_cpu, *raw_elapsed), 2));
    let raw_rate = raw_json["requests_per_sec"].as_f64().unwrap_or(0.0);
    let inbound_rate = inbound_json["messages_per_sec"].as_f64().unwrap_or(0.0);
    let p99 = inbound_json["p99_ms"].as_f64().unwrap_or(f64::MAX);
    let targets = [
        (
            "inbound messages/s",
            inbound_rate,
            ">= 10000",
            inbound_rate >= 10_000.0,
        ),
        ("inbound p99 ms to the 200", p99, "<= 20", p99 <= 20.0),
        (
            "inbound appended exactly once",
            logged as f64,
            "== expected",
            once,
        ),
        (
            "outbound sent/s",
            sent_rate.round(),
            ">= 5000",
            sent_rate >= 5_000.0,
        ),
        (
            "outbound per-chat and per-bot limits",
            outbound.bot_max_per_second as f64,
            "chat gap >= 0.95 s, bot <= 30 per 0.95 s",
            limits_kept,
        ),
    ];
    for (name, measured, target, met) in &targets {
        say(
            args,
            format!(
                "{} {name}: {measured} (target {target})",
                if *met { "✓" } else { "✗" }
            ),
        );
    }
    let load_after = load_average();
    json!({
        "bench": "channels",
        "log": "embedded",
        "senders": args.senders,
        "seconds": args.seconds,
        "inbound_channels_per_provider": args.inbound_channels,
        "new_clients_share": args.new_clients,
        "retries_share": args.retries,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "inbound": inbound_json,
        "outbound": outbound_json,
        "raw_provider": raw_json,
        "outbound_ratio_to_raw": if raw_rate > 0.0 { round(sent_rate / raw_rate, 3) } else { 0.0 },
        "targets": targets.iter().map(|(name, measured, target, met)| json!({
            "name": name, "measured": measured, "target": target, "met": met,
        })).collect::<Vec<_>>(),
    })
}
