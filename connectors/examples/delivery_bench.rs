//! Outbound delivery rate against the local Telegram server, beside that server's raw rate
//! (the same number of `sendMessage` calls made straight with `reqwest`, 512 at a time).
//!
//! `cargo run --release -p switchboard-connectors --example delivery_bench [bots] [chats per bot]
//! [messages per chat]` (defaults 400, 25, 2): over the embedded log, the documented Telegram
//! limits (1 message/s per chat, 30/s per bot), so the limits allow `bots` × 30 messages/s.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_connectors::Secret;
use switchboard_connectors::delivery::{
    ChannelConfig, ChannelDirectory, DeliveryOptions, DeliveryWorker,
};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::*;
use switchboard_tests::providers::{FakeProvider, Provider};

const TOKEN: &str = "42:bench";

fn arg(index: usize, default: usize) -> usize {
    std::env::args()
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (bots, chats, per_chat) = (arg(1, 400), arg(2, 25), arg(3, 2));
    let dir = tempfile::tempdir().expect("dir");
    let log =
        EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log");
    let service = CommandService::new(log, ServiceOptions::default());
    let project = ProjectId::new();
    let system = || CommandMeta::new(Actor::System);
    let create = ProjectCommand::Create {
        name: "bench".into(),
    };
    service
        .project(project, create, system())
        .await
        .expect("project");
    let provider = FakeProvider::start(Provider::Telegram, TOKEN).await;
    let directory = ChannelDirectory::new();
    let setup = Instant::now();
    let mut total = 0usize;
    for bot in 0..bots {
        let channel = ChannelId::new();
        let connect = ProjectCommand::ConnectChannel {
            channel,
            kind: ChannelKind::Telegram,
            name: format!("bot {bot}"),
        };
        service
            .project(project, connect, system())
            .await
            .expect("channel");
        directory.insert(
            channel,
            ChannelConfig {
                kind: ChannelKind::Telegram,
                api_base: provider.base_url(),
                token: Secret::new(TOKEN),
                phone_number_id: None,
                smtp: None,
            },
        );
        for chat in 0..chats {
            let identity = ChannelIdentity {
                channel,
                kind: ChannelKind::Telegram,
                external_id: format!("{}", 1_000_000 + bot * chats + chat),
            };
            let dialog = service
                .dialog_for_identity(
                    project,
                    &identity,
                    ClientProfile::default(),
                    Source::default(),
                    system(),
                )
                .await
                .expect("dialog");
            for n in 0..per_chat {
                let send = DialogCommand::SendMessage {
                    message: MessageId::new(),
                    channel,
                    text: format!("bench {n}"),
                    attachments: Vec::new(),
                    reply_to: None,
                    template: None,
                };
                service
                    .dialog(project, dialog, send, CommandMeta::new(Actor::Bot))
                    .await
                    .expect("queued");
                total += 1;
            }
        }
    }
    eprintln!("setup: {total} messages queued in {:?}", setup.elapsed());

    let options = DeliveryOptions::new(dir.path().join("delivery.sqlite"));
    let start = Instant::now();
    let worker = DeliveryWorker::start(service.clone(), directory, options)
        .await
        .expect("worker");
    while worker.counters.sent.load(Ordering::Relaxed) < total as u64 {
        assert!(start.elapsed() < Duration::from_secs(600), "stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivery = start.elapsed();
    worker.stop();
    assert_eq!(provider.received().len(), total, "each message once");

    let http = reqwest::Client::new();
    let url = format!("{}/bot{TOKEN}/sendMessage", provider.base_url());
    let raw = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        let permit = semaphore.clone().acquire_owned().await.expect("permit");
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"chat_id":{},"text":"raw"}}"#, 5_000_000 + n);
            let answer = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            drop(permit);
            answer.map(|a| a.status().is_success()).unwrap_or(false)
        }));
    }
    for task in tasks {
        assert!(task.await.expect("task"), "raw call failed");
    }
    let raw = raw.elapsed();
    let limit = bots * 30;
    println!(
        "delivery: {total} messages over {bots} bots × {chats} chats in {delivery:.2?} = {:.0}/s \
         (Telegram's limits allow {limit}/s); the local server's raw rate: {:.0}/s",
        total as f64 / delivery.as_secs_f64(),
        total as f64 / raw.as_secs_f64()
    );
}
