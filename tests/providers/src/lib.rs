//! Local provider servers for the delivery tests and `switchboard bench channels`: the Telegram
//! Bot API, the WhatsApp Cloud API and the VK API on loopback, each speaking its documented wire
//! format (request paths and bodies, success answers, error answers), recording what it took so
//! that tests can assert exactly-once, with switches for the failures providers answer: 429 with
//! a retry-after, 403 "bot was blocked by the user" (WhatsApp 131026, VK 901), 5xx flaps, slow
//! answers; and [`FakeProvider::post_whatsapp_status`], a delivery-status webhook back to us.
//!
//! VK drops a repeated `random_id` for the same peer as its API does (the earlier answer again,
//! nothing delivered twice). Files: Telegram takes them as `multipart/form-data` parts (one
//! file's parameter, or `attach://<name>` in a media group); WhatsApp as a media upload
//! (`/{Phone-Number-ID}/media`) whose id a message names; VK as a document (the upload server of
//! `docs.getMessagesUploadServer`, then `docs.save`) whose `doc<owner>_<id>` a message attaches;
//! each lands in [`Received::files`].

mod answers;
pub mod language;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Telegram,
    Whatsapp,
    Vk,
}

/// One message the provider took (and would deliver).
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// The API method: `sendMessage`, `messages`, `messages.send`.
    pub method: String,
    /// The chat: Telegram `chat_id`, WhatsApp `to`/`recipient`, VK `peer_ids`.
    pub chat: String,
    /// The text (`text`, `text.body`, `message`, or a caption).
    pub text: String,
    /// The provider's id of what it sent (`chat:message_id`, the wamid, `peer_cmid`).
    pub id: String,
    /// The parameters as received (JSON body, or VK's form as an object of strings; a
    /// multipart call's text parts, JSON ones parsed).
    pub params: Value,
    /// The files uploaded with it (a multipart call): for one file's method every file part,
    /// for a media group the part its item refers to (`attach://<name>`).
    pub files: Vec<ReceivedFile>,
}

