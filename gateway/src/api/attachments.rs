//! Files operators send (F3.4) and download (F3.7), through the attachment store `serve` opens
//! (`connectors::attachments`: a content-addressed directory, or the JetStream object store).
//!
//! - `POST /v1/attachments?file_name=…[&channel=…]`: the body is the file, streamed into the
//!   store (never whole in memory), its type sniffed from its bytes. The answer is the
//!   attachment a `send_message` action takes as it is (`storage_ref` = `sha256:<hex>`). With
//!   `channel`, that channel's limit (F3.4) applies at once: a `Content-Length` over it is
//!   refused before reading, a body over it once that many bytes came; else the 500 MB of a
//!   message. Refused: 413 naming `body`, nothing kept. Each upload is recorded for its uploader
//!   in the store every node sees (the bulk jobs' key-value store, keys `upload.…`).
//! - `send_message` with a `sha256:` file ([`check_sent_files`]): the file must be one the caller
//!   uploaded or one the dialog already carries (sending again, F3.7); its size and type are the
//!   stored ones, whatever the request says, so the domain's limits see the truth.
//! - `GET /v1/dialogs/{dialog}/attachments/{hash}`: a file the dialog's timeline carries, for a
//!   caller who may see the dialog (`projections::query::open_attachment`);
//!   `GET /v1/attachments/{hash}`: a file the caller uploaded (`rights::may_see_upload`). Both
//!   answer one `Range` (206; 416 when no byte of the file answers; several ranges: the whole
//!   file), `ETag` (the hash: the bytes never change) with `If-None-Match` (304), the sniffed
//!   `Content-Type` with `X-Content-Type-Options: nosniff`, and the name in
//!   `Content-Disposition` (RFC 6266, non-ASCII names RFC 5987-encoded).

use super::bulk::store::JobStore;
use super::caller::Operator;
use super::consistency::MinSeq;
use super::dialogs::view::denied;
use super::extract::{Query, channel_id, dialog_id};
use super::{AppError, AppState, Json};
use crate::readmodels::Kind;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use switchboard_connectors::attachments::{AttachmentError, AttachmentStore, BlobHash, ByteRange};
use switchboard_core::domain::compose::{MAX_TOTAL_BYTES, channel_limit};
use switchboard_core::domain::rights::may_see_upload;
use switchboard_projections::query::{self, QueryCaller};
use switchboard_schemas::{
    Attachment, AttachmentKind, ChannelId, ChannelKind, DialogId, OperatorId,
};
use utoipa::{IntoParams, ToSchema};

/// Longest file name, in characters.
pub const FILE_NAME_MAX: usize = 255;

/// The type of a file whose bytes show none `infer` knows.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// The kind of attachment a MIME type is.
pub fn kind_of(mime: &str) -> AttachmentKind {
    match mime.split('/').next() {
        Some("image") => AttachmentKind::Image,
        Some("audio") => AttachmentKind::Audio,
        Some("video") => AttachmentKind::Video,
        _ => AttachmentKind::File,
    }
}

/// One file's limit on a channel of `kind` (F3.4), never over a message's total.
pub(super) fn limit_for(channel: Option<ChannelKind>, kind: AttachmentKind) -> u64 {
    channel
        .and_then(|channel| channel_limit(channel, kind))
        .unwrap_or(MAX_TOTAL_BYTES)
        .min(MAX_TOTAL_BYTES)
}

fn too_large(limit: u64) -> AppError {
    AppError::FileTooLarge {
        message: format!("the file is over its limit of {limit} bytes"),
        field: "body".to_owned(),
    }
}

fn store_error(error: AttachmentError) -> AppError {
    match error {
        AttachmentError::TooLarge { limit } => too_large(limit),
        AttachmentError::Unsatisfiable { size, .. } => AppError::RangeNotSatisfiable { size },
        AttachmentError::Input(e) => AppError::BadRequest {
            code: "bad_body",
            message: format!("the upload broke off: {e}"),
            field: Some("body".to_owned()),
        },
        other => AppError::Unavailable(format!("attachment store: {other}")),
    }
}

