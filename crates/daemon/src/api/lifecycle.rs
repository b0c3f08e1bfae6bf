//! A container's life through the API: start, stop, restart, kill, wait, pause and
//! unpause. Signals go out under the engine lock; waiting for the exit that follows
//! happens outside it, on the container's [`Life`](crate::monitor::Life) (the wait task
//! of its run reports the exit once the run is finished).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::record::{Container, Status};
use berth_engine::EngineError;
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::watch;

use crate::error::{ApiError, ApiResult};
use crate::monitor::{self, Life};
use crate::query::Query;
use crate::state::Daemon;

/// docker's default stop timeout.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SIGKILL gets to end a container.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long `kill` (SIGKILL) waits for the exit, as dockerd does.
const KILL_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Parses docker's signal parameter: a number, or a name with or without `SIG`.
pub fn parse_signal(raw: &str) -> ApiResult<i32> {
    let bad = || ApiError::BadParameter(format!("Invalid signal: {raw}"));
    if let Ok(n) = raw.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as i32)
        .map_err(|_| bad())
}

/// A container being watched: its full id, whether it runs, and its life before.
struct Watched {
    id: String,
    running: bool,
    rx: watch::Receiver<Life>,
    before: u64,
}

/// Finds container `name`, watches it and (if it runs) sends it `signal` (to every
/// process with `all`), all under the engine lock.
async fn signal(d: &Arc<Daemon>, name: String, signal: i32, all: bool) -> ApiResult<Watched> {
    let me = d.clone();
    d.with_engine(move |e| {
        let c = e.find(&name)?;
        let rx = me.monitor.watch(&c.id);
        let before = rx.borrow().exits;
        let running = c.state.status == Status::Running;
        if running {
            me.ensure_armed(&c);
            match if all {
                e.kill_all(&c, signal)
            } else {
                e.kill(&c, signal)
            } {
                Ok(()) | Err(EngineError::NotRunning(_)) => {}
                Err(err) => return Err(err.into()),
            }
            me.container_event(&c, "kill", &[("signal", signal.to_string())]);
        }
        Ok(Watched {
            id: c.id,
            running,
            rx,
            before,
        })
    })
    .await
}

/// Stops container `name`: `sig`, then SIGKILL after `timeout` (None: wait as long as
/// it takes). False if it was not running.
pub async fn stop_container(
    d: &Arc<Daemon>,
    name: String,
    sig: i32,
    timeout: Option<Duration>,
) -> ApiResult<bool> {
    let mut w = signal(d, name, sig, false).await?;
    if !w.running {
        return Ok(false);
    }
    if monitor::next_exit(&mut w.rx, w.before, timeout)
        .await
        .is_some()
    {
        return Ok(true);
    }
    let again = signal(d, w.id.clone(), libc::SIGKILL, true).await;
    match again {
        Ok(_) | Err(ApiError::Engine(EngineError::NoSuchContainer(_))) => {}
        Err(e) => return Err(e),
    }
    match monitor::next_exit(&mut w.rx, w.before, Some(KILL_WAIT)).await {
        Some(_) => Ok(true),
        None => Err(EngineError::StopTimeout {
            id: w.id,
            secs: KILL_WAIT.as_secs(),
        }
        .into()),
    }
}

