//! The authorization matrix (F12), generated from the route table: every route of
//! `/v1/openapi.json` × every kind of caller, each expected to be allowed or denied by the
//! access the route declares (`x-sb-access`) and, for a route on one dialog, by who may see
//! that dialog. A new route is in the matrix the moment it is in the table.
//!
//! Requests carry harmless bodies (an empty one, or an action that changes nothing visible),
//! so an allowed call answers 2xx or a 4xx about its input, never 401 or 403; a denied one
//! answers 401 (no valid credentials) or 403 (known, not allowed), or 404 for a dialog of
//! another project (as if it did not exist).

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use switchboard_connectors::attachments::{AttachmentStore, DirStore};
use switchboard_core::AnyLog;
use switchboard_gateway::api::bulk::store::JobStore;
use switchboard_gateway::channels::Channels;
use switchboard_gateway::credentials::{CredentialOptions, CredentialStore, RootToken, SecretKey};
use switchboard_gateway::readmodels::ReadModels;
use switchboard_gateway::{AppState, app};
use switchboard_schemas::events::MessageReceived;
use switchboard_schemas::{Attachment, AttachmentKind, ChannelId, Event, MessageId};
use tower::ServiceExt;

const ROOT: &str = "root-token-of-the-authorization-matrix";

struct World {
    state: AppState,
    _models: Arc<ReadModels<AnyLog>>,
}

impl World {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let is_json = response.headers().get("content-type").is_some_and(|v| {
            v.to_str()
                .unwrap_or_default()
                .starts_with("application/json")
        });
        let bytes = if is_json {
            axum::body::to_bytes(response.into_body(), 1 << 24)
                .await
                .unwrap()
        } else {
            Default::default()
        };
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, token: &str, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(method, path, Some(token), Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
        answer
    }

    async fn login(&self, email: &str) -> String {
        let body = json!({"email": email, "password": "a long enough password"});
        let (status, answer) = self.send("POST", "/v1/auth/login", None, Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["token"].as_str().unwrap().to_owned()
    }

    /// A project and its admin: (project id, admin's token).
    async fn project(&self, name: &str, admin_email: &str) -> (String, String) {
        let body = json!({"name": name, "admin": {"name": "Admin", "email": admin_email, "password": "a long enough password"}});
        let created = self.ok(ROOT, "POST", "/v1/projects", body).await;
        let token = self.login(admin_email).await;
        (created["project"].as_str().unwrap().to_owned(), token)
    }

    async fn operator(&self, admin: &str, email: &str) -> (String, String) {
        let body = json!({"name": email, "email": email, "password": "a long enough password"});
        let created = self.ok(admin, "POST", "/v1/operators", body).await;
        let token = self.login(email).await;
        (created["operator"].as_str().unwrap().to_owned(), token)
    }
}

/// Who calls, and which dialog a route on one dialog is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Root,
    Admin,
    /// The operator the dialog is assigned to.
    Assigned,
    /// Another operator of the project, about the dialog assigned to someone else.
    OtherOperator,
    /// Another operator of the project (a session of their own), about a free dialog.
    OnFreeDialog,
    /// An operator of another project.
    OtherProject,
    Deactivated,
    Anonymous,
    WrongToken,
    EndedSession,
}

const EVERYONE: [Who; 10] = [
    Who::Root,
    Who::Admin,
    Who::Assigned,
    Who::OtherOperator,
    Who::OnFreeDialog,
    Who::OtherProject,
    Who::Deactivated,
    Who::Anonymous,
    Who::WrongToken,
    Who::EndedSession,
];

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthorized,
    Forbidden,
    /// 403 or 404: the dialog is not the caller's to see.
    Hidden,
    NotFound,
}

/// What a route's path is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    Nothing,
    /// `{dialog}`: the dialog assigned to [`Who::Assigned`] (a free one for [`Who::OnFreeDialog`]).
    Dialog,
    /// `{job}`: a bulk job [`Who::Assigned`] started.
    Job,
}

fn expected(access: &str, who: Who, about: About) -> Expect {
    use Who::*;
    if access == "public" {
        return Expect::Allowed;
    }
    if matches!(who, Deactivated | Anonymous | WrongToken | EndedSession) {
        return Expect::Unauthorized;
    }
    match (access, who) {
        ("root", Root) => Expect::Allowed,
        ("root", _) => Expect::Forbidden,
        (_, Root) => Expect::Forbidden,
        ("admin", Admin) => Expect::Allowed,
        ("admin", _) => Expect::Forbidden,
        ("operator", OtherOperator) if about == About::Dialog => Expect::Hidden,
        ("operator", OtherOperator | OnFreeDialog) if about == About::Job => Expect::Hidden,
        ("operator", OtherProject) if about != About::Nothing => Expect::NotFound,
        ("operator", _) => Expect::Allowed,
        (other, _) => panic!("unknown access {other:?}"),
    }
}

