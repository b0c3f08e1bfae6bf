//! The endpoints, one file per area: system (`/_ping`, `/version`, `/info`), images,
//! image archives (load, save, import, commit), containers (records), their life
//! (start, stop, kill, wait, pause), attach, logs, top and exec. Handlers parse the
//! request into a typed operation, run it on a blocking thread and shape docker's JSON
//! (the shapes are in `image_json` and `container_json`).

pub mod archive;
pub mod attach;
pub mod build;
pub mod container_json;
pub mod containers;
pub mod distribution;
pub mod events;
pub mod exec;
pub mod filesystem;
pub mod image_json;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod network_json;
pub mod networks;
pub mod stats;
pub mod system;
pub mod top;
pub mod volumes;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// A JSON response with a status.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::Task(format!("serialize response: {e}")).into_response(),
    }
}

/// A 200 answer whose body is the chunks `rx` receives, as they come: the JSON lines of
/// a pull's, a push's or a build's progress.
pub fn json_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
) -> Response {
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// A request body parsed as JSON; an empty body is `T::default()`.
pub fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// Seconds since the epoch of an RFC 3339 time (0 if it does not parse).
pub fn unix_time(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}
