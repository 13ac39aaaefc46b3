//! The contract: `/v1/openapi.json` is an OpenAPI 3.1 document generated from the route table,
//! in which every operation states its access and its answers.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use switchboard_core::AnyLog;
use switchboard_gateway::{AppState, app};
use tower::ServiceExt;

const ACCESS: [&str; 4] = ["public", "root", "operator", "admin"];

async fn served_document() -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let log = AnyLog::Embedded(open_embedded(dir.path()));
    let request = Request::get("/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = app(AppState::new(log)).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Every (method, path) of the document with its operation.
pub fn operations(document: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_equals_the_generated_one() {
    let served = served_document().await;
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        served["openapi"]
    );
    let generated = serde_json::to_value(switchboard_gateway::api::openapi_document()).unwrap();
    assert_eq!(served, generated);
    let paths: Vec<_> = operations(&served)
        .into_iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    assert!(paths.contains(&"GET /v1/health".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"GET /v1/openapi.json".to_owned()),
        "{paths:?}"
    );
}

#[tokio::test]
async fn every_operation_states_its_access_and_its_answers() {
    let document = served_document().await;
    let operations = operations(&document);
    assert!(!operations.is_empty());
    // OpenAPI requires unique operation ids; generated clients (the web inbox's) rely on it.
    let mut ids = std::collections::HashSet::new();
    for (method, path, operation) in &operations {
        let id = operation["operationId"].as_str();
        assert!(
            id.is_some_and(|id| ids.insert(id.to_owned())),
            "{method} {path}: operationId {id:?} is missing or taken"
        );
    }
    for (method, path, operation) in operations {
        let access = operation["x-sb-access"].as_str();
        assert!(
            access.is_some_and(|access| ACCESS.contains(&access)),
            "{method} {path}: x-sb-access is {:?}",
            operation["x-sb-access"]
        );
        let responses = operation["responses"].as_object();
        assert!(
            responses.is_some_and(|responses| !responses.is_empty()),
            "{method} {path} describes no answer"
        );
        assert!(
            path.starts_with("/v1/"),
            "{method} {path} is outside the versioned API"
        );
    }
    // The one error shape is a named schema.
    let error = &document["components"]["schemas"]["ErrorAnswer"];
    assert_eq!(error["type"], "object", "{error}");
    assert!(
        document["components"]["securitySchemes"]["bearer"].is_object(),
        "{}",
        document["components"]
    );
}

/// utoipa names a component after its Rust type and keeps only one of two types of the same
/// name: the other's answers then break the document (a filter's `Author` once replaced the
/// list row's, and schemathesis found every row with a note refused). So the types that derive
/// `ToSchema` in the API have unique names (or a `#[schema(as = …)]` one).
#[test]
fn no_two_api_types_give_a_schema_the_same_name() {
    fn walk(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut pending: Option<Option<String>> = None;
                for line in text.lines().map(str::trim) {
                    if line.starts_with("#[derive(") && line.contains("ToSchema") {
                        pending = Some(None);
                    } else if let Some(named) = &mut pending {
                        if let Some(rest) = line.strip_prefix("#[schema(as = ") {
                            *named = Some(rest.trim_end_matches(")]").to_owned());
                        }
                        let declared = line
                            .strip_prefix("pub struct ")
                            .or_else(|| line.strip_prefix("pub enum "))
                            .or_else(|| line.strip_prefix("struct "))
                            .or_else(|| line.strip_prefix("enum "));
                        if let Some(declared) = declared {
                            let ty: String = declared
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            let name = named.clone().unwrap_or(ty);
                            found.push((name, path.display().to_string()));
                            pending = None;
                        }
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api"),
        &mut found,
    );
    assert!(
        found.len() > 50,
        "the scan finds the API's types: {found:?}"
    );
    found.sort();
    let twice: Vec<_> = found.windows(2).filter(|w| w[0].0 == w[1].0).collect();
    assert!(twice.is_empty(), "schema names given twice: {twice:?}");
}
