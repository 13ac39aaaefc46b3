//! The contract, checked from outside: schemathesis (PyPI, pinned by
//! `deploy/install-schemathesis.sh`) generates requests from `/v1/openapi.json` against a real
//! `serve` with an operator's credentials and fails on any 5xx and on any answer the document
//! does not describe (status, content type, headers, body schema).

use crate::common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;

const ROOT: &str = "root-token-of-the-contract-test";

fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> Value {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, answer) =
        crate::operator_api::exchange(addr, "POST", path, &headers, Some(body));
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let pythonpath = std::env::var("SCHEMATHESIS_PYTHONPATH").expect(
        "SCHEMATHESIS_PYTHONPATH is not set: run the tests through deploy/test.sh, which installs \
         schemathesis (deploy/install-schemathesis.sh)",
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start_server_as_root(dir.path(), ROOT);

    let project = json!({"name": "Contract", "admin": {"name": "Admin", "email": "admin@contract.test", "password": "a long enough password"}});
    post(addr, "/v1/projects", Some(ROOT), &project);
    let login = |email: &str| {
        let body = json!({"email": email, "password": "a long enough password"});
        post(addr, "/v1/auth/login", None, &body)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin = login("admin@contract.test");
    let operator =
        json!({"name": "Op", "email": "op@contract.test", "password": "a long enough password"});
    let created = post(addr, "/v1/operators", Some(&admin), &operator);
    for phone in ["+15550200", "+15550201"] {
        let dialog = post(
            addr,
            "/v1/dialogs",
            Some(&admin),
            &json!({"name": "Client", "phone": phone}),
        );
        let id = dialog["dialog"].as_str().unwrap();
        let assign = json!({"action": "assign", "operator": created["operator"]});
        post(
            addr,
            &format!("/v1/dialogs/{id}/actions"),
            Some(&admin),
            &assign,
        );
    }
    let token = login("op@contract.test");

    let output = Command::new("python3")
        // Schemathesis keeps its state (`.schemathesis/`) in the working directory.
        .current_dir(dir.path())
        .env("PYTHONPATH", pythonpath)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{addr}/v1/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            // Signing out would end the session the run uses.
            "--exclude-path",
            "/v1/auth/logout",
            // The live stream never ends by itself (`tests/it/live` checks it).
            "--exclude-path",
            "/v1/live",
            "--max-examples",
            "25",
            "--seed",
            "20261207",
            "--no-color",
        ])
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}\nserve's stderr:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.stderr()
    );
    drop(server);
}
