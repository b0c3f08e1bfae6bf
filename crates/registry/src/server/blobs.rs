//! Blob endpoints: fetch (with ranges), delete, and uploads (monolithic, chunked,
//! cross-repository mount). An upload's bytes go to its session file; the blob appears
//! only when the final `PUT` names a digest the bytes hash to.

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_image::digest::Digest;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{blocking, internal, located, Code, Query, Registry, StorageError};

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, honouring a `Range: bytes=a-b` header.
pub async fn get(
    reg: Arc<Registry>,
    name: String,
    digest: String,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let Ok(digest) = Digest::parse(&digest) else {
        return Code::DigestInvalid.reply("invalid digest");
    };
    let Some(size) = reg.storage.blob_size(&name, &digest) else {
        return Code::BlobUnknown.reply(format!("blob {digest} unknown to {name}"));
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, size));
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end + 1 - start };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    insert_digest(&mut h, &digest);
    if range.is_some() {
        let v = format!("bytes {start}-{end}/{size}");
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("")),
        );
    }
    if head {
        return (status, h).into_response();
    }
    match open_range(reg.storage.blob_path(&digest), start, len).await {
        Ok(body) => (status, h, body).into_response(),
        Err(e) => internal(e),
    }
}

/// A byte range `bytes=a-b` (or `a-`) within a blob of `size` bytes.
fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size.checked_sub(1)?,
        b => b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
    };
    (start <= end).then_some((start, end))
}

async fn open_range(path: std::path::PathBuf, start: u64, len: u64) -> std::io::Result<Body> {
    let mut file = tokio::fs::File::open(&path).await?;
    file.seek(SeekFrom::Start(start)).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10);
    Ok(Body::from_stream(stream))
}

fn insert_digest(h: &mut HeaderMap, digest: &Digest) {
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("Docker-Content-Digest", v);
    }
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository.
pub async fn delete(reg: Arc<Registry>, name: String, digest: String) -> Response {
    let Ok(digest) = Digest::parse(&digest) else {
        return Code::DigestInvalid.reply("invalid digest");
    };
    match reg.storage.unlink_blob(&name, &digest) {
        Ok(true) => StatusCode::ACCEPTED.into_response(),
        Ok(false) => Code::BlobUnknown.reply(format!("blob {digest} unknown to {name}")),
        Err(e) => internal(e),
    }
}

/// `POST /v2/<name>/blobs/uploads/`: a mount (`mount`, `from`), a monolithic upload
/// (`digest` and the body), or a new session.
pub async fn start(reg: Arc<Registry>, name: String, q: &Query, body: Body) -> Response {
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        if let Some(resp) = mount_blob(&reg, &name, mount, from) {
            return resp;
        }
    }
    let id = match reg.storage.new_upload() {
        Ok(id) => id,
        Err(e) => return internal(e),
    };
    if let Some(digest) = q.get("digest") {
        if let Err(resp) = append(&reg, &id, None, body).await {
            return resp;
        }
        return finish_session(reg, name, id, digest.to_string()).await;
    }
    session_reply(StatusCode::ACCEPTED, &name, &id, 0)
}

/// Links a blob of repository `from` into `name`; `None` if `from` does not have it.
fn mount_blob(reg: &Registry, name: &str, mount: &str, from: &str) -> Option<Response> {
    if !super::valid_name(from) {
        return None;
    }
    let digest = Digest::parse(mount).ok()?;
    reg.storage.blob_size(from, &digest)?;
    Some(match reg.storage.link_blob(name, &digest) {
        Ok(()) => blob_created(name, &digest),
        Err(e) => internal(e),
    })
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    let mut h = HeaderMap::new();
    insert_digest(&mut h, digest);
    located(StatusCode::CREATED, format!("/v2/{name}/blobs/{digest}"), h)
}

/// A session's state: its location and the range received.
fn session_reply(status: StatusCode, name: &str, id: &str, len: u64) -> Response {
    let mut h = HeaderMap::new();
    let range = format!("0-{}", len.saturating_sub(1));
    if let Ok(v) = HeaderValue::from_str(&range) {
        h.insert(header::RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("Docker-Upload-UUID", v);
    }
    h.insert(header::CONTENT_LENGTH, 0.into());
    located(status, format!("/v2/{name}/blobs/uploads/{id}"), h)
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk; a `Content-Range` must start
/// where the session ends.
pub async fn patch(
    reg: Arc<Registry>,
    name: String,
    id: String,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A range that disagrees with the chunk's length is refused like one out of order.
    if let (Some((a, b)), Some(len)) = (range, length) {
        if b < a || b - a + 1 != len {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        }
    }
    match append(&reg, &id, range.map(|(a, _)| a), body).await {
        Ok(len) => session_reply(StatusCode::ACCEPTED, &name, &id, len),
        Err(resp) => resp,
    }
}

/// Appends `body` to session `id` (which must be `from` bytes long, if given); returns
/// the session's new length.
async fn append(reg: &Registry, id: &str, from: Option<u64>, body: Body) -> Result<u64, Response> {
    let len = match reg.storage.upload_len(id) {
        Ok(len) => len,
        Err(e @ StorageError::UnknownUpload(_)) => return Err(Code::UploadUnknown.reply(e)),
        Err(e) => return Err(internal(e)),
    };
    if from.is_some_and(|f| f != len) {
        let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("0-{}", len.saturating_sub(1))) {
            resp.headers_mut().insert(header::RANGE, v);
        }
        return Err(resp);
    }
    let path = reg.storage.upload_path(id);
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(|_| Code::UploadUnknown.reply("upload unknown"))?;
    let mut stream = body.into_data_stream();
    let mut total = len;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Code::UploadInvalid.reply(e))?;
        file.write_all(&chunk).await.map_err(internal)?;
        total += chunk.len() as u64;
    }
    file.flush().await.map_err(internal)?;
    Ok(total)
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (if any), then the blob.
pub async fn finish(
    reg: Arc<Registry>,
    name: String,
    id: String,
    q: &Query,
    body: Body,
) -> Response {
    let Some(digest) = q.get("digest").map(String::from) else {
        return Code::DigestInvalid.reply("digest parameter missing");
    };
    if let Err(resp) = append(&reg, &id, None, body).await {
        return resp;
    }
    finish_session(reg, name, id, digest).await
}

async fn finish_session(reg: Arc<Registry>, name: String, id: String, digest: String) -> Response {
    let Ok(digest) = Digest::parse(&digest) else {
        reg.storage.cancel_upload(&id).ok();
        return Code::DigestInvalid.reply(format!("invalid digest {digest:?}"));
    };
    let (r, n, d) = (reg.clone(), name.clone(), digest.clone());
    match blocking(move || r.storage.finish_upload(&n, &id, &d)).await {
        Ok(Ok(_)) => blob_created(&name, &digest),
        Ok(Err(e @ StorageError::DigestMismatch { .. })) => Code::DigestInvalid.reply(e),
        Ok(Err(e @ StorageError::UnknownUpload(_))) => Code::UploadUnknown.reply(e),
        Ok(Err(e)) => internal(e),
        Err(resp) => resp,
    }
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much the session has.
pub async fn status(reg: Arc<Registry>, name: String, id: String) -> Response {
    match reg.storage.upload_len(&id) {
        Ok(len) => session_reply(StatusCode::NO_CONTENT, &name, &id, len),
        Err(e) => Code::UploadUnknown.reply(e),
    }
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`.
pub async fn cancel(reg: Arc<Registry>, id: String) -> Response {
    match reg.storage.cancel_upload(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Code::UploadUnknown.reply("upload unknown"),
        Err(e) => internal(e),
    }
}
