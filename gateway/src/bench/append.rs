//! `switchboard bench append`: what the log and the command service sustain on this machine.
//!
//! For each backend, in one run:
//! - (a) *sequential*: one aggregate, commands awaited one by one (latency of one append);
//! - (b) *pipelined*: many aggregates, commands through the command service with optimistic
//!   concurrency and message ids, many aggregates in flight at once, each aggregate's commands in
//!   order; driven from a runtime task, as requests are in the server;
//! - (c) *raw* (JetStream only): pipelined JetStream publishes of the same body size with the same
//!   headers, straight through async-nats: the physical limit (b) is compared with.
//!
//! Human-readable lines go to stderr; the last line on stdout is one JSON object with every figure.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions, StreamSetup};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_core::{AnyLog, EventLog};
use switchboard_schemas::{
    Actor, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, MessageId, ProjectId,
    Source, Timestamp,
};

#[derive(clap::Args, Debug, Clone)]
pub struct AppendArgs {
    /// Print only the JSON line (the human-readable lines are skipped).
    #[arg(long)]
    pub json: bool,
    /// JetStream server to measure; without it a local nats-server is started on a free loopback
    /// port with a temp store (found as `NATS_SERVER_BIN`, `.tools/nats/bin/nats-server` or on PATH).
    #[arg(long)]
    pub nats: Option<String>,
    /// Directory for the embedded log (default: a temp dir, removed afterwards).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "embedded,jetstream")]
    pub backends: Vec<String>,
    /// (a) commands awaited one by one on one aggregate.
    #[arg(long, default_value_t = 5_000)]
    pub sequential: usize,
    /// (b) aggregates.
    #[arg(long, default_value_t = 10_000)]
    pub aggregates: usize,
    /// (b) messages per aggregate after its registration.
    #[arg(long, default_value_t = 10)]
    pub messages: usize,
    /// (b) aggregates in flight at once.
    #[arg(long, default_value_t = 1024)]
    pub concurrency: usize,
    /// (c) raw publishes.
    #[arg(long, default_value_t = 110_000)]
    pub raw: usize,
    /// (c) publishes in flight at once.
    #[arg(long, default_value_t = 4096)]
    pub raw_window: usize,
    /// Rounds of (c) then (b), alternating; the medians are reported, so that a passing
    /// disturbance on a shared machine does not decide the figure.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// The round with the median rate, and every round's rate.
fn median(mut rounds: Vec<Figures>) -> (Figures, Vec<f64>) {
    let rates: Vec<f64> = rounds
        .iter()
        .map(Figures::per_sec)
        .map(f64::round)
        .collect();
    rounds.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
    let middle = rounds.len() / 2;
    let median = rounds.swap_remove(middle);
    (median, rates)
}

fn say(args: &AppendArgs, line: String) {
    if !args.json {
        eprintln!("{line}");
    }
}

struct Figures {
    events: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
    /// CPU time spent by this process and by the local nats-server, when known.
    cpu: Option<CpuSpent>,
}

/// CPU time (user + system) of this process and of a child server over a phase, from /proc.
#[derive(Clone, Copy, Debug)]
struct CpuSpent {
    client: Duration,
    server: Option<Duration>,
}

/// utime + stime of a process, from `/proc/<pid>/stat` (Linux; `None` elsewhere).
fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

struct CpuMeter {
    server_pid: Option<u32>,
    client: Option<Duration>,
    server: Option<Duration>,
}

impl CpuMeter {
    fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            client: cpu_time(None),
            server: server_pid.and_then(|pid| cpu_time(Some(pid))),
        }
    }

    fn stop(&self) -> Option<CpuSpent> {
        let client = cpu_time(None)?.checked_sub(self.client?)?;
        let server = match (self.server_pid, self.server) {
            (Some(pid), Some(before)) => {
                cpu_time(Some(pid)).and_then(|now| now.checked_sub(before))
            }
            _ => None,
        };
        Some(CpuSpent { client, server })
    }
}