/// The stop parameters: the signal and the timeout `t` (negative: none), each from the
/// query, else the container's own (`--stop-signal`, `--stop-timeout`, the image's
/// StopSignal), else SIGTERM and 10 s.
async fn stop_params(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<(i32, Option<Duration>)> {
    let (own_signal, own_timeout) = stop_defaults(d, id.to_string()).await?;
    let sig = match q
        .get("signal")
        .filter(|s| !s.is_empty())
        .or(own_signal.as_deref())
    {
        Some(s) => parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let timeout = match q.int("t")?.or(own_timeout) {
        None => Some(STOP_TIMEOUT),
        Some(t) if t < 0 => None,
        Some(t) => Some(Duration::from_secs(t as u64)),
    };
    Ok((sig, timeout))
}

/// Container `id`'s stop signal (its own, else its image's) and stop timeout.
async fn stop_defaults(d: &Arc<Daemon>, id: String) -> ApiResult<(Option<String>, Option<i64>)> {
    d.with_engine(move |e| {
        let c = e.find(&id)?;
        let image_signal = berth_image::digest::Digest::parse(&c.image_id)
            .ok()
            .and_then(|digest| e.image_config(&digest).ok())
            .and_then(|cfg| cfg.config().as_ref().and_then(|c| c.stop_signal().clone()));
        Ok((
            c.config.stop_signal.clone().or(image_signal),
            c.config.stop_timeout,
        ))
    })
    .await
}

/// `POST /containers/{id}/start`.
pub async fn start(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    // Found without an engine turn: the start itself takes the turns it needs.
    let me = d.clone();
    let c = crate::state::blocking(move || me.current(&id)).await?;
    let c = user_started(&d, c).await?;
    Ok(match d.start_container(c).await? {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_MODIFIED,
    }
    .into_response())
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub async fn stop(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (sig, timeout) = stop_params(&d, &id, &Query::parse(q.as_deref())).await?;
    user_stopped(&d, &id).await?;
    let stopped = stop_container(&d, id.clone(), sig, timeout).await?;
    if stopped {
        if let Ok(c) = d.containers.find(&id) {
            d.container_event(&c, "stop", &[]);
        }
    }
    Ok(match stopped {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_MODIFIED,
    }
    .into_response())
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub async fn restart(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (sig, timeout) = stop_params(&d, &id, &Query::parse(q.as_deref())).await?;
    user_stopped(&d, &id).await?;
    stop_container(&d, id.clone(), sig, timeout).await?;
    let c = d.with_engine(move |e| Ok(e.find(&id)?)).await?;
    let c = user_started(&d, c).await?;
    d.start_container(c).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/kill?signal=` (default SIGKILL, after which it waits up to
/// 2 s for the exit, as dockerd does).
pub async fn kill(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let sig = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s)?,
        None => libc::SIGKILL,
    };
    if sig == libc::SIGKILL {
        user_stopped(&d, &id).await?;
    }
    let mut w = signal(&d, id, sig, false).await?;
    if !w.running {
        return Err(EngineError::NotRunning(w.id).into());
    }
    if sig == libc::SIGKILL {
        monitor::next_exit(&mut w.rx, w.before, Some(KILL_EXIT_WAIT)).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Notes that the user stopped (or killed) container `name`: its restart policy waits
/// for a start by the user, and a pending restart is called off.
async fn user_stopped(d: &Arc<Daemon>, name: &str) -> ApiResult<()> {
    let name = name.to_string();
    d.with_engine(move |e| {
        let c = e.find(&name)?;
        e.update_state(&c.id, |s| {
            s.manually_stopped = true;
            s.restarting = false;
        })?;
        Ok(())
    })
    .await
}

/// Notes that the user starts container `c`: its restart policy applies again, from a
/// count of zero.
async fn user_started(d: &Arc<Daemon>, c: Container) -> ApiResult<Container> {
    d.backoff.forget(&c.id);
    let s = &c.state;
    if !s.manually_stopped && !s.restarting && s.restart_count == 0 {
        return Ok(c); // nothing to reset: no write on the start path
    }
    let id = c.id.clone();
    let updated = d
        .with_engine(move |e| {
            Ok(e.update_state(&id, |s| {
                s.manually_stopped = false;
                s.restarting = false;
                s.restart_count = 0;
            })?)
        })
        .await?;
    Ok(updated.unwrap_or(c))
}

/// `POST /containers/{id}/pause`.
pub async fn pause(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    let me = d.clone();
    d.with_engine(move |e| {
        let c = e.find(&id)?;
        e.pause(&c)?;
        me.container_event(&c, "pause", &[]);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    let me = d.clone();
    d.with_engine(move |e| {
        let c = e.find(&id)?;
        e.unpause(&c)?;
        me.container_event(&c, "unpause", &[]);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

/// `POST /containers/{id}/wait?condition=`. The status line and headers go out at once
/// (clients call this before they start the container and wait for the headers); the
/// body `{"StatusCode":N,"Error":null}` once the condition holds.
pub async fn wait(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let cond = match q.str("condition") {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => {
            return Err(ApiError::BadParameter(format!(
                "invalid condition: {other:?}"
            )))
        }
    };
    let me = d.clone();
    let (mut rx, before, now) = d
        .with_engine(move |e| {
            let c = e.find(&id)?;
            let rx = me.monitor.watch(&c.id);
            let before = rx.borrow().exits;
            me.ensure_armed(&c);
            let done = (cond == Condition::NotRunning && c.state.status != Status::Running)
                .then(|| c.state.exit_code.unwrap_or(0));
            Ok((rx, before, done))
        })
        .await?;
    let result = async move {
        let code = match (now, cond) {
            (Some(code), _) => code,
            (None, Condition::Removed) => monitor::removal(&mut rx).await.code,
            (None, _) => match monitor::next_exit(&mut rx, before, None).await {
                Some(l) => l.code,
                None => 0,
            },
        };
        let mut body = json!({"StatusCode": code, "Error": null}).to_string();
        body.push('\n');
        Ok::<_, std::convert::Infallible>(body)
    };
    let body = Body::from_stream(futures_util::stream::once(result));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("hup").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("USR1").unwrap(), libc::SIGUSR1);
        assert_eq!(
            parse_signal("NOPE").unwrap_err().to_string(),
            "Invalid signal: NOPE"
        );
        assert!(parse_signal("0").is_err());
    }
}