/// A file part of a multipart call.
#[derive(Debug, Clone)]
pub struct ReceivedFile {
    /// The part's name.
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// What the server answers; each switch applies to what comes after it is set.
#[derive(Debug, Default)]
struct Behaviour {
    /// Chat → (how many more calls get a rate-limit answer, the seconds it names).
    rate_limited: HashMap<String, (u32, u32)>,
    /// Chats whose client blocked the bot.
    blocked: HashSet<String>,
    /// Telegram: the bot's token was revoked (every call is 401 Unauthorized).
    revoked: bool,
    /// How many more calls get a 5xx.
    flaps: u32,
    /// How many more answers are late, and by how much: the message is taken (sent to the
    /// client) first, then answered after the delay.
    slow: (u32, Duration),
}

#[derive(Debug, Default)]
struct Shared {
    received: Vec<Received>,
    /// Calls answered with an error (rate limit, blocked, 5xx), by chat.
    refused: Vec<(Instant, String, u16)>,
    /// VK: (peer, random_id) → the answer given.
    vk_sent: HashMap<(String, String), String>,
    /// VK: repeats dropped by `random_id`.
    vk_repeats: u64,
    /// Telegram: the webhook set with `setWebhook` (its parameters), the last one.
    webhook: Option<Value>,
    /// WhatsApp: media uploaded (`/{Phone-Number-ID}/media`) by media id; VK: files uploaded
    /// to the upload server by the `file` it answered, then saved documents by `doc<owner>_<id>`.
    media: HashMap<String, ReceivedFile>,
    next_id: u64,
    behaviour: Behaviour,
}

type Inner = Arc<(Provider, String, Mutex<Shared>)>;

/// A provider's API on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct FakeProvider {
    addr: SocketAddr,
    inner: Inner,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    /// Starts a server for `provider` that takes only `token` (Telegram's bot token in the
    /// path, WhatsApp's bearer token, VK's `access_token`).
    pub async fn start(provider: Provider, token: &str) -> Self {
        let inner: Inner = Arc::new((provider, token.to_owned(), Mutex::default()));
        let router = match provider {
            Provider::Telegram => Router::new().route("/{bot}/{method}", post(telegram)),
            Provider::Whatsapp => Router::new()
                .route("/{version}/{phone}/messages", post(whatsapp))
                .route("/{version}/{phone}/media", post(whatsapp_media))
                .route("/{version}/{phone}", get(whatsapp_number)),
            Provider::Vk => Router::new()
                .route("/method/{method}", post(vk))
                .route("/upload/doc", post(vk_upload)),
        }
        .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, inner, task }
    }

    /// The base URL to configure as the channel's API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.inner.2.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything taken so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared().received.clone()
    }

    /// How many messages were taken so far (without copying them).
    pub fn received_count(&self) -> usize {
        self.shared().received.len()
    }

    /// Calls answered with an error: (when, chat, HTTP status or VK error code).
    pub fn refused(&self) -> Vec<(Instant, String, u16)> {
        self.shared().refused.clone()
    }

    /// VK: repeated `random_id`s dropped.
    pub fn vk_repeats(&self) -> u64 {
        self.shared().vk_repeats
    }

    /// Telegram: the parameters of the last `setWebhook` (`url`, `secret_token`, …).
    pub fn webhook(&self) -> Option<Value> {
        self.shared().webhook.clone()
    }

    /// The next `times` calls to `chat` are answered with the provider's rate limit naming
    /// `retry_after` seconds (Telegram 429 `parameters.retry_after`; WhatsApp 130429; VK 6).
    pub fn rate_limit(&self, chat: &str, times: u32, retry_after: u32) {
        self.shared()
            .behaviour
            .rate_limited
            .insert(chat.to_owned(), (times, retry_after));
    }

    /// Telegram: the bot's token stops working (revoked by its owner).
    pub fn revoke(&self) {
        self.shared().behaviour.revoked = true;
    }

    /// Calls to `chat` are answered as blocked by the client.
    pub fn block(&self, chat: &str) {
        self.shared().behaviour.blocked.insert(chat.to_owned());
    }

    /// The client of `chat` unblocked the bot: calls go through again.
    pub fn unblock(&self, chat: &str) {
        self.shared().behaviour.blocked.remove(chat);
    }

    /// The next `times` calls are answered with a 5xx.
    pub fn flap(&self, times: u32) {
        self.shared().behaviour.flaps = times;
    }

    /// The next `times` answers come `delay` late; each message is taken (sent to the client)
    /// before the wait, as a provider that is slow to answer has sent it.
    pub fn slow(&self, times: u32, delay: Duration) {
        self.shared().behaviour.slow = (times, delay);
    }

    /// Posts a WhatsApp `statuses` notification for `wamid` (`delivered` or `read`) to `url`,
    /// signed as Meta signs (`X-Hub-Signature-256`, HMAC-SHA256 of the body with the app
    /// secret). Answers the receiver's HTTP status.
    pub async fn post_whatsapp_status(
        url: &str,
        app_secret: &str,
        phone_number_id: &str,
        wamid: &str,
        recipient: &str,
        status: &str,
    ) -> u16 {
        let body = answers::whatsapp_status(phone_number_id, wamid, recipient, status);
        let signature = answers::hub_signature(app_secret, &body);
        let client = reqwest::Client::new();
        client
            .post(url)
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

/// What a call meets before it is taken: a switch that refuses it, or nothing.
enum Refusal {
    RateLimited(u32),
    Blocked,
    Flap,
}

/// Applies the switches to one call to `chat`; the answer's delay.
fn gate(inner: &Inner, chat: &str) -> (Option<Refusal>, Duration) {
    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    let behaviour = &mut shared.behaviour;
    let delay = if behaviour.slow.0 > 0 {
        behaviour.slow.0 -= 1;
        behaviour.slow.1
    } else {
        Duration::ZERO
    };
    if behaviour.flaps > 0 {
        behaviour.flaps -= 1;
        return (Some(Refusal::Flap), delay);
    }
    if let Some((times, after)) = behaviour.rate_limited.get_mut(chat)
        && *times > 0
    {
        *times -= 1;
        return (Some(Refusal::RateLimited(*after)), delay);
    }
    if behaviour.blocked.contains(chat) {
        return (Some(Refusal::Blocked), delay);
    }
    (None, delay)
}

fn take(
    inner: &Inner,
    method: &str,
    chat: &str,
    text: String,
    params: Value,
    files: Vec<ReceivedFile>,
) -> (u64, String) {
    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    shared.next_id += 1;
    let n = shared.next_id;
    let id = match inner.0 {
        Provider::Telegram => format!("{chat}:{n}"),
        Provider::Whatsapp => format!("wamid.FAKE{n:012}"),
        Provider::Vk => format!("{chat}_{n}"),
    };
    shared.received.push(Received {
        at: Instant::now(),
        method: method.to_owned(),
        chat: chat.to_owned(),
        text,
        id: id.clone(),
        params,
        files,
    });
    (n, id)
}

fn refused(inner: &Inner, chat: &str, code: u16) {
    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    shared.refused.push((Instant::now(), chat.to_owned(), code));
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A Bot API call's parameters: a JSON body, or `multipart/form-data` (files uploaded with
/// it): text parts as parameters (JSON objects and arrays parsed, as the Bot API reads
/// `media` and `reply_parameters`), file parts apart.
async fn telegram_params(
    request: axum::extract::Request,
) -> Result<(Value, Vec<ReceivedFile>), &'static str> {
    use axum::extract::FromRequest;
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|_| "Bad Request: can't read the body")?;
        let params = serde_json::from_slice(&body).map_err(|_| "Bad Request: can't parse JSON")?;
        return Ok((params, Vec::new()));
    }
    read_multipart(request)
        .await
        .map_err(|()| "Bad Request: can't parse multipart")
}