impl Figures {
    fn new() -> Self {
        Self {
            events: 0,
            elapsed: Duration::ZERO,
            cpu: None,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
                Histogram::new(3)
                    .unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
            }),
        }
    }

    fn record(&mut self, latency: Duration) {
        let _ = self
            .latency_us
            .record((latency.as_micros() as u64).clamp(1, 60_000_000));
    }

    fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn cpu_us_per_event(&self) -> (Option<f64>, Option<f64>) {
        let per_event = |d: Duration| round3(d.as_secs_f64() * 1e6 / self.events.max(1) as f64);
        match self.cpu {
            Some(cpu) => (Some(per_event(cpu.client)), cpu.server.map(per_event)),
            None => (None, None),
        }
    }

    fn json(&self) -> Value {
        let (client_cpu, server_cpu) = self.cpu_us_per_event();
        json!({
            "events": self.events,
            "seconds": round3(self.elapsed.as_secs_f64()),
            "events_per_sec": self.per_sec().round(),
            "p50_us": self.latency_us.value_at_quantile(0.50),
            "p99_us": self.latency_us.value_at_quantile(0.99),
            "max_us": self.latency_us.max(),
            "client_cpu_us_per_event": client_cpu,
            "server_cpu_us_per_event": server_cpu,
        })
    }

    fn line(&self, what: &str) -> String {
        let (client_cpu, server_cpu) = self.cpu_us_per_event();
        let cpu = match (client_cpu, server_cpu) {
            (Some(c), Some(s)) => format!("   cpu/event: client {c:.1} µs, server {s:.1} µs"),
            (Some(c), None) => format!("   cpu/event: {c:.1} µs"),
            _ => String::new(),
        };
        format!(
            "{what:<34} {:>9.0} events/s   p50 {:>6} µs   p99 {:>6} µs   ({} events in {:.2} s){cpu}",
            self.per_sec(),
            self.latency_us.value_at_quantile(0.50),
            self.latency_us.value_at_quantile(0.99),
            self.events,
            self.elapsed.as_secs_f64()
        )
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A realistic inbound message: a sentence of Cyrillic text, as most of our traffic is. Built
/// without `format!` (this is the harness's own cost per command in (b)).
fn message_text(i: usize) -> String {
    const BEFORE: &str = "Здравствуйте! Подскажите, пожалуйста, где мой заказ номер ";
    const AFTER: &str = "? Жду уже третий день.";
    let mut text = String::with_capacity(BEFORE.len() + 20 + AFTER.len());
    text.push_str(BEFORE);
    push_decimal(&mut text, i as u64);
    text.push_str(AFTER);
    text
}

/// Appends the decimal digits of `value`, as `format!("{value}")` writes them.
fn push_decimal(out: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[derive(Clone)]
struct Setup {
    project: ProjectId,
    channel: ChannelId,
}

async fn setup<L: EventLog>(service: &CommandService<L>) -> Result<Setup, String> {
    let project = ProjectId::new();
    let channel = ChannelId::new();
    let system = || CommandMeta::new(Actor::System);
    service
        .project(
            project,
            ProjectCommand::Create {
                name: "bench".into(),
            },
            system(),
        )
        .await
        .map_err(|e| e.to_string())?;
    service
        .project(
            project,
            ProjectCommand::ConnectChannel {
                channel,
                kind: ChannelKind::Telegram,
                name: "bench bot".into(),
            },
            system(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Setup { project, channel })
}

fn register(setup: &Setup, n: usize) -> DialogCommand {
    DialogCommand::Register {
        profile: ClientProfile {
            name: Some(format!("Клиент {n}")),
            ..ClientProfile::default()
        },
        source: Source::default(),
        identity: Some(ChannelIdentity {
            channel: setup.channel,
            kind: ChannelKind::Telegram,
            external_id: format!("{}", 7_000_000_000u64 + n as u64),
        }),
    }
}

fn receive(setup: &Setup, n: usize) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: MessageId::new(),
        channel: setup.channel,
        external_id: {
            let mut id = String::with_capacity(21);
            id.push('m');
            push_decimal(&mut id, n as u64);
            id
        },
        text: message_text(n),
        attachments: vec![],
        reply_to: None,
        sent_at: Timestamp::now(),
    }
}

async fn run_command<L: EventLog>(
    service: &CommandService<L>,
    setup: &Setup,
    dialog: DialogId,
    command: DialogCommand,
) -> Result<Duration, String> {
    let meta = CommandMeta::new(Actor::Connector(setup.channel));
    let started = Instant::now();
    service
        .dialog(setup.project, dialog, command, meta)
        .await
        .map_err(|e| format!("command failed: {e}"))?;
    Ok(started.elapsed())
}

/// (a): one aggregate, one command at a time.
async fn sequential<L: EventLog>(
    service: &CommandService<L>,
    setup: &Setup,
    n: usize,
) -> Result<Figures, String> {
    let dialog = DialogId::new();
    run_command(service, setup, dialog, register(setup, 0)).await?;
    // Warm-up outside the measurement.
    for i in 0..n.min(200) {
        run_command(service, setup, dialog, receive(setup, 1_000_000_000 + i)).await?;
    }
    let mut figures = Figures::new();
    let started = Instant::now();
    for i in 0..n {
        let latency = run_command(service, setup, dialog, receive(setup, i)).await?;
        figures.record(latency);
    }
    figures.elapsed = started.elapsed();
    figures.events = n as u64;
    Ok(figures)
}

/// (b): many aggregates; each registers and then receives `messages` messages, in order; up to
/// `concurrency` aggregates in flight.
async fn pipelined<L: EventLog>(
    service: &CommandService<L>,
    setup: &Setup,
    args: &AppendArgs,
) -> Result<Figures, String> {
    let mut figures = Figures::new();
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0usize;
    let mut events = 0u64;
    loop {
        while next < args.aggregates && in_flight.len() < args.concurrency {
            let n = next;
            next += 1;
            in_flight.push(async move {
                let dialog = DialogId::new();
                let mut latencies = Vec::with_capacity(args.messages + 1);
                latencies.push(run_command(service, setup, dialog, register(setup, n)).await?);
                for m in 0..args.messages {
                    let command = receive(setup, n * 1000 + m);
                    latencies.push(run_command(service, setup, dialog, command).await?);
                }
                Ok::<_, String>(latencies)
            });
        }
        match in_flight.next().await {
            Some(result) => {
                for latency in result? {
                    figures.record(latency);
                    events += 1;
                }
            }
            None => break,
        }
    }
    figures.elapsed = started.elapsed();
    figures.events = events;
    Ok(figures)
}

/// Drives a phase from a runtime task, as the server runs the code behind every request, not
/// from the thread blocked in `block_on`: from there, every append is a wake-up of the
/// connection's task on another thread. (Commands run in their caller's task, so (b) would
/// measure that hand-over rather than the command service.) (c) is left where it was: measured
/// both ways, its rate does not change.
async fn on_runtime<T: Send + 'static>(
    phase: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    tokio::spawn(phase)
        .await
        .map_err(|e| format!("bench task failed: {e}"))?
}

