//! Exec: `POST /containers/{id}/exec` makes an instance, `POST /exec/{id}/start` runs it
//! under its own shim (hijacked like attach, or detached), `POST /exec/{id}/resize`, and
//! `GET /exec/{id}/json`. The exec's shim is attached before the process begins, so a
//! client sees all its output; the exit code is recorded by the exec's wait task, and
//! read from the shim's `exit.json` by an inspect that comes first.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::record::Status;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::{json, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::execs::Exec;
use crate::hijack::{self, Session};
use crate::pending::{self, Attached, Streams};
use crate::query::Query;
use crate::shimio::{self, End};
use crate::state::{blocking, Daemon};

/// The largest exec start body read.
const MAX_BODY: usize = 1 << 20;

/// `null` as the type's default.
fn nd<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// docker's ExecConfig body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    #[serde(deserialize_with = "nd")]
    attach_stdin: bool,
    #[serde(deserialize_with = "nd")]
    attach_stdout: bool,
    #[serde(deserialize_with = "nd")]
    attach_stderr: bool,
    #[serde(deserialize_with = "nd")]
    detach_keys: String,
    #[serde(deserialize_with = "nd")]
    tty: bool,
    #[serde(deserialize_with = "nd")]
    env: Vec<String>,
    #[serde(deserialize_with = "nd")]
    cmd: Vec<String>,
    #[serde(deserialize_with = "nd")]
    privileged: bool,
    #[serde(deserialize_with = "nd")]
    user: String,
    #[serde(deserialize_with = "nd")]
    working_dir: String,
    #[serde(deserialize_with = "nd")]
    console_size: Vec<u16>,
}

/// docker's ExecStartConfig body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct StartBody {
    #[serde(deserialize_with = "nd")]
    detach: bool,
    #[serde(deserialize_with = "nd")]
    console_size: Vec<u16>,
}

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: CreateBody = parse_body(&body)?;
    if b.cmd.is_empty() {
        return Err(ApiError::BadParameter("No exec command specified".into()));
    }
    crate::detach::parse(&b.detach_keys)?;
    let me = d.clone();
    let exec_id = d
        .with_engine(move |e| {
            let c = e.find(&id)?;
            if c.state.status != Status::Running {
                return Err(ApiError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
            if c.state.paused {
                return Err(ApiError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )));
            }
            let exec = Exec {
                id: e.containers().new_id()?,
                container_id: c.id.clone(),
                cmd: b.cmd,
                env: b.env,
                user: b.user,
                workdir: b.working_dir,
                tty: b.tty,
                attach_stdin: b.attach_stdin,
                attach_stdout: b.attach_stdout,
                attach_stderr: b.attach_stderr,
                detach_keys: b.detach_keys,
                privileged: b.privileged,
                console_size: match b.console_size[..] {
                    [h, w] if h > 0 && w > 0 => Some([h, w]),
                    _ => None,
                },
                ..Exec::default()
            };
            let id = exec.id.clone();
            let dir = me.exec_dir(&exec);
            me.execs.put(exec, &dir)?;
            Ok(id)
        })
        .await?;
    Ok(json(StatusCode::CREATED, &json!({ "Id": exec_id })))
}

/// Exec `id`, or docker's 404.
fn find(d: &Daemon, id: &str) -> ApiResult<Exec> {
    d.execs
        .get(id)
        .ok_or_else(|| ApiError::NoSuchExec(id.into()))
}

/// Marks exec `id` started; refuses one that ran or runs.
fn claim(d: &Daemon, id: &str) -> ApiResult<Exec> {
    let e = find(d, id)?;
    if e.started {
        return Err(ApiError::Conflict(if e.running {
            format!("Error: Exec command {id} is already running")
        } else {
            format!("Error: Exec command {id} has already run")
        }));
    }
    let dir = d.exec_dir(&e);
    d.execs.update(id, &dir, |e| {
        e.started = true;
        e.running = true;
    })?;
    Ok(e)
}

/// How an exec's start went: its shim connection when attached (or the start's error
/// message, which goes to the client).
type Launched = Result<Option<Attached>, String>;

/// Spawns the exec's shim, attaches (when `streams` asks for anything) and starts it.
fn launch(d: &Arc<Daemon>, e: &Exec, attach: Option<Streams>, size: &[u16]) -> ApiResult<Launched> {
    let mut req = e.request();
    if let [h, w] = *size {
        // The terminal is made with the size the start asks for: a resize after the
        // start would come after the process's first look at it.
        if h > 0 && w > 0 {
            req.console_size = Some([h, w]);
        }
    }
    let exec = e.clone();
    let me = d.clone();
    let shim = d.engine_now(move |en| {
        let c = en.find(&exec.container_id)?;
        let process = en.exec_process(&c, &req)?;
        let shim = en.spawn_exec(&c, &exec.id, &process, &req)?;
        me.arm_exec(exec.id.clone(), me.exec_dir(&exec));
        Ok(shim)
    })?;
    let pid = shimio::shim_pid(&d.exec_dir(e));
    let attached = attach.map(|s| pending::attach(&shim, s));
    let pid = match shim.start() {
        Ok(pid) => pid,
        Err(berth_shim::client::ClientError::Refused { message, .. }) => {
            // The shim records docker's 126/127 for it; note it before the client,
            // told of the failure, inspects the exec.
            let dir = d.exec_dir(e);
            d.exec_ended(&e.id, &dir, shimio::ended(&dir, pid));
            return Ok(Err(message));
        }
        Err(err) => return Err(ApiError::Task(format!("start exec {}: {err}", e.id))),
    };
    if let [h, w] = *size {
        if e.tty && h > 0 && w > 0 {
            shim.resize(h, w).ok();
        }
    }
    d.execs.update(&e.id, &d.exec_dir(e), |x| x.pid = pid)?;
    Ok(Ok(attached))
}

