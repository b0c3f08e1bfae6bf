//! Long image operations, each on its own store (never the shared engine's lock):
//! `GET /images/{name}/get` and `/images/get?names=` stream a `docker save` archive;
//! `POST /images/load` reads one from the request body; `POST /images/create?fromSrc=-`
//! imports a root file system tar; `POST /commit` makes an image of a container.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::CommitRequest;
use berth_image::archive::ArchiveForm;
use berth_image::reference::Reference;
use berth_image::store::ImportOptions;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::images::reference;
use super::json;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{long, trim_heap, Daemon};

/// Bytes gathered before a chunk is sent to the client.
const CHUNK: usize = 128 << 10;

/// Chunks in flight between the writer thread and the connection.
const DEPTH: usize = 8;

/// A blocking `Write` whose bytes become a response body; the first chunk (or the end
/// of an empty stream) tells the handler the operation started well.
pub struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    started: Arc<Mutex<Option<oneshot::Sender<ApiResult<()>>>>>,
    buf: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        signal(&self.started, Ok(()));
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Sends the start signal once.
fn signal(slot: &Mutex<Option<oneshot::Sender<ApiResult<()>>>>, r: ApiResult<()>) -> bool {
    let sender = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    match sender {
        Some(s) => {
            s.send(r).ok();
            true
        }
        None => false,
    }
}

/// `GET /images/get?names=...`.
pub async fn get_many(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let names: Vec<String> = q.all("names").into_iter().map(String::from).collect();
    if names.is_empty() {
        return Err(ApiError::BadParameter("no images named (names=...)".into()));
    }
    save(&d, names).await
}

/// Streams `docker save` of `names`. An error before the first byte is an HTTP error;
/// later, the stream is cut (the client sees a truncated archive and fails).
pub async fn save(d: &Arc<Daemon>, names: Vec<String>) -> ApiResult<Response> {
    let d = d.clone();
    stream_tar(format!("save {names:?}"), move |w| {
        d.own_store()?
            .save(&names, ArchiveForm::Docker, false, w)
            .map(drop)
            .map_err(Into::into)
    })
    .await
}

/// A tar that `produce` writes on a blocking thread, as the response body. An error
/// before the first byte is the HTTP error; a later one cuts the stream (the client sees
/// a truncated archive), and `what` names it in the daemon's log.
pub async fn stream_tar<F>(what: String, produce: F) -> ApiResult<Response>
where
    F: FnOnce(&mut BodyWriter) -> ApiResult<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(DEPTH);
    let (start_tx, start_rx) = oneshot::channel();
    let started = Arc::new(Mutex::new(Some(start_tx)));
    let mut writer = BodyWriter {
        tx: tx.clone(),
        started: started.clone(),
        buf: Vec::with_capacity(CHUNK),
    };
    tokio::task::spawn_blocking(move || {
        let result = produce(&mut writer).and_then(|()| {
            writer.flush().map_err(|e| ApiError::Body(e.to_string()))?;
            signal(&writer.started, Ok(()));
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!("{what}: {e}");
            if !signal(&started, Err(e)) {
                tx.blocking_send(Err(std::io::Error::other(format!("{what} failed"))))
                    .ok();
            }
        }
        trim_heap();
    });
    start_rx
        .await
        .map_err(|e| ApiError::Task(e.to_string()))??;
    let stream = tokio_stream(rx);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The receiving end of a channel as a stream.
fn tokio_stream<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The request body as a blocking reader (use it on a blocking thread).
pub fn body_reader(body: Body) -> impl std::io::Read + Send + 'static {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    SyncIoBridge::new(StreamReader::new(stream))
}

