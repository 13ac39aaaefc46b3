//! One message as HTTP calls to its provider (the requests `telegram`/`whatsapp`/`vk::build`
//! make), each answer read with the provider's `sent` or `classify`.
//!
//! Credentials go only into the request (Telegram's `/bot<token>/` path, WhatsApp's bearer
//! header, VK's `access_token` form field); a transport error is reported without its URL, which
//! may hold the token.

use super::directory::ChannelConfig;
use crate::attachments::{AttachmentStore, Blob, ByteRange};
use crate::email::smtp::{MailFile, OutboundMail, SmtpError};
use crate::outbound::{FilePart, Outgoing, ProviderRequest};
use crate::outcome::{ErrorClass, ProviderError};
use crate::{telegram, vk, whatsapp};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use switchboard_schemas::ChannelKind;

/// What became of one call.
#[derive(Debug)]
pub(crate) enum CallResult {
    /// It went through: the channel's ids of what was sent.
    Sent(Vec<String>),
    /// The provider refused it, or it never left (a refused connection: transient).
    Refused(ProviderError),
    /// Its outcome is unknown (a timeout, a connection lost after the request left): the
    /// provider may have sent it.
    Unknown(String),
}

/// The requests for `message` on a channel of `config`'s provider.
pub(crate) fn build(
    config: &ChannelConfig,
    message: &Outgoing,
) -> Result<Vec<ProviderRequest>, ProviderError> {
    let built = match config.kind {
        ChannelKind::Telegram => telegram::outbound::build(message),
        ChannelKind::WhatsappCloud => {
            whatsapp::outbound::build(config.phone_number_id.as_deref().unwrap_or(""), message)
        }
        ChannelKind::Vk => vk::outbound::build(message),
        ChannelKind::Email => Ok(vec![mail_request(message)]),
        other => {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                0,
                &format!("delivery to {} channels is not built", other.as_str()),
            ));
        }
    };
    built.map_err(|e| ProviderError::new(ErrorClass::Permanent, 0, &e.to_string()))
}

/// Longest subject made from a mail's text, in characters.
const SUBJECT_MAX: usize = 78;

/// One mail as a request: `to`, `subject` (the text's first line, cut) and `text`; the files
/// operators uploaded are its attachments (a provider's file id or URL has nothing to attach).
fn mail_request(message: &Outgoing) -> ProviderRequest {
    let first_line = message
        .text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut subject: String = first_line.trim().chars().take(SUBJECT_MAX).collect();
    if subject.is_empty() {
        subject = "(no subject)".to_owned();
    }
    let mut params = serde_json::Map::new();
    params.insert("to".into(), Value::String(message.to.clone()));
    params.insert("subject".into(), Value::String(subject));
    params.insert("text".into(), Value::String(message.text.clone()));
    let files = message
        .files
        .iter()
        .enumerate()
        .filter_map(|(index, file)| file.part(&format!("attachment{index}")))
        .collect();
    ProviderRequest {
        operation: "smtp",
        path: String::new(),
        params,
        files,
    }
}

fn permanent(detail: &str) -> Result<ProviderError, String> {
    Ok(ProviderError::new(ErrorClass::Permanent, 0, detail))
}

/// The blob of `part` from the store; a missing store or blob is a permanent refusal (a retry
/// would not find it either), a store that fails to read is transient.
async fn open_part(
    store: Option<&AttachmentStore>,
    part: &FilePart,
) -> Result<Blob, Result<ProviderError, String>> {
    let Some(store) = store else {
        return Err(permanent("no attachment store to read the file from"));
    };
    match store.get(&part.hash, ByteRange::ALL).await {
        Ok(Some(blob)) => Ok(blob),
        Ok(None) => Err(permanent(&format!(
            "{} is not in the attachment store",
            part.hash
        ))),
        Err(e) => Err(Ok(ProviderError::new(
            ErrorClass::Transient,
            0,
            &format!("reading {}: {e}", part.hash),
        ))),
    }
}

/// A call with files: `multipart/form-data`, each parameter a text part (strings as they are,
/// the rest as JSON), each file streamed from the store.
async fn multipart(
    store: Option<&AttachmentStore>,
    params: &serde_json::Map<String, Value>,
    files: &[FilePart],
) -> Result<reqwest::multipart::Form, Result<ProviderError, String>> {
    let mut form = reqwest::multipart::Form::new();
    for (key, value) in params {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        form = form.text(key.clone(), text);
    }
    for part in files {
        let blob = open_part(store, part).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(blob.reader));
        // A type `mime` cannot read (an inbound mail's claim) goes as plain bytes.
        let readable = reqwest::multipart::Part::bytes(Vec::new())
            .mime_str(&part.mime_type)
            .is_ok();
        let mime = if readable {
            part.mime_type.as_str()
        } else {
            "application/octet-stream"
        };
        let file = reqwest::multipart::Part::stream_with_length(body, blob.end - blob.start)
            .file_name(part.file_name.clone())
            .mime_str(mime)
            .map_err(|e| permanent(&format!("the type of {}: {e}", part.hash)))?;
        form = form.part(part.name.clone(), file);
    }
    Ok(form)
}

