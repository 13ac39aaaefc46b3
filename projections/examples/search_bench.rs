//! Throughput and latency of the search index on a generated history, without a log: encoded
//! records (registrations of made-up clients, profile updates, inbound and outbound messages in
//! Russian and English, from the generators of `switchboard_dataset::text`) applied in batches
//! as a rebuild would, then searches timed.
//!
//! `cargo run --release -p switchboard-projections --example search_bench -- [events] [dir] [indexing threads]`

use std::path::PathBuf;
use std::time::Instant;
use switchboard_core::log::{LogRecord, Subject};
use switchboard_dataset::rng::Rng;
use switchboard_dataset::text::{self, Lang};
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

/// A word of a generated message text, for a message search.
fn message_word(rng: &mut Rng, lang: Lang) -> String {
    let text = text::message(rng, lang, true);
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .collect();
    words
        .get(rng.below(words.len() as u64) as usize)
        .map_or_else(|| "заказ".to_owned(), |w| w.to_lowercase())
}

fn lang(rng: &mut Rng) -> Lang {
    if rng.chance(0.7) { Lang::Ru } else { Lang::En }
}

/// The event of sequence `seq`: a new dialog's registration (10 %, and the first), else on a
/// known dialog a profile update (1 %), an inbound (49 %) or an outbound message.
fn event(
    rng: &mut Rng,
    dialogs: &mut Vec<DialogId>,
    seq: u64,
    channel: ChannelId,
    operator: OperatorId,
) -> (DialogId, Event) {
    let roll = rng.below(100);
    if dialogs.is_empty() || roll < 10 {
        let dialog = DialogId::from_u128(1_000_000 + u128::from(seq));
        dialogs.push(dialog);
        let speaks = lang(rng);
        let person = text::person(rng, speaks);
        let profile = ClientProfile {
            name: person.name,
            phone: Some(person.phone),
            email: rng.chance(0.33).then_some(person.email),
            ..ClientProfile::default()
        };
        let registered = DialogRegistered {
            profile,
            source: Source::default(),
            identity: Some(ChannelIdentity {
                channel,
                kind: ChannelKind::Telegram,
                external_id: person.handle,
            }),
        };
        (dialog, Event::DialogRegistered(registered))
    } else {
        let dialog = dialogs[rng.below(dialogs.len() as u64) as usize];
        let inbound = roll < 60;
        let speaks = lang(rng);
        let text = text::message(rng, speaks, inbound);
        let message = MessageId::from_u128(u128::from(seq));
        let payload = if roll < 11 {
            Event::ClientProfileUpdated(ClientProfileUpdated {
                profile: ClientProfile {
                    name: Some(format!("Renamed {seq}")),
                    ..ClientProfile::default()
                },
            })
        } else if inbound {
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
                reply_to_external_id: None,
            })
        };
        (dialog, payload)
    }
}

/// 400 searches: phone digits and handle prefixes over clients, one and two words of generated
/// texts over messages.
fn queries(rng: &mut Rng) -> Vec<(SearchTarget, String)> {
    (0..400)
        .map(|i| match i % 4 {
            0 => (SearchTarget::Clients, format!("{}", 1000 + rng.below(9000))),
            1 => {
                let speaks = lang(rng);
                let person = text::person(rng, speaks);
                let handle: String = person.handle.chars().take(5).collect();
                (SearchTarget::Clients, handle)
            }
            2 => {
                let speaks = lang(rng);
                (SearchTarget::Messages, message_word(rng, speaks))
            }
            _ => {
                let lang = lang(rng);
                let first = message_word(rng, lang);
                let second = message_word(rng, lang);
                (SearchTarget::Messages, format!("{first} {second}"))
            }
        })
        .collect()
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
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
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
            let (dialog, payload) = event(&mut rng, &mut dialogs, seq, channel, operator);
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

    let queries = queries(&mut rng);
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
