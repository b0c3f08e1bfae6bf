//! A container's life: start in the foreground (the caller waits for it) or detached
//! under its shim (`berth-shim`, which owns its stdio and log, reaps it and records its
//! exit in `exit.json`), the end of a run (exit code recorded, runtime state and cgroup
//! deleted, rootfs unmounted), stop, kill and remove.
//!
//! Whoever waits for the container's process (the foreground caller, or the shim) is its
//! *monitor*: its pid is in the record. A run has ended when the shim wrote `exit.json`
//! or the monitor is gone; [`Engine::refresh`] then finishes the container with the
//! recorded exit code (255 if none was recorded). Starting and finishing hold a lock on
//! the container's directory, so a shim's exit hook, a daemon and a CLI never finish
//! one run twice or finish a run that is still being started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_net::Plumbing;
use berth_runtime::container::CreateOptions;
use berth_shim::args::{LogArgs, ShimCommand, StartArgs};
use berth_shim::{ExitStatus, ShimClient};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;

use crate::engine::Engine;
use crate::error::{EngineError, Result, StartKind};
use crate::record::{now, Container, State, Status};
use crate::rootfs;
use crate::spec;

/// How often waiting loops look at the record again.
const POLL: Duration = Duration::from_millis(10);
/// How long a start waits for the shim of the container's last run to exit.
const MONITOR_GONE: Duration = Duration::from_secs(3);

/// How long to wait for a container to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The exit code recorded when nobody saw the container exit.
pub const LOST_EXIT: i32 = 255;

/// docker's exit code of a container whose start failed for another reason than its
/// command.
const START_FAILED_EXIT: i32 = 128;

/// A container started under its shim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The container init's host pid.
    pub pid: i32,
    /// The shim's pid (the run's monitor).
    pub shim_pid: i32,
}

/// Whether the process `pid` that started at `start` still lives.
fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && berth_runtime::state::process_start(pid) == Some(start)
}

/// An exclusive lock on a container's directory, released when dropped.
type Lock = Flock<std::fs::File>;

