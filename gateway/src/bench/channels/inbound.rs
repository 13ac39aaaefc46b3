//! The inbound phase: closed-loop senders posting webhook bodies in each provider's wire format,
//! signed as the provider signs them, a share of them from new clients and a share of them a
//! provider's retry (the previous body posted again, byte for byte).

use super::super::api::client::{Conn, Tally};
use super::super::api::load::cpu_time;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_connectors::{Secret, telegram, whatsapp};

/// The three providers whose webhooks are measured, in the order of the figures.
pub const PROVIDERS: [&str; 3] = ["telegram", "whatsapp", "vk"];

/// One connected channel as a sender posts to it.
#[derive(Debug)]
pub struct Target {
    /// Index in [`PROVIDERS`].
    pub provider: usize,
    /// `/v1/webhooks/{provider}/{channel}`.
    pub path: String,
    /// Telegram's secret token, WhatsApp's app secret, VK's secret.
    pub secret: String,
    /// WhatsApp's phone number id, VK's community id; empty for Telegram.
    pub account: String,
    /// The first client id of this channel; its clients are `first_client + k`.
    pub first_client: u64,
    /// Clients that have written so far (the next new one is `first_client + clients`).
    pub clients: AtomicU64,
}

/// A webhook body and the header that proves it (none for VK: its secret is in the body).
pub fn request(target: &Target, n: u64, client: u64) -> (Bytes, Proof) {
    let text = format!("Здравствуйте! Где мой заказ № {n}?");
    match PROVIDERS[target.provider] {
        "telegram" => (telegram_update(n, client, &text), {
            Some((telegram::SECRET_HEADER, target.secret.clone()))
        }),
        "whatsapp" => {
            let from = format!("7{client}");
            let body = json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100", "phone_number_id": target.account},
                    "contacts": [{"profile": {"name": format!("Client {client}")}, "wa_id": from}],
                    "messages": [{"from": from, "id": format!("wamid.BENCH{n:016}"),
                                  "timestamp": "1765000000", "type": "text", "text": {"body": text}}],
                }}]}],
            });
            let body = Bytes::from(body.to_string());
            let signature =
                whatsapp::signature_header(&body, &Secret::new(target.secret.clone())).ok();
            (body, signature.map(|s| (whatsapp::SIGNATURE_HEADER, s)))
        }
        _ => {
            let group: i64 = target.account.parse().unwrap_or(0);
            let body = json!({
                "group_id": group, "type": "message_new", "event_id": format!("{n:040x}"),
                "v": "5.131", "secret": target.secret,
                "object": {
                    "message": {"date": 1_683_278_670, "from_id": client, "id": n, "out": 0,
                                "attachments": [], "conversation_message_id": n,
                                "fwd_messages": [], "important": false, "is_hidden": false,
                                "peer_id": client, "random_id": 0, "text": text},
                    "client_info": {"button_actions": ["text"], "keyboard": true,
                                    "inline_keyboard": true, "carousel": true, "lang_id": 0},
                },
            });
            (Bytes::from(body.to_string()), None)
        }
    }
}

/// A Telegram `Update` with a private text message of `client`.
pub fn telegram_update(n: u64, client: u64, text: &str) -> Bytes {
    let body = json!({
        "update_id": n,
        "message": {
            "message_id": n,
            "date": 1_765_000_000,
            "chat": {"id": client, "type": "private", "first_name": "Client"},
            "from": {"id": client, "is_bot": false, "first_name": "Client", "language_code": "ru"},
            "text": text,
        }
    });
    Bytes::from(body.to_string())
}

/// A webhook's proof header, when the provider sends one.
pub type Proof = Option<(&'static str, String)>;

/// A message as posted: its target, body and proof, and whether it was taken (answered 200).
type Posted = (usize, Bytes, Proof, bool);

/// Posts one webhook; its status and answer.
pub async fn post(
    conn: &mut Conn,
    path: &str,
    body: Bytes,
    header: &Proof,
) -> Result<(u16, Bytes), String> {
    let headers: Vec<(&str, &str)> = header.iter().map(|(n, v)| (*n, v.as_str())).collect();
    conn.call_with("POST", path, &headers, Some(body)).await
}

/// How the inbound phase went.
#[derive(Debug)]
pub struct Inbound {
    pub elapsed: Duration,
    /// Per provider, every post (retries too).
    pub tallies: [Tally; 3],
    /// Distinct provider messages answered 200 at least once: what the log must hold once each.
    pub messages: u64,
    /// Posts of a message already posted (a provider's retry).
    pub retries: u64,
    /// Messages from a client that had not written before.
    pub new_clients: u64,
    pub serve_cpu: Duration,
}

/// Share of messages from new clients and share of posts that are retries.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub new_clients: f64,
    pub retries: f64,
}

/// `senders` closed-loop senders, each with its own connection, for `seconds`, spread over
/// `targets` in turn. Message numbers come from `next`, so that every run's ids are new.
pub async fn run(
    addr: SocketAddr,
    serve_pid: u32,
    targets: Arc<Vec<Target>>,
    senders: usize,
    seconds: f64,
    mix: Mix,
    next: Arc<AtomicU64>,
) -> Result<Inbound, String> {
    let mut conns = Vec::new();
    for _ in 0..senders {
        conns.push(Conn::connect(addr).await?);
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let cpu_before = cpu_time(Some(serve_pid));
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let (targets, next) = (Arc::clone(&targets), Arc::clone(&next));
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(i as u64 + 1);
                let mut tallies: [Tally; 3] = Default::default();
                let (mut messages, mut retries, mut new_clients) = (0u64, 0u64, 0u64);
                let mut last: Option<Posted> = None;
                let mut turn = i;
                while Instant::now() < end {
                    let retry = last.is_some() && rng.random_bool(mix.retries);
                    let (index, body, header, taken) = match last.take() {
                        Some(previous) if retry => {
                            retries += 1;
                            previous
                        }
                        _ => {
                            turn += 1;
                            let index = turn % targets.len();
                            let target = &targets[index];
                            let known = target.clients.load(Ordering::Relaxed);
                            let client = if known == 0 || rng.random_bool(mix.new_clients) {
                                new_clients += 1;
                                target.clients.fetch_add(1, Ordering::Relaxed)
                            } else {
                                rng.random_range(0..known)
                            };
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            let (body, header) = request(target, n, target.first_client + client);
                            (index, body, header, false)
                        }
                    };
                    let target = &targets[index];
                    let started = Instant::now();
                    let outcome = post(&mut conn, &target.path, body.clone(), &header).await;
                    tallies[target.provider].record(started, &outcome);
                    let ok = matches!(outcome, Ok((200, _)));
                    if ok && !taken {
                        messages += 1;
                    }
                    last = Some((index, body, header, taken || ok));
                }
                (tallies, messages, retries, new_clients)
            })
        })
        .collect();
    let mut inbound = Inbound {
        elapsed: Duration::ZERO,
        tallies: Default::default(),
        messages: 0,
        retries: 0,
        new_clients: 0,
        serve_cpu: Duration::ZERO,
    };
    for task in tasks {
        let (tallies, messages, retries, new_clients) = task.await.map_err(|e| e.to_string())?;
        for (sum, tally) in inbound.tallies.iter_mut().zip(&tallies) {
            sum.merge(tally);
        }
        inbound.messages += messages;
        inbound.retries += retries;
        inbound.new_clients += new_clients;
    }
    inbound.elapsed = start.elapsed();
    inbound.serve_cpu = cpu_time(Some(serve_pid)).saturating_sub(cpu_before);
    Ok(inbound)
}
