//! The read models behind the real binary: `serve` keeps them current, `rebuild` swaps a new
//! generation in while it runs, `verify` compares them with a rebuild from the log, and a
//! `serve` killed with SIGKILL while it applies batches resumes to a state `verify` accepts.

use crate::common::*;
use futures::StreamExt;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use switchboard_core::EventLog;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::jetstream::{JetStreamLog, JetStreamOptions};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_schemas::{
    Actor, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, FolderId, MessageId,
    OperatorId, ProjectId, Role, Source, TagId, Timestamp,
};
use switchboard_tests::NatsServer;

/// Writes a small inbox into `log`: `dialogs` dialogs, each registered, with client messages,
/// an assignment, a reply, read marks, tags, folders, some closed. Returns the log's last
/// sequence.
async fn inbox<L: EventLog>(log: L, dialogs: usize) -> u64 {
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let project = ProjectId::new();
    let channel = ChannelId::new();
    let operators = [OperatorId::new(), OperatorId::new(), OperatorId::new()];
    let tag = TagId::new();
    let folder = FolderId::new();
    let system = || CommandMeta::new(Actor::System);
    let mut setup = vec![
        ProjectCommand::Create {
            name: "shop".into(),
        },
        ProjectCommand::ConnectChannel {
            channel,
            kind: ChannelKind::Telegram,
            name: "bot".into(),
        },
        ProjectCommand::CreateFolder {
            folder,
            name: "VIP".into(),
        },
        ProjectCommand::DefineTag {
            tag,
            name: "lead".into(),
            color: "#ff0000".into(),
        },
    ];
    for (i, operator) in operators.iter().enumerate() {
        setup.push(ProjectCommand::AddOperator {
            operator: *operator,
            name: format!("op{i}"),
            email: format!("op{i}@example.com"),
            role: if i == 0 { Role::Admin } else { Role::Operator },
            can_delete: i == 0,
        });
    }
    for command in setup {
        service
            .project(project, command, system())
            .await
            .expect("project setup");
    }
    let service = &service;
    futures::stream::iter(0..dialogs)
        .for_each_concurrent(64, |i| async move {
            let dialog = DialogId::new();
            let connector = || CommandMeta::new(Actor::Connector(channel));
            let operator = operators[1 + i % 2];
            let by_operator = || CommandMeta::new(Actor::Operator(operator));
            let run = |command, meta| async move {
                service
                    .dialog(project, dialog, command, meta)
                    .await
                    .unwrap_or_else(|e| panic!("command refused: {e}"));
            };
            run(
                DialogCommand::Register {
                    profile: ClientProfile {
                        name: Some(format!("Client {i}")),
                        ..ClientProfile::default()
                    },
                    source: Source::default(),
                    identity: Some(ChannelIdentity {
                        channel,
                        kind: ChannelKind::Telegram,
                        external_id: format!("{}", 7_770_000_000u64 + i as u64),
                    }),
                },
                connector(),
            )
            .await;
            for n in 0..(1 + i % 4) {
                run(
                    DialogCommand::ReceiveMessage {
                        message: MessageId::new(),
                        channel,
                        external_id: format!("{i}-{n}"),
                        text: format!("заказ номер {i}, сообщение {n}"),
                        attachments: vec![],
                        reply_to: None,
                        sent_at: Timestamp::now(),
                    },
                    connector(),
                )
                .await;
            }
            run(DialogCommand::Assign { operator }, system()).await;
            if i % 3 != 0 {
                run(DialogCommand::MarkRead, by_operator()).await;
                run(
                    DialogCommand::SendMessage {
                        message: MessageId::new(),
                        channel,
                        text: format!("answer {i}"),
                        attachments: vec![],
                        reply_to: None,
                        template: None,
                    },
                    by_operator(),
                )
                .await;
            }
            if i % 5 == 0 {
                run(DialogCommand::AddTags { tags: vec![tag] }, by_operator()).await;
                run(
                    DialogCommand::JoinFolders {
                        folders: vec![folder],
                    },
                    by_operator(),
                )
                .await;
            }
            if i % 7 == 0 {
                run(DialogCommand::Close, by_operator()).await;
            }
        })
        .await;
    log.last_seq().await.expect("last seq")
}

fn health(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = http(addr, "GET", "/v1/health");
    assert_eq!(status, 200, "{body}");
    body
}

