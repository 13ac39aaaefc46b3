//! Bulk actions (F6) over a real socket on a real `serve`: selections by ids and by filter
//! (every page of the list, counted as the list counts), the confirmation of destructive and
//! wide actions, rights (an operator's bulk skips the dialogs it may not change), the
//! idempotency key, and a job killed with SIGKILL mid-way that finishes after a restart with
//! every dialog changed exactly once (each dialog's own events, read through the audit route).

use crate::common::*;
use crate::live::client::SseClient;
use crate::operator_api::Api;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use switchboard_gateway::api::bulk::store::{JOBS_FILE, JobStore};

const ROOT: &str = "root-token-of-the-bulk-test";

/// `serve` on `data` with the root token, extra arguments and extra environment.
fn start(dir: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Running, SocketAddr) {
    let mut command = bin();
    command
        .current_dir(dir)
        .env("SWITCHBOARD_ROOT_TOKEN", ROOT)
        .args(["serve", "--data"])
        .arg(data)
        .args(args)
        .args(["--listen", "127.0.0.1:0"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let name = data.file_name().unwrap().to_string_lossy();
    let mut server = Running::spawn(&mut command, dir.join(format!("{name}.stderr")));
    let first = server.next_line();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    (server, addr)
}

struct Team {
    admin: String,
    operator: String,
    operator_id: String,
}

fn team(api: &Api) -> Team {
    let project = json!({"name": "Bulk", "admin": {"name": "Ada", "email": "ada@bulk.test", "password": "correct horse battery"}});
    api.ok(ROOT, "POST", "/v1/projects", Some(project));
    let admin = api.login("ada@bulk.test", "correct horse battery")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = api.ok(
        &admin,
        "POST",
        "/v1/operators",
        Some(json!({"name": "Oleg", "email": "oleg@bulk.test", "password": "another long secret"})),
    );
    let operator = api.login("oleg@bulk.test", "another long secret")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Team {
        admin,
        operator,
        operator_id: created["operator"].as_str().unwrap().to_owned(),
    }
}

/// `n` new dialogs registered by `token`; the last command's sequence.
fn register(api: &Api, token: &str, n: usize, from: usize) -> (Vec<String>, u64) {
    let mut dialogs = Vec::new();
    let mut seq = 0;
    for i in from..from + n {
        let client = json!({"name": format!("Client {i}"), "phone": format!("+1555{i:07}")});
        let created = api.ok(token, "POST", "/v1/dialogs", Some(client));
        dialogs.push(created["dialog"].as_str().unwrap().to_owned());
        seq = created["seq"].as_u64().unwrap();
    }
    (dialogs, seq)
}

/// Every dialog id of a list (`query` the body of `POST /v1/dialogs/query`), page by page.
fn list_all(api: &Api, token: &str, mut query: Value, min_seq: u64) -> Vec<String> {
    let mut found = Vec::new();
    query["limit"] = json!(7);
    loop {
        let page = api.ok(
            token,
            "POST",
            &format!("/v1/dialogs/query?min_seq={min_seq}"),
            Some(query.clone()),
        );
        for item in page["items"].as_array().unwrap() {
            found.push(item["dialog"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => query["cursor"] = json!(cursor),
            None => return found,
        }
    }
}

/// A dialog's events, every page.
fn events_of(api: &Api, token: &str, dialog: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = api.ok(
            token,
            "GET",
            &format!("/v1/dialogs/{dialog}/events?after={after}&limit=1000"),
            None,
        );
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return events,
        }
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn bulk(api: &Api, token: &str, body: Value) -> (u16, Value) {
    api.call(token, "POST", "/v1/bulk", Some(body))
}

/// `POST /v1/bulk` with an `Idempotency-Key`: status, head (lower-cased), body.
fn keyed_bulk(addr: SocketAddr, token: &str, key: &str, body: &Value) -> (u16, String, Value) {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", key)];
    crate::operator_api::exchange(addr, "POST", "/v1/bulk", &headers, Some(body))
}

#[test]
fn bulk_actions_by_ids_and_by_filter_confirm_count_and_skip_what_the_caller_may_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, addr) = start(dir.path(), &data, &[], &[]);
    let api = Api { addr };
    let Team {
        admin,
        operator,
        operator_id,
    } = team(&api);
    api.ok(
        &admin,
        "POST",
        "/v1/project/actions",
        Some(json!({"action": "create_folder", "name": "Leads"})),
    );
    let tag = api.ok(
        &admin,
        "POST",
        "/v1/project/actions",
        Some(json!({"action": "define_tag", "name": "vip", "color": "#00ff00"})),
    );
    let definitions = api.ok(
        &admin,
        "GET",
        &format!("/v1/project?min_seq={}", tag["seq"]),
        None,
    );
    let vip = definitions["tags"][0]["tag"].as_str().unwrap().to_owned();
    let leads = definitions["folders"][0]["folder"]
        .as_str()
        .unwrap()
        .to_owned();

    // 12 dialogs: 4 the operator's, 4 the admin's, 4 free.
    let (dialogs, _) = register(&api, &admin, 12, 0);
    let assign = |dialog: &str, to: &str| {
        api.ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{dialog}/actions"),
            Some(json!({"action": "assign", "operator": to})),
        )["seq"]
            .as_u64()
            .unwrap()
    };
    let admin_id = api.ok(&admin, "GET", "/v1/auth/me", None)["operator"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut seq = 0;
    for dialog in &dialogs[0..4] {
        seq = assign(dialog, &operator_id);
    }
    for dialog in &dialogs[4..8] {
        seq = assign(dialog, &admin_id);
    }

    // A dry run counts what the list holds for the same filter, every page of it.
    let everything = json!({"all": []});
    let listed = list_all(
        &api,
        &operator,
        json!({"filter": everything, "archived": true}),
        seq,
    );
    assert_eq!(listed.len(), 8, "the operator's 4 and the 4 free");
    let add_vip = json!({"action": "add_tags", "tags": [vip]});
    let (status, dry) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "archived": true, "dry_run": true}),
    );
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["selected"], listed.len(), "{dry}");
    assert_eq!(dry["confirm_needed"], true, "a filter is wide: {dry}");
    assert_eq!(dry["changed"], 0);
    let mine = list_all(&api, &operator, json!({"tab": "mine"}), seq);
    let (_, dry_mine) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "tab": "mine", "dry_run": true}),
    );
    assert_eq!(dry_mine["selected"], mine.len(), "{dry_mine}");
    assert_eq!(mine.len(), 4);
    // A folder, as the list takes it: 3 dialogs in it, one of them the admin's.
    for dialog in [&dialogs[1], &dialogs[5], &dialogs[9]] {
        seq = api.ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{dialog}/actions"),
            Some(json!({"action": "join_folders", "folders": [leads]})),
        )["seq"]
            .as_u64()
            .unwrap();
    }
    let in_folder = list_all(&api, &operator, json!({"folder": leads}), seq);
    assert_eq!(
        in_folder.len(),
        2,
        "the admin's is not the operator's to see"
    );
    let (_, dry_folder) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "folder": leads, "dry_run": true}),
    );
    assert_eq!(dry_folder["selected"], in_folder.len(), "{dry_folder}");
    let (_, dry_all) = bulk(
        &api,
        &admin,
        json!({"action": add_vip, "filter": everything, "folder": leads, "dry_run": true}),
    );
    assert_eq!(dry_all["selected"], 3, "{dry_all}");
    // The dry run changed nothing.
    assert!(of_type(&events_of(&api, &admin, &dialogs[0]), "tags.added").is_empty());

    // A filter selection needs `confirm`, repeating the action and the count.
    let (status, refused) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "archived": true}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "confirm", "{refused}");
    let (status, refused) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "archived": true,
               "confirm": {"action": "add_tags", "count": 7}}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "confirm", "{refused}");
    let (status, refused) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "archived": true,
               "confirm": {"action": "close", "count": 8}}),
    );
    assert_eq!(status, 400, "{refused}");
    // Nothing was changed by the refusals.
    assert!(of_type(&events_of(&api, &admin, &dialogs[0]), "tags.added").is_empty());
    let (status, done) = bulk(
        &api,
        &operator,
        json!({"action": add_vip, "filter": everything, "archived": true,
               "confirm": {"action": "add_tags", "count": 8}}),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["changed"], 8, "{done}");
    assert_eq!(done["skipped"], 0, "{done}");
    let tagged = list_all(
        &api,
        &admin,
        json!({"filter": {"tags_all": [vip]}, "archived": true}),
        done["seq"].as_u64().unwrap(),
    );
    let mut expected: Vec<String> = dialogs[0..4]
        .iter()
        .chain(&dialogs[8..12])
        .cloned()
        .collect();
    let mut tagged_sorted = tagged.clone();
    tagged_sorted.sort();
    expected.sort();
    assert_eq!(
        tagged_sorted, expected,
        "the admin's dialogs were not the operator's to tag"
    );

    // By ids: the admin's dialogs are skipped, the operator's changed; no confirm for a few ids
    // of a harmless action.
    let ids: Vec<&String> = dialogs[2..6].iter().collect();
    let remove_vip = json!({"action": "remove_tags", "tags": [vip]});
    let (status, by_ids) = bulk(
        &api,
        &operator,
        json!({"action": remove_vip, "dialog_ids": ids}),
    );
    assert_eq!(status, 200, "{by_ids}");
    assert_eq!(by_ids["selected"], 2, "{by_ids}");
    assert_eq!(by_ids["changed"], 2, "{by_ids}");
    assert_eq!(by_ids["skipped"], 2, "{by_ids}");
    assert_eq!(
        of_type(&events_of(&api, &admin, &dialogs[4]), "tags.removed").len(),
        0
    );
    assert_eq!(
        of_type(&events_of(&api, &admin, &dialogs[2]), "tags.removed").len(),
        1
    );

    // Destructive actions need `confirm` even for one id.
    let (status, refused) = bulk(
        &api,
        &operator,
        json!({"action": {"action": "close"}, "dialog_ids": [dialogs[0]]}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "confirm");

    // The idempotency key: a retry answers as the first did and changes nothing more.
    let close = json!({"action": {"action": "close"}, "dialog_ids": [dialogs[0], dialogs[1]],
                       "confirm": {"action": "close", "count": 2}});
    let (status, _, first) = keyed_bulk(addr, &operator, "close-two", &close);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["changed"], 2, "{first}");
    let (status, head, again) = keyed_bulk(addr, &operator, "close-two", &close);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    for dialog in &dialogs[0..2] {
        assert_eq!(
            of_type(&events_of(&api, &admin, dialog), "dialog.closed").len(),
            1
        );
    }

    // Bad input names its field and changes nothing.
    for (body, field) in [
        (
            json!({"action": {"action": "pin"}, "dialog_ids": [dialogs[8]]}),
            "action.action",
        ),
        (
            json!({"action": {"action": "add_tags"}, "dialog_ids": [dialogs[8]]}),
            "action",
        ),
        (
            json!({"action": add_vip, "dialog_ids": ["nope"]}),
            "dialog_ids[0]",
        ),
        (
            json!({"action": add_vip, "dialog_ids": [dialogs[8]], "filter": everything}),
            "filter",
        ),
        (json!({"action": add_vip}), "dialog_ids"),
        (
            json!({"action": add_vip, "dialog_ids": [dialogs[8]], "tab": "mine"}),
            "tab",
        ),
        (
            json!({"action": add_vip, "filter": {"colour": 1}}),
            "filter",
        ),
    ] {
        let (status, answer) = bulk(&api, &operator, body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    assert!(of_type(&events_of(&api, &admin, &dialogs[8]), "dialog.pinned").is_empty());

    // F6.4: everything marked read. Unread first, by the admin, then read again in one bulk.
    let unread = json!({"action": "mark_unread"});
    let (_, count) = bulk(
        &api,
        &admin,
        json!({"action": unread, "filter": everything, "archived": true, "dry_run": true}),
    );
    let total = count["selected"].as_u64().unwrap();
    assert_eq!(total, 12);
    let (status, marked) = bulk(
        &api,
        &admin,
        json!({"action": unread, "filter": everything, "archived": true, "confirm": {"action": "mark_unread", "count": total}}),
    );
    assert_eq!(status, 200, "{marked}");
    let counters = api.ok(
        &admin,
        "GET",
        &format!("/v1/counters?min_seq={}", marked["seq"]),
        None,
    );
    assert_eq!(counters["unread"], 12, "{counters}");
    let read = json!({"action": "mark_read"});
    let (status, marked) = bulk(
        &api,
        &admin,
        json!({"action": read, "filter": everything, "archived": true, "confirm": {"action": "mark_read", "count": total}}),
    );
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["changed"], 12, "{marked}");
    let counters = api.ok(
        &admin,
        "GET",
        &format!("/v1/counters?min_seq={}", marked["seq"]),
        None,
    );
    assert_eq!(counters["unread"], 0, "{counters}");
}