/// JSON message lines as dockerd streams them.
fn lines(items: &[Value]) -> Response {
    let mut out = Vec::new();
    for i in items {
        serde_json::to_writer(&mut out, i).ok();
        out.push(b'\n');
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

/// `POST /images/load?quiet=`: the body is a `docker save` or OCI archive.
pub async fn load(State(d): State<Arc<Daemon>>, body: Body) -> ApiResult<Response> {
    let reader = body_reader(body);
    let me = d.clone();
    let loaded = long(move || Ok(me.own_store()?.load(reader)?)).await?;
    for img in &loaded {
        let name = img.tags.first().map(String::as_str);
        d.object_event("image", "load", &img.id.to_string(), name);
    }
    let mut items = Vec::new();
    for img in &loaded {
        if img.tags.is_empty() {
            items.push(json!({"stream": format!("Loaded image ID: {}\n", img.id)}));
        }
        for t in &img.tags {
            let name = Reference::parse(t).map_or_else(|_| t.clone(), |r| r.familiar());
            items.push(json!({"stream": format!("Loaded image: {name}\n")}));
        }
    }
    Ok(lines(&items))
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage` pulls
/// ([`super::distribution::pull`]).
pub async fn create(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    if q.get("fromImage").is_some() {
        return super::distribution::pull(&d, &q, &headers).await;
    }
    match q.get("fromSrc") {
        Some("-") => {}
        Some(src) => {
            return Err(ApiError::NotImplemented(format!(
                "import from {src}: berthd imports only from the request body (fromSrc=-)"
            )))
        }
        None => {
            return Err(ApiError::BadParameter(
                "fromImage or fromSrc is required".into(),
            ))
        }
    }
    let opts = ImportOptions {
        changes: q.all("changes").into_iter().map(String::from).collect(),
        message: q.get("message").filter(|m| !m.is_empty()).map(String::from),
        reference: match q.str("repo") {
            "" => None,
            repo => Some(reference(repo, q.str("tag"))?),
        },
    };
    let reader = body_reader(body);
    let id = long(move || Ok(d.own_store()?.import(reader, &opts)?)).await?;
    Ok(lines(&[json!({"status": id.to_string()})]))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`; the body's
/// config fields become changes applied before the `changes` parameters.
pub async fn commit(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let config: Option<Value> = super::parse_body(&body)?;
    let mut changes = config.as_ref().map(config_changes).unwrap_or_default();
    changes.extend(q.all("changes").into_iter().map(String::from));
    let req = CommitRequest {
        reference: match q.str("repo") {
            "" => None,
            repo => Some(reference(repo, q.str("tag"))?.to_string()),
        },
        message: q.get("comment").map(String::from),
        author: q.get("author").map(String::from),
        changes,
        pause: q.bool_or("pause", true),
    };
    let name = q.str("container").to_string();
    let id = long(move || {
        let engine = d.own_engine()?;
        let c = engine.find(&name)?;
        Ok(engine.commit(&c, &req)?)
    })
    .await?;
    Ok(json(StatusCode::CREATED, &json!({"Id": id.to_string()})))
}

/// A commit body's container config as Dockerfile-like changes.
fn config_changes(cfg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (key, instr) in [("Cmd", "CMD"), ("Entrypoint", "ENTRYPOINT")] {
        if let Some(v) = cfg.get(key).filter(|v| v.is_array()) {
            out.push(format!("{instr} {v}"));
        }
    }
    for e in cfg["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.push(format!("ENV {e}"));
    }
    for (k, v) in cfg["Labels"].as_object().into_iter().flatten() {
        out.push(format!("LABEL {k}={}", v.as_str().unwrap_or_default()));
    }
    for (key, instr) in [("ExposedPorts", "EXPOSE"), ("Volumes", "VOLUME")] {
        for k in cfg[key].as_object().into_iter().flatten().map(|(k, _)| k) {
            out.push(format!("{instr} {k}"));
        }
    }
    for (key, instr) in [
        ("User", "USER"),
        ("WorkingDir", "WORKDIR"),
        ("StopSignal", "STOPSIGNAL"),
    ] {
        if let Some(v) = cfg[key].as_str().filter(|v| !v.is_empty()) {
            out.push(format!("{instr} {v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_config_becomes_changes() {
        let cfg = json!({"Cmd": ["sh", "-c", "x"], "Env": ["A=1"], "User": "nobody", "WorkingDir": "", "ExposedPorts": {"80/tcp": {}}});
        assert_eq!(
            config_changes(&cfg),
            [
                r#"CMD ["sh","-c","x"]"#,
                "ENV A=1",
                "EXPOSE 80/tcp",
                "USER nobody"
            ]
        );
        assert!(config_changes(&Value::Null).is_empty());
    }
}