/// One mail through the channel's SMTP server: a refusal the server answered is not sent; a
/// conversation cut before its answer is an unknown outcome.
async fn send_mail(
    config: &ChannelConfig,
    request: &ProviderRequest,
    store: Option<&AttachmentStore>,
) -> Result<Vec<String>, Result<ProviderError, String>> {
    let Some(smtp) = &config.smtp else {
        let detail = "the channel has no SMTP settings";
        return Err(Ok(ProviderError::new(ErrorClass::Permanent, 0, detail)));
    };
    let text = |key: &str| request.params[key].as_str().unwrap_or_default().to_owned();
    let mail = OutboundMail {
        to_address: text("to"),
        to_name: None,
        subject: text("subject"),
        text: text("text"),
        parent: None,
    };
    // A mail is built whole (lettre's message is in memory): its files are read whole too.
    let mut files = Vec::with_capacity(request.files.len());
    for part in &request.files {
        let blob = open_part(store, part).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(blob.end - blob.start).unwrap_or(0));
        let mut reader = blob.reader;
        if let Err(e) = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut bytes).await {
            let detail = format!("reading {}: {e}", part.hash);
            return Err(Ok(ProviderError::new(ErrorClass::Transient, 0, &detail)));
        }
        files.push(MailFile {
            file_name: part.file_name.clone(),
            mime_type: part.mime_type.clone(),
            bytes,
        });
    }
    match smtp.send_with(&mail, files).await {
        Ok(sent) => Ok(vec![sent.message_id]),
        Err(e) if e.is_permanent() => Err(Ok(ProviderError::new(
            ErrorClass::Permanent,
            0,
            &e.to_string(),
        ))),
        Err(SmtpError::Transport(e)) if e.is_transient() => Err(Ok(ProviderError::new(
            ErrorClass::Transient,
            0,
            &e.to_string(),
        ))),
        Err(e) => Err(Err(e.to_string())),
    }
}

/// WhatsApp: a message's file of ours uploaded first (`POST /{Version}/{Phone-Number-ID}/media`,
/// multipart `file` and `messaging_product`): its media id. A refused upload is classified as a
/// send would be; the message itself has not left yet, so an upload never makes an unknown
/// outcome.
async fn whatsapp_upload(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
    store: Option<&AttachmentStore>,
) -> Result<String, Result<ProviderError, String>> {
    let base = config.api_base.trim_end_matches('/');
    let path = request
        .path
        .strip_suffix("/messages")
        .map(|prefix| format!("{prefix}/media"))
        .ok_or_else(|| permanent("not a message path"))?;
    let mut params = serde_json::Map::new();
    params.insert("messaging_product".into(), Value::from("whatsapp"));
    let form = multipart(store, &params, &request.files).await?;
    let upload = http
        .post(format!("{base}{path}"))
        .bearer_auth(config.token.expose())
        .multipart(form);
    let body = answered(upload, whatsapp::outbound::classify).await?;
    whatsapp::outbound::uploaded(&body).map_err(Ok)
}

/// The body of a provider's 2xx answer to `request`; a transport error or another status is a
/// refusal, as `classify` (the provider's own reading) says. Used before the message itself
/// goes out (uploads, lookups), so a failure here never makes an unknown outcome.
async fn answered(
    request: reqwest::RequestBuilder,
    classify: fn(u16, &[u8]) -> ProviderError,
) -> Result<bytes::Bytes, Result<ProviderError, String>> {
    let response = request.send().await.map_err(transient)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(transient)?;
    if !(200..300).contains(&status) {
        return Err(Ok(classify(status, &body)));
    }
    Ok(body)
}

/// One VK API call (a form with the token and version): its answer's body; a non-2xx or a
/// transport error is a refusal (nothing was sent to the client yet).
async fn vk_call(
    http: &reqwest::Client,
    config: &ChannelConfig,
    method: &str,
    form: &[(&str, String)],
) -> Result<bytes::Bytes, Result<ProviderError, String>> {
    let base = config.api_base.trim_end_matches('/');
    let mut form: Vec<(String, String)> = form
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    form.push(("access_token".into(), config.token.expose().to_owned()));
    form.push(("v".into(), vk::outbound::API_VERSION.into()));
    let call = http.post(format!("{base}/method/{method}")).form(&form);
    answered(call, vk::outbound::classify).await
}

fn transient(e: reqwest::Error) -> Result<ProviderError, String> {
    let detail = e.without_url().to_string();
    Ok(ProviderError::new(ErrorClass::Transient, 0, &detail))
}

