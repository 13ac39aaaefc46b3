//! The operator API over a real socket, on a real `serve` (embedded log, real read models, the
//! credential store's SQLite file): the root bootstraps a project, operators sign in by token
//! and by cookie, commands answer sequences that queries wait for, and the answers equal what
//! the read models hold.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use switchboard_gateway::readmodels::{Kind, READ_DIR, Slot};
use switchboard_projections::dialogs::{DialogsProjection, Filter, Folder, ListQuery, Order, Tab};
use switchboard_projections::query::{self, QueryCaller};
use switchboard_projections::runtime::open_reader_for;
use switchboard_schemas::{OperatorId, ProjectId, Role};

const ROOT: &str = "root-token-of-the-operator-api-test";

/// One HTTP/1.1 exchange of any bytes: status, head (lower-cased), body as sent.
pub fn exchange_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// One HTTP/1.1 exchange: status, head (lower-cased), body as JSON (null when empty; a JSON
/// string when the answer is not JSON).
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, String, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut all = Vec::new();
    if !body.is_empty() {
        all.push(("Content-Type", "application/json"));
    }
    all.extend_from_slice(headers);
    let (status, head, body) = exchange_raw(addr, method, path, &all, body.as_bytes());
    let body = String::from_utf8_lossy(&body);
    let json = head.contains("content-type: application/json");
    let body = if body.trim().is_empty() {
        Value::Null
    } else if json {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
    } else {
        // A text answer (a webhook's `ok`, a challenge) as a JSON string.
        Value::String(body.into_owned())
    };
    (status, head, body)
}

/// An operator's client of a real `serve`, over [`exchange`] (the bulk and channels suites use
/// it too).
pub struct Api {
    pub addr: SocketAddr,
}

