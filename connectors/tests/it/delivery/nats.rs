//! `--nats`: two worker processes share one durable JetStream consumer; one is killed with
//! `kill -9` mid-batch and not restarted. The other gets the dead one's unacknowledged
//! messages after `ack_wait` and finishes: every message reached its provider, none was sent
//! by both workers except the ones whose outcome the kill left unknown (marked possibly twice;
//! VK drops them).

use super::crash::{channels_json, chat_of, check_outcomes, kill_9, start_worker};
use super::*;
use std::collections::{HashMap, HashSet};
use switchboard_connectors::delivery::SharedConsumer;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_tests::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_consumer_and_a_killed_ones_messages_go_out_through_the_other() {
    let server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .expect("log");
    let world = World::on(tempfile::tempdir().expect("dir"), log).await;
    let lines = vec![
        world.line(ChannelKind::Telegram).await,
        world.line(ChannelKind::WhatsappCloud).await,
        world.line(ChannelKind::Vk).await,
    ];
    for line in &lines {
        line.provider.slow(u32::MAX, Duration::from_millis(150));
    }
    let extra = serde_json::json!({"nats": server.url(), "ack_wait_ms": 1500});
    std::fs::write(
        world.dir.path().join("channels.json"),
        channels_json(&lines, extra),
    )
    .expect("config");
    let mut a = start_worker(world.dir.path(), "node-a.sqlite");
    let mut b = start_worker(world.dir.path(), "node-b.sqlite");
    tokio::time::sleep(Duration::from_millis(500)).await; // both pulling

    let mut queued: HashMap<MessageId, (usize, String)> = HashMap::new();
    for (index, line) in lines.iter().enumerate() {
        for chat in 0..6 {
            let chat = chat_of(line.kind, chat);
            let dialog = world.client(line, &chat).await;
            for n in 0..5 {
                let text = format!("{chat} #{n}");
                queued.insert(world.queue(line, dialog, &text).await, (index, text));
            }
        }
    }
    let total = queued.len();
    let started = Instant::now();
    let taken = || {
        lines
            .iter()
            .map(|l| l.provider.received().len())
            .sum::<usize>()
    };
    while taken() < total / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sent {} of {total}",
            taken()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Killed while one of its calls is at a provider (its `begun` row is written before the
    // call, removed after the outcome; the provider holds each call 150 ms): otherwise the kill
    // could fall where this node has nothing under way (the other one pulled the rest).
    let a_state = world.dir.path().join("node-a.sqlite");
    while !under_way_at_a_provider(&a_state, &lines, &queued) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "node a never had a call at a provider"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    kill_9(&mut a);
    let taken_at_kill = taken();
    let recorded_sent: HashSet<MessageId> = sent(&world.events().await).into_keys().collect();
    for line in &lines {
        line.provider.slow(0, Duration::ZERO);
    }
    let events = world
        .wait_for("every message sent by the surviving node", |events| {
            sent(events).len() == total
        })
        .await;
    kill_9(&mut b);
    let twice = check_outcomes(&lines, &queued, &recorded_sent, &events);
    let repeats = lines[2].provider.vk_repeats();
    eprintln!(
        "nats: {taken_at_kill} of {total} taken at the kill, {} recorded sent, {twice} taken \
         twice (marked), {repeats} VK repeats dropped",
        recorded_sent.len()
    );
    assert!(taken_at_kill < total, "killed mid-batch");
    assert!(
        twice + repeats as usize >= 1,
        "the killed node had nothing under way"
    );
}

/// Whether a message the worker with state file `state` has begun to send (a row of its
/// `begun` table) has reached its provider.
/// F3.6 on `--nats`: a resent message reaches the worker through the shared consumer like a
/// queued one, goes out through its channel with its text, and is marked sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_message_goes_out_through_the_shared_consumer() {
    let server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .expect("log");
    let world = World::on(tempfile::tempdir().expect("dir"), log).await;
    let line = world.line(ChannelKind::Telegram).await;
    let operator = world.admin().await;
    line.provider.block("5001");
    let dialog = world.client(&line, "5001").await;
    let message = world.queue(&line, dialog, "are you there?").await;
    let directory = ChannelDirectory::new();
    directory.insert(line.channel, line.config());
    let client = async_nats::connect(server.url()).await.expect("client");
    let worker = DeliveryWorker::start_shared(
        world.service.clone(),
        directory,
        world.options("node.sqlite"),
        SharedConsumer::new(client),
    )
    .await
    .expect("worker");
    world
        .wait_for("the failure", |events| failures(events, message).len() == 1)
        .await;

    line.provider.unblock("5001");
    world.resend(operator, dialog, message).await;
    let events = world
        .wait_for("the resend sent", |events| {
            sent(events).contains_key(&message)
        })
        .await;
    let received = line.provider.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].text, "are you there?");
    assert_eq!(line.provider.refused().len(), 1, "one call per attempt");
    let marked = events
        .iter()
        .filter(|e| matches!(e, Event::MessageSent(s) if s.message == message))
        .count();
    assert_eq!(marked, 1);
    worker.stop();
}

fn under_way_at_a_provider(
    state: &std::path::Path,
    lines: &[Line],
    queued: &HashMap<MessageId, (usize, String)>,
) -> bool {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(state, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return false;
    };
    let Ok(mut statement) = conn.prepare("SELECT message FROM begun") else {
        return false;
    };
    let Ok(rows) = statement.query_map([], |row| row.get::<_, Vec<u8>>(0)) else {
        return false;
    };
    rows.flatten().any(|bytes| {
        let Ok(uuid) = uuid::Uuid::from_slice(&bytes) else {
            return false;
        };
        queued
            .get(&MessageId::from_uuid(uuid))
            .is_some_and(|(index, text)| {
                lines[*index]
                    .provider
                    .received()
                    .iter()
                    .any(|r| &r.text == text)
            })
    })
}