/// (b') the same shape as (b) — many aggregates, each in order, optimistic concurrency and
/// message ids — straight through `EventLog::append` with a pre-encoded body: what the log
/// backend costs without the command service, to tell the two apart.
async fn log_pipelined<L: EventLog>(
    log: &L,
    setup: &Setup,
    body: &switchboard_schemas::EncodedBatch,
    args: &AppendArgs,
) -> Result<Figures, String> {
    use switchboard_core::{AppendRequest, Expected, MsgId, Subject};
    let mut figures = Figures::new();
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0usize;
    let mut events = 0u64;
    loop {
        while next < args.aggregates && in_flight.len() < args.concurrency {
            next += 1;
            in_flight.push(async move {
                let subject = Subject::dialog(setup.project, DialogId::new());
                let mut last = 0;
                let mut latencies = Vec::with_capacity(args.messages + 1);
                for _ in 0..=args.messages {
                    let request = AppendRequest {
                        subject: subject.clone(),
                        expected: Expected::from_last(last),
                        msg_id: MsgId::new(uuid::Uuid::now_v7().simple().to_string())
                            .map_err(|e| e.to_string())?,
                        batch: body.clone(),
                    };
                    let sent = Instant::now();
                    last = log.append(request).await.map_err(|e| e.to_string())?.seq;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, String>(latencies)
            });
        }
        match in_flight.next().await {
            Some(result) => {
                for latency in result? {
                    figures.record(latency);
                    events += 1;
                }
            }
            None => break,
        }
    }
    figures.elapsed = started.elapsed();
    figures.events = events;
    Ok(figures)
}

/// (c): raw JetStream publishes with the same headers and body size, pipelined.
async fn raw_publish(url: &str, body_len: usize, args: &AppendArgs) -> Result<Figures, String> {
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let context = async_nats::jetstream::new(client);
    let project = ProjectId::new().token();
    let body = bytes::Bytes::from(vec![0x5au8; body_len]);
    let mut figures = Figures::new();
    let mut in_flight = FuturesUnordered::new();
    let started = Instant::now();
    let mut acked = 0u64;
    for i in 0..args.raw {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            uuid::Uuid::now_v7().simple().to_string().as_str(),
        );
        headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
        headers.insert("Sb-Type", "message.received");
        headers.insert("Sb-Ver", "1");
        let subject = format!("sb.{project}.raw.{i}");
        let sent = Instant::now();
        let ack = context
            .publish_with_headers(subject, headers, body.clone())
            .await
            .map_err(|e| format!("publish: {e}"))?;
        in_flight.push(async move { ack.await.map(|_| sent.elapsed()) });
        while in_flight.len() >= args.raw_window {
            if let Some(result) = in_flight.next().await {
                figures.record(result.map_err(|e| format!("ack: {e}"))?);
                acked += 1;
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        figures.record(result.map_err(|e| format!("ack: {e}"))?);
        acked += 1;
    }
    figures.elapsed = started.elapsed();
    figures.events = acked;
    Ok(figures)
}

/// The encoded batch of the bench's inbound message, for (b') and (c).
fn sample_batch(setup: &Setup) -> Result<switchboard_schemas::EncodedBatch, String> {
    use switchboard_schemas::{
        AggregateId, Envelope, Event, EventId, encode_batch, events::MessageReceived,
    };
    let envelope = Envelope {
        event_id: EventId::new(),
        project: setup.project,
        aggregate: AggregateId::Dialog(DialogId::new()),
        occurred_at: Timestamp::now(),
        actor: Actor::Connector(setup.channel),
        causation_id: Some(uuid::Uuid::now_v7()),
        correlation_id: None,
        payload: Event::MessageReceived(MessageReceived {
            message: MessageId::new(),
            channel: setup.channel,
            external_id: "m123456".into(),
            text: message_text(123_456),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::now(),
        }),
    };
    encode_batch(&[envelope]).map_err(|e| e.to_string())
}

async fn measure(
    log: AnyLog,
    url: Option<&str>,
    server_pid: Option<u32>,
    args: &AppendArgs,
) -> Result<Value, String> {
    let backend = log.backend();
    let service = CommandService::new(
        log,
        ServiceOptions {
            dialog_cache: args.aggregates + 1024,
            ..ServiceOptions::default()
        },
    );
    let setup = setup(&service).await?;
    let sample = sample_batch(&setup)?;
    let body = sample.body.len();
    say(args, format!("— {backend} (body {body} bytes)"));
    let meter = CpuMeter::start(server_pid);
    let mut seq = sequential(&service, &setup, args.sequential).await?;
    seq.cpu = meter.stop();
    say(args, seq.line("(a) one aggregate, one by one"));
    let mut raws = Vec::new();
    let mut pipes = Vec::new();
    let mut log_pipes = Vec::new();
    for round in 1..=args.rounds.max(1) {
        if let Some(url) = url {
            let meter = CpuMeter::start(server_pid);
            let mut raw = raw_publish(url, body, args).await?;
            raw.cpu = meter.stop();
            say(
                args,
                raw.line(&format!("(c) raw JetStream publish [{round}]")),
            );
            raws.push(raw);
        }
        let meter = CpuMeter::start(server_pid);
        let mut log_piped = {
            let (log, setup, sample, args) = (
                service.log().clone(),
                setup.clone(),
                sample.clone(),
                args.clone(),
            );
            on_runtime(async move { log_pipelined(&log, &setup, &sample, &args).await }).await?
        };
        log_piped.cpu = meter.stop();
        say(
            args,
            log_piped.line(&format!("(b') same through the log only [{round}]")),
        );
        log_pipes.push(log_piped);
        let meter = CpuMeter::start(server_pid);
        let mut piped = {
            let (service, setup, args) = (service.clone(), setup.clone(), args.clone());
            on_runtime(async move { pipelined(&service, &setup, &args).await }).await?
        };
        piped.cpu = meter.stop();
        say(
            args,
            piped.line(&format!(
                "(b) {} aggregates, pipelined [{round}]",
                args.aggregates
            )),
        );
        pipes.push(piped);
    }
    let (piped, piped_rounds) = median(pipes);
    say(args, piped.line("(b) median"));
    let (log_piped, _) = median(log_pipes);
    say(args, log_piped.line("(b') median"));
    let mut out = json!({
        "body_bytes": body,
        "sequential": seq.json(),
        "pipelined": piped.json(),
        "pipelined_rounds": piped_rounds,
        "log_pipelined": log_piped.json(),
    });
    if !raws.is_empty() {
        let (raw, raw_rounds) = median(raws);
        say(args, raw.line("(c) median"));
        let ratio = piped.per_sec() / raw.per_sec().max(1e-9);
        say(args, format!("(b)/(c) of the medians = {ratio:.2}"));
        out["raw_publish"] = raw.json();
        out["raw_publish_rounds"] = json!(raw_rounds);
        out["pipelined_vs_raw"] = json!(round3(ratio));
    }
    Ok(out)
}

/// A nats-server started for the bench: loopback, free port, temp store; killed on drop.
pub(super) struct LocalNats {
    child: Child,
    pub(super) url: String,
    _store: tempfile::TempDir,
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_nats_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(path));
    }
    let local = PathBuf::from(".tools/nats/bin/nats-server");
    if local.is_file() {
        return Some(local);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

pub(super) async fn start_nats() -> Result<LocalNats, String> {
    let binary = find_nats_server().ok_or(
        "no nats-server found: pass --nats URL, set NATS_SERVER_BIN, or run `bash deploy/install-nats-server.sh`",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let child = Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let url = format!("nats://127.0.0.1:{port}");
    let server = LocalNats {
        child,
        url,
        _store: store,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if async_nats::connect(&server.url).await.is_ok() {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("nats-server did not start within 15 s".into())
}

/// Run the append benchmark; prints the JSON summary as the last line on stdout.
pub async fn append(args: AppendArgs) -> Result<(), String> {
    let mut report = serde_json::Map::new();
    report.insert("bench".into(), json!("append"));
    report.insert(
        "params".into(),
        json!({
            "sequential": args.sequential,
            "aggregates": args.aggregates,
            "messages_per_aggregate": args.messages,
            "concurrency": args.concurrency,
            "raw": args.raw,
            "raw_window": args.raw_window,
            "rounds": args.rounds,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }),
    );
    for backend in &args.backends {
        match backend.as_str() {
            "embedded" => {
                let temp;
                let dir = match &args.data {
                    Some(dir) => dir.clone(),
                    None => {
                        temp = tempfile::tempdir().map_err(|e| e.to_string())?;
                        temp.path().to_path_buf()
                    }
                };
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let path = dir.join(format!("bench-{}.sqlite", uuid::Uuid::now_v7().simple()));
                let log = EmbeddedLog::open(&path, EmbeddedOptions::default())
                    .map_err(|e| e.to_string())?;
                let figures = measure(AnyLog::Embedded(log), None, None, &args).await?;
                report.insert("embedded".into(), figures);
            }
            "jetstream" => {
                let local;
                let (url, server_pid) = match &args.nats {
                    Some(url) => (url.clone(), None),
                    None => {
                        local = start_nats().await?;
                        (local.url.clone(), Some(local.child.id()))
                    }
                };
                // A server named by --nats is the operator's: its stream must exist. The bench's
                // own server gets one.
                let setup = if server_pid.is_some() {
                    StreamSetup::CreateIfMissing
                } else {
                    StreamSetup::MustExist
                };
                let options = JetStreamOptions {
                    setup,
                    ..JetStreamOptions::default()
                };
                let log = JetStreamLog::connect(&url, options)
                    .await
                    .map_err(|e| e.to_string())?;
                let figures =
                    measure(AnyLog::JetStream(log), Some(&url), server_pid, &args).await?;
                report.insert("jetstream".into(), figures);
            }
            other => {
                return Err(format!(
                    "unknown backend {other:?}: expected embedded or jetstream"
                ));
            }
        }
    }
    println!("{}", Value::Object(report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_formatted_ones() {
        for i in [0, 7, 10, 123_456, usize::MAX] {
            assert_eq!(
                message_text(i),
                format!(
                    "Здравствуйте! Подскажите, пожалуйста, где мой заказ номер {i}? Жду уже третий день."
                )
            );
            let mut id = String::new();
            push_decimal(&mut id, i as u64);
            assert_eq!(id, i.to_string());
        }
    }
}