/// `POST /exec/{id}/start`.
pub async fn start(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let upgrade = hijack::wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let settle = hijack::settle_time(req.headers());
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let b: StartBody = parse_body(&body)?;
    let e = claim(&d, &id)?;
    let streams = Streams {
        stdin: e.attach_stdin,
        stdout: e.attach_stdout,
        stderr: e.attach_stderr,
    };
    let attach =
        (!b.detach && (streams.stdin || streams.stdout || streams.stderr)).then_some(streams);
    let (me, exec) = (d.clone(), e.clone());
    let launched = blocking(move || launch(&me, &exec, attach, &b.console_size)).await;
    let launched = match launched {
        Ok(l) => l,
        Err(err) => {
            d.exec_ended(&e.id, &d.exec_dir(&e), End::Lost);
            return Err(err);
        }
    };
    if attach.is_none() {
        return Ok(StatusCode::OK.into_response());
    }
    Ok(hijack::respond(
        upgrade,
        settle,
        e.tty,
        move |mut client| async move {
            let (shim, buffered) = match launched {
                Ok(Some(Ok(parts))) => parts,
                Ok(Some(Err(message))) | Err(message) => {
                    let mut out = Vec::new();
                    let line = format!("{message}\r\n");
                    if e.tty {
                        out.extend_from_slice(line.as_bytes());
                    } else {
                        berth_logs::frame::encode_into(
                            &mut out,
                            berth_logs::frame::STDOUT,
                            line.as_bytes(),
                        );
                    }
                    client.write_all(&out).await.ok();
                    client.shutdown().await.ok();
                    return;
                }
                Ok(None) => return,
            };
            let shim = match shim
                .set_nonblocking(true)
                .and_then(|()| UnixStream::from_std(shim))
            {
                Ok(s) => s,
                Err(err) => return tracing::warn!("exec attach: {err}"),
            };
            let session = Session {
                shim,
                buffered,
                tty: e.tty,
                stdin: e.attach_stdin,
                detach: crate::detach::parse(&e.detach_keys).ok(),
                close_stdin: true,
            };
            hijack::pump(client, Vec::new(), hijack::Early::default(), session).await;
        },
    ))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (h, w) = super::attach::size(&Query::parse(q.as_deref()))?;
    let e = find(&d, &id)?;
    if !e.running {
        return Err(ApiError::Conflict(format!("Exec {id} is not running")));
    }
    let dir = d.exec_dir(&e);
    blocking(move || super::attach::resize_shim(&dir, h, w)).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /exec/{id}/json`.
pub async fn inspect(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut e = find(&d, &id)?;
    if e.running {
        // Its shim records the exit before it closes the streams: a client that saw
        // the end may ask before the wait task has noted it.
        let dir = d.exec_dir(&e);
        let me = d.clone();
        let ended = blocking(move || {
            Ok(match berth_shim::ExitStatus::read(&dir) {
                Ok(Some(s)) => {
                    me.exec_ended(&id, &dir, End::Exited(s));
                    me.execs.get(&id)
                }
                _ => None,
            })
        })
        .await?;
        e = ended.unwrap_or(e);
    }
    Ok(json(StatusCode::OK, &inspect_json(&e)))
}

/// docker's exec inspect document.
pub fn inspect_json(e: &Exec) -> serde_json::Value {
    let (entrypoint, args) = e
        .cmd
        .split_first()
        .map_or(("", &[][..]), |(a, b)| (a.as_str(), b));
    let mut doc = json!({
        "CanRemove": false,
        "ContainerID": e.container_id,
        "DetachKeys": e.detach_keys,
        "ExitCode": e.exit_code,
        "ID": e.id,
        "OpenStderr": e.attach_stderr,
        "OpenStdin": e.attach_stdin,
        "OpenStdout": e.attach_stdout,
        "ProcessConfig": {
            "arguments": args,
            "entrypoint": entrypoint,
            "privileged": e.privileged,
            "tty": e.tty,
        },
        "Running": e.running,
        "Pid": e.pid,
    });
    // dockerd leaves the user out when none was asked for.
    if !e.user.is_empty() {
        doc["ProcessConfig"]["user"] = json!(e.user);
    }
    doc
}