impl Api {
    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let (status, _, body) = exchange(
            self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            body.as_ref(),
        );
        (status, body)
    }

    pub fn ok(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(token, method, path, body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    pub fn login(&self, email: &str, password: &str) -> Value {
        let body = json!({"email": email, "password": password});
        let (status, _, answer) = exchange(self.addr, "POST", "/v1/auth/login", &[], Some(&body));
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

/// Every byte percent-encoded: a query-string value.
pub fn encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["dialog"].as_str().unwrap().to_owned())
        .collect()
}

/// The dialog list as the live dialogs read model answers it, opened beside `serve`.
fn list_from_the_read_model(data: &std::path::Path, caller: QueryCaller) -> Vec<String> {
    let slot = Slot::new(&data.join(READ_DIR), Kind::Dialogs);
    let generation = slot.current().unwrap().expect("a live generation");
    let conn = open_reader_for::<DialogsProjection>(&slot.path(&generation)).unwrap();
    let page = query::list(
        &conn,
        &caller,
        ListQuery {
            project: caller.project,
            viewer: caller.viewer(),
            tab: Tab::All,
            folder: Folder::All,
            include_closed: false,
            order: Order::Activity,
            filter: Filter::default(),
            after: None,
            limit: 50,
        },
    )
    .unwrap();
    page.rows.iter().map(|r| r.row.dialog.to_string()).collect()
}

#[test]
fn a_project_is_bootstrapped_and_worked_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, addr) = start_server_as_root(dir.path(), ROOT);
    let api = Api { addr };

    // Only the root creates projects.
    let new_project = json!({"name": "Acme", "admin": {"name": "Ada", "email": "Ada@Example.com", "password": "correct horse battery"}});
    let (status, denied) = api.call(
        "not-a-token-at-all",
        "POST",
        "/v1/projects",
        Some(new_project.clone()),
    );
    assert_eq!(status, 401, "{denied}");
    let created = api.ok(ROOT, "POST", "/v1/projects", Some(new_project));
    let project: ProjectId = created["project"].as_str().unwrap().parse().unwrap();
    let admin_id: OperatorId = created["admin"].as_str().unwrap().parse().unwrap();

    // The admin signs in (the email is case-insensitive) and adds an operator.
    let admin = api.login("ada@example.com", "correct horse battery");
    let admin = admin["token"].as_str().unwrap().to_owned();
    let op = api.ok(
        &admin,
        "POST",
        "/v1/operators",
        Some(
            json!({"name": "Oleg", "email": "oleg@example.com", "password": "another long secret"}),
        ),
    );
    let operator_id: OperatorId = op["operator"].as_str().unwrap().parse().unwrap();
    let operator = api.login("oleg@example.com", "another long secret");
    let operator = operator["token"].as_str().unwrap().to_owned();
    // Each person's own settings of the web inbox: defaults, a change kept, the others' apart.
    let defaults = api.ok(&operator, "GET", "/v1/profile", None);
    assert_eq!(
        defaults,
        json!({"language": null, "notifications": true, "sound": true})
    );
    let changed = api.ok(
        &operator,
        "PATCH",
        "/v1/profile",
        Some(json!({"language": "ru", "sound": false})),
    );
    assert_eq!(
        changed,
        json!({"language": "ru", "notifications": true, "sound": false})
    );
    assert_eq!(api.ok(&operator, "GET", "/v1/profile", None), changed);
    assert_eq!(
        api.ok(&admin, "GET", "/v1/profile", None),
        defaults,
        "another person's settings are their own"
    );
    for (body, field) in [
        (json!({"language": "de"}), "language"),
        (json!({"sound": "loud"}), "sound"),
    ] {
        let (status, refused) = api.call(&operator, "PATCH", "/v1/profile", Some(body));
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let back = api.ok(
        &operator,
        "PATCH",
        "/v1/profile",
        Some(json!({"language": null})),
    );
    assert_eq!(
        back,
        json!({"language": null, "notifications": true, "sound": false}),
        "a refused change changed nothing; null is the browser's language again"
    );
    // The operator is not an admin.
    let (status, _) = api.call(
        &operator,
        "POST",
        "/v1/operators",
        Some(json!({"name": "X", "email": "x@example.com", "password": "yet another secret"})),
    );
    assert_eq!(status, 403);

    // Definitions and dialogs.
    api.ok(
        &admin,
        "POST",
        "/v1/project/actions",
        Some(json!({"action": "create_folder", "name": "VIP"})),
    );
    let tag = api.ok(
        &admin,
        "POST",
        "/v1/project/actions",
        Some(json!({"action": "define_tag", "name": "hot", "color": "#ff0000"})),
    );
    let definitions = api.ok(
        &admin,
        "GET",
        &format!("/v1/project?min_seq={}", tag["seq"]),
        None,
    );
    assert_eq!(definitions["name"], "Acme");
    assert_eq!(definitions["operators"].as_array().unwrap().len(), 2);
    assert_eq!(definitions["folders"][0]["name"], "VIP");
    let hot = definitions["tags"][0]["tag"].as_str().unwrap().to_owned();

    let mut dialogs = Vec::new();
    for (name, phone) in [
        ("Mine", "+15550001"),
        ("Admins", "+15550002"),
        ("Free", "+15550003"),
    ] {
        let client = json!({"name": name, "phone": phone});
        let created = api.ok(&admin, "POST", "/v1/dialogs", Some(client));
        dialogs.push(created["dialog"].as_str().unwrap().to_owned());
    }
    let act = |dialog: &str, action: Value| {
        api.ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{dialog}/actions"),
            Some(action),
        )
    };
    act(
        &dialogs[0],
        json!({"action": "assign", "operator": operator_id.to_string()}),
    );
    act(
        &dialogs[1],
        json!({"action": "assign", "operator": admin_id.to_string()}),
    );
    act(&dialogs[0], json!({"action": "add_tags", "tags": [hot]}));
    let last = act(&dialogs[2], json!({"action": "pin"}));
    let seq = last["seq"].as_u64().unwrap();

    // The operator sees their dialog and the free one, not the admin's (F12.1).
    let mine = api.ok(
        &operator,
        "GET",
        &format!("/v1/dialogs?min_seq={seq}"),
        None,
    );
    let mut seen = ids(&mine);
    seen.sort();
    let mut expected = vec![dialogs[0].clone(), dialogs[2].clone()];
    expected.sort();
    assert_eq!(seen, expected, "{mine}");
    let (status, body) = api.call(
        &operator,
        "GET",
        &format!("/v1/dialogs/{}", dialogs[1]),
        None,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = api.call(
        &operator,
        "POST",
        &format!("/v1/dialogs/{}/actions", dialogs[1]),
        Some(json!({"action": "pin"})),
    );
    assert!(status == 403 || status == 404, "{status} {body}");

    // The admin's list equals the read model's own answer, pinned first.
    let everything = api.ok(&admin, "GET", &format!("/v1/dialogs?min_seq={seq}"), None);
    let from_model = list_from_the_read_model(
        &data,
        QueryCaller {
            project,
            operator: admin_id,
            role: Role::Admin,
        },
    );
    assert_eq!(ids(&everything), from_model);
    assert_eq!(ids(&everything)[0], dialogs[2]);
    assert_eq!(everything["items"][0]["pinned"], true);
    let for_operator = list_from_the_read_model(
        &data,
        QueryCaller {
            project,
            operator: operator_id,
            role: Role::Operator,
        },
    );
    assert_eq!(ids(&mine), for_operator);

    // A filter in its JSON form, by GET and by POST.
    let filter = json!({"tags_all": [hot]});
    let encoded = encoded(&filter.to_string());
    let tagged = api.ok(
        &admin,
        "GET",
        &format!("/v1/dialogs?filter={encoded}"),
        None,
    );
    assert_eq!(ids(&tagged), vec![dialogs[0].clone()]);
    assert_eq!(tagged["active_filters"], 1);
    // The row carries its tags (the list shows them), an untagged row none.
    assert_eq!(tagged["items"][0]["tags"], json!([hot]), "{tagged}");
    let pinned = &everything["items"][0];
    assert_eq!(pinned["tags"], json!([]), "{pinned}");
    let posted = api.ok(
        &admin,
        "POST",
        "/v1/dialogs/query",
        Some(json!({"filter": filter})),
    );
    assert_eq!(ids(&posted), vec![dialogs[0].clone()]);
    let (status, bad) = api.call(
        &admin,
        "POST",
        "/v1/dialogs/query",
        Some(json!({"filter": {"all": [{"colour": 1}]}})),
    );
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["field"], "filter.all[0]", "{bad}");

    // The card: variables, tags.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before_city = switchboard_schemas::Timestamp::now().to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let set = act(
        &dialogs[0],
        json!({"action": "set_variable", "name": "city", "value": "Казань"}),
    );
    let card = api.ok(
        &admin,
        "GET",
        &format!("/v1/dialogs/{}/card?min_seq={}", dialogs[0], set["seq"]),
        None,
    );
    assert_eq!(card["profile"]["name"], "Mine", "{card}");
    assert_eq!(card["variables"][0]["value"], "Казань", "{card}");
    assert_eq!(card["tags"][0], hot, "{card}");
    let (status, _) = api.call(
        &operator,
        "GET",
        &format!("/v1/dialogs/{}/card", dialogs[1]),
        None,
    );
    assert_eq!(status, 403);

    // As of a past moment: the card then had no variable; the row was already tagged.
    let as_of = |dialog: &str, moment: &str| {
        let moment = moment.replace('+', "%2B");
        api.ok(
            &admin,
            "GET",
            &format!("/v1/dialogs/{dialog}/as-of?as_of={moment}"),
            None,
        )
    };
    let then = as_of(&dialogs[0], &before_city);
    assert_eq!(then["card"]["variables"], json!([]), "{then}");
    assert_eq!(then["card"]["tags"][0], hot, "{then}");
    assert_eq!(then["row"]["assignee"], operator_id.to_string(), "{then}");
    assert!(
        then["seq"].as_u64().unwrap() < set["seq"].as_u64().unwrap(),
        "{then}"
    );
    let long_ago = as_of(&dialogs[0], "2020-01-01T00:00:00Z");
    assert!(
        long_ago["row"].is_null() && long_ago["seq"] == 0,
        "{long_ago}"
    );
    // The client's number is the one the project gave it, though the replay is of one dialog
    // (the third client is 3 then as now).
    let third = api.ok(
        &admin,
        "GET",
        &format!("/v1/dialogs/{}/card", dialogs[2]),
        None,
    );
    assert_eq!(third["number"], 3, "{third}");
    let now = switchboard_schemas::Timestamp::now().to_rfc3339();
    let third_then = as_of(&dialogs[2], &now);
    assert_eq!(third_then["card"]["number"], 3, "{third_then}");
    assert_eq!(third_then["row"]["client"]["number"], 3, "{third_then}");

    // Audit: the dialog's own events in order, and the project's stream for admins.
    let audit = api.ok(
        &admin,
        "GET",
        &format!("/v1/dialogs/{}/events?limit=1000", dialogs[0]),
        None,
    );
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"dialog.registered"), "{types:?}");
    assert!(types.contains(&"variable.set"), "{types:?}");
    let seqs: Vec<u64> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    // Each event says when the log stored it: the dialog as of that very moment includes it
    // (what a history slider's mark shows), a microsecond before it does not.
    let city = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "variable.set")
        .unwrap();
    let stored = city["appended_at"].as_str().unwrap();
    let then = as_of(&dialogs[0], stored);
    assert_eq!(then["seq"], city["seq"], "{then}");
    assert_eq!(then["card"]["variables"][0]["value"], "Казань", "{then}");
    let micros = switchboard_schemas::Timestamp::parse_rfc3339(stored)
        .unwrap()
        .as_micros();
    let before = switchboard_schemas::Timestamp::from_micros(micros - 1).to_rfc3339();
    assert_eq!(as_of(&dialogs[0], &before)["card"]["variables"], json!([]));
    let (status, _) = api.call(
        &operator,
        "GET",
        &format!("/v1/dialogs/{}/events", dialogs[1]),
        None,
    );
    assert_eq!(status, 403);
    assert_eq!(api.call(&operator, "GET", "/v1/events", None).0, 403);
    let stream = api.ok(&admin, "GET", "/v1/events?limit=2", None);
    assert_eq!(stream["events"][0]["type"], "project.created", "{stream}");
    assert_eq!(stream["next_after"], 2, "{stream}");

    // Counters and the tag picker.
    let picker = api.ok(&admin, "GET", "/v1/tags/picker", None);
    assert_eq!(picker[0]["name"], "hot");
    assert_eq!(picker[0]["dialogs"], 1);
    let counters = api.ok(&admin, "GET", "/v1/counters", None);
    assert_eq!(counters["folders"][0]["name"], "VIP");

    // A retried command with the same Idempotency-Key appends nothing.
    let auth = format!("Bearer {admin}");
    let note = json!({"action": "add_note", "text": "call back at 5"});
    let path = format!("/v1/dialogs/{}/actions", dialogs[0]);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Idempotency-Key", "note-1"),
    ];
    let (s1, _, first) = exchange(addr, "POST", &path, &headers, Some(&note));
    let (s2, _, second) = exchange(addr, "POST", &path, &headers, Some(&note));
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first, second, "a retry answers as the first request did");
    // A registration retried with its key is the same dialog, not a refusal.
    let client = json!({"name": "Twice", "phone": "+15550009"});
    let keyed = [
        ("Authorization", auth.as_str()),
        ("Idempotency-Key", "register-1"),
    ];
    let (r1, _, one) = exchange(addr, "POST", "/v1/dialogs", &keyed, Some(&client));
    let (r2, head, two) = exchange(addr, "POST", "/v1/dialogs", &keyed, Some(&client));
    assert_eq!((r1, r2), (200, 200), "{one} {two}");
    assert_eq!(one, two);
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    // A read sent with a key (as some clients send one on every request) is answered afresh.
    let (g1, _, list1) = exchange(addr, "GET", "/v1/dialogs", &keyed, None);
    let (g2, head, list2) = exchange(addr, "GET", "/v1/dialogs", &keyed, None);
    assert_eq!((g1, g2), (200, 200), "{list1} {list2}");
    assert_eq!(ids(&list1), ids(&list2));
    assert!(!head.contains("idempotent-replayed"), "{head}");
    let timeline = api.ok(
        &admin,
        "GET",
        &format!(
            "/v1/dialogs/{}/timeline?min_seq={}&service_entries=false",
            dialogs[0], first["seq"]
        ),
        None,
    );
    let notes: Vec<_> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "note")
        .collect();
    assert_eq!(notes.len(), 1, "{timeline}");
    assert_eq!(notes[0]["text"], "call back at 5");

    // One dialog carries the caller's own state as their list row does: their draft, unread.
    let draft = json!({"action": "save_draft", "text": "we will call you back"});
    let saved = api.ok(
        &admin,
        "POST",
        &format!("/v1/dialogs/{}/actions", dialogs[0]),
        Some(draft),
    );
    let unread = json!({"action": "mark_unread"});
    api.ok(
        &admin,
        "POST",
        &format!("/v1/dialogs/{}/actions", dialogs[0]),
        Some(unread),
    );
    let one = api.ok(
        &admin,
        "GET",
        &format!(
            "/v1/dialogs/{}?min_seq={}",
            dialogs[0],
            saved["seq"].as_u64().unwrap() + 1
        ),
        None,
    );
    assert_eq!(one["draft"], "we will call you back", "{one}");
    assert_eq!(one["unread"], true, "{one}");
    let listed = api.ok(&admin, "GET", "/v1/dialogs?archived=true&limit=500", None);
    let row = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["dialog"] == one["dialog"])
        .unwrap();
    assert_eq!(row, &one, "the same row as in the list");
    assert_eq!(timeline["newer_cursor"], Value::Null, "the newest page");

    // Opened at an item (a search hit's) or a moment, then paged both ways.
    let path = format!("/v1/dialogs/{}/timeline", dialogs[0]);
    let note_id = notes[0]["id"].as_str().unwrap();
    let around = api.ok(
        &admin,
        "GET",
        &format!("{path}?around={note_id}&limit=2"),
        None,
    );
    let ids: Vec<_> = around["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert!(ids.contains(&json!(note_id)), "{around}");
    let oldest = api.ok(
        &admin,
        "GET",
        &format!("{path}?around=2000-01-01T00:00:00Z&limit=1"),
        None,
    );
    assert_eq!(oldest["items"].as_array().unwrap().len(), 1, "{oldest}");
    assert_eq!(
        oldest["next_cursor"],
        Value::Null,
        "nothing older than the first item: {oldest}"
    );
    let up = oldest["newer_cursor"].as_str().expect("newer items");
    let next = api.ok(&admin, "GET", &format!("{path}?after={up}&limit=1"), None);
    assert_ne!(next["items"][0]["id"], oldest["items"][0]["id"], "{next}");
    for (query, field) in [
        ("around=yesterday", "around"),
        ("after=t9.x", "after"),
        (&*format!("cursor={up}&around={note_id}"), "around"),
    ] {
        let (status, refused) = api.call(&admin, "GET", &format!("{path}?{query}"), None);
        assert_eq!(status, 400, "{query}: {refused}");
        assert_eq!(refused["error"]["field"], field, "{query}: {refused}");
    }

    // The browser's session: the cookie reads; a write needs the CSRF token.
    let body = json!({"email": "oleg@example.com", "password": "another long secret"});
    let (status, head, session) = exchange(addr, "POST", "/v1/auth/login", &[], Some(&body));
    assert_eq!(status, 200);
    assert!(head.contains("set-cookie: sb_session="), "{head}");
    assert!(
        head.contains("httponly") && head.contains("samesite=strict"),
        "{head}"
    );
    let cookie = format!("sb_session={}", session["token"].as_str().unwrap());
    let csrf = session["csrf"].as_str().unwrap();
    let (status, _, me) = exchange(addr, "GET", "/v1/auth/me", &[("Cookie", &cookie)], None);
    assert_eq!(status, 200);
    assert_eq!(
        me["csrf"], csrf,
        "a page that lost the CSRF token gets it back: {me}"
    );
    let by_bearer = api.ok(
        session["token"].as_str().unwrap(),
        "GET",
        "/v1/auth/me",
        None,
    );
    assert_eq!(
        by_bearer["csrf"],
        Value::Null,
        "a bearer caller needs none: {by_bearer}"
    );
    let pin = json!({"action": "pin"});
    let free = format!("/v1/dialogs/{}/actions", dialogs[0]);
    let (status, _, refused) = exchange(addr, "POST", &free, &[("Cookie", &cookie)], Some(&pin));
    assert_eq!(status, 403, "{refused}");
    let (status, _, done) = exchange(
        addr,
        "POST",
        &free,
        &[("Cookie", &cookie), ("X-CSRF-Token", csrf)],
        Some(&pin),
    );
    assert_eq!(status, 200, "{done}");

    // Signing out ends that session; deactivation ends every other one at once.
    let (status, _, _) = exchange(
        addr,
        "POST",
        "/v1/auth/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", csrf)],
        None,
    );
    assert_eq!(status, 204);
    let (status, _, _) = exchange(addr, "GET", "/v1/auth/me", &[("Cookie", &cookie)], None);
    assert_eq!(status, 401);
    assert_eq!(api.call(&operator, "GET", "/v1/auth/me", None).0, 200);
    api.ok(
        &admin,
        "POST",
        &format!("/v1/operators/{operator_id}/deactivate"),
        None,
    );
    let (status, body) = api.call(&operator, "GET", "/v1/dialogs", None);
    assert_eq!(status, 401, "{body}");

    // Credentials never reach the event log.
    let log = std::fs::read(data.join("log.sqlite")).unwrap();
    let text = String::from_utf8_lossy(&log);
    for secret in [
        "correct horse battery",
        "another long secret",
        admin.as_str(),
        operator.as_str(),
        ROOT,
    ] {
        assert!(!text.contains(secret), "the log holds {secret:?}");
    }
    drop(server);
}