/// VK: each file of ours in a `messages.send` uploaded as a document of the message's peer
/// (`docs.getMessagesUploadServer` with `type=doc`, the file to its `upload_url` as the
/// multipart `file`, `docs.save`), its `doc<owner>_<id>` put in place of the reference.
async fn vk_upload(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
    store: Option<&AttachmentStore>,
) -> Result<ProviderRequest, Result<ProviderError, String>> {
    let peer = request.params["peer_ids"][0].to_string();
    let mut request = request.clone();
    for part in request.files.clone() {
        let form = [("peer_id", peer.clone()), ("type", "doc".to_owned())];
        let answer = vk_call(http, config, "docs.getMessagesUploadServer", &form).await?;
        let url = vk::outbound::upload_url(&answer).map_err(Ok)?;
        let mut file = part.clone();
        file.name = "file".to_owned();
        let upload = multipart(store, &serde_json::Map::new(), &[file]).await?;
        let body = answered(http.post(url).multipart(upload), vk::outbound::classify).await?;
        let uploaded = vk::outbound::uploaded_file(&body).map_err(Ok)?;
        let form = [("file", uploaded), ("title", part.file_name.clone())];
        let answer = vk_call(http, config, "docs.save", &form).await?;
        let doc = vk::outbound::saved_doc(&answer).map_err(Ok)?;
        request = vk::outbound::with_attachment(&request, &part.name, &doc);
    }
    Ok(request)
}

/// VK's form encoding: arrays joined with commas, objects as JSON text.
fn vk_form(request: &ProviderRequest, token: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = request
        .params
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect();
    form.push(("access_token".into(), token.to_owned()));
    form.push(("v".into(), vk::outbound::API_VERSION.into()));
    form
}

fn json_body(request: &ProviderRequest) -> Vec<u8> {
    serde_json::to_vec(&request.params).unwrap_or_default()
}

/// One call to the provider.
pub(crate) async fn call(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
    store: Option<&AttachmentStore>,
) -> CallResult {
    match call_inner(http, config, request, store).await {
        Ok(ids) => CallResult::Sent(ids),
        Err(Ok(error)) => CallResult::Refused(error),
        Err(Err(detail)) => CallResult::Unknown(detail),
    }
}

/// `Err(Ok(_))` a refusal, `Err(Err(_))` an unknown outcome.
async fn call_inner(
    http: &reqwest::Client,
    config: &ChannelConfig,
    request: &ProviderRequest,
    store: Option<&AttachmentStore>,
) -> Result<Vec<String>, Result<ProviderError, String>> {
    if config.kind == ChannelKind::Email {
        return send_mail(config, request, store).await;
    }
    let token = config.token.expose();
    let base = config.api_base.trim_end_matches('/');
    let builder = match config.kind {
        ChannelKind::Telegram if !request.files.is_empty() => http
            .post(format!("{base}/bot{token}/{}", request.path))
            .multipart(multipart(store, &request.params, &request.files).await?),
        ChannelKind::WhatsappCloud if !request.files.is_empty() => {
            let media_id = whatsapp_upload(http, config, request, store).await?;
            let request = whatsapp::outbound::with_media_id(request, &media_id);
            http.post(format!("{base}{}", request.path))
                .bearer_auth(token)
                .header(CONTENT_TYPE, "application/json")
                .body(json_body(&request))
        }
        ChannelKind::Telegram => http
            .post(format!("{base}/bot{token}/{}", request.path))
            .header(CONTENT_TYPE, "application/json")
            .body(json_body(request)),
        ChannelKind::WhatsappCloud => http
            .post(format!("{base}{}", request.path))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json")
            .body(json_body(request)),
        _ if !request.files.is_empty() => {
            let request = vk_upload(http, config, request, store).await?;
            http.post(format!("{base}/method/{}", request.path))
                .form(&vk_form(&request, token))
        }
        _ => http
            .post(format!("{base}/method/{}", request.path))
            .form(&vk_form(request, token)),
    };
    let response = match builder.send().await {
        Ok(response) => response,
        Err(e) if e.is_connect() || e.is_builder() => {
            let detail = e.without_url().to_string();
            return Err(Ok(ProviderError::new(ErrorClass::Transient, 0, &detail)));
        }
        Err(e) => return Err(Err(e.without_url().to_string())),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return Err(Err(e.without_url().to_string())),
    };
    let ok = (200..300).contains(&status);
    match config.kind {
        ChannelKind::Telegram if ok => telegram::outbound::sent(&body).map_err(Ok),
        ChannelKind::Telegram => Err(Ok(telegram::outbound::classify(status, &body))),
        ChannelKind::WhatsappCloud if ok => whatsapp::outbound::sent(&body)
            .map(|id| vec![id])
            .map_err(Ok),
        ChannelKind::WhatsappCloud => Err(Ok(whatsapp::outbound::classify(status, &body))),
        _ if ok => vk::outbound::sent(&body).map(|id| vec![id]).map_err(Ok),
        _ => Err(Ok(vk::outbound::classify(status, &body))),
    }
}