/// Polls the job until `until` holds for it.
fn job_until(api: &Api, token: &str, job: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, view) = api.call(token, "GET", &format!("/v1/jobs/{job}"), None);
        if status == 200 && until(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not get there: {status} {view}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_killed_mid_way_finishes_after_a_restart_changing_every_dialog_once() {
    const DIALOGS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A pause after each dialog, so that the job is caught mid-way.
    let slow = [("SWITCHBOARD_BULK_PAUSE_MS", "10")];
    let (mut server, addr) = start(dir.path(), &data, &[], &slow);
    let api = Api { addr };
    let Team {
        admin, operator, ..
    } = team(&api);
    let (campaign, dialogs) = campaign(&api, &admin, DIALOGS);

    // The owner's live stream reports the job's progress; the operator's does not.
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    let mut owner_stream = SseClient::connect(addr, "/v1/live", &bearer(&admin)).await;
    assert_eq!(owner_stream.status, 200);
    let mut other_stream = SseClient::connect(addr, "/v1/live", &bearer(&operator)).await;

    let action = json!({"action": "add_tags", "tags": [campaign]});
    let request = json!({"action": action, "filter": {"all": []},
                         "confirm": {"action": "add_tags", "count": DIALOGS}});
    let (status, _, started) = keyed_bulk(addr, &admin, "campaign-job", &request);
    assert_eq!(status, 202, "{started}");
    let job = started["job"].as_str().unwrap().to_owned();
    assert_eq!(started["total"], DIALOGS);
    assert_eq!(started["state"], "running");
    let (status, hidden) = api.call(&operator, "GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 403, "another operator's job: {hidden}");

    // The first report is the job taken up (nothing done yet), then as it goes.
    let progress = loop {
        let event = owner_stream.next().await.expect("the stream goes on");
        if event.event == "job" {
            let view = event.json();
            assert_eq!(view["job"], job.as_str(), "{view}");
            if view["done"].as_u64().unwrap() > 0 {
                break view;
            }
        }
    };
    assert_eq!(progress["state"], "running", "{progress}");

    // Killed (SIGKILL) mid-way.
    let before = job_until(&api, &admin, &job, |view| {
        view["done"].as_u64().unwrap() >= 100
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let done_before = before["done"].as_u64().unwrap();
    assert!(done_before < DIALOGS as u64, "killed too late: {before}");
    // No job event reached the operator: only the owner's stream carries it.
    // What arrived until the stream ended with the server (or for 200 ms), kept either way.
    let mut other_events = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        while let Some(event) = other_stream.next().await {
            other_events.push(event.event);
        }
    })
    .await;
    assert!(
        !other_events.contains(&"job".to_owned()),
        "{other_events:?}"
    );

    // Restarted: the job goes on where it stopped and ends.
    let (server, addr) = start(dir.path(), &data, &[], &[]);
    let api = Api { addr };
    let admin = api.login("ada@bulk.test", "correct horse battery")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The request retried with its key after the restart (no answer kept in memory now)
    // answers the same job; it starts no second one.
    let (status, head, retried) = keyed_bulk(addr, &admin, "campaign-job", &request);
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["job"], job.as_str(), "{retried}");
    assert!(
        !head.contains("idempotent-replayed"),
        "the store answered it: {head}"
    );
    let finished = job_until(&api, &admin, &job, |view| view["state"] == "done");
    assert_eq!(finished["done"], DIALOGS, "{finished}");
    assert_eq!(finished["changed"], DIALOGS, "{finished}");
    assert_eq!(finished["unchanged"], 0, "{finished}");
    assert_eq!(finished["skipped"], 0, "{finished}");
    assert_eq!(finished["failed"], 0, "{finished}");

    // Every dialog was changed exactly once, by this job.
    changed_once_by(&api, &admin, &dialogs, &job);
    // No node looks for it any more: its running mark is gone from the store.
    let store = JobStore::open_sqlite(&data.join(JOBS_FILE)).unwrap();
    assert_eq!(store.keys("running.").await.unwrap(), Vec::<String>::new());
    // The finished job keeps its record, not its frozen selection.
    assert_eq!(
        store.keys("selection.").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(store.keys("job.").await.unwrap().len(), 1);
    drop(server);
}

/// A tag and `n` dialogs to put it on; the tag's id.
fn campaign(api: &Api, admin: &str, n: usize) -> (String, Vec<String>) {
    let tag = api.ok(
        admin,
        "POST",
        "/v1/project/actions",
        Some(json!({"action": "define_tag", "name": "campaign", "color": "#0000ff"})),
    );
    let (dialogs, seq) = register(api, admin, n, 0);
    let definitions = api.ok(
        admin,
        "GET",
        &format!("/v1/project?min_seq={}", tag["seq"]),
        None,
    );
    api.ok(admin, "GET", &format!("/v1/dialogs?min_seq={seq}"), None);
    let tag = definitions["tags"][0]["tag"].as_str().unwrap().to_owned();
    (tag, dialogs)
}

/// Every dialog carries exactly one `tags.added`, appended by `job`.
fn changed_once_by(api: &Api, admin: &str, dialogs: &[String], job: &str) {
    for dialog in dialogs {
        let events = events_of(api, admin, dialog);
        let added = of_type(&events, "tags.added");
        assert_eq!(added.len(), 1, "{dialog}: {events:?}");
        assert_eq!(added[0]["correlation_id"], job, "{:?}", added[0]);
    }
}

#[test]
fn with_nats_a_job_of_a_killed_node_is_finished_by_the_other_node_once() {
    const DIALOGS: usize = 300;
    let nats = switchboard_tests::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = nats.url();
    let on_nats = ["--nats", url.as_str()];
    let slow = [("SWITCHBOARD_BULK_PAUSE_MS", "10")];
    let (mut one, a) = start(dir.path(), &dir.path().join("one"), &on_nats, &slow);
    let (_two, b) = start(dir.path(), &dir.path().join("two"), &on_nats, &slow);
    let (api_one, api_two) = (Api { addr: a }, Api { addr: b });
    let Team { admin, .. } = team(&api_one);
    let (tag, dialogs) = campaign(&api_one, &admin, DIALOGS);

    let request = json!({"action": {"action": "add_tags", "tags": [tag]}, "filter": {"all": []},
                         "confirm": {"action": "add_tags", "count": DIALOGS}});
    let (status, started) = bulk(&api_one, &admin, request);
    assert_eq!(status, 202, "{started}");
    let job = started["job"].as_str().unwrap().to_owned();
    // Node two reads the job from the shared store while node one runs it.
    let admin_two = api_two.login("ada@bulk.test", "correct horse battery")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = job_until(&api_two, &admin_two, &job, |view| {
        view["done"].as_u64().unwrap() >= 100
    });
    one.child.kill().unwrap();
    one.child.wait().unwrap();
    assert!(
        before["done"].as_u64().unwrap() < DIALOGS as u64,
        "{before}"
    );

    // Node two takes the job over once node one's lease has run out, and ends it.
    let finished = job_until(&api_two, &admin_two, &job, |view| view["state"] == "done");
    assert_eq!(finished["done"], DIALOGS, "{finished}");
    assert_eq!(finished["changed"], DIALOGS, "{finished}");
    assert_eq!(finished["unchanged"], 0, "{finished}");
    assert_eq!(finished["failed"], 0, "{finished}");
    changed_once_by(&api_two, &admin_two, &dialogs, &job);
}

/// F6.5 and F6.6 on a real `serve` with a fake Telegram: `resend_failed` selects the dialogs
/// whose last outbound message failed (since a moment, through a channel), needs `confirm`,
/// and its job sends each again at the interval asked; `delete_unsubscribed` deletes the
/// clients who blocked the bot or whom we blocked, and no other.
#[test]
fn resend_failed_and_delete_unsubscribed_select_by_the_last_outbound_failure() {
    use crate::channels::{BOT_TOKEN, PASSWORD, World, telegram_channel, telegram_client};
    use switchboard_tests::providers::Provider;
    let world = World::start();
    let fake = world.fake(Provider::Telegram, BOT_TOKEN);
    let (channel, secret) = telegram_channel(&world.api, &world.admin, &fake);
    let api = &world.api;
    let body = json!({"name": "Dora", "email": "dora@shop.test", "password": PASSWORD,
        "role": "admin", "can_delete": true});
    api.ok(&world.admin, "POST", "/v1/operators", Some(body));
    let dora = api.login("dora@shop.test", PASSWORD)["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Five clients: the first three block the bot before our reply, the fourth gets it, the
    // fifth we block.
    let chats: Vec<u64> = (0..5).map(|n| 600_000 + n).collect();
    let dialogs: Vec<String> = chats
        .iter()
        .zip(10..)
        .map(|(chat, n)| telegram_client(api, &world.admin, (&channel, &secret), *chat, n))
        .collect();
    let started = chrono::Utc::now().to_rfc3339();
    for chat in &chats[0..3] {
        fake.block(&chat.to_string());
    }
    for dialog in &dialogs[0..4] {
        let reply = json!({"action": "send_message", "channel": channel, "text": "Скидка 10%"});
        api.ok(
            &dora,
            "POST",
            &format!("/v1/dialogs/{dialog}/actions"),
            Some(reply),
        );
    }
    for (n, dialog) in dialogs[0..4].iter().enumerate() {
        let status = if n < 3 { "failed" } else { "sent" };
        world.timeline_until(dialog, status, |i| {
            i["direction"] == "outbound" && i["delivery"] == status
        });
    }
    let block = json!({"action": "block"});
    let seq = api.ok(
        &dora,
        "POST",
        &format!("/v1/dialogs/{}/actions", dialogs[4]),
        Some(block),
    )["seq"]
        .as_u64()
        .unwrap();

    let dry = |action: Value| {
        let (status, answer) = api.call(
            &dora,
            "POST",
            &format!("/v1/bulk?min_seq={seq}"),
            Some(json!({"action": action, "dry_run": true})),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["confirm_needed"], true, "{answer}");
        answer["selected"].as_u64().unwrap()
    };
    assert_eq!(dry(json!({"action": "resend_failed"})), 3);
    assert_eq!(
        dry(json!({"action": "resend_failed", "channel": channel})),
        3
    );
    let elsewhere = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        dry(json!({"action": "resend_failed", "channel": elsewhere})),
        0
    );
    assert_eq!(dry(json!({"action": "resend_failed", "since": started})), 3);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(dry(json!({"action": "resend_failed", "since": later})), 0);
    assert_eq!(dry(json!({"action": "delete_unsubscribed"})), 4);
    // A filter narrows the selection.
    let one = json!({"action": {"action": "resend_failed"}, "dry_run": true,
        "filter": {"client_number": "1"}});
    let (_, narrowed) = bulk(api, &dora, one);
    assert_eq!(narrowed["selected"], 1, "{narrowed}");

    // Ids are not theirs to take; no confirm, a wrong count, too long an interval: refused.
    let ids = json!({"action": {"action": "resend_failed"}, "dialog_ids": [dialogs[0]]});
    let (status, answer) = bulk(api, &dora, ids);
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("dialog_ids")),
        "{answer}"
    );
    let resend = json!({"action": "resend_failed", "interval_secs": 1});
    let (status, answer) = bulk(api, &dora, json!({"action": resend}));
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("confirm")),
        "{answer}"
    );
    let wrong = json!({"action": resend, "confirm": {"action": "resend_failed", "count": 2}});
    let (status, answer) = bulk(api, &dora, wrong);
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("confirm")),
        "{answer}"
    );
    let slow = json!({"action": {"action": "resend_failed", "interval_secs": 3601}});
    let (status, answer) = bulk(api, &dora, slow);
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("action.interval_secs")),
        "{answer}"
    );
    assert_eq!(fake.refused().len(), 3, "nothing sent by a refused request");

    // Two clients unblocked the bot; the job resends all three, a second apart.
    fake.unblock(&chats[0].to_string());
    fake.unblock(&chats[1].to_string());
    let before = Instant::now();
    let run = json!({"action": resend, "confirm": {"action": "resend_failed", "count": 3}});
    let (status, job) = bulk(api, &dora, run);
    assert_eq!(status, 202, "a paced resend is a job: {job}");
    let job = job["job"].as_str().unwrap().to_owned();
    let done = job_until(api, &dora, &job, |view| view["state"] == "done");
    assert_eq!(
        (done["total"].clone(), done["changed"].clone()),
        (json!(3), json!(3)),
        "{done}"
    );
    for dialog in &dialogs[0..2] {
        world.timeline_until(dialog, "resent and sent", |i| {
            i["direction"] == "outbound" && i["delivery"] == "sent"
        });
    }
    world.timeline_until(&dialogs[2], "failed again", |i| {
        i["direction"] == "outbound" && i["delivery"] == "failed"
    });
    let mut attempts: Vec<Instant> = fake
        .received()
        .iter()
        .map(|r| r.at)
        .chain(fake.refused().iter().map(|r| r.0))
        .filter(|at| *at > before)
        .collect();
    attempts.sort();
    assert_eq!(attempts.len(), 3, "one call per resent message");
    // The job appended the resends a second apart.
    let mut resent_at: Vec<chrono::DateTime<chrono::Utc>> = dialogs[0..3]
        .iter()
        .flat_map(|dialog| {
            let events = api.ok(&dora, "GET", &format!("/v1/dialogs/{dialog}/events"), None);
            events["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == "message.resent")
                .map(|e| e["occurred_at"].as_str().unwrap().parse().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    resent_at.sort();
    assert_eq!(resent_at.len(), 3);
    for pair in resent_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= chrono::Duration::milliseconds(990),
            "paced a second apart: {gap}"
        );
    }
    let texts: Vec<_> = fake.received().iter().map(|r| r.chat.clone()).collect();
    for chat in &chats[0..2] {
        assert!(texts.contains(&chat.to_string()), "{texts:?}");
    }
    assert_eq!(
        dry(json!({"action": "resend_failed"})),
        1,
        "the one still blocking"
    );

    // F6.6: the client still blocking the bot and the one we blocked go; the others stay.
    let delete = json!({"action": {"action": "delete_unsubscribed"},
        "confirm": {"action": "delete_unsubscribed", "count": 2}});
    let (status, answer) = bulk(api, &dora, delete);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changed"], 2, "{answer}");
    let left = list_all(
        api,
        &dora,
        json!({"archived": true}),
        answer["seq"].as_u64().unwrap(),
    );
    let mut left = left;
    let mut expected: Vec<String> = dialogs[0..2].to_vec();
    expected.push(dialogs[3].clone());
    left.sort();
    expected.sort();
    assert_eq!(left, expected);
    world.stop_and_check_secrets(&[BOT_TOKEN, &secret]);
}

/// F6.5 as a job that survives `kill -9`: a paced `resend_failed` killed mid-way goes on after
/// a restart where it stopped; every failed message was resent once (one `message.resent` per
/// dialog, under the job's id) and reached the provider once.
#[test]
fn a_paced_resend_job_killed_mid_way_resends_every_failed_message_once_after_a_restart() {
    use crate::channels::{telegram_channel, telegram_client};
    use switchboard_tests::providers::{FakeProvider, Provider};
    const CLIENTS: u64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, addr) = start(dir.path(), &data, &[], &[]);
    let api = Api { addr };
    let Team { admin, .. } = team(&api);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeProvider::start(
        Provider::Telegram,
        crate::channels::BOT_TOKEN,
    ));
    let (channel, secret) = telegram_channel(&api, &admin, &fake);
    let chats: Vec<u64> = (0..CLIENTS).map(|n| 700_000 + n).collect();
    let mut dialogs = Vec::new();
    for (n, chat) in chats.iter().enumerate() {
        dialogs.push(telegram_client(
            &api,
            &admin,
            (&channel, &secret),
            *chat,
            n as u64 + 1,
        ));
        fake.block(&chat.to_string());
    }
    for dialog in &dialogs {
        let reply = json!({"action": "send_message", "channel": channel, "text": "Скидка 10%"});
        api.ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{dialog}/actions"),
            Some(reply),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.refused().len() < CLIENTS as usize {
        assert!(Instant::now() < deadline, "the replies did not fail");
        std::thread::sleep(Duration::from_millis(20));
    }
    for chat in &chats {
        fake.unblock(&chat.to_string());
    }
    let action = json!({"action": "resend_failed", "interval_secs": 1});
    let dry = loop {
        let (_, dry) = bulk(&api, &admin, json!({"action": action, "dry_run": true}));
        if dry["selected"] == CLIENTS {
            break dry;
        }
        assert!(
            Instant::now() < deadline,
            "the failures are not in the list: {dry}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let request = json!({"action": action,
        "confirm": {"action": "resend_failed", "count": dry["selected"]}});
    let (status, _, started) = keyed_bulk(addr, &admin, "resend-job", &request);
    assert_eq!(status, 202, "{started}");
    let job = started["job"].as_str().unwrap().to_owned();

    // Killed (SIGKILL) after its second resend, before the others.
    let before = job_until(&api, &admin, &job, |view| {
        view["done"].as_u64().unwrap() >= 2
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        before["done"].as_u64().unwrap() < CLIENTS,
        "killed too late: {before}"
    );

    let (_server, addr) = start(dir.path(), &data, &[], &[]);
    let api = Api { addr };
    let admin = api.login("ada@bulk.test", "correct horse battery")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let finished = job_until(&api, &admin, &job, |view| view["state"] == "done");
    assert_eq!(finished["changed"], CLIENTS, "{finished}");
    for dialog in &dialogs {
        let events = events_of(&api, &admin, dialog);
        let resent = of_type(&events, "message.resent");
        assert_eq!(resent.len(), 1, "{dialog}: {events:?}");
        assert_eq!(resent[0]["correlation_id"], job.as_str(), "{:?}", resent[0]);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.received().len() < CLIENTS as usize {
        assert!(
            Instant::now() < deadline,
            "not every resend reached the provider"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut reached: Vec<String> = fake.received().into_iter().map(|r| r.chat).collect();
    reached.sort();
    let expected: Vec<String> = chats.iter().map(u64::to_string).collect();
    assert_eq!(
        reached, expected,
        "each resent message reached the provider once"
    );
}
