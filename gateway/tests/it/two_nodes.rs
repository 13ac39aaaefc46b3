//! Two `serve --nats` processes on one JetStream act as one system (issue 16 item 8): an
//! account made on one signs in on the other, a command on one is read on the other with its
//! `min_seq`, and a revocation on one holds on the other.

use crate::common::*;
use crate::operator_api::exchange;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchboard_tests::NatsServer;

const ROOT: &str = "root-token-shared-by-both-nodes";

fn node(dir: &std::path::Path, name: &str, nats: &str) -> (Running, SocketAddr) {
    let data = dir.join(name);
    let mut command = bin();
    command
        .current_dir(dir)
        .env("SWITCHBOARD_ROOT_TOKEN", ROOT)
        .args(["serve", "--nats", nats, "--data"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let mut server = Running::spawn(&mut command, dir.join(format!("{name}.stderr")));
    let first = server.next_line();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    (server, addr)
}

fn call(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, answer) = exchange(addr, method, path, &headers, body.as_ref());
    (status, answer)
}

fn ok(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = call(addr, token, method, path, body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

#[test]
fn two_serve_nodes_on_one_jetstream_act_as_one() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_one, a) = node(dir.path(), "one", &nats.url());
    let (_two, b) = node(dir.path(), "two", &nats.url());

    // The project is made on node one; its admin signs in on node two.
    let project = json!({"name": "Both", "admin": {"name": "Ada", "email": "ada@both.test", "password": "a long enough password"}});
    ok(a, Some(ROOT), "POST", "/v1/projects", Some(project));
    let login = |addr, email: &str| {
        let body = json!({"email": email, "password": "a long enough password"});
        ok(addr, None, "POST", "/v1/auth/login", Some(body))["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin_on_two = login(b, "ada@both.test");

    // A command on node two is read on node one with its sequence.
    let created = ok(
        b,
        Some(&admin_on_two),
        "POST",
        "/v1/dialogs",
        Some(json!({"name": "Shared", "phone": "+15550300"})),
    );
    let dialog = created["dialog"].as_str().unwrap();
    let seq = created["seq"].as_u64().unwrap();
    let page = ok(
        a,
        Some(&admin_on_two),
        "GET",
        &format!("/v1/dialogs?min_seq={seq}"),
        None,
    );
    assert_eq!(page["items"][0]["dialog"], dialog, "{page}");
    let pinned = ok(
        a,
        Some(&admin_on_two),
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(json!({"action": "pin"})),
    );
    let row = ok(
        b,
        Some(&admin_on_two),
        "GET",
        &format!("/v1/dialogs/{dialog}?min_seq={}", pinned["seq"]),
        None,
    );
    assert_eq!(row["pinned"], true, "{row}");

    // An operator added on node one, deactivated on node two: refused on node one at once.
    let op = ok(
        a,
        Some(&admin_on_two),
        "POST",
        "/v1/operators",
        Some(
            json!({"name": "Oleg", "email": "oleg@both.test", "password": "a long enough password"}),
        ),
    );
    let operator = login(a, "oleg@both.test");
    assert_eq!(call(a, Some(&operator), "GET", "/v1/auth/me", None).0, 200);
    let revoked_at = Instant::now();
    ok(
        b,
        Some(&admin_on_two),
        "POST",
        &format!(
            "/v1/operators/{}/deactivate",
            op["operator"].as_str().unwrap()
        ),
        None,
    );
    loop {
        let (status, _) = call(a, Some(&operator), "GET", "/v1/auth/me", None);
        if status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "node one still accepts a deactivated operator after {:?}",
            revoked_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A signed-out session ends on the other node too.
    let again = login(a, "ada@both.test");
    assert_eq!(call(b, Some(&again), "GET", "/v1/auth/me", None).0, 200);
    assert_eq!(
        call(a, Some(&again), "POST", "/v1/auth/logout", None).0,
        204
    );
    let ended_at = Instant::now();
    while call(b, Some(&again), "GET", "/v1/auth/me", None).0 != 401 {
        assert!(
            ended_at.elapsed() < Duration::from_secs(10),
            "node two still accepts a signed-out session"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