/// A `multipart/form-data` body: its text parts as parameters (JSON objects and arrays parsed),
/// its file parts apart.
async fn read_multipart(request: axum::extract::Request) -> Result<(Value, Vec<ReceivedFile>), ()> {
    use axum::extract::FromRequest;
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|_| ())?;
    let mut params = serde_json::Map::new();
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|_| ())? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|_| ())?;
        if file_name.is_some() {
            files.push(ReceivedFile {
                name,
                file_name,
                content_type,
                bytes,
            });
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let value = match serde_json::from_str::<Value>(&text) {
                Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
                _ => Value::String(text),
            };
            params.insert(name, value);
        }
    }
    Ok((Value::Object(params), files))
}

/// The files of a call for each message it sends: a media group's item `i` takes the part its
/// `attach://<name>` names; one file's method takes every part. `Err` names a reference to a
/// part that was not sent (the Bot API refuses it).
fn telegram_files(
    method: &str,
    params: &Value,
    files: &[ReceivedFile],
) -> Result<Vec<Vec<ReceivedFile>>, String> {
    let Some(media) = params["media"]
        .as_array()
        .filter(|_| method == "sendMediaGroup")
    else {
        return Ok(vec![files.to_vec()]);
    };
    media
        .iter()
        .map(|item| {
            match item["media"]
                .as_str()
                .and_then(|m| m.strip_prefix("attach://"))
            {
                None => Ok(Vec::new()),
                Some(name) => files
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| vec![f.clone()])
                    .ok_or_else(|| format!("Bad Request: file attach://{name} not found")),
            }
        })
        .collect()
}

async fn telegram(
    State(inner): State<Inner>,
    Path((bot, method)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    let revoked = inner
        .2
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .behaviour
        .revoked;
    if revoked || bot.strip_prefix("bot") != Some(inner.1.as_str()) {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            answers::telegram_error(401, "Unauthorized", None),
        );
    }
    let (params, files) = match telegram_params(request).await {
        Ok(read) => read,
        Err(description) => {
            return json_answer(
                StatusCode::BAD_REQUEST,
                answers::telegram_error(400, description, None),
            );
        }
    };
    let per_message = match telegram_files(&method, &params, &files) {
        Ok(per_message) => per_message,
        Err(description) => {
            return json_answer(
                StatusCode::BAD_REQUEST,
                answers::telegram_error(400, &description, None),
            );
        }
    };
    match method.as_str() {
        "getMe" => {
            let me = json!({"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"});
            return json_answer(StatusCode::OK, json!({"ok": true, "result": me}));
        }
        "setWebhook" => {
            inner.2.lock().unwrap_or_else(|p| p.into_inner()).webhook = Some(params);
            let set = json!({"ok": true, "result": true, "description": "Webhook was set"});
            return json_answer(StatusCode::OK, set);
        }
        _ => {}
    }
    let chat = answers::scalar(&params["chat_id"]);
    let (refusal, delay) = gate(&inner, &chat);
    let (status, body) = match refusal {
        Some(Refusal::RateLimited(after)) => (
            StatusCode::TOO_MANY_REQUESTS,
            answers::telegram_error(
                429,
                &format!("Too Many Requests: retry after {after}"),
                Some(after),
            ),
        ),
        Some(Refusal::Blocked) => (
            StatusCode::FORBIDDEN,
            answers::telegram_error(403, "Forbidden: bot was blocked by the user", None),
        ),
        Some(Refusal::Flap) => (
            StatusCode::BAD_GATEWAY,
            answers::telegram_error(502, "Bad Gateway", None),
        ),
        None => {
            let text = answers::telegram_text(&params);
            let mut results = Vec::new();
            for files in per_message {
                let (n, _) = take(&inner, &method, &chat, text.clone(), params.clone(), files);
                results.push(answers::telegram_message(&chat, n, &text));
            }
            let result = if method == "sendMediaGroup" {
                Value::Array(results)
            } else {
                results.pop().unwrap_or(Value::Null)
            };
            tokio::time::sleep(delay).await;
            return json_answer(StatusCode::OK, json!({"ok": true, "result": result}));
        }
    };
    refused(&inner, &chat, status.as_u16());
    tokio::time::sleep(delay).await;
    json_answer(status, body)
}

