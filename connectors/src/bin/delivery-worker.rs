//! One delivery worker over an embedded log file, as its own process: what the crash test
//! kills with `kill -9` and starts again.
//!
//! `delivery-worker <log.sqlite> <state.sqlite> <channels.json>`; the JSON names each channel
//! (`channel`, `kind`, `api_base`, `token`, `phone_number_id`) and may set `rates` per kind
//! (`kind`, `per_chat`, `per_channel`) and `call_timeout_ms`. With `nats` (a server URL) the log
//! is that server's JetStream stream `SB` instead of the file, and the worker shares the durable
//! consumer `sb-delivery` with every other worker (`ack_wait_ms`). Files operators uploaded are
//! read from the attachment store: with `nats`, the server's object store (as `serve --nats`
//! keeps it); else the directory `attachments` names, if any. Runs until killed or an error.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_connectors::Secret;
use switchboard_connectors::attachments::{AttachmentStore, DirStore, NatsStore, NatsStoreOptions};
use switchboard_connectors::delivery::{
    ChannelConfig, ChannelDirectory, DeliveryOptions, DeliveryWorker, Rate, SharedConsumer,
};
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::service::{CommandService, ServiceOptions};
use switchboard_schemas::{ChannelId, ChannelKind};

#[derive(Deserialize)]
struct Config {
    channels: Vec<Channel>,
    #[serde(default)]
    rates: Vec<RateConfig>,
    call_timeout_ms: Option<u64>,
    nats: Option<String>,
    ack_wait_ms: Option<u64>,
    /// The embedded attachment store's directory (`<data>/attachments` of a `serve`).
    attachments: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Channel {
    channel: ChannelId,
    kind: ChannelKind,
    api_base: String,
    token: String,
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct RateConfig {
    kind: ChannelKind,
    per_chat: u32,
    per_channel: u32,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("delivery-worker: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [log_path, state_path, config_path] = args.as_slice() else {
        return Err("usage: delivery-worker <log.sqlite> <state.sqlite> <channels.json>".into());
    };
    let text = std::fs::read_to_string(config_path).map_err(|e| e.to_string())?;
    let mut config: Config = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let directory = ChannelDirectory::new();
    for channel in std::mem::take(&mut config.channels) {
        directory.insert(
            channel.channel,
            ChannelConfig {
                kind: channel.kind,
                api_base: channel.api_base,
                token: Secret::new(channel.token),
                phone_number_id: channel.phone_number_id,
                smtp: None,
            },
        );
    }
    let mut options = DeliveryOptions::new(state_path.clone());
    for rate in std::mem::take(&mut config.rates) {
        let parsed = Rate::new(rate.per_chat, rate.per_channel).ok_or("a rate of 0")?;
        options.rates.push((rate.kind, parsed));
    }
    if let Some(ms) = config.call_timeout_ms {
        options.call_timeout = Duration::from_millis(ms);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let worker = match &config.nats {
            None => {
                if let Some(dir) = &config.attachments {
                    let store = DirStore::open(dir).await.map_err(|e| e.to_string())?;
                    options.attachments = Some(AttachmentStore::Directory(store));
                }
                let log = EmbeddedLog::open(log_path, EmbeddedOptions::default())
                    .map_err(|e| e.to_string())?;
                let service = CommandService::new(log, ServiceOptions::default());
                DeliveryWorker::start(service, directory, options).await
            }
            Some(url) => {
                let log = JetStreamLog::connect(url, JetStreamOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let client = async_nats::connect(url.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let spool = state_path.with_extension("spool");
                let store = NatsStore::open(client.clone(), NatsStoreOptions::new(spool))
                    .await
                    .map_err(|e| e.to_string())?;
                options.attachments = Some(AttachmentStore::ObjectStore(store));
                let mut consumer = SharedConsumer::new(client);
                if let Some(ms) = config.ack_wait_ms {
                    consumer.ack_wait = Duration::from_millis(ms);
                }
                let service = CommandService::new(log, ServiceOptions::default());
                DeliveryWorker::start_shared(service, directory, options, consumer).await
            }
        };
        worker
            .map_err(|e| e.to_string())?
            .join()
            .await
            .map_err(|e| e.to_string())
    })
}