impl AppState {
    /// The attachment store; 503 when this server has none.
    pub fn attachment_store(&self) -> Result<&AttachmentStore, AppError> {
        self.attachments
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("no attachment store".to_owned()))
    }
}

/// The kind of a connected channel of the caller's project (as its definitions say: a channel
/// connected before this server kept settings has a kind all the same); a 400 naming `channel`
/// for any other.
async fn channel_kind(
    state: &AppState,
    caller: &QueryCaller,
    channel: ChannelId,
) -> Result<ChannelKind, AppError> {
    let project = caller.project;
    let kind = state
        .readers(Kind::Project)?
        .query(move |conn| {
            Ok(switchboard_projections::project::channels(conn, project)?
                .into_iter()
                .find(|c| c.channel == channel && c.connected)
                .map(|c| c.kind))
        })
        .await?;
    kind.as_deref()
        .and_then(super::project::channel_kind_named)
        .ok_or_else(|| AppError::BadRequest {
            code: "not_found",
            message: "no such channel in the project".to_owned(),
            field: Some("channel".to_owned()),
        })
}

/// What is kept of an upload for its uploader.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadRecord {
    uploader: OperatorId,
    attachment: Attachment,
}

fn upload_key(caller: &QueryCaller, hash: &BlobHash) -> String {
    format!(
        "upload.{}.{}.{}",
        caller.project.as_uuid().simple(),
        caller.operator.as_uuid().simple(),
        hash.hex()
    )
}

/// Where uploads are recorded: the store every node sees (the bulk jobs').
fn uploads(state: &AppState) -> Result<&JobStore, AppError> {
    state
        .jobs
        .as_ref()
        .map(|jobs| jobs.store())
        .ok_or_else(|| AppError::Unavailable("no store of uploads".to_owned()))
}

/// The caller's upload of `hash`, if they made one.
async fn own_upload(
    state: &AppState,
    caller: &QueryCaller,
    hash: &BlobHash,
) -> Result<Option<Attachment>, AppError> {
    let found = uploads(state)?
        .get(&upload_key(caller, hash))
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let Some((bytes, _)) = found else {
        return Ok(None);
    };
    let record: UploadRecord = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::Internal(format!("an upload record: {e}")))?;
    Ok(may_see_upload(caller.operator, record.uploader).then_some(record.attachment))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name as the client will see it (1 to 255 characters, no path).
    #[param(min_length = 1, max_length = 255)]
    pub file_name: String,
    /// The channel the file will go through: its limit (F3.4) applies now.
    #[param(value_type = Option<uuid::Uuid>)]
    pub channel: Option<String>,
}

/// An uploaded file: what a `send_message` action's `attachments` takes, as it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// image, audio, video or file: from the sniffed type.
    #[schema(value_type = String)]
    pub kind: AttachmentKind,
    pub file_name: String,
    /// The type the bytes show (`application/octet-stream` when none is known).
    pub mime_type: String,
    pub size_bytes: u64,
    /// `sha256:<hex>`: the file's name in the store, and its `ETag`.
    pub storage_ref: String,
}

