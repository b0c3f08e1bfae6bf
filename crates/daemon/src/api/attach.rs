//! `POST /containers/{id}/attach` (hijacked, see [`crate::hijack`]) and
//! `POST /containers/{id}/resize`. An attach to a running container connects to its
//! shim at once; one to a container that does not run waits for its next start, which
//! connects it before the process begins (see [`crate::pending`]).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::record::{Container, Status};
use berth_shim::ShimClient;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use super::logs;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, Session};
use crate::pending::{self, Attached, Streams};
use crate::query::Query;
use crate::state::{blocking, Daemon};

/// Where the attach's shim connection comes from.
enum Source {
    /// Attached already (the container runs).
    Now(Attached),
    /// At the container's next start.
    Parked(oneshot::Receiver<Attached>),
}

/// The attach parameters.
struct Params {
    streams: Streams,
    stream: bool,
    logs: bool,
    detach: Vec<u8>,
}

fn params(q: &Query) -> ApiResult<Params> {
    Ok(Params {
        streams: Streams {
            stdin: q.bool("stdin"),
            stdout: q.bool("stdout"),
            stderr: q.bool("stderr"),
        },
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        detach: crate::detach::parse(q.str("detachKeys"))?,
    })
}

/// Finds the container and attaches to it now or parks the attach (under the engine
/// lock, so no start slips in between).
async fn connect(d: &Arc<Daemon>, id: String, p: &Params) -> ApiResult<(Container, Source)> {
    let me = d.clone();
    let (streams, stream) = (p.streams, p.stream);
    d.with_engine(move |e| {
        let c = e.find(&id)?;
        if c.state.paused {
            return Err(ApiError::Conflict(format!(
                "container {} is paused, unpause the container before attach",
                c.id
            )));
        }
        let source = if !stream {
            Source::Now(Err("no stream asked for".into()))
        } else if c.state.status == Status::Running {
            let dir = me.container_dir(&c.id);
            Source::Now(
                ShimClient::connect(&dir)
                    .map_err(|e| e.to_string())
                    .and_then(|s| pending::attach(&s, streams)),
            )
        } else {
            Source::Parked(me.pending.park(&c.id, streams))
        };
        Ok((c, source))
    })
    .await
}

/// `POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=&logs=&detachKeys=`.
pub async fn attach(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    mut req: Request,
) -> ApiResult<Response> {
    let p = params(&Query::parse(q.as_deref()))?;
    let (c, source) = connect(&d, id, &p).await?;
    let tty = c.config.tty;
    let prefix = if p.logs {
        let dir = d.container_dir(&c.id);
        let (c2, streams) = (c.clone(), p.streams);
        blocking(move || logs::replay(&dir, &c2, streams)).await?
    } else {
        Vec::new()
    };
    let upgrade = hijack::wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let settle = hijack::settle_time(req.headers());
    let session_of = move |shim: UnixStream, buffered: Vec<u8>| Session {
        shim,
        buffered,
        tty,
        stdin: p.streams.stdin,
        detach: Some(p.detach),
        close_stdin: c.config.stdin_once,
    };
    Ok(hijack::respond(
        upgrade,
        settle,
        tty,
        move |mut client| async move {
            let (attached, early) = match source {
                Source::Now(a) => (a, hijack::Early::default()),
                Source::Parked(rx) => {
                    let (r, early) = hijack::hold(&mut client, rx).await;
                    (
                        r.unwrap_or_else(|_| Err("the container was removed".into())),
                        early,
                    )
                }
            };
            let Ok((shim, buffered)) = attached else {
                use tokio::io::AsyncWriteExt;
                client.write_all(&prefix).await.ok();
                client.shutdown().await.ok();
                return;
            };
            let shim = match shim
                .set_nonblocking(true)
                .and_then(|()| UnixStream::from_std(shim))
            {
                Ok(s) => s,
                Err(e) => return tracing::warn!("attach: {e}"),
            };
            hijack::pump(client, prefix, early, session_of(shim, buffered)).await;
        },
    ))
}

/// `h` and `w` of a resize request.
pub fn size(q: &Query) -> ApiResult<(u16, u16)> {
    let dim = |k: &str| -> ApiResult<u16> {
        let v = q.int(k)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| ApiError::BadParameter(format!("invalid {k}: {v}")))
    };
    Ok((dim("h")?, dim("w")?))
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (h, w) = size(&Query::parse(q.as_deref()))?;
    let me = d.clone();
    blocking(move || {
        let c = me.current(&id)?;
        if c.state.status != Status::Running {
            return Err(ApiError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        resize_shim(&me.container_dir(&c.id), h, w)
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// Sets the terminal size of the shim in `dir` (nothing for a process without one).
pub fn resize_shim(dir: &std::path::Path, h: u16, w: u16) -> ApiResult<()> {
    let shim = ShimClient::connect(dir).map_err(|e| ApiError::Conflict(e.to_string()))?;
    match shim.resize(h, w) {
        Ok(()) | Err(berth_shim::client::ClientError::Refused { .. }) => Ok(()),
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}