/// `GET /{Version}/{Phone-Number-ID}`: the business number, for a bearer of the token.
async fn whatsapp_number(
    State(inner): State<Inner>,
    Path((_version, phone)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if bearer(&headers) != Some(inner.1.as_str()) {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            answers::whatsapp_error(190, "Invalid OAuth access token"),
        );
    }
    json_answer(
        StatusCode::OK,
        json!({"id": phone, "display_phone_number": "+1 555 0100"}),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `POST /{Version}/{Phone-Number-ID}/media`: a file (multipart `file`, with
/// `messaging_product=whatsapp`) kept under a new media id, which messages then name.
async fn whatsapp_media(
    State(inner): State<Inner>,
    Path((_version, _phone)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    if bearer(request.headers()) != Some(inner.1.as_str()) {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            answers::whatsapp_error(190, "Invalid OAuth access token"),
        );
    }
    let invalid = || {
        json_answer(
            StatusCode::BAD_REQUEST,
            answers::whatsapp_error(100, "Invalid parameter"),
        )
    };
    let Ok((params, files)) = read_multipart(request).await else {
        return invalid();
    };
    let Some(file) = files.into_iter().find(|f| f.name == "file") else {
        return invalid();
    };
    if params["messaging_product"] != "whatsapp" {
        return invalid();
    }
    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    shared.next_id += 1;
    let id = (1_037_543_291_000_000_u64 + shared.next_id).to_string();
    shared.media.insert(id.clone(), file);
    json_answer(StatusCode::OK, json!({"id": id}))
}

/// The uploaded media a message names (`image.id`, `document.id`, …).
fn whatsapp_files(inner: &Inner, params: &Value) -> Vec<ReceivedFile> {
    let shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    ["image", "video", "audio", "document", "sticker"]
        .iter()
        .filter_map(|kind| params[*kind]["id"].as_str())
        .filter_map(|id| shared.media.get(id).cloned())
        .collect()
}

async fn whatsapp(
    State(inner): State<Inner>,
    Path((_version, _phone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bearer(&headers) != Some(inner.1.as_str()) {
        return json_answer(
            StatusCode::UNAUTHORIZED,
            answers::whatsapp_error(190, "Invalid OAuth access token"),
        );
    }
    let Ok(params) = serde_json::from_slice::<Value>(&body) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            answers::whatsapp_error(100, "Invalid parameter"),
        );
    };
    let chat = answers::scalar(if params["to"].is_null() {
        &params["recipient"]
    } else {
        &params["to"]
    });
    let (refusal, delay) = gate(&inner, &chat);
    let (status, code) = match refusal {
        Some(Refusal::RateLimited(_)) => (StatusCode::BAD_REQUEST, 130429),
        Some(Refusal::Blocked) => (StatusCode::BAD_REQUEST, 131026),
        Some(Refusal::Flap) => (StatusCode::SERVICE_UNAVAILABLE, 2),
        None => {
            let text = answers::whatsapp_text(&params);
            let files = whatsapp_files(&inner, &params);
            let (_, id) = take(&inner, "messages", &chat, text, params.clone(), files);
            tokio::time::sleep(delay).await;
            return json_answer(
                StatusCode::OK,
                json!({"messaging_product": "whatsapp",
                       "contacts": [{"input": chat, "wa_id": chat}],
                       "messages": [{"id": id}]}),
            );
        }
    };
    refused(&inner, &chat, status.as_u16());
    tokio::time::sleep(delay).await;
    let message = answers::whatsapp_message(code);
    json_answer(status, answers::whatsapp_error(code, message))
}

/// VK's upload server (the `upload_url` of `docs.getMessagesUploadServer`): the multipart
/// `file` kept, answered with the `file` string `docs.save` takes.
async fn vk_upload(State(inner): State<Inner>, request: axum::extract::Request) -> Response {
    let ok = |body: Value| json_answer(StatusCode::OK, body);
    let Ok((_, files)) = read_multipart(request).await else {
        return ok(json!({"error": "invalid multipart"}));
    };
    let Some(file) = files.into_iter().find(|f| f.name == "file") else {
        return ok(json!({"error": "no file"}));
    };
    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
    shared.next_id += 1;
    let token = format!("upload|{}|doc", shared.next_id);
    shared.media.insert(token.clone(), file);
    ok(json!({"file": token}))
}

/// `docs.getMessagesUploadServer` and `docs.save` for a message's document.
fn vk_docs(inner: &Inner, method: &str, form: &HashMap<String, String>, host: &str) -> Value {
    match method {
        "docs.getMessagesUploadServer" => {
            if form.get("type").map(String::as_str) != Some("doc") || !form.contains_key("peer_id")
            {
                return answers::vk_error(
                    100,
                    "One of the parameters specified was missing or invalid",
                );
            }
            json!({"response": {"upload_url": format!("http://{host}/upload/doc")}})
        }
        _ => {
            let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
            let Some(file) = form.get("file").and_then(|f| shared.media.remove(f)) else {
                return answers::vk_error(
                    100,
                    "One of the parameters specified was missing or invalid: file",
                );
            };
            shared.next_id += 1;
            let (owner, id) = (-1_i64, shared.next_id);
            let title = form.get("title").cloned().unwrap_or_default();
            let size = file.bytes.len();
            shared.media.insert(format!("doc{owner}_{id}"), file);
            json!({"response": {"type": "doc", "doc": {
                "id": id, "owner_id": owner, "title": title, "size": size, "ext": "",
                "date": 1_767_225_600, "type": 8, "url": format!("http://{host}/doc{owner}_{id}"),
            }}})
        }
    }
}

async fn vk(
    State(inner): State<Inner>,
    Path(method): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let ok = |body: Value| json_answer(StatusCode::OK, body);
    if form.get("access_token") != Some(&inner.1) {
        return ok(answers::vk_error(
            5,
            "User authorization failed: invalid access_token",
        ));
    }
    if method == "groups.getById" {
        let id: i64 = form
            .get("group_id")
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        return ok(json!({"response": {"groups": [{"id": id, "name": "Fake community"}]}}));
    }
    if method == "docs.getMessagesUploadServer" || method == "docs.save" {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        return ok(vk_docs(&inner, &method, &form, host));
    }
    if method != "messages.send" {
        return ok(answers::vk_error(3, "Unknown method passed"));
    }
    let chat = form.get("peer_ids").cloned().unwrap_or_default();
    let random_id = form.get("random_id").cloned().unwrap_or_default();
    let (refusal, delay) = gate(&inner, &chat);
    let code = match refusal {
        Some(Refusal::RateLimited(_)) => 6,
        Some(Refusal::Blocked) => 901,
        Some(Refusal::Flap) => {
            refused(&inner, &chat, 502);
            return (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response();
        }
        None => {
            let key = (chat.clone(), random_id);
            let previous = inner
                .2
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .vk_sent
                .get(&key)
                .cloned();
            let id = match previous {
                Some(id) => {
                    inner.2.lock().unwrap_or_else(|p| p.into_inner()).vk_repeats += 1;
                    id
                }
                None => {
                    let text = form.get("message").cloned().unwrap_or_default();
                    let params = json!(form);
                    let files = {
                        let shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
                        form.get("attachment")
                            .into_iter()
                            .flat_map(|list| list.split(','))
                            .filter_map(|item| shared.media.get(item).cloned())
                            .collect()
                    };
                    let (_, id) = take(&inner, &method, &chat, text, params, files);
                    let mut shared = inner.2.lock().unwrap_or_else(|p| p.into_inner());
                    shared.vk_sent.insert(key, id.clone());
                    id
                }
            };
            let cmid: i64 = id
                .rsplit('_')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let peer: i64 = chat.parse().unwrap_or(0);
            tokio::time::sleep(delay).await;
            return ok(
                json!({"response": [{"peer_id": peer, "message_id": 0, "conversation_message_id": cmid}]}),
            );
        }
    };
    refused(&inner, &chat, code);
    tokio::time::sleep(delay).await;
    ok(answers::vk_error(
        i64::from(code),
        answers::vk_message(i64::from(code)),
    ))
}
