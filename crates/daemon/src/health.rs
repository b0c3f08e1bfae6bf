//! Healthchecks run: one task per running container with a check, which probes it at
//! the check's interval by running the check's command as an exec (under its own shim,
//! output captured, killed at the timeout) and records the result in the container's
//! `State.Health`, announcing each change of status as a `health_status` event. The
//! task ends with the run it watches.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_engine::exec::ExecRequest;
use berth_engine::health::{
    clip_output, go_duration, Health, HealthConfig, HealthStatus, ProbeResult, MAX_OUTPUT,
};
use berth_engine::record::{now, parse_time, Status};
use berth_shim::client::{AttachStream, ClientError};
use tokio::sync::watch;

use crate::error::ApiResult;
use crate::monitor::Life;
use crate::shimio::{self, End};
use crate::state::{blocking, Daemon};

/// What a probe gave.
enum Probe {
    /// The container no longer runs (or is paused): no result.
    Skipped,
    /// A result to record.
    Done(ProbeResult),
}

/// The check a run follows, and when the run began.
struct Watch {
    check: HealthConfig,
    cmd: Vec<String>,
    started: SystemTime,
    status: HealthStatus,
}

impl Daemon {
    /// Starts the healthcheck task of container `id`'s current run, if it has a check.
    /// `life` was subscribed before the run's wait task began, so its end is seen.
    pub fn watch_health(self: &Arc<Self>, id: String, life: watch::Receiver<Life>) {
        let me = self.clone();
        tokio::spawn(async move {
            let me2 = me.clone();
            let cid = id.clone();
            let begun = blocking(move || me2.begin_health(&cid)).await;
            match begun {
                Ok(Some(w)) => me.health_loop(&id, w, life).await,
                Ok(None) => {}
                Err(e) => tracing::warn!("healthcheck of {id}: {e}"),
            }
        });
    }

    /// The check of `id`'s run, with its health reset to `starting` when the run is a
    /// new one (a run found again after a daemon restart keeps its health).
    fn begin_health(&self, id: &str) -> ApiResult<Option<Watch>> {
        self.engine_now(|e| {
            let c = e.containers().load(id)?;
            let Some(check) = c.config.healthcheck.clone() else {
                return Ok(None);
            };
            let (Some(cmd), Status::Running) = (check.command(), c.state.status) else {
                return Ok(None);
            };
            let run = c.state.started_at.clone().unwrap_or_default();
            let started = parse_time(&run).unwrap_or_else(SystemTime::now);
            let mut status = HealthStatus::Starting;
            e.update_state(id, |s| match &s.health {
                Some(h) if h.run == run => status = h.status,
                prev => s.health = Some(Health::begin(prev.as_ref(), &run)),
            })?;
            Ok(Some(Watch {
                check,
                cmd,
                started,
                status,
            }))
        })
    }

    async fn health_loop(
        self: &Arc<Self>,
        id: &str,
        mut w: Watch,
        mut life: watch::Receiver<Life>,
    ) {
        let before = life.borrow().exits;
        let ended = |l: &Life| l.exits > before || l.removed;
        loop {
            let wait = w.check.interval_at(w.status, since_ns(w.started));
            let sleep = tokio::time::sleep(Duration::from_nanos(wait.max(0) as u64));
            tokio::select! {
                _ = sleep => {}
                _ = life.wait_for(ended) => return,
            }
            let (me, cid, check, cmd) =
                (self.clone(), id.to_string(), w.check.clone(), w.cmd.clone());
            let probed = blocking(move || me.probe(&cid, &check, cmd)).await;
            if ended(&life.borrow()) {
                return;
            }
            match probed {
                Ok(Probe::Done(r)) => match self.record_probe(id, &w, r).await {
                    Ok(Some(status)) => w.status = status,
                    Ok(None) => {}
                    Err(e) => tracing::warn!("healthcheck of {id}: {e}"),
                },
                Ok(Probe::Skipped) => {}
                Err(e) => tracing::warn!("healthcheck probe of {id}: {e}"),
            }
        }
    }

