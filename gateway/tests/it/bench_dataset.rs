//! `switchboard bench dataset` and the history generator behind it: the shape of the files, and
//! that the same seed gives the same bytes.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use switchboard_dataset::history::{Generator, Item, Size};
use switchboard_gateway::bench::dataset::{FILES, write_dataset};

fn tiny(seed: u64) -> Size {
    Size {
        projects: 2,
        dialogs: 300,
        messages: 3000,
        operators: 6,
        seed,
    }
}

fn lines(dir: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}")))
        .collect()
}

fn bytes_of(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    FILES
        .iter()
        .map(|name| (*name, std::fs::read(dir.join(name)).unwrap()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_files_and_another_seed_other_ones() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_dataset(a.path(), tiny(7)).unwrap();
    write_dataset(b.path(), tiny(7)).unwrap();
    write_dataset(c.path(), tiny(8)).unwrap();
    let (first, second, other) = (bytes_of(a.path()), bytes_of(b.path()), bytes_of(c.path()));
    for name in FILES {
        assert!(!first[name].is_empty(), "{name} is empty");
        assert!(first[name] == second[name], "{name} differs for one seed");
    }
    assert!(first["events.jsonl"] != other["events.jsonl"]);
    assert!(first["messages.jsonl"] != other["messages.jsonl"]);
}

#[test]
fn the_files_hold_every_event_message_dialog_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let stats = write_dataset(dir.path(), tiny(1)).unwrap();
    assert_eq!(
        stats.refusals, 0,
        "the generator gave commands the domain refused"
    );
    assert_eq!(stats.messages, 3000);
    assert_eq!(stats.dialogs, 300);

    let events = lines(dir.path(), "events.jsonl");
    assert_eq!(events.len() as u64, stats.events);
    let mut last_seq = 0;
    let mut last_time = String::new();
    let mut types = BTreeSet::new();
    for event in &events {
        let seq = event["seq"].as_u64().unwrap();
        assert!(
            seq == last_seq || seq == last_seq + 1,
            "sequences run 1, 2, 3…"
        );
        last_seq = seq;
        let at = event["occurred_at"].as_str().unwrap().to_owned();
        assert!(at >= last_time, "time never goes back in the log");
        last_time = at;
        assert!(event["subject"].as_str().unwrap().starts_with("sb."));
        types.insert(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(last_seq, stats.appends);
    // The mix of a real inbox.
    for kind in [
        "project.created",
        "operator.added",
        "channel.connected",
        "identity.claimed",
        "dialog.registered",
        "message.received",
        "message.queued",
        "message.sent",
        "message.delivered",
        "message.read",
        "note.added",
        "dialog.assigned",
        "dialog.read_marked",
        "dialog.marked_unread",
        "dialog.closed",
        "dialog.reopened",
        "tags.added",
        "folders.joined",
        "lists.joined",
        "variable.set",
        "deal.stage_changed",
        "bot.paused",
    ] {
        assert!(types.contains(kind), "no {kind} event in {types:?}");
    }

    let messages = lines(dir.path(), "messages.jsonl");
    assert_eq!(messages.len(), 3000);
    let texts: BTreeSet<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.len() > 1000, "only {} distinct texts", texts.len());
    assert!(texts.iter().any(|t| t.contains("заказ")));
    assert!(texts.iter().any(|t| t.contains("order")));
    for message in &messages {
        assert!(matches!(
            message["direction"].as_str(),
            Some("inbound" | "outbound")
        ));
        assert!(message["channel_kind"].is_string());
    }

    let dialogs = lines(dir.path(), "dialogs.jsonl");
    assert_eq!(dialogs.len(), 300);
    let total: u64 = dialogs
        .iter()
        .map(|d| d["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3000, "per-dialog counts add up to --messages");
    let most = dialogs
        .iter()
        .map(|d| d["messages"].as_u64().unwrap())
        .max();
    assert!(most.unwrap() > 100, "the Zipf law gives a few long dialogs");

    let clients = lines(dir.path(), "clients.jsonl");
    assert_eq!(clients.len(), 300);
    for client in &clients {
        if client["erased"] == Value::Bool(true) {
            assert!(client["name"].is_null() && client["phone"].is_null());
        } else {
            assert!(!client["identities"].as_array().unwrap().is_empty());
        }
    }

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["counts"]["events"].as_u64(), Some(stats.events));
}

#[test]
fn a_continuation_goes_on_from_the_next_sequence_in_the_same_projects() {
    let mut history = Generator::new(tiny(3), 1);
    let mut projects = BTreeSet::new();
    for item in history.by_ref() {
        if let Item::Append(append) = item {
            projects.insert(append.events[0].project);
        }
    }
    let next = history.next_seq();
    let mut more = history.continuation(50, 400, 99);
    let mut seqs = Vec::new();
    for item in more.by_ref() {
        if let Item::Append(append) = item {
            assert!(projects.contains(&append.events[0].project));
            seqs.push(append.seq);
        }
    }
    assert_eq!(seqs.first(), Some(&next));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(more.stats().messages, 400);
    assert_eq!(more.stats().refusals, 0);
}