/// A body that passes the route's parsing without changing anything that matters here.
fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("GET" | "DELETE", _) => None,
        ("POST", "/v1/dialogs/{dialog}/actions") => Some(json!({"action": "mark_read"})),
        // F3.8: well-formed, so that the dialog's access decides (the tools are off: 409).
        ("POST", "/v1/dialogs/{dialog}/translate") => {
            Some(json!({"message": "00000000-0000-7000-8000-00000000f00d", "to": "en"}))
        }
        ("POST", "/v1/dialogs/{dialog}/translate-reply") => {
            Some(json!({"text": "hello", "to": "en"}))
        }
        _ => Some(json!({})),
    }
}

/// `path` with a plausible value for each required query parameter, so that the route's
/// access, not its parsing, decides.
fn with_required_query(path: &str, operation: &Value) -> String {
    let mut pairs = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        if parameter["in"] != "query" || parameter["required"] != true {
            continue;
        }
        let schema = &parameter["schema"];
        let value = match (schema["format"].as_str(), schema["enum"][0].as_str()) {
            (Some("date-time"), _) => "2030-01-01T00:00:00Z",
            // One of the values it takes (the export's `format`), so that the route answers.
            (_, Some(first)) => first,
            _ => "hello",
        };
        pairs.push(format!("{}={value}", parameter["name"].as_str().unwrap()));
    }
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_allows_and_denies_each_kind_of_caller_as_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let models = ReadModels::start(
        log.clone(),
        &dir.path().join("read"),
        switchboard_projections::RunnerOptions::default(),
    )
    .await
    .unwrap();
    let options = CredentialOptions {
        root: Some(
            RootToken::load(Some(ROOT.to_owned()), dir.path())
                .unwrap()
                .0,
        ),
        // Channel settings are sealed with it.
        secret_key: Some(SecretKey::load(None, dir.path()).unwrap().0),
        ..CredentialOptions::default()
    };
    let credentials = CredentialStore::open_sqlite(&dir.path().join("credentials.sqlite"), options)
        .await
        .unwrap();
    let channels = Channels::new(credentials.clone(), "http://127.0.0.1:9");
    let files = AttachmentStore::Directory(
        DirStore::open(dir.path().join("attachments"))
            .await
            .unwrap(),
    );
    let world = World {
        state: AppState::new(log)
            .with_read_models(Arc::clone(&models))
            .with_credentials(credentials)
            .with_jobs(JobStore::open_sqlite(&dir.path().join("jobs.sqlite")).unwrap())
            .with_channels(channels)
            .with_attachments(files.clone()),
        _models: models,
    };

    let (project_one, admin) = world.project("One", "admin@one.test").await;
    let (assigned_id, assigned) = world.operator(&admin, "assigned@one.test").await;
    let (_, other) = world.operator(&admin, "other@one.test").await;
    let (_, on_free) = world.operator(&admin, "free@one.test").await;
    let (deactivated_id, deactivated) = world.operator(&admin, "gone@one.test").await;
    let (_, ended) = world.operator(&admin, "ended@one.test").await;
    let (_, admin_two) = world.project("Two", "admin@two.test").await;
    let (_, stranger) = world.operator(&admin_two, "stranger@two.test").await;

    let mut dialogs = Vec::new();
    for phone in ["+15550100", "+15550101"] {
        let created = world
            .ok(&admin, "POST", "/v1/dialogs", json!({"phone": phone}))
            .await;
        dialogs.push(created["dialog"].as_str().unwrap().to_owned());
    }
    let (taken, free) = (dialogs[0].clone(), dialogs[1].clone());
    // A file the client sent into both dialogs (the download route of a dialog's file).
    let stored = files.put_bytes(b"the client's file", 1024).await.unwrap();
    let hash = stored.hash.storage_ref();
    for dialog in [&taken, &free] {
        let received = Event::MessageReceived(MessageReceived {
            message: MessageId::new(),
            channel: ChannelId::new(),
            external_id: format!("file-{dialog}"),
            text: String::new(),
            attachments: vec![Attachment {
                kind: AttachmentKind::File,
                file_name: "file.txt".to_owned(),
                mime_type: "text/plain".to_owned(),
                size_bytes: stored.size,
                storage_ref: hash.clone(),
            }],
            reply_to: None,
            sent_at: AT,
        });
        let mut event = envelope(dialog.parse().unwrap(), received);
        event.project = project_one.parse().unwrap();
        append(&world.state.log, &[event]).await;
    }
    world
        .ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{taken}/actions"),
            json!({"action": "assign", "operator": assigned_id}),
        )
        .await;
    let gone = world
        .ok(
            &admin,
            "POST",
            &format!("/v1/operators/{deactivated_id}/deactivate"),
            json!(null),
        )
        .await;
    // A bulk job of the assigned operator: large enough to be a job (over 100 dialogs).
    let mut many = Vec::new();
    for n in 0..101 {
        let phone = format!("+1555020{n:04}");
        let created = world
            .ok(&admin, "POST", "/v1/dialogs", json!({"phone": phone}))
            .await;
        many.push(created["dialog"].as_str().unwrap().to_owned());
    }
    let registered = world
        .ok(
            &admin,
            "POST",
            "/v1/dialogs",
            json!({"phone": "+15550299999"}),
        )
        .await;
    world
        .state
        .read_models
        .as_ref()
        .unwrap()
        .wait_for(registered["seq"].as_u64().unwrap(), PATIENCE)
        .await
        .unwrap();
    let bulk = json!({"action": {"action": "mark_read"}, "dialog_ids": many,
                      "confirm": {"action": "mark_read", "count": 101}});
    let (status, job) = world
        .send("POST", "/v1/bulk", Some(&assigned), Some(&bulk))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job = job["job"].as_str().unwrap().to_owned();
    let (status, _) = world
        .send("POST", "/v1/auth/logout", Some(&ended), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Every query below sees everything above.
    world
        .state
        .read_models
        .as_ref()
        .unwrap()
        .wait_for(gone["seq"].as_u64().unwrap(), PATIENCE)
        .await
        .unwrap();

    let document = serde_json::to_value(switchboard_gateway::api::openapi_document()).unwrap();
    let mut routes = crate::openapi::operations(&document);
    // Signing out ends the caller's session: checked last.
    routes.sort_by_key(|(_, path, _)| path == "/v1/auth/logout");
    assert!(routes.len() >= 20, "{} routes", routes.len());
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut webhook_answers = std::collections::HashMap::new();
    for (method, template, operation) in &routes {
        let access = operation["x-sb-access"].as_str().unwrap();
        let about = if template.contains("{dialog}") {
            About::Dialog
        } else if template.contains("{job}") {
            About::Job
        } else {
            About::Nothing
        };
        for who in EVERYONE {
            let token = match who {
                Who::Root => Some(ROOT),
                Who::Admin => Some(admin.as_str()),
                Who::Assigned => Some(assigned.as_str()),
                Who::OtherOperator => Some(other.as_str()),
                Who::OnFreeDialog => Some(on_free.as_str()),
                Who::OtherProject => Some(stranger.as_str()),
                Who::Deactivated => Some(deactivated.as_str()),
                Who::Anonymous => None,
                Who::WrongToken => Some("sb_s_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                Who::EndedSession => Some(ended.as_str()),
            };
            let dialog = if who == Who::OnFreeDialog {
                &free
            } else {
                &taken
            };
            let path = template
                .replace("{dialog}", dialog)
                .replace("{operator}", "00000000-0000-7000-8000-00000000dead")
                .replace("{token}", "00000000-0000-7000-8000-00000000beef")
                .replace("{job}", &job)
                .replace("{hash}", &hash)
                .replace("{channel}", "00000000-0000-7000-8000-00000000cafe");
            let path = with_required_query(&path, operation);
            let body = body_for(method, template);
            let (status, answer) = world.send(method, &path, token, body.as_ref()).await;
            let want = expected(access, who, about);
            let holds = match want {
                Expect::Allowed => {
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !(about != About::Nothing && status == StatusCode::NOT_FOUND)
                        && !status.is_server_error()
                }
                Expect::Unauthorized => status == StatusCode::UNAUTHORIZED,
                Expect::Forbidden => status == StatusCode::FORBIDDEN,
                Expect::Hidden => {
                    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
                }
                Expect::NotFound => status == StatusCode::NOT_FOUND,
            };
            if !holds {
                failures.push(format!(
                    "{method} {template} as {who:?}: expected {want:?}, got {status} {answer}"
                ));
            }
            // A webhook is verified by its provider's scheme only: whoever calls, with
            // whatever token, gets the same answer.
            if template.starts_with("/v1/webhooks/") {
                let first = webhook_answers.entry((method.clone(), template.clone()));
                let first = *first.or_insert(status);
                if first != status {
                    failures.push(format!(
                        "{method} {template} as {who:?}: {status}, another caller got {first}"
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