impl Engine {
    /// Locks container `id` against concurrent starts and finishes.
    fn lock(&self, id: &str) -> Result<Lock> {
        let dir = self.containers().dir(id);
        let f = match std::fs::File::open(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::NoSuchContainer(id.into()))
            }
            r => r.map_err(EngineError::io("open", &dir))?,
        };
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, source)| EngineError::Sys {
            op: "lock the container directory",
            source,
        })
    }

    /// Mounts the root, writes the bundle and has the runtime create and start the
    /// container; records it as running with the calling process as its monitor. Returns
    /// the container process's pid (a child of the caller). Undone on failure.
    fn launch(&self, c: &mut Container) -> Result<Pid> {
        if c.config.tty {
            return Err(EngineError::Unsupported(
                "a terminal (-t) in the foreground",
            ));
        }
        let rootfs = self.containers().rootfs(&c.id);
        let upper = rootfs::Upper::of(c.config.auto_remove);
        let init = self.containers().init_layer(&c.id);
        rootfs::mount_with(
            self.images().snapshotter(),
            &c.snapshot_key,
            &rootfs,
            &init,
            upper,
        )?;
        match self.run_container(c, &rootfs) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                // The first error is the one to report.
                self.runtime().delete(&c.id, true).ok();
                self.detach_network(&c.id).ok();
                rootfs::unmount(&rootfs).ok();
                Err(e)
            }
        }
    }

    /// Writes the container's runtime spec into its directory (the bundle), clears the
    /// exit status an earlier run left, and returns the directory, with the veth pairs of
    /// the network it reserved still to make (see [`Engine::plumb_network`]). A runtime
    /// state an earlier run left is deleted by whoever creates the container (the shim
    /// does, before its create).
    fn write_bundle(&self, c: &Container, rootfs: &Path) -> Result<(PathBuf, Option<Plumbing>)> {
        let image = berth_image::digest::Digest::parse(&c.image_id)
            .map_err(|_| EngineError::NoSuchContainer(c.image_id.clone()))?;
        let config = self.image_config(&image)?;
        for m in &c.mounts {
            crate::mounts::copy_up(rootfs, m, self.volumes())?;
        }
        let mut opts = Self::spec_options(c);
        let (joined, plumbing) = self.attach_network(c)?;
        opts.joined = joined;
        let mut spec = spec::container_spec(config.config().as_ref(), rootfs, &opts)?;
        set_console_size(&mut spec, c);
        let dir = self.containers().dir(&c.id);
        let path = dir.join(crate::store::BUNDLE_CONFIG);
        let raw = serde_json::to_vec(&spec).map_err(spec::SpecError::Assemble)?;
        std::fs::write(&path, raw).map_err(EngineError::io("write", &path))?;
        // The exit status of an earlier run.
        let exit = dir.join(berth_shim::EXIT_FILE);
        match std::fs::remove_file(&exit) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(EngineError::io("remove", &exit)(e))
            }
            _ => {}
        }
        Ok((dir, plumbing))
    }

    fn run_container(&self, c: &mut Container, rootfs: &Path) -> Result<Pid> {
        let (dir, plumbing) = self.write_bundle(c, rootfs)?;
        // A state left by a run whose end nobody recorded.
        self.runtime()
            .delete(&c.id, true)
            .map_err(EngineError::runtime("delete", &c.id))?;
        if let Some(p) = &plumbing {
            self.plumb_network(p)?;
        }
        let opts = CreateOptions {
            id: c.id.clone(),
            bundle: dir,
            // The container directory's config.json stays as it is while it runs.
            config_in_bundle: true,
            ..Default::default()
        };
        let saved = self
            .runtime()
            .create(&opts)
            .map_err(|e| start_error(c, e.to_string()))?;
        self.runtime()
            .start(&c.id)
            .map_err(|e| start_error(c, e.to_string()))?;
        let me = std::process::id() as i32;
        self.mark_running(c, saved.pid, me)?;
        Ok(Pid::from_raw(saved.pid))
    }

    fn mark_running(&self, c: &mut Container, pid: i32, monitor: i32) -> Result<()> {
        c.state.status = Status::Running;
        c.state.pid = pid;
        c.state.monitor_pid = monitor;
        c.state.monitor_start = berth_runtime::state::process_start(monitor).unwrap_or(0);
        c.state.exit_code = None;
        let started = now();
        if c.config.healthcheck.as_ref().is_some_and(|h| h.probes()) {
            // As docker, a run with a check starts `starting`, before its first probe.
            let previous = c.state.health.take();
            c.state.health = Some(crate::health::Health::begin(previous.as_ref(), &started));
        }
        c.state.started_at = Some(started);
        c.state.oom_killed = false;
        c.state.finished_at = None;
        c.state.error.clear();
        c.state.paused = false;
        self.containers().save_state(c)
    }

    /// Starts container `c` and waits for it in the foreground (signals to this process
    /// are passed on); records its end and returns its exit code.
    pub fn start_attached(&self, c: &Container) -> Result<i32> {
        let pid = {
            let _lock = self.lock(&c.id)?;
            let mut c = self.refresh_locked(self.containers().load(&c.id)?)?;
            if c.state.status == Status::Running {
                return Err(EngineError::AlreadyRunning(c.id));
            }
            self.launch(&mut c)?
        };
        let code =
            berth_runtime::wait::wait_forwarding(pid).map_err(|source| EngineError::Sys {
                op: "wait for the container",
                source,
            })?;
        self.finish(&c.id, code)?;
        Ok(code)
    }

    /// Starts container `c` detached under its shim (see [`Engine::start_with`]). A
    /// running container is left as it is.
    pub fn start_detached(&self, c: &Container) -> Result<()> {
        self.start_with(c, &mut |_| {}).map(drop)
    }

    /// Starts container `c` under its shim, `berth-shim` (it creates the container at
    /// once; the container's process begins at `start`). The shim logs its output to
    /// `<container dir>/<id>-json.log`, waits for it and records its end in `exit.json`,
    /// then runs the exit hook (see [`Engine::set_exit_hook`]). `attach` is called with
    /// the shim once it is up and before the container starts, so streams attached there
    /// see all output. Returns None for a container that runs already.
    ///
    /// A failed start leaves the container as it was, with the error in `State.error`
    /// (and docker's exit code: 127 or 126 for a command that cannot be run, else 128).
    /// Spawns the shim with `std::process::Command`: safe in a multi-threaded process.
    pub fn start_with(
        &self,
        c: &Container,
        attach: &mut dyn FnMut(&ShimClient),
    ) -> Result<Option<Started>> {
        let _lock = self.lock(&c.id)?;
        let mut c = self.refresh_locked(self.containers().load(&c.id)?)?;
        if c.state.status == Status::Running {
            return Ok(None);
        }
        self.wait_last_monitor(&c.state);
        let rootfs = self.containers().rootfs(&c.id);
        let before = c.state.clone();
        let upper = rootfs::Upper::of(c.config.auto_remove);
        let init = self.containers().init_layer(&c.id);
        let snap = self.images().snapshotter();
        let started = rootfs::mount_with(snap, &c.snapshot_key, &rootfs, &init, upper)
            .and_then(|_| self.start_shim(&mut c, &rootfs, attach));
        match started {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                // The first error is the one to report; the shim sees its container go
                // and exits; its exit hook finds the record as it was and does nothing.
                self.runtime().delete(&c.id, true).ok();
                self.detach_network(&c.id).ok();
                rootfs::unmount(&rootfs).ok();
                c.state = before;
                c.state.error = e.to_string();
                c.state.exit_code = Some(start_exit_code(&e));
                self.containers().save_state(&c).ok();
                Err(e)
            }
        }
    }

    /// Has the shim create the container (while its veth pairs are made on another
    /// thread), records it running, lets `attach` attach, and starts it.
    fn start_shim(
        &self,
        c: &mut Container,
        rootfs: &Path,
        attach: &mut dyn FnMut(&ShimClient),
    ) -> Result<Started> {
        let (dir, plumbing) = self.write_bundle(c, rootfs)?;
        let Some(plumbing) = plumbing else {
            return self.create_and_start(c, &dir, attach, || Ok(()));
        };
        std::thread::scope(|s| {
            let plumbed = s.spawn(|| self.plumb_network(&plumbing));
            let network_ready = || {
                plumbed
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            self.create_and_start(c, &dir, attach, network_ready)
        })
    }

    /// The shim's part of [`Engine::start_shim`]: the container's process begins once
    /// `network_ready` has said its network is made.
    fn create_and_start(
        &self,
        c: &mut Container,
        dir: &Path,
        attach: &mut dyn FnMut(&ShimClient),
        network_ready: impl FnOnce() -> Result<()>,
    ) -> Result<Started> {
        let cmd = self.shim_command(c, dir);
        let report = self.launch_shim(&cmd).map_err(|e| match e {
            berth_shim::launch::LaunchError::Failed(message) => start_error(c, message),
            source => EngineError::ShimLaunch {
                id: c.id.clone(),
                source,
            },
        })?;
        self.mark_running(c, report.pid, report.shim_pid)?;
        let shim = ShimClient::at(dir).map_err(|source| EngineError::Shim {
            id: c.id.clone(),
            source,
        })?;
        attach(&shim);
        network_ready()?;
        match shim.start() {
            Ok(_) => Ok(Started {
                pid: report.pid,
                shim_pid: report.shim_pid,
            }),
            Err(berth_shim::client::ClientError::Refused { message, .. }) => {
                Err(start_error(c, message))
            }
            Err(source) => Err(EngineError::Shim {
                id: c.id.clone(),
                source,
            }),
        }
    }

    /// The shim command line for container `c`, whose directory is `dir`.
    fn shim_command(&self, c: &Container, dir: &Path) -> ShimCommand {
        let mut exit_command = self.exit_hook().to_vec();
        if !exit_command.is_empty() {
            exit_command.push(c.id.clone().into());
        }
        ShimCommand::Start(StartArgs {
            id: c.id.clone(),
            bundle: dir.into(),
            runtime_root: self.runtime().root.path().to_path_buf(),
            state: dir.into(),
            tty: c.config.tty,
            stdin: c.config.open_stdin,
            log: log_args(c, dir),
            exit_command,
        })
    }

    /// Waits briefly for the shim of the run `state` records to exit. A shim tells of
    /// the end first and deletes the run's cgroup and runtime state after, so a new run
    /// (with the same cgroup) must not begin, nor a removal end, before it is gone.
    pub(crate) fn wait_last_monitor(&self, state: &State) {
        let pid = state.monitor_pid;
        if pid == std::process::id() as i32 || !alive(pid, state.monitor_start) {
            return;
        }
        // A shim that does not go in time is waited for no longer: the new run's shim
        // deletes what is left of the old run before it creates the container.
        let _ = berth_runtime::wait::wait_gone(Pid::from_raw(pid), MONITOR_GONE);
    }

    /// Whether container `c`'s shim is still there while its run is finished or removed:
    /// it told of the end (to a waiter, or in `exit.json`), and deletes the run's runtime
    /// state and cgroup itself after that. Only a run that has ended is finished (a
    /// removal stops a running one first, and waits for its shim to go), so a live shim
    /// here is one that is ending; a foreground run's monitor is the caller itself.
    pub(crate) fn shim_finishing(&self, c: &Container) -> bool {
        c.state.monitor_pid != std::process::id() as i32
            && alive(c.state.monitor_pid, c.state.monitor_start)
    }

    /// Deletes container `c`'s runtime state and cgroup (killing what runs there)
    /// unless its shim is finishing and does that itself.
    pub(crate) fn delete_runtime(&self, c: &Container) -> Result<()> {
        if self.shim_finishing(c) {
            return Ok(());
        }
        self.runtime()
            .delete(&c.id, true)
            .map_err(EngineError::runtime("delete", &c.id))
    }

    /// Records the end of container `id`'s run: exit code, finish time, runtime state
    /// and cgroup deleted, rootfs unmounted; removes it if it asked for that. Nothing
    /// happens to a container that is not running (its end is recorded already).
    pub fn finish(&self, id: &str, code: i32) -> Result<()> {
        let _lock = match self.lock(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            r => r?,
        };
        self.finish_locked(id, code, None, false)
    }

    /// Records the end of the run of container `id` that `monitor_pid` (its shim)
    /// watched, with the status the shim recorded, as [`Engine::finish`] does. A run the
    /// record no longer names (finished already, or a newer one) is left alone.
    pub fn finish_run(&self, id: &str, monitor_pid: i32, status: &ExitStatus) -> Result<()> {
        let _lock = match self.lock(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            r => r?,
        };
        match self.containers().load(id) {
            Err(EngineError::NoSuchContainer(_)) => Ok(()),
            Err(e) => Err(e),
            Ok(c) if c.state.monitor_pid != monitor_pid => Ok(()),
            Ok(_) => self.finish_locked(
                id,
                status.exit_code,
                Some(status.finished_at.clone()),
                status.oom_killed,
            ),
        }
    }

    /// Freezes a running container's processes.
    pub fn pause(&self, c: &Container) -> Result<()> {
        self.set_paused(c, true)
    }

    /// Thaws a paused container.
    pub fn unpause(&self, c: &Container) -> Result<()> {
        self.set_paused(c, false)
    }

    fn set_paused(&self, c: &Container, paused: bool) -> Result<()> {
        let _lock = self.lock(&c.id)?;
        let mut c = self.refresh_locked(self.containers().load(&c.id)?)?;
        match (c.state.status, c.state.paused, paused) {
            (Status::Running, false, true) => self.runtime().pause(&c.id),
            (Status::Running, true, false) => self.runtime().resume(&c.id),
            (Status::Running, true, true) => return Err(EngineError::AlreadyPaused(c.id)),
            (Status::Running, false, false) => return Err(EngineError::NotPaused(c.id)),
            _ => return Err(EngineError::NotRunning(c.id)),
        }
        .map_err(EngineError::runtime(
            if paused { "pause" } else { "resume" },
            &c.id,
        ))?;
        c.state.paused = paused;
        self.containers().save_state(&c)
    }

    /// Sends `signal` to every process of a running container (a paused one is thawed
    /// after a SIGKILL, so that it dies).
    pub fn kill_all(&self, c: &Container, signal: i32) -> Result<()> {
        if c.state.status != Status::Running {
            return Err(EngineError::NotRunning(c.id.clone()));
        }
        stopping(self.runtime().kill(&c.id, signal, true))
            .map_err(EngineError::runtime("kill", &c.id))?;
        if c.state.paused && signal == libc::SIGKILL {
            self.runtime().resume(&c.id).ok();
        }
        Ok(())
    }

    fn finish_locked(
        &self,
        id: &str,
        code: i32,
        finished_at: Option<String>,
        oom_killed: bool,
    ) -> Result<()> {
        let mut c = match self.containers().load(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            r => r?,
        };
        if c.state.status != Status::Running {
            return Ok(());
        }
        let ended = |c: &mut Container| {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.paused = false;
            c.state.exit_code = Some(code);
            c.state.oom_killed = oom_killed;
            c.state.finished_at = Some(finished_at.unwrap_or_else(now));
        };
        if c.config.auto_remove {
            // `--rm`: the removal's teardown (runtime state, network, root) done once,
            // with no exit state written for a record about to go; only a removal that
            // failed leaves the record, which then tells how the run ended (the first
            // error is the one reported).
            if let Err(e) = self.dismantle(&c) {
                ended(&mut c);
                self.containers().save_state(&c).ok();
                return Err(e);
            }
            // `--rm` takes the container's anonymous volumes with it, as docker's does.
            return self.remove_anonymous_volumes(&c);
        }
        self.delete_runtime(&c)?;
        self.detach_network(id)?;
        rootfs::unmount(&self.containers().rootfs(id))?;
        ended(&mut c);
        self.containers().save_state(&c)?;
        Ok(())
    }

    /// Whether the run recorded in `state` has ended: its shim recorded the exit, or its
    /// monitor is gone.
    fn ended(&self, id: &str, state: &State) -> bool {
        !alive(state.monitor_pid, state.monitor_start)
            || self
                .containers()
                .dir(id)
                .join(berth_shim::EXIT_FILE)
                .exists()
    }

    /// `c` with its state checked: a running container whose run has ended is finished
    /// with the exit code its shim recorded (255 if none).
    pub fn refresh(&self, c: Container) -> Result<Container> {
        if c.state.status != Status::Running || !self.ended(&c.id, &c.state) {
            return Ok(c);
        }
        let _lock = match self.lock(&c.id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(c),
            r => r?,
        };
        match self.containers().load(&c.id) {
            Err(EngineError::NoSuchContainer(_)) => Ok(c),
            other => self.refresh_locked(other?),
        }
    }

    /// [`Engine::refresh`] with the container's lock held.
    fn refresh_locked(&self, c: Container) -> Result<Container> {
        if c.state.status != Status::Running || !self.ended(&c.id, &c.state) {
            return Ok(c);
        }
        let dir = self.containers().dir(&c.id);
        let recorded = ExitStatus::read(&dir).ok().flatten();
        let code = recorded.as_ref().map_or(LOST_EXIT, |s| s.exit_code);
        let oom = recorded.as_ref().is_some_and(|s| s.oom_killed);
        self.finish_locked(&c.id, code, recorded.map(|s| s.finished_at), oom)?;
        match self.containers().load(&c.id) {
            Err(EngineError::NoSuchContainer(_)) => Ok(c),
            other => other,
        }
    }

    /// Waits up to `timeout` until container `id`'s run has ended and its monitor is gone
    /// (or the container is removed). True if it did.
    fn wait_done(&self, id: &str, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = match self.containers().load(id) {
                Err(EngineError::NoSuchContainer(_)) => return Ok(true),
                other => self.refresh(other?)?,
            };
            if c.state.status != Status::Running
                && !alive(c.state.monitor_pid, c.state.monitor_start)
            {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends `signal` to a running container's process.
    pub fn kill(&self, c: &Container, signal: i32) -> Result<()> {
        if c.state.status != Status::Running {
            return Err(EngineError::NotRunning(c.id.clone()));
        }
        stopping(self.runtime().kill(&c.id, signal, false))
            .map_err(EngineError::runtime("kill", &c.id))?;
        if c.state.paused && signal == libc::SIGKILL {
            self.runtime().resume(&c.id).ok();
        }
        Ok(())
    }

    /// Stops a running container: SIGTERM, then SIGKILL to every process after
    /// `timeout`. A container that is not running is left as it is.
    pub fn stop(&self, c: &Container, timeout: Duration) -> Result<()> {
        if c.state.status != Status::Running {
            return Ok(());
        }
        // It may exit between the check and the signal: the wait tells.
        self.runtime().kill(&c.id, libc::SIGTERM, false).ok();
        if self.wait_done(&c.id, timeout)? {
            return Ok(());
        }
        self.force_stop(c)
    }

    fn force_stop(&self, c: &Container) -> Result<()> {
        self.kill_all(c, libc::SIGKILL).ok();
        if self.wait_done(&c.id, KILL_WAIT)? {
            return Ok(());
        }
        Err(EngineError::StopTimeout {
            id: c.id.clone(),
            secs: KILL_WAIT.as_secs(),
        })
    }

    /// Removes a container; a running one only with `force` (it is killed first).
    pub fn remove(&self, c: &Container, force: bool) -> Result<()> {
        if c.state.status == Status::Running {
            if !force {
                return Err(EngineError::Running {
                    name: c.name.clone(),
                });
            }
            self.force_stop(c)?;
        }
        match self.containers().load(&c.id) {
            Ok(c) => self.dismantle(&c),
            Err(EngineError::NoSuchContainer(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Changes container `c`'s limits and restart policy (`docker update`): checked as
    /// at create, applied to its cgroup if it runs, then recorded.
    pub fn update(&self, c: &Container, u: &Update) -> Result<()> {
        let _lock = self.lock(&c.id)?;
        let mut c = self.containers().load(&c.id)?;
        let h = &mut c.config.host;
        if let Some(m) = u.memory {
            h.memory = m;
        }
        if let Some(n) = u.nano_cpus {
            h.nano_cpus = n;
        }
        if let Some(p) = u.pids_limit {
            h.pids_limit = Some(p);
        }
        if let Some(r) = &u.restart_policy {
            if c.config.auto_remove && r.is_set() {
                return Err(crate::spec::SpecError::Restart(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                )
                .into());
            }
            h.restart_policy = r.clone();
        }
        spec::check(h, &spec::SystemHost)?;
        if c.state.status == Status::Running {
            let mut res = spec::resources::resources(h, &spec::SystemHost);
            if let Some(o) = res.as_object_mut() {
                o.remove("devices");
            }
            if h.pids_limit.is_some_and(|p| p <= 0) {
                res["pids"] = serde_json::json!({"limit": -1});
            }
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_value(res).map_err(spec::SpecError::Assemble)?;
            self.runtime()
                .update(&c.id, &res)
                .map_err(EngineError::runtime("update", &c.id))?;
        }
        self.containers().save(&c)
    }

    /// Changes container `id`'s run state with `f` under its lock (a container that is
    /// gone is no error); returns the record as saved.
    pub fn update_state(
        &self,
        id: &str,
        f: impl FnOnce(&mut crate::record::State),
    ) -> Result<Option<Container>> {
        let _lock = match self.lock(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(None),
            r => r?,
        };
        let mut c = match self.containers().load(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(None),
            r => r?,
        };
        f(&mut c.state);
        self.containers().save_state(&c)?;
        Ok(Some(c))
    }

    /// Removes the anonymous volumes container `c` (removed already) had, unless
    /// another container uses them too (`rm -v`, and `--rm`). Named volumes stay.
    pub fn remove_anonymous_volumes(&self, c: &Container) -> Result<()> {
        for m in c.mounts.iter().filter(|m| m.kind == "volume") {
            let anonymous = self.volumes().get(&m.name).is_ok_and(|v| v.anonymous);
            if anonymous && self.volume_users(&m.name)?.is_empty() {
                self.volumes().remove(&m.name)?;
            }
        }
        Ok(())
    }

    /// The ids of the containers that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .containers()
            .list()?
            .into_iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id)
            .collect())
    }

    /// Removes volume `name` unless a container uses it (`force` does not change that,
    /// as in docker).
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        self.volumes().get(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(crate::volumes::VolumeError::InUse {
                name: name.into(),
                users: users.join(", "),
            }
            .into());
        }
        Ok(self.volumes().remove(name)?)
    }
}

/// The shim's log arguments for container `c`: its log config (json-file when none is
/// named), the log file `<dir>/<id>-json.log` as docker names it.
fn log_args(c: &Container, dir: &Path) -> LogArgs {
    let config = &c.config.host.log_config;
    let driver = match config.driver.as_str() {
        "" => "json-file",
        named => named,
    };
    LogArgs {
        driver: driver.into(),
        path: Some(dir.join(crate::store::json_log_name(&c.id))),
        opts: config.options.clone(),
    }
}

/// The engine error for a failure to create or start `c`, from its message.
fn start_error(c: &Container, message: String) -> EngineError {
    EngineError::Start {
        id: c.id.clone(),
        kind: StartKind::of_message(&message),
        message,
    }
}

/// The exit code docker records for a start that failed with `e`.
fn start_exit_code(e: &EngineError) -> i32 {
    match e {
        EngineError::Start { kind, .. } if *kind != StartKind::Other => i32::from(kind.exit_code()),
        _ => START_FAILED_EXIT,
    }
}

/// A signal to a container whose process has just exited (its run is not finished
/// yet; its shim may have deleted its runtime state already) has nothing left to do:
/// not an error.
fn stopping(r: berth_runtime::Result<()>) -> berth_runtime::Result<()> {
    match r {
        Err(berth_runtime::Error::BadStatus {
            status: "stopped", ..
        })
        | Err(berth_runtime::Error::State(berth_runtime::state::StateError::NotFound(_))) => Ok(()),
        r => r,
    }
}

/// Gives a terminal the size the client asked for at create (`ConsoleSize`).
fn set_console_size(spec: &mut oci_spec::runtime::Spec, c: &Container) {
    let Some([height, width]) = c.config.host.console_size.filter(|s| s[0] > 0 && s[1] > 0) else {
        return;
    };
    let Some(mut p) = spec.process().clone().filter(|_| c.config.tty) else {
        return;
    };
    let size = oci_spec::runtime::BoxBuilder::default()
        .height(u64::from(height))
        .width(u64::from(width))
        .build()
        .ok();
    p.set_console_size(size);
    spec.set_process(Some(p));
}

/// What `docker update` changes (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// Memory limit in bytes (0: none).
    pub memory: Option<i64>,
    /// CPUs in units of 10^-9.
    pub nano_cpus: Option<i64>,
    /// Most processes (0 or -1: none).
    pub pids_limit: Option<i64>,
    /// The restart policy.
    pub restart_policy: Option<crate::options::RestartPolicy>,
}
