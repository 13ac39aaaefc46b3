//! `switchboard bench channels` at a tiny size through the real binary: a real `serve`, the
//! local provider servers, and a JSON line with every phase's figures — webhooks answered and
//! appended exactly once despite the retries, every reply taken once by the provider within
//! Telegram's limits, the raw rate measured (timings are the bench's business, not the test's).

use crate::common::json_lines;
use serde_json::Value;

#[test]
fn bench_channels_reports_inbound_outbound_and_the_raw_provider() {
    let lines = json_lines(&[
        "bench",
        "channels",
        "--json",
        "--senders",
        "3",
        "--seconds",
        "0.5",
        "--inbound-channels",
        "1",
        "--bots",
        "2",
        "--chats-per-bot",
        "3",
        "--per-chat",
        "2",
        "--retries",
        "0.3",
    ]);
    assert_eq!(lines.len(), 1, "--json prints only the JSON line");
    let report: &Value = &lines[0];
    assert_eq!(report["bench"], "channels");

    let inbound = &report["inbound"];
    for provider in ["telegram", "whatsapp", "vk"] {
        let figures = &inbound["by_provider"][provider];
        let requests = figures["requests"].as_u64().unwrap_or(0);
        assert!(requests > 0, "{provider}: no webhook was posted: {figures}");
        assert_eq!(
            figures["statuses"]["200"].as_u64(),
            Some(requests),
            "{provider}: {figures}"
        );
        for field in ["requests_per_sec", "p50_ms", "p99_ms", "max_ms"] {
            assert!(
                figures[field].as_f64().is_some_and(|x| x > 0.0),
                "{provider}.{field}: {figures}"
            );
        }
    }
    assert!(inbound["retries"].as_u64().unwrap() > 0, "{inbound}");
    assert!(inbound["new_clients"].as_u64().unwrap() > 0, "{inbound}");
    // Every message answered 200 is in the log once (the chats' first messages of the
    // outbound phase too: 2 bots × 3 chats), retries appended nothing.
    let messages = inbound["messages"].as_u64().unwrap();
    assert_eq!(inbound["expected_in_log"].as_u64(), Some(messages + 6));
    assert_eq!(inbound["log_messages_received"], inbound["expected_in_log"]);
    assert_eq!(inbound["log_distinct_messages"], inbound["expected_in_log"]);
    assert_eq!(inbound["appended_exactly_once"], true, "{inbound}");

    let outbound = &report["outbound"];
    assert_eq!(outbound["queued"], 12, "{outbound}");
    assert_eq!(outbound["sent"], 12, "{outbound}");
    assert_eq!(outbound["sent_twice"], 0, "{outbound}");
    assert_eq!(outbound["limits_kept"], true, "{outbound}");
    // Two replies to a chat reach the provider at least a second apart (the next goes a
    // second after the last was answered).
    assert!(
        outbound["chat_min_gap_ms"].as_f64().unwrap() >= 1000.0,
        "{outbound}"
    );
    assert!(
        outbound["bot_max_per_window"].as_u64().unwrap() <= 30,
        "{outbound}"
    );
    assert!(outbound["sent_per_sec"].as_f64().unwrap() > 0.0);
    assert!(outbound["queue_to_sent_p99_ms"].as_f64().unwrap() > 0.0);

    let raw = &report["raw_provider"];
    let requests = raw["requests"].as_u64().unwrap_or(0);
    assert!(requests > 0, "{raw}");
    assert_eq!(raw["statuses"]["200"].as_u64(), Some(requests), "{raw}");

    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "{targets:?}");
    assert!(targets.iter().all(|t| t["met"].is_boolean()));
    assert!(report["load_average_before"].is_array(), "{report}");
}
