//! A local language provider for F3.8's tests: LibreTranslate's `POST /translate` and the
//! OpenAI-compatible `POST /v1/chat/completions` on loopback, each in its documented wire
//! format (error answers included: LibreTranslate's `{"error": "…"}`, OpenAI's
//! `{"error": {"message", "type"}}`, whose message repeats part of a wrong key as OpenAI's
//! does), recording every call, with a switch for 5xx answers.
//!
//! A translation is the original marked with its target (`[ru] Hello`), the language detected
//! from the script (Cyrillic: `ru`, else `en`); a completion answers the reply set with
//! [`FakeLanguage::set_reply`].

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One call the server took.
#[derive(Debug, Clone)]
pub struct Call {
    /// `/translate` or `/v1/chat/completions`.
    pub path: String,
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

#[derive(Debug)]
struct Shared {
    key: String,
    calls: Vec<Call>,
    /// How many more calls are answered 500.
    failures: u32,
    reply: String,
}

type Inner = Arc<Mutex<Shared>>;

/// The provider on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct FakeLanguage {
    addr: SocketAddr,
    inner: Inner,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLanguage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeLanguage {
    /// Starts a server that takes only `key` (LibreTranslate's `api_key`, the bearer token).
    pub async fn start(key: &str) -> Self {
        let inner: Inner = Arc::new(Mutex::new(Shared {
            key: key.to_owned(),
            calls: Vec::new(),
            failures: 0,
            reply: "Hello! How can I help?".to_owned(),
        }));
        let router = Router::new()
            .route("/translate", post(translate))
            .route("/v1/chat/completions", post(complete))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, inner, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The next `times` calls are answered 500.
    pub fn fail(&self, times: u32) {
        self.inner.lock().unwrap().failures = times;
    }

    /// What completions answer from now on.
    pub fn set_reply(&self, reply: &str) {
        self.inner.lock().unwrap().reply = reply.to_owned();
    }
}

/// Records the call; the failure answer it gets, if any.
fn take(inner: &Inner, path: &str, headers: &HeaderMap, body: &Value) -> Option<Response> {
    let mut shared = inner.lock().unwrap();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.calls.push(Call {
        path: path.to_owned(),
        body: body.clone(),
        authorization,
    });
    if shared.failures > 0 {
        shared.failures -= 1;
        let body = if path == "/translate" {
            json!({"error": "Internal error: the translation model crashed"})
        } else {
            json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error"}})
        };
        return Some((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response());
    }
    None
}

async fn translate(
    State(inner): State<Inner>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(failure) = take(&inner, "/translate", &headers, &body) {
        return failure;
    }
    let key = inner.lock().unwrap().key.clone();
    if body["api_key"].as_str() != Some(key.as_str()) {
        let error = json!({"error": "Invalid API key"});
        return (StatusCode::FORBIDDEN, axum::Json(error)).into_response();
    }
    let (Some(q), Some(target)) = (body["q"].as_str(), body["target"].as_str()) else {
        let error = json!({"error": "Invalid request: missing q or target parameter"});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let detected = if q.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)) {
        "ru"
    } else {
        "en"
    };
    axum::Json(json!({
        "translatedText": format!("[{target}] {q}"),
        "detectedLanguage": {"confidence": 90.0, "language": detected},
    }))
    .into_response()
}

async fn complete(
    State(inner): State<Inner>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(failure) = take(&inner, "/v1/chat/completions", &headers, &body) {
        return failure;
    }
    let (key, reply) = {
        let shared = inner.lock().unwrap();
        (shared.key.clone(), shared.reply.clone())
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if given != key {
        // OpenAI repeats the start and end of the wrong key.
        let shown: String = given.chars().take(3).collect();
        let error = json!({"error": {
            "message": format!("Incorrect API key provided: {shown}****. You can find your API key at https://platform.openai.com/account/api-keys."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
    }))
    .into_response()
}
