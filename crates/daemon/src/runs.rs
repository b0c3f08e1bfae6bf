//! Containers' runs as berthd drives them: a start through the engine (attaches parked
//! for it connected before the process begins), one wait task per running container or
//! exec (an async `wait` on its shim; at the end the run is finished, AutoRemove
//! applied and the [`Monitor`](crate::monitor::Monitor) told), and live restore: on
//! start-up every record is reconciled with what its shim left.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use berth_engine::lifecycle::{Started, LOST_EXIT};
use berth_engine::record::{Container, Status};
use berth_engine::EngineError;
use berth_shim::client::{find, Found};
use berth_shim::ExitStatus;

use crate::error::ApiResult;
use crate::execs::Exec;
use crate::shimio::{self, End};
use crate::state::{blocking, Daemon};

impl Daemon {
    /// The directory (and shim state) of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers.dir(id)
    }

    /// Starts container `c` under its shim and waits for its end in a task; None if it
    /// was running already. A failed start of an AutoRemove container removes it, as
    /// dockerd does.
    pub async fn start_container(self: &Arc<Self>, c: Container) -> ApiResult<Option<Started>> {
        let me = self.clone();
        let id = c.id.clone();
        let health = c.config.healthcheck.as_ref().is_some_and(|h| h.probes());
        let started = self
            .with_engine(move |e| {
                // The wait goes in before the start: a process that ends at once cannot
                // end before anyone asks (the shim answers a waiter it has, from its
                // memory; one that comes later finds only exit.json, which a --rm
                // removal may already have taken away).
                let mut waiter = None;
                let r = e.start_with(&c, &mut |shim| {
                    waiter = shim.send_wait().ok();
                    me.pending.connect_all(&c.id, shim);
                });
                if matches!(r, Ok(Some(_))) {
                    me.container_event(&c, "start", &[]);
                }
                if r.is_err() && c.config.auto_remove && e.remove(&c, true).is_ok() {
                    me.forget(&c.id);
                }
                Ok(r?.map(|s| (s, waiter)))
            })
            .await?;
        Ok(started.map(|(s, waiter)| {
            self.arm_with(id, s.shim_pid, health, waiter);
            s
        }))
    }

    /// Every container as recorded, newest first. A record says "running" until the
    /// task that waits for its run records the end, so only a running container no task
    /// watches (none, normally: live restore arms them all) is checked, under the engine.
    pub fn current_containers(&self) -> ApiResult<Vec<Container>> {
        Ok(self
            .current_containers_shared()?
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    /// [`Daemon::current_containers`] without copies of the records that need no check.
    pub fn current_containers_shared(&self) -> ApiResult<Vec<Arc<Container>>> {
        let list = self.containers.list_shared()?;
        list.into_iter()
            .map(|c| {
                if c.state.status == Status::Running && !self.monitor.is_armed(&c.id) {
                    let c = Arc::unwrap_or_clone(c);
                    Ok(Arc::new(self.engine_now(|e| Ok(e.refresh(c)?))?))
                } else {
                    Ok(c)
                }
            })
            .collect()
    }

    /// Container `name` (id, prefix or name) as recorded, checked as
    /// [`Daemon::current_containers`] checks each.
    pub fn current(&self, name: &str) -> ApiResult<Container> {
        let c = self.containers.find(name)?;
        if c.state.status == Status::Running && !self.monitor.is_armed(&c.id) {
            return self.engine_now(|e| Ok(e.refresh(c)?));
        }
        Ok(c)
    }

    /// [`Daemon::current_containers`] on the blocking pool.
    pub async fn current_containers_async(self: &Arc<Self>) -> ApiResult<Vec<Container>> {
        let me = self.clone();
        blocking(move || me.current_containers()).await
    }

    /// Makes sure a task waits for the run of `c`, if it runs.
    pub fn ensure_armed(self: &Arc<Self>, c: &Container) {
        if c.state.status == Status::Running && c.state.monitor_pid > 0 {
            self.arm(
                c.id.clone(),
                c.state.monitor_pid,
                c.config.healthcheck.as_ref().is_some_and(|h| h.probes()),
            );
        }
    }

    /// Waits (in a task) for the run of container `id` whose shim is `shim_pid`, then
    /// finishes it.
    /// With `health`, the container's healthcheck runs too.
    pub fn arm(self: &Arc<Self>, id: String, shim_pid: i32, health: bool) {
        self.arm_with(id, shim_pid, health, None);
    }

    /// [`Daemon::arm`], with a connection that already asked the shim for the exit
    /// status (see [`berth_shim::ShimClient::send_wait`]).
    pub fn arm_with(
        self: &Arc<Self>,
        id: String,
        shim_pid: i32,
        health: bool,
        waiter: Option<std::os::unix::net::UnixStream>,
    ) {
        if !self.monitor.arm(&id, shim_pid) {
            return;
        }
        if health {
            self.watch_health(id.clone(), self.monitor.watch(&id));
        }
        let me = self.clone();
        tokio::spawn(async move {
            let dir = me.container_dir(&id);
            let answered = match waiter {
                Some(w) => shimio::answer(w).await,
                None => None,
            };
            let end = match answered {
                Some(status) => End::Exited(status),
                None => shimio::wait(&dir, Some(shim_pid)).await,
            };
            if let Err(e) = me.run_ended(&id, shim_pid, end).await {
                tracing::error!("finish the run of container {id}: {e}");
            }
            me.monitor.disarm(&id, shim_pid);
        });
    }

    /// Records the end of a run, applies AutoRemove, tells the watchers.
    async fn run_ended(self: &Arc<Self>, id: &str, shim_pid: i32, end: End) -> ApiResult<()> {
        let status = match end {
            End::Exited(s) => s,
            End::Lost => {
                tracing::warn!(
                    "container {id}: its shim ({shim_pid}) is gone without an exit status; \
                     recording {LOST_EXIT}"
                );
                ExitStatus::new(LOST_EXIT, SystemTime::now())
            }
        };
        let code = status.exit_code;
        let oom = status.oom_killed;
        let cid = id.to_string();
        let ended = self
            .with_engine(move |e| {
                let before = e.containers().load(&cid).ok();
                e.finish_run(&cid, shim_pid, &status)?;
                match e.containers().load(&cid) {
                    Err(EngineError::NoSuchContainer(_)) => Ok((before, true)),
                    r => r.map(|c| (Some(c), false)).map_err(Into::into),
                }
            })
            .await;
        self.monitor.exited(id, code);
        let (record, gone) = ended?;
        if let Some(c) = &record {
            if oom {
                self.container_event(c, "oom", &[]);
            }
            self.container_event(c, "die", &[("exitCode", code.to_string())]);
        }
        if gone {
            self.forget(id);
            if let Some(c) = &record {
                self.container_event(c, "destroy", &[]);
            }
            return Ok(());
        }
        self.consider_restart(id, false).await
    }

    /// Forgets container `id` (it was removed): watchers are told, parked attaches
    /// and execs dropped.
    pub fn forget(&self, id: &str) {
        self.backoff.forget(id);
        self.samplers.forget(id);
        self.monitor.removed(id);
        self.pending.forget(id);
        self.execs.forget_container(id);
    }

    /// Live restore: every running container's shim is found again and waited for;
    /// a run that ended while berthd was away is finished with the exit code its shim
    /// recorded (255 when the shim was killed and recorded none). Execs likewise. Then
    /// containers whose restart policy asks for it are started (`always`, and
    /// `unless-stopped` unless the user stopped them, as dockerd does when it starts).
    pub async fn restore(self: &Arc<Self>) -> ApiResult<()> {
        let records = self.with_engine(|e| Ok(e.containers().list()?)).await?;
        let mut live = 0;
        for c in records.iter().filter(|c| c.state.status == Status::Running) {
            let dir = self.container_dir(&c.id);
            let found = blocking(move || Ok(find(&dir).ok())).await?;
            match found {
                Some(Found::Live(_)) => {
                    live += 1;
                    self.arm(
                        c.id.clone(),
                        c.state.monitor_pid,
                        c.config.healthcheck.as_ref().is_some_and(|h| h.probes()),
                    );
                }
                Some(Found::Exited(s)) => {
                    self.run_ended(&c.id, c.state.monitor_pid, End::Exited(s))
                        .await?
                }
                Some(Found::Lost) | None => {
                    self.run_ended(&c.id, c.state.monitor_pid, End::Lost)
                        .await?
                }
            }
        }
        let me = self.clone();
        let execs = blocking(move || Ok(me.execs.load(me.containers.dir("").as_path()))).await?;
        for e in execs.into_iter().filter(|e| e.running) {
            let dir = self.exec_dir(&e);
            self.arm_exec(e.id, dir);
        }
        tracing::info!("live restore: {live} running containers found again");
        for c in records.iter().filter(|c| c.state.status == Status::Exited) {
            let policy = &c.config.host.restart_policy;
            let daemon_start = matches!(policy.name.as_str(), "always" | "unless-stopped");
            if policy.name == "always" && c.state.manually_stopped {
                // A daemon start ends a user's stop of an `always` container.
                let id = c.id.clone();
                self.with_engine(move |e| Ok(e.update_state(&id, |s| s.manually_stopped = false)?))
                    .await?;
            } else if !(c.state.restarting || (daemon_start && !c.state.manually_stopped)) {
                continue;
            }
            self.consider_restart(&c.id, true).await?;
        }
        Ok(())
    }

    /// Waits (up to 5 s) until no exec of container `id` runs: their shims end with
    /// the container and write their last files.
    pub async fn execs_ended(&self, id: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let running = self
                .execs
                .of_container(id)
                .iter()
                .any(|x| self.execs.get(x).is_some_and(|e| e.running));
            if !running {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The state directory of exec `e`.
    pub fn exec_dir(&self, e: &Exec) -> PathBuf {
        self.containers
            .dir(&e.container_id)
            .join(berth_engine::exec::EXECS)
            .join(&e.id)
    }

    /// Waits (in a task) for exec `exec_id`, whose shim's state is `dir`, and records
    /// its exit code.
    pub fn arm_exec(self: &Arc<Self>, exec_id: String, dir: PathBuf) {
        let me = self.clone();
        let pid = shimio::shim_pid(&dir);
        tokio::spawn(async move {
            let end = shimio::wait(&dir, pid).await;
            let done = blocking(move || {
                me.exec_ended(&exec_id, &dir, end);
                Ok(())
            });
            done.await.ok();
        });
    }

    /// Records the end of exec `exec_id`.
    pub fn exec_ended(&self, exec_id: &str, dir: &Path, end: End) {
        let code = match end {
            End::Exited(s) => Some(s.exit_code),
            End::Lost => None,
        };
        let r = self.execs.update(exec_id, dir, |e| {
            e.running = false;
            e.exit_code = code.or(e.exit_code);
        });
        if let Err(e) = r {
            tracing::warn!("exec {exec_id}: {e}");
        }
    }
}
