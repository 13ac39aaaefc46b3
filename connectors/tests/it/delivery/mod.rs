//! Outbound delivery against the local provider servers (`switchboard_tests::providers`), over
//! the real embedded log and command service: each queued message reaches its provider once,
//! rate limits (the provider's answers and our own per-chat and per-channel limits), blocked
//! clients, attachment limits, flaps, slow answers (an unknown outcome), delivery statuses by
//! webhook, and a worker process killed mid-batch (`crash`).

mod crash;
mod nats;
mod sends;

use std::time::{Duration, Instant};
use switchboard_connectors::Secret;
use switchboard_connectors::delivery::{
    ChannelConfig, ChannelDirectory, DeliveryOptions, DeliveryWorker, Rate, WorkerHandle,
};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{EventLog, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::events::*;
use switchboard_schemas::*;
use switchboard_tests::providers::{FakeProvider, Provider};

pub(crate) const TOKEN: &str = "123456:TEST-token-never-logged";
pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";

pub(crate) struct World<L: EventLog = EmbeddedLog> {
    pub dir: tempfile::TempDir,
    pub service: CommandService<L>,
    pub project: ProjectId,
}

/// A channel of the world and the provider server behind it.
pub(crate) struct Line {
    pub channel: ChannelId,
    pub kind: ChannelKind,
    pub provider: FakeProvider,
}

impl Line {
    pub fn config(&self) -> ChannelConfig {
        ChannelConfig {
            kind: self.kind,
            api_base: self.provider.base_url(),
            token: Secret::new(TOKEN),
            phone_number_id: (self.kind == ChannelKind::WhatsappCloud)
                .then(|| PHONE_NUMBER_ID.to_owned()),
            smtp: None,
        }
    }
}

fn provider_of(kind: ChannelKind) -> Provider {
    match kind {
        ChannelKind::Telegram => Provider::Telegram,
        ChannelKind::WhatsappCloud => Provider::Whatsapp,
        _ => Provider::Vk,
    }
}

pub(crate) fn log_at(dir: &tempfile::TempDir) -> EmbeddedLog {
    EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default()).expect("log")
}

impl World {
    pub async fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = log_at(&dir);
        World::on(dir, log).await
    }
}

impl<L: EventLog> World<L> {
    /// A project on `log`.
    pub async fn on(dir: tempfile::TempDir, log: L) -> World<L> {
        let service = CommandService::new(log, ServiceOptions::default());
        let project = ProjectId::new();
        let create = ProjectCommand::Create {
            name: "shop".into(),
        };
        service
            .project(project, create, CommandMeta::new(Actor::System))
            .await
            .expect("project");
        World {
            dir,
            service,
            project,
        }
    }

    /// Connects a channel of `kind` served by a new local provider server.
    pub async fn line(&self, kind: ChannelKind) -> Line {
        let channel = ChannelId::new();
        let connect = ProjectCommand::ConnectChannel {
            channel,
            kind,
            name: "bot".into(),
        };
        self.service
            .project(self.project, connect, CommandMeta::new(Actor::System))
            .await
            .expect("channel");
        Line {
            channel,
            kind,
            provider: FakeProvider::start(provider_of(kind), TOKEN).await,
        }
    }

    /// A client writing from `external_id` on the line's channel.
    pub async fn client(&self, line: &Line, external_id: &str) -> DialogId {
        let identity = ChannelIdentity {
            channel: line.channel,
            kind: line.kind,
            external_id: external_id.to_owned(),
        };
        self.service
            .dialog_for_identity(
                self.project,
                &identity,
                ClientProfile::default(),
                Source::default(),
                CommandMeta::new(Actor::Connector(line.channel)),
            )
            .await
            .expect("dialog")
    }

    /// The bot queues `text` to the dialog on the line's channel.
    pub async fn queue(&self, line: &Line, dialog: DialogId, text: &str) -> MessageId {
        let message = MessageId::new();
        let send = DialogCommand::SendMessage {
            message,
            channel: line.channel,
            text: text.to_owned(),
            attachments: Vec::new(),
            reply_to: None,
            template: None,
        };
        self.service
            .dialog(self.project, dialog, send, CommandMeta::new(Actor::Bot))
            .await
            .expect("queued");
        message
    }

    /// An admin of the project (who may resend any dialog's messages).
    pub async fn admin(&self) -> OperatorId {
        let operator = OperatorId::new();
        let add = ProjectCommand::AddOperator {
            operator,
            name: "Ada".into(),
            email: "ada@shop.test".into(),
            role: Role::Admin,
            can_delete: false,
        };
        self.service
            .project(self.project, add, CommandMeta::new(Actor::System))
            .await
            .expect("operator");
        operator
    }

    /// `operator` resends the failed `message` (F3.6).
    pub async fn resend(&self, operator: OperatorId, dialog: DialogId, message: MessageId) {
        let resend = DialogCommand::ResendMessage { message };
        let meta = CommandMeta::new(Actor::Operator(operator));
        self.service
            .dialog(self.project, dialog, resend, meta)
            .await
            .expect("resent");
    }

    /// The worker's options with its state file `name` in the world's directory.
    pub fn options(&self, name: &str) -> DeliveryOptions {
        DeliveryOptions::new(self.dir.path().join(name))
    }

    /// Starts a worker for `lines` with its state file in the world's directory.
    pub async fn worker(
        &self,
        lines: &[&Line],
        tune: impl FnOnce(&mut DeliveryOptions),
    ) -> WorkerHandle {
        let directory = ChannelDirectory::new();
        for line in lines {
            directory.insert(line.channel, line.config());
        }
        let mut options = self.options("delivery.sqlite");
        options.transient_backoff = Duration::from_millis(50);
        options.rates = vec![
            (ChannelKind::Telegram, Rate::new(100, 1000).expect("rate")),
            (
                ChannelKind::WhatsappCloud,
                Rate::new(100, 1000).expect("rate"),
            ),
            (ChannelKind::Vk, Rate::new(100, 1000).expect("rate")),
        ];
        tune(&mut options);
        DeliveryWorker::start(self.service.clone(), directory, options)
            .await
            .expect("worker")
    }

    /// Every event of the log, in order.
    pub async fn events(&self) -> Vec<Event> {
        events_of(self.service.log()).await
    }

    /// Waits until `done` holds of the log's events (at most 30 s), and answers them.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let start = Instant::now();
        loop {
            let events = self.events().await;
            if done(&events) {
                return events;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; events: {:#?}",
                events.iter().filter(|e| is_delivery(e)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub(crate) async fn events_of(log: &impl EventLog) -> Vec<Event> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let records = log
            .read(from, &SubjectFilter::all(), 10_000)
            .await
            .expect("read");
        let Some(last) = records.last() else {
            return out;
        };
        from = last.seq + 1;
        for record in &records {
            out.extend(
                decode_batch(&record.batch)
                    .expect("decodes")
                    .into_iter()
                    .map(|e| e.payload),
            );
        }
    }
}

fn is_delivery(event: &Event) -> bool {
    matches!(
        event,
        Event::MessageSent(_)
            | Event::MessageFailed(_)
            | Event::MessageDelivered(_)
            | Event::MessageRead(_)
    )
}

/// The external id each message was marked sent with.
pub(crate) fn sent(events: &[Event]) -> std::collections::HashMap<MessageId, String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageSent(s) => Some((s.message, s.external_id.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn failures(events: &[Event], message: MessageId) -> Vec<MessageFailed> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageFailed(f) if f.message == message => Some(f.clone()),
            _ => None,
        })
        .collect()
}