fn applied(body: &serde_json::Value) -> Vec<u64> {
    body["projections"]
        .as_array()
        .expect("projections")
        .iter()
        .map(|p| p["applied_seq"].as_u64().expect("applied_seq"))
        .collect()
}

/// Polls health until every read model applied `seq` (and returns that body).
fn wait_applied(addr: SocketAddr, seq: u64) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = health(addr);
        if applied(&body).iter().all(|a| *a >= seq) {
            return body;
        }
        assert!(Instant::now() < deadline, "not caught up to {seq}: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn verify(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = run(&[&["verify"], args].concat());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "verify printed nothing: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output.status.code(),
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}")),
    )
}

fn generations(body: &serde_json::Value) -> Vec<String> {
    body["projections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["generation"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_swaps_in_while_serving_and_verify_finds_tampering() {
    // JetStream: the service, the test's commands and the command line tools are separate
    // processes on one log.
    let nats = NatsServer::start();
    let url = nats.url();
    let log = JetStreamLog::connect(&url, JetStreamOptions::default())
        .await
        .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let remote = ["--data", data_arg.as_str(), "--nats", url.as_str()];
    let last = inbox(log.clone(), 60).await;
    let (_server, addr) = start_server(cwd.path(), &["--nats", &url]);
    let body = tokio::task::spawn_blocking(move || wait_applied(addr, last))
        .await
        .unwrap();
    assert_eq!(generations(&body), ["g000001"; 5]);

    // Rebuild everything while the service runs: new files, swapped in, still current.
    let rebuilt = json_lines(&[&["rebuild", "all"], &remote[..]].concat());
    let summary = rebuilt.last().unwrap();
    let built = summary["rebuilt"].as_array().unwrap();
    assert_eq!(built.len(), 5, "{summary}");
    for entry in built {
        assert_eq!(entry["generation"], "g000002", "{summary}");
        assert_eq!(entry["replaced"], "g000001", "{summary}");
        assert_eq!(entry["checkpoint"], last, "{summary}");
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = health(addr);
        if generations(&body) == ["g000002"; 5] {
            break;
        }
        assert!(Instant::now() < deadline, "not swapped in: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The service let go of the old files and deleted them.
    let deadline = Instant::now() + PATIENCE;
    while data.join("read/dialogs/g000001.sqlite").exists() {
        assert!(Instant::now() < deadline, "g000001 was not deleted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // More commands after the swap: the swapped-in generation follows them.
    let more = inbox(log.clone(), 10).await;
    assert!(more > last);
    tokio::task::spawn_blocking(move || wait_applied(addr, more))
        .await
        .unwrap();
    let (code, report) = verify(&remote);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    let projections = report["projections"].as_array().unwrap();
    assert_eq!(projections.len(), 5);
    for p in projections {
        assert_eq!(p["equal"], true, "{report}");
        let name = p["projection"].as_str().unwrap();
        assert_eq!(p["live_checkpoint"][name]["seq"], more, "{report}");
        assert!(!p["tables"].as_array().unwrap().is_empty(), "{report}");
    }

    // One changed cell in the live dialog list: verify names the table and exits with 3.
    let live = data.join("read/dialogs/g000002.sqlite");
    let conn = rusqlite::Connection::open(&live).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let changed = conn
        .execute(
            "UPDATE dialog_row SET pinned = 1 - pinned
             WHERE dialog = (SELECT min(dialog) FROM dialog_row)",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let (code, report) = verify(&remote);
    assert_eq!(code, Some(3), "{report}");
    assert_eq!(report["ok"], false);
    let dialogs = &report["projections"][0];
    assert_eq!(dialogs["projection"], "dialogs");
    assert_eq!(dialogs["equal"], false);
    let differing: Vec<_> = dialogs["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["equal"] == false)
        .map(|t| t["table"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(differing, ["dialog_row"], "{report}");
    assert_eq!(report["projections"][1]["equal"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_applying_then_restarted_verifies_clean() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    // The embedded log is one process's: fill it, then let the service open it.
    let last = inbox(open_embedded(&data), 1500).await;
    assert!(
        last > 5000,
        "a log long enough to be killed mid-way: {last}"
    );

    // Kill -9 once some but not all of the log is applied; twice, the second time once the
    // restarted service has applied more than the first had (a kill in the middle of resuming).
    // Each model's position at the previous kill (a model may have reached the end by then:
    // the round waits for one that had not to move on).
    let mut before_kill = vec![0; 5];
    for round in 1..=2 {
        let (mut server, addr) = start_server(cwd.path(), &[]);
        let deadline = Instant::now() + PATIENCE;
        let at_kill = loop {
            let body = health(addr);
            let applied = applied(&body);
            let moved = applied
                .iter()
                .zip(&before_kill)
                .any(|(now, then)| now > then && *then < last);
            if moved {
                break applied;
            }
            assert!(Instant::now() < deadline, "nothing applied: {body}");
            std::thread::sleep(Duration::from_millis(2));
        };
        server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
        server.child.wait().unwrap();
        assert!(
            at_kill.iter().any(|a| *a < last),
            "round {round}: killed only after everything was applied ({at_kill:?} of {last}); \
             make the log longer"
        );
        before_kill = at_kill;
    }

    // Restart: each read model resumes from its checkpoint and catches up.
    let (mut server, addr) = start_server(cwd.path(), &[]);
    let body = tokio::task::spawn_blocking(move || wait_applied(addr, last))
        .await
        .unwrap();
    assert_eq!(generations(&body), ["g000001"; 5]);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let (code, report) = verify(&["--data", data.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    for p in report["projections"].as_array().unwrap() {
        let name = p["projection"].as_str().unwrap();
        assert_eq!(p["live_checkpoint"][name]["seq"], last, "{report}");
    }
}

/// Each generation's fingerprint (which code built it; a mismatch makes `serve` build a new
/// generation) is durable before the generation is used: written to a temporary file that is
/// synced, renamed into place, and the directory synced after the rename. Watched with strace on
/// the real `serve` (`STRACE_BIN`, installed by the test command); seen failing with the
/// fingerprint written by a plain `std::fs::write`.
#[test]
fn each_generation_fingerprint_is_synced_before_it_counts() {
    let cwd = tempfile::tempdir().unwrap();
    let trace = cwd.path().join("trace");
    let strace = std::env::var("STRACE_BIN").unwrap_or_else(|_| "strace".to_owned());
    let mut command = Command::new(&strace);
    command
        .current_dir(cwd.path())
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--data", "data", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG");
    let mut server = Running::spawn(&mut command, cwd.path().join("serve.stderr"));
    let first = server.next_line();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{strace} serve: unexpected first line {first:?}"))
        .parse()
        .unwrap();
    let body = health(addr);
    let models: Vec<(String, String)> = body["projections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |name: &str| p[name].as_str().unwrap_or_else(|| panic!("{name}: {p}"));
            (
                field("projection").to_owned(),
                field("generation").to_owned(),
            )
        })
        .collect();
    assert_eq!(models.len(), 5, "{body}");
    // The strace child is `serve`'s parent: a TERM to it would not reach serve.
    let stopped = Command::new("pkill")
        .args(["-TERM", "-P", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success(), "serve found under strace");
    assert!(server.wait_exit().success(), "{}", server.stderr());

    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for (model, generation) in &models {
        let fingerprint = format!("data/read/{model}/{generation}.fingerprint");
        let position = |from: usize, what: &dyn Fn(&str) -> bool| {
            lines[from..]
                .iter()
                .position(|line| what(line))
                .map(|at| from + at)
        };
        let renamed = position(0, &|line| {
            line.contains(" rename") && line.ends_with(&format!("\"{fingerprint}\") = 0"))
        })
        .unwrap_or_else(|| {
            panic!(
                "{fingerprint} never renamed into place:\n{}",
                lines.join("\n")
            )
        });
        let temporary = lines[renamed]
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("{}", lines[renamed]))
            .to_owned();
        let synced = lines[..renamed].iter().any(|line| {
            (line.contains(" fsync(") || line.contains(" fdatasync("))
                && line.contains(&format!("/{temporary}>) = 0"))
        });
        assert!(
            synced,
            "{temporary} renamed to {fingerprint} unsynced:\n{}",
            lines.join("\n")
        );
        let directory = format!("/data/read/{model}>) = 0");
        assert!(
            position(renamed + 1, &|line| line.contains(" fsync(")
                && line.ends_with(&directory))
            .is_some(),
            "data/read/{model} not synced after the rename:\n{}",
            lines.join("\n")
        );
    }
}