/// `serve --demo` in `dir` (its data in `dir/data`) and the address it listens on.
fn start_demo(dir: &std::path::Path) -> (Running, SocketAddr) {
    start_server(dir, &["--demo", "--data", "data"])
}

/// The demo's accounts as a first start of `serve --demo` prints them: the admin's email and
/// how many operators.
fn demo_accounts(server: &mut Running) -> (String, usize) {
    let mut admin = None;
    let mut operators = 0;
    loop {
        let line = server.next_line();
        if let Some(account) = line.strip_prefix("demo:   ") {
            let email = account.split(' ').next().unwrap().to_owned();
            if account.ends_with("(admin)") {
                admin.get_or_insert(email);
            } else {
                operators += 1;
            }
            if let (Some(admin), 3) = (&admin, operators) {
                return (admin.clone(), operators);
            }
        }
    }
}

#[test]
fn serve_demo_fills_an_empty_directory_once_and_its_accounts_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let start = || start_demo(dir.path());
    let (mut server, addr) = start();
    let (admin, _) = demo_accounts(&mut server);
    let api = Api { addr };
    let token = api.login(&admin, switchboard_gateway::demo::DEMO_PASSWORD)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = api.ok(&token, "GET", "/v1/dialogs?limit=500&archived=true", None);
    let shown = page["items"].as_array().unwrap().len();
    assert!(shown >= 200, "{shown} dialogs in the demo");
    // F3.7: a dialog whose last message carried files lists them, by kind too.
    let with_files = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["last_message"]["attachments"].as_u64().unwrap_or(0) > 0)
        .expect("the demo has files")["dialog"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = api.ok(
        &token,
        "GET",
        &format!("/v1/dialogs/{with_files}/attachments?limit=200"),
        None,
    );
    let all = files["items"].as_array().unwrap();
    assert!(!all.is_empty(), "{files}");
    let kind = all[0]["attachment"]["kind"].as_str().unwrap().to_owned();
    let same = api.ok(
        &token,
        "GET",
        &format!("/v1/dialogs/{with_files}/attachments?kind={kind}&limit=200"),
        None,
    );
    let same = same["items"].as_array().unwrap();
    assert!(
        !same.is_empty()
            && same
                .iter()
                .all(|i| i["attachment"]["kind"] == kind.as_str()),
        "{same:?}"
    );
    let (status, bad) = api.call(
        &token,
        "GET",
        &format!("/v1/dialogs/{with_files}/attachments?kind=gif"),
        None,
    );
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["field"], "kind");
    let project = api.ok(&token, "GET", "/v1/project", None);
    assert!(
        !project["folders"].as_array().unwrap().is_empty(),
        "{project}"
    );
    assert!(!project["tags"].as_array().unwrap().is_empty(), "{project}");
    // Each channel says what a message through it may carry (F3.4), as the domain decides.
    let limits_of = |kind: &str| {
        project["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} channel: {project}"))["limits"]
            .clone()
    };
    const MB: u64 = 1024 * 1024;
    let telegram = limits_of("telegram");
    assert_eq!(telegram["image"]["max_bytes"], 10 * MB);
    assert_eq!(telegram["file"]["max_bytes"], 50 * MB);
    assert_eq!(telegram["image"]["types"], serde_json::json!([]));
    assert_eq!(telegram["max_images"], 10);
    let whatsapp = limits_of("whatsapp_cloud");
    assert_eq!(whatsapp["image"]["max_bytes"], 5 * MB);
    assert_eq!(
        whatsapp["image"]["types"],
        serde_json::json!(["image/jpeg", "image/png"])
    );
    assert_eq!(limits_of("vk")["file"]["max_bytes"], 200 * MB);
    // Email sets no limit of its own: the message's 500 MB.
    assert_eq!(limits_of("email")["video"]["max_bytes"], 500 * MB);
    assert_eq!(limits_of("email")["total_bytes"], 500 * MB);
    // A file goes up under such a channel's limits, though this server keeps no settings of
    // the demo's channels; a channel of no project is named.
    let telegram_channel = project["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "telegram")
        .unwrap()["channel"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = format!("Bearer {}", token);
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    for (channel, want) in [
        (telegram_channel.clone(), 201),
        (uuid::Uuid::now_v7().to_string(), 400),
    ] {
        let path = format!("/v1/attachments?file_name=a.png&channel={channel}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "image/png"),
        ];
        let (status, _, body) = exchange_raw(api.addr, "POST", &path, &headers, &png);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, want, "{body}");
        if want == 400 {
            assert!(body.contains("\"field\":\"channel\""), "{body}");
        }
    }
    // The demo's channels have no settings on this server (`unconfigured`): an admin still
    // disconnects one; an id that is no channel of the project stays a 404.
    let listed = api.ok(&token, "GET", "/v1/channels", None);
    let unconfigured = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["state"] == "unconfigured")
        .expect("the demo's channels")["channel"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = api.ok(
        &token,
        "DELETE",
        &format!("/v1/channels/{unconfigured}"),
        None,
    );
    let project = api.ok(
        &token,
        "GET",
        &format!("/v1/project?min_seq={}", gone["seq"]),
        None,
    );
    assert!(
        project["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["channel"] != unconfigured.as_str() || c["connected"] == false),
        "{project}"
    );
    let listed = api.ok(&token, "GET", "/v1/channels", None).to_string();
    assert!(!listed.contains(&unconfigured), "{listed}");
    let (status, _) = api.call(
        &token,
        "DELETE",
        &format!("/v1/channels/{}", uuid::Uuid::now_v7()),
        None,
    );
    assert_eq!(status, 404);
    drop(server);

    // A second start serves what is there and adds nothing. Its dialogs read model is gone (as
    // after an upgrade that changes its schema): built again from the whole log at start, it
    // answers the first list only once it has caught up, never with a part of the dialogs.
    std::fs::remove_dir_all(dir.path().join("data/read/dialogs")).unwrap();
    let (mut again, addr) = start();
    let again_page = Api { addr }.ok(&token, "GET", "/v1/dialogs?limit=500&archived=true", None);
    assert_eq!(again_page["items"].as_array().unwrap().len(), shown);
    let mut said = String::new();
    while !said.starts_with("demo:") {
        said = again.next_line();
    }
    assert_eq!(said, "demo: the log is not empty; serving it as it is");
}

/// An open live stream (any browser tab of the inbox) does not keep `serve` from stopping:
/// SIGTERM ends the streams, and the process exits cleanly (before, it waited for the tab).
#[test]
fn sigterm_stops_serve_while_a_live_stream_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = start_demo(dir.path());
    let (admin, _) = demo_accounts(&mut server);
    let api = Api { addr };
    let token = api.login(&admin, switchboard_gateway::demo::DEMO_PASSWORD)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /v1/live HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: counters") {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the stream closed before its first event");
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));

    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = server.wait_exit();
    assert!(status.success(), "{status}: {}", server.stderr());
    // The stream was ended, not cut: what is left reads to its end.
    while stream.read(&mut buffer).unwrap_or(0) > 0 {}
}