    /// Records probe result `r` in `id`'s health; returns the status when it changed
    /// (and announces it).
    async fn record_probe(
        self: &Arc<Self>,
        id: &str,
        w: &Watch,
        r: ProbeResult,
    ) -> ApiResult<Option<HealthStatus>> {
        let (me, cid, check, since) = (
            self.clone(),
            id.to_string(),
            w.check.clone(),
            since_ns(w.started),
        );
        blocking(move || {
            me.engine_now(|e| {
                let mut changed = None;
                let saved = e.update_state(&cid, |s| {
                    if let Some(h) = s.health.as_mut() {
                        changed = h.record(&check, r, since);
                    }
                })?;
                if let (Some(status), Some(c)) = (changed, saved) {
                    me.container_event(&c, &format!("health_status: {}", status.as_str()), &[]);
                }
                Ok(changed)
            })
        })
        .await
    }

    /// Runs one probe of container `id` (on a blocking thread): `cmd` as an exec whose
    /// output is kept, killed when it outlives the check's timeout.
    fn probe(&self, id: &str, check: &HealthConfig, cmd: Vec<String>) -> ApiResult<Probe> {
        let start = now();
        let req = ExecRequest {
            cmd,
            ..ExecRequest::default()
        };
        let spawned = self.engine_now(|e| {
            let c = e.containers().load(id)?;
            if c.state.status != Status::Running || c.state.paused {
                return Ok(None);
            }
            let exec_id = e.containers().new_id()?;
            let process = e.exec_process(&c, &req)?;
            let shim = e.spawn_exec(&c, &exec_id, &process, &req)?;
            Ok(Some((shim, e.exec_dir(id, &exec_id))))
        })?;
        let Some((shim, dir)) = spawned else {
            return Ok(Probe::Skipped);
        };
        let shim_pid = shimio::shim_pid(&dir);
        let timeout = Duration::from_nanos(check.timeout_ns().max(0) as u64);
        let outcome = match shim.attach(false, true, true) {
            Ok(stream) => match shim.start() {
                Ok(pid) => collect(stream, pid, timeout),
                Err(ClientError::Refused { message, .. }) => {
                    Collected::Output(message.into_bytes())
                }
                Err(e) => Collected::Output(e.to_string().into_bytes()),
            },
            Err(e) => Collected::Output(e.to_string().into_bytes()),
        };
        let end = shimio::ended(&dir, shim_pid);
        remove_exec_dir(&dir);
        let (exit_code, output) = match (outcome, end) {
            (Collected::TimedOut, _) => (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    go_duration(check.timeout_ns())
                ),
            ),
            (Collected::Output(out), End::Exited(s)) => (i64::from(s.exit_code), clip_output(&out)),
            (Collected::Output(out), End::Lost) => (-1, clip_output(&out)),
        };
        Ok(Probe::Done(ProbeResult {
            start,
            end: now(),
            exit_code,
            output,
        }))
    }
}

/// What reading a probe's output gave.
enum Collected {
    /// Its output, read to the end.
    Output(Vec<u8>),
    /// It ran past the timeout and was killed.
    TimedOut,
}

/// Reads the output of the probe process `pid` from `stream` until it ends, or kills it
/// at `timeout`.
fn collect(mut stream: AttachStream, pid: i32, timeout: Duration) -> Collected {
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return kill(pid);
        }
        match stream.read_frame() {
            Ok(Some(f)) => {
                let room = MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&f.data[..f.data.len().min(room)]);
            }
            Ok(None) => return Collected::Output(out),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return kill(pid);
            }
            Err(_) => return Collected::Output(out),
        }
    }
}

/// Kills the probe process `pid` (its shim, which has not reaped it, keeps the pid
/// from being reused until then).
fn kill(pid: i32) -> Collected {
    if pid > 0 {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .ok();
    }
    Collected::TimedOut
}

/// A probe's exec directory is not kept: probes are not execs a user sees.
fn remove_exec_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!("remove the probe's directory {}: {e}", dir.display());
    }
}

/// Nanoseconds since `t`.
fn since_ns(t: SystemTime) -> i64 {
    SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}
