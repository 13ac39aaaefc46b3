//! Throughput and latency of the search index on a generated history, without a log: encoded
//! records (registrations, profile updates, inbound and outbound messages in Russian and
//! English) applied in batches as a rebuild would, then searches timed.
//!
//! `cargo run --release -p switchboard-projections --example search_bench -- [events] [dir] [indexing threads]`

use std::path::PathBuf;
use std::time::Instant;
use switchboard_core::log::{LogRecord, Subject};
use switchboard_projections::Store;
use switchboard_projections::search::{
    SearchIndex, SearchOptions, SearchOrder, SearchQuery, SearchTarget,
};
use switchboard_schemas::events::{
    ClientProfileUpdated, DialogRegistered, MessageQueued, MessageReceived,
};
use switchboard_schemas::{
    Actor, AggregateId, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, Envelope,
    Event, EventId, MessageAuthor, MessageId, OperatorId, ProjectId, Source, Timestamp,
    encode_batch,
};

const WORDS: &[&str] = &[
    "заказ",
    "заказы",
    "доставка",
    "доставку",
    "оплата",
    "скидка",
    "привет",
    "спасибо",
    "когда",
    "будет",
    "можно",
    "вернуть",
    "товар",
    "размер",
    "цвет",
    "order",
    "delivery",
    "running",
    "late",
    "refund",
    "price",
    "hello",
    "thanks",
    "please",
    "size",
    "color",
    "tomorrow",
    "today",
    "адрес",
    "курьер",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(500_000);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sb-search-bench"));
    let threads: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let _ = std::fs::remove_dir_all(&dir);
    let project = ProjectId::from_u128(1);
    let channel = ChannelId::from_u128(2);
    let operator = OperatorId::from_u128(3);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut dialogs: Vec<DialogId> = Vec::new();
    let envelope = |dialog: DialogId, seq: u64, payload: Event| Envelope {
        event_id: EventId::from_u128(u128::from(seq)),
        project,
        aggregate: AggregateId::Dialog(dialog),
        occurred_at: Timestamp::from_micros(1_700_000_000_000_000 + seq as i64 * 1000),
        actor: Actor::Connector(channel),
        causation_id: None,
        correlation_id: None,
        payload,
    };

    let options = SearchOptions {
        indexing_threads: threads,
        ..SearchOptions::rebuild()
    };
    let mut index = SearchIndex::open(&dir, options)?;
    let started = Instant::now();
    let mut generating = 0f64;
    let mut seq = 0u64;
    while seq < events {
        let generated = Instant::now();
        let mut batch = Vec::with_capacity(512);
        for _ in 0..512 {
            if seq >= events {
                break;
            }
            seq += 1;
            let roll = rng.below(100);
            let (dialog, payload) = if dialogs.is_empty() || roll < 10 {
                let dialog = DialogId::from_u128(1_000_000 + u128::from(seq));
                dialogs.push(dialog);
                let n = dialogs.len();
                let profile = ClientProfile {
                    name: Some(format!("Client{n} Иванов")),
                    phone: Some(format!("+7 9{:09}", rng.below(1_000_000_000))),
                    email: matches!(n % 3, 0).then(|| format!("client{n}@example.com")),
                    ..ClientProfile::default()
                };
                let registered = DialogRegistered {
                    profile,
                    source: Source::default(),
                    identity: Some(ChannelIdentity {
                        channel,
                        kind: ChannelKind::Telegram,
                        external_id: format!("{}", 100_000_000 + rng.below(9_000_000_000)),
                    }),
                };
                (dialog, Event::DialogRegistered(registered))
            } else {
                let dialog = dialogs[rng.below(dialogs.len() as u64) as usize];
                let words = 3 + rng.below(12);
                let text = (0..words)
                    .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ");
                let message = MessageId::from_u128(u128::from(seq));
                let payload = if roll < 11 {
                    Event::ClientProfileUpdated(ClientProfileUpdated {
                        profile: ClientProfile {
                            name: Some(format!("Renamed {seq}")),
                            ..ClientProfile::default()
                        },
                    })
                } else if roll < 60 {
                    Event::MessageReceived(MessageReceived {
                        message,
                        channel,
                        external_id: seq.to_string(),
                        text,
                        attachments: vec![],
                        reply_to: None,
                        sent_at: Timestamp::from_micros(0),
                    })
                } else {
                    Event::MessageQueued(MessageQueued {
                        message,
                        channel,
                        author: MessageAuthor::Operator(operator),
                        text,
                        attachments: vec![],
                        reply_to: None,
                        template: None,
                    })
                };
                (dialog, payload)
            };
            batch.push(LogRecord {
                seq,
                subject: Subject::dialog(project, dialog),
                msg_id: seq.to_string(),
                appended_at: Timestamp::from_micros(0),
                batch: encode_batch(&[envelope(dialog, seq, payload)])?,
            });
        }
        generating += generated.elapsed().as_secs_f64();
        index.apply(batch)?;
    }
    index.finish()?;
    let seconds = started.elapsed().as_secs_f64() - generating;
    let reader = index.reader();
    println!(
        "applied {events} events ({} dialogs) in {seconds:.1} s: {:.0} events/s (generation excluded), {} documents",
        dialogs.len(),
        events as f64 / seconds,
        reader.num_docs()
    );
    index.close()?;

    let queries: Vec<(SearchTarget, String)> = (0..400)
        .map(|i| match i % 4 {
            0 => (SearchTarget::Clients, format!("{}", 1000 + rng.below(9000))),
            1 => (
                SearchTarget::Clients,
                format!("client{}", rng.below(dialogs.len() as u64)),
            ),
            2 => (
                SearchTarget::Messages,
                WORDS[rng.below(WORDS.len() as u64) as usize].to_owned(),
            ),
            _ => (
                SearchTarget::Messages,
                format!(
                    "{} {}",
                    WORDS[rng.below(WORDS.len() as u64) as usize],
                    WORDS[rng.below(WORDS.len() as u64) as usize]
                ),
            ),
        })
        .collect();
    for order in [SearchOrder::Newest, SearchOrder::Relevance] {
        let mut times = Vec::with_capacity(queries.len());
        let mut hits = 0;
        for (target, text) in &queries {
            let mut query = SearchQuery::new(project, *target, text.clone());
            query.order = order;
            let started = Instant::now();
            let page = reader.search(&query)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            hits += page.hits.len();
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "search {order:?}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} queries, {hits} hits)",
            at(0.5),
            at(0.99),
            at(1.0),
            times.len()
        );
    }
    let digest_started = Instant::now();
    let digest = reader.digest()?;
    println!(
        "digest of {} documents in {:.1} s",
        digest.documents,
        digest_started.elapsed().as_secs_f64()
    );
    Ok(())
}