fn check_file_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let bad = |message: &str| AppError::bad_request("file_name", message);
    if name.is_empty() || name.chars().count() > FILE_NAME_MAX {
        return Err(bad("1 to 255 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == ".."
    {
        return Err(bad("a file name, without control characters or a path"));
    }
    Ok(name.to_owned())
}

/// The kind the request says the file is (its `Content-Type`), before any byte is read.
fn declared_kind(headers: &HeaderMap) -> AttachmentKind {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(AttachmentKind::File, kind_of)
}

/// Uploads a file to send (F3.4): the body is the file.
#[utoipa::path(
    post,
    path = "/v1/attachments",
    tag = "attachments",
    params(UploadParams),
    request_body(content = Vec<u8>, description = "The file's bytes", content_type = "application/octet-stream"),
    responses(
        (status = CREATED, body = Uploaded),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer, description = "a parameter is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = PAYLOAD_TOO_LARGE, body = crate::api::ErrorAnswer, description = "over the channel's limit for the file's kind, or 500 MB; nothing is kept"),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn upload(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Uploaded>), AppError> {
    let file_name = check_file_name(&params.file_name)?;
    let channel = match params.channel.as_deref() {
        None => None,
        Some(text) => Some(channel_kind(&state, &caller, channel_id(text)?).await?),
    };
    let store = state.attachment_store()?;
    let limit = limit_for(channel, declared_kind(&headers));
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let mut reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let stored = store.put(&mut reader, limit).await.map_err(store_error)?;
    let mime_type = stored.sniffed_mime.unwrap_or(UNKNOWN_TYPE).to_owned();
    let kind = kind_of(&mime_type);
    // The bytes may be of another kind than the request said, with a lower limit.
    let kind_limit = limit_for(channel, kind);
    if stored.size > kind_limit {
        if !stored.existed {
            store.remove(&stored.hash).await.map_err(store_error)?;
        }
        return Err(too_large(kind_limit));
    }
    let attachment = Attachment {
        kind,
        file_name,
        mime_type,
        size_bytes: stored.size,
        storage_ref: stored.hash.storage_ref(),
    };
    let record = UploadRecord {
        uploader: caller.operator,
        attachment: attachment.clone(),
    };
    let value = serde_json::to_vec(&record).map_err(|e| AppError::Internal(e.to_string()))?;
    uploads(&state)?
        .put(&upload_key(&caller, &stored.hash), value.into())
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            kind: attachment.kind,
            file_name: attachment.file_name,
            mime_type: attachment.mime_type,
            size_bytes: attachment.size_bytes,
            storage_ref: attachment.storage_ref,
        }),
    ))
}

/// `send_message`'s files of ours (`sha256:` refs) as stored: each one the caller uploaded or
/// the dialog already carries, its size and type the store's; a ref to anything else is a 400
/// naming `attachments[i].storage_ref`. Provider ids and URLs pass as they are.
pub(crate) async fn check_sent_files(
    state: &AppState,
    caller: &QueryCaller,
    dialog: DialogId,
    files: &mut [Attachment],
) -> Result<(), AppError> {
    for (index, file) in files.iter_mut().enumerate() {
        if !file.storage_ref.starts_with("sha256:") {
            continue;
        }
        let field = format!("attachments[{index}].storage_ref");
        let Some(hash) = BlobHash::parse(&file.storage_ref) else {
            return Err(AppError::bad_request(
                field,
                "sha256:<64 hex digits> expected",
            ));
        };
        let known = match own_upload(state, caller, &hash).await? {
            Some(uploaded) => Some(uploaded),
            None => dialog_file(state, *caller, dialog, hash).await?.ok(),
        };
        let Some(known) = known else {
            return Err(AppError::bad_request(
                field,
                "not a file you uploaded or one this dialog carries",
            ));
        };
        let Some(size) = state
            .attachment_store()?
            .exists(&hash)
            .await
            .map_err(store_error)?
        else {
            return Err(AppError::bad_request(field, "the file is not in the store"));
        };
        file.size_bytes = size;
        file.mime_type = known.mime_type;
        file.kind = known.kind;
    }
    Ok(())
}

/// The dialog's attachment of `hash`: `Err` with why the caller may not have it.
async fn dialog_file(
    state: &AppState,
    caller: QueryCaller,
    dialog: DialogId,
    hash: BlobHash,
) -> Result<Result<Attachment, query::Access>, AppError> {
    let timelines = state.readers(Kind::Timeline)?;
    let storage_ref = hash.storage_ref();
    Ok(state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            timelines.run(|timelines| {
                query::open_attachment(dialogs, timelines, &caller, dialog, &storage_ref)
            })
        })
        .await?)
}

