//! `GET /containers/{id}/logs`: the container's json-file log read back by berth-logs on
//! a blocking thread (`tail` and `since` seek; `follow` goes on across rotations until
//! the run ends or the client leaves), each line framed by its stream unless the
//! container has a terminal. The `none` driver keeps nothing, and says so as dockerd
//! does.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::record::{Container, Status};
use berth_logs::{frame, Cancel, LogEntry, ReadOptions, Stop, Stream};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::hijack::media_type;
use crate::pending::Streams;
use crate::query::Query;
use crate::state::Daemon;

/// Output gathered before it is sent (while not following).
const CHUNK: usize = 32 * 1024;

/// Container `c`'s live log file in its directory `dir`; None for the `none` driver.
pub fn log_path(dir: &FsPath, c: &Container) -> ApiResult<Option<PathBuf>> {
    let cfg = &c.config.host.log_config;
    let parsed = berth_logs::LogConfig::parse(&cfg.driver, &cfg.options)
        .map_err(|e| ApiError::BadParameter(e.to_string()))?;
    Ok(match parsed {
        berth_logs::LogConfig::None => None,
        berth_logs::LogConfig::JsonFile { .. } => {
            Some(dir.join(berth_engine::store::json_log_name(&c.id)))
        }
    })
}

/// Parses docker's `since`/`until`: seconds since the epoch with an optional fraction
/// (`1700000000.123456789`); 0 or empty is none.
pub fn parse_time(key: &str, raw: &str) -> ApiResult<Option<SystemTime>> {
    if raw.is_empty() || raw == "0" {
        return Ok(None);
    }
    let bad = || ApiError::BadParameter(format!("invalid value for {key}: {raw:?}"));
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().map_err(|_| bad())?;
    }
    Ok(Some(UNIX_EPOCH + Duration::new(secs, nanos)))
}

/// The logs request, parsed.
struct Params {
    opts: ReadOptions,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
}

fn params(q: &Query) -> ApiResult<Params> {
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::BadParameter(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let tail = match q.str("tail") {
        "" | "all" => None,
        n => n
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n as usize),
    };
    Ok(Params {
        opts: ReadOptions {
            tail,
            since: parse_time("since", q.str("since"))?,
            until: parse_time("until", q.str("until"))?,
            follow: q.bool("follow"),
        },
        stdout,
        stderr,
        timestamps: q.bool("timestamps"),
    })
}

fn wanted(e: &LogEntry, stdout: bool, stderr: bool) -> bool {
    match e.stream {
        Stream::Stdout => stdout,
        Stream::Stderr => stderr,
    }
}

/// The whole log of `c` as attach's `logs=1` replays it (no timestamps).
pub fn replay(dir: &FsPath, c: &Container, s: Streams) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    let Some(path) = log_path(dir, c)? else {
        return Ok(out);
    };
    let reader = berth_logs::read(&path, &ReadOptions::default(), Stop::default())
        .map_err(|e| ApiError::Logs(e.to_string()))?;
    for entry in reader.filter_map(Result::ok) {
        if wanted(&entry, s.stdout, s.stderr) {
            frame::encode_entry(&mut out, &entry, false, !c.config.tty);
        }
    }
    Ok(out)
}

/// `GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail=`.
pub async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let mut p = params(&Query::parse(q.as_deref()))?;
    let c = d.with_engine(move |e| Ok(e.find(&id)?)).await?;
    let dir = d.container_dir(&c.id);
    let path = log_path(&dir, &c)?.ok_or_else(|| {
        ApiError::NotImplemented("configured logging driver does not support reading".into())
    })?;
    p.opts.follow &= c.state.status == Status::Running;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let tty = c.config.tty;
    tokio::task::spawn_blocking(move || send_log(&path, &dir, p, tty, tx));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    }));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, media_type(tty))],
        body,
    )
        .into_response())
}

/// Reads the log and sends it in chunks until it ends or the client goes.
fn send_log(path: &FsPath, dir: &FsPath, p: Params, tty: bool, tx: mpsc::Sender<Bytes>) {
    let cancel = Cancel::new();
    let socket = dir.join(berth_shim::SOCKET);
    // The run has ended once its shim's socket is gone (its output is in the log then).
    let gone = tx.clone();
    let stop = Stop::new(cancel.clone()).with_done(move || gone.is_closed() || !socket.exists());
    let reader = match berth_logs::read(path, &p.opts, stop) {
        Ok(r) => r,
        Err(e) => return tracing::warn!("logs {}: {e}", path.display()),
    };
    let mut out = Vec::with_capacity(CHUNK);
    for entry in reader {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.is_fatal() => {
                tracing::warn!("logs: {e}");
                break;
            }
            Err(_) => continue,
        };
        if wanted(&entry, p.stdout, p.stderr) {
            frame::encode_entry(&mut out, &entry, p.timestamps, !tty);
        }
        if (p.opts.follow || out.len() >= CHUNK) && !out.is_empty() {
            let chunk = Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(CHUNK)));
            if tx.blocking_send(chunk).is_err() {
                cancel.cancel();
                return;
            }
        }
    }
    if !out.is_empty() {
        tx.blocking_send(Bytes::from(out)).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_fractions() {
        assert_eq!(parse_time("since", "0").unwrap(), None);
        assert_eq!(
            parse_time("since", "12.5").unwrap(),
            Some(UNIX_EPOCH + Duration::new(12, 500_000_000))
        );
        assert_eq!(
            parse_time("until", "7").unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(7))
        );
        assert!(parse_time("since", "x").is_err());
    }
}