fn hash_of(text: &str) -> Result<BlobHash, AppError> {
    BlobHash::parse(text)
        .ok_or_else(|| AppError::bad_request("hash", "sha256:<64 hex digits> or the hex expected"))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownloadParams {
    /// Answer once the read models have applied this log sequence (a command's `seq`).
    pub min_seq: Option<u64>,
}

/// A file of the dialog (F3.7): one its timeline carries.
#[utoipa::path(
    get,
    path = "/v1/dialogs/{dialog}/attachments/{hash}",
    tag = "attachments",
    params(
        ("dialog" = uuid::Uuid, Path, description = "The dialog"),
        ("hash" = String, Path, description = "The file's `storage_ref` (`sha256:<hex>`) or its hex"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`)"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` the caller holds"),
        DownloadParams,
    ),
    responses(
        (status = OK, content_type = "*/*", body = Vec<u8>, description = "The file", headers(("ETag" = String), ("Accept-Ranges" = String), ("Content-Disposition" = String))),
        (status = PARTIAL_CONTENT, content_type = "*/*", body = Vec<u8>, description = "The range asked for", headers(("ETag" = String), ("Content-Range" = String))),
        (status = NOT_MODIFIED, description = "The caller's copy (`If-None-Match`) is this file"),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer, description = "the dialog is assigned to another operator"),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer, description = "no such dialog for the caller, or no such file in it"),
        (status = RANGE_NOT_SATISFIABLE, body = crate::api::ErrorAnswer, description = "no byte of the file answers the range", headers(("Content-Range" = String))),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn dialog_download(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path((dialog, hash)): Path<(String, String)>,
    Query(_): Query<DownloadParams>,
    _: MinSeq,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let dialog = dialog_id(&dialog)?;
    let hash = hash_of(&hash)?;
    let attachment =
        dialog_file(&state, caller, dialog, hash)
            .await?
            .map_err(|access| match access {
                query::Access::Visible | query::Access::NotFound => {
                    AppError::NotFound("no such file in the dialog".to_owned())
                }
                other => denied(other),
            })?;
    serve_file(state.attachment_store()?, hash, &attachment, &headers).await
}

/// A file the caller uploaded (to look at it before sending it).
#[utoipa::path(
    get,
    path = "/v1/attachments/{hash}",
    tag = "attachments",
    params(
        ("hash" = String, Path, description = "The file's `storage_ref` (`sha256:<hex>`) or its hex"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`)"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` the caller holds"),
    ),
    responses(
        (status = OK, content_type = "*/*", body = Vec<u8>, description = "The file", headers(("ETag" = String), ("Accept-Ranges" = String), ("Content-Disposition" = String))),
        (status = PARTIAL_CONTENT, content_type = "*/*", body = Vec<u8>, description = "The range asked for", headers(("ETag" = String), ("Content-Range" = String))),
        (status = NOT_MODIFIED, description = "The caller's copy (`If-None-Match`) is this file"),
        (status = BAD_REQUEST, body = crate::api::ErrorAnswer),
        (status = UNAUTHORIZED, body = crate::api::ErrorAnswer),
        (status = FORBIDDEN, body = crate::api::ErrorAnswer),
        (status = NOT_FOUND, body = crate::api::ErrorAnswer, description = "the caller uploaded no such file"),
        (status = RANGE_NOT_SATISFIABLE, body = crate::api::ErrorAnswer, description = "no byte of the file answers the range", headers(("Content-Range" = String))),
        (status = SERVICE_UNAVAILABLE, body = crate::api::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn upload_download(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let hash = hash_of(&hash)?;
    let attachment = own_upload(&state, &caller, &hash)
        .await?
        .ok_or_else(|| AppError::NotFound("you uploaded no such file".to_owned()))?;
    serve_file(state.attachment_store()?, hash, &attachment, &headers).await
}

/// RFC 5987 `attr-char`s stay; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with the name: an ASCII `filename` for old clients (other characters as `_`)
/// and the exact name as `filename*` in UTF-8 (RFC 6266 §4.3, RFC 5987).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// The single range a `Range` header asks of `size` bytes; `None` for the whole file (no
/// header, an `If-Range` that is not this file, several ranges); 416 for one no byte answers
/// or a header that is not a byte range.
fn wanted_range(
    headers: &HeaderMap,
    etag: &str,
    size: u64,
) -> Result<Option<(u64, u64)>, AppError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.to_str().ok() != Some(etag)
    {
        return Ok(None);
    }
    let unsatisfiable = AppError::RangeNotSatisfiable { size };
    let text = value
        .to_str()
        .map_err(|_| AppError::RangeNotSatisfiable { size })?;
    let ranges = http_range_header::parse_range_header(text)
        .and_then(|parsed| parsed.validate(size))
        .map_err(|_| unsatisfiable)?;
    Ok(match ranges.as_slice() {
        [one] => Some((*one.start(), *one.end())),
        _ => None,
    })
}

fn header_value(text: &str) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(text).map_err(|e| AppError::Internal(format!("a header: {e}")))
}

/// Answers the file (or the range asked for) from the store.
async fn serve_file(
    store: &AttachmentStore,
    hash: BlobHash,
    attachment: &Attachment,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let etag = format!("\"{}\"", hash.hex());
    let mut answer = HeaderMap::new();
    answer.insert(header::ETAG, header_value(&etag)?);
    answer.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if matches(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, answer).into_response());
    }
    let size = store
        .exists(&hash)
        .await
        .map_err(store_error)?
        .ok_or_else(|| AppError::NotFound("the file's bytes are not in the store".to_owned()))?;
    let range = wanted_range(headers, &etag, size)?;
    let asked = range.map_or(ByteRange::ALL, |(start, last)| ByteRange {
        start,
        end: Some(last + 1),
    });
    let blob = store
        .get(&hash, asked)
        .await
        .map_err(store_error)?
        .ok_or_else(|| AppError::NotFound("the file's bytes are not in the store".to_owned()))?;
    let mime = if attachment.mime_type.parse::<HeaderValue>().is_ok() {
        attachment.mime_type.as_str()
    } else {
        UNKNOWN_TYPE
    };
    answer.insert(header::CONTENT_TYPE, header_value(mime)?);
    answer.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    answer.insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(&attachment.file_name))?,
    );
    answer.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer.insert(header::CONTENT_LENGTH, (blob.end - blob.start).into());
    let status = if range.is_some() {
        let content_range = format!("bytes {}-{}/{}", blob.start, blob.end - 1, blob.size);
        answer.insert(header::CONTENT_RANGE, header_value(&content_range)?);
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(blob.reader));
    Ok((status, answer, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_goes_exact_in_utf8_and_as_ascii_for_old_clients() {
        assert_eq!(
            content_disposition("счёт 2026.pdf"),
            "attachment; filename=\"____ 2026.pdf\"; \
             filename*=UTF-8''%D1%81%D1%87%D1%91%D1%82%202026.pdf"
        );
        assert_eq!(
            content_disposition("a\"b.txt"),
            "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
        );
    }

    #[test]
    fn file_names_without_paths_or_control_characters_pass() {
        assert_eq!(check_file_name(" photo.jpg ").unwrap(), "photo.jpg");
        for bad in ["", "   ", "../etc/passwd", "a\\b", "a\nb", ".."] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_file_name(&"я".repeat(FILE_NAME_MAX)).is_ok());
        assert!(check_file_name(&"я".repeat(FILE_NAME_MAX + 1)).is_err());
    }

    #[test]
    fn one_range_is_answered_several_are_the_whole_file_and_a_bad_one_is_416() {
        let with = |range: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RANGE, range.parse().unwrap());
            wanted_range(&headers, "\"x\"", 10)
        };
        assert_eq!(with("bytes=2-4").unwrap(), Some((2, 4)));
        assert_eq!(with("bytes=-3").unwrap(), Some((7, 9)));
        assert_eq!(with("bytes=0-1,5-6").unwrap(), None);
        assert!(matches!(
            with("bytes=10-20"),
            Err(AppError::RangeNotSatisfiable { size: 10 })
        ));
        assert!(with("lines=1-2").is_err());
        assert_eq!(wanted_range(&HeaderMap::new(), "\"x\"", 10).unwrap(), None);
    }
}
