//! A container's life without a daemon: start (in the foreground, or detached under a
//! forked monitor process that waits for it), the end of a run (exit code recorded,
//! runtime state and cgroup deleted, rootfs unmounted), stop, kill and remove.
//!
//! Whoever waits for the container's process (the foreground caller, or the monitor) is
//! its *monitor*: its pid is in the record, and it alone records the exit. If a monitor
//! dies without doing so, [`Engine::refresh`] finishes the container with exit code 255.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use berth_runtime::container::CreateOptions;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use crate::engine::Engine;
use crate::error::{EngineError, Result, StartKind};
use crate::record::{now, Container, Status};
use crate::rootfs;
use crate::spec;

/// How often waiting loops look at the record again.
const POLL: Duration = Duration::from_millis(10);

/// How long to wait for a container to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The exit code recorded when nobody saw the container exit.
const LOST_EXIT: i32 = 255;

/// Whether the process `pid` that started at `start` still lives.
fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && berth_runtime::state::process_start(pid) == Some(start)
}

impl Engine {
    /// Mounts the root, writes the bundle and has the runtime create and start the
    /// container; records it as running with the calling process as its monitor. Returns
    /// the container process's pid (a child of the caller). Undone on failure.
    fn launch(&self, c: &mut Container) -> Result<Pid> {
        if c.config.tty {
            return Err(EngineError::Unsupported("a terminal (-t)"));
        }
        let rootfs = self.containers().rootfs(&c.id);
        rootfs::mount(self.images().snapshotter(), &c.snapshot_key, &rootfs)?;
        match self.run_container(c, &rootfs) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                // The first error is the one to report.
                self.runtime().delete(&c.id, true).ok();
                rootfs::unmount(&rootfs).ok();
                Err(e)
            }
        }
    }

    fn run_container(&self, c: &mut Container, rootfs: &std::path::Path) -> Result<Pid> {
        let image = berth_image::digest::Digest::parse(&c.image_id)
            .map_err(|_| EngineError::NoSuchContainer(c.image_id.clone()))?;
        let config = self.image_config(&image)?;
        let spec = spec::container_spec(config.config().as_ref(), rootfs, &Self::spec_options(c))?;
        let dir = self.containers().dir(&c.id);
        let path = dir.join("config.json");
        let raw = serde_json::to_vec(&spec).map_err(spec::SpecError::Assemble)?;
        std::fs::write(&path, raw).map_err(EngineError::io("write", &path))?;
        // A state left by a run whose end nobody recorded.
        self.runtime()
            .delete(&c.id, true)
            .map_err(EngineError::runtime("delete", &c.id))?;
        let opts = CreateOptions {
            id: c.id.clone(),
            bundle: dir,
            ..Default::default()
        };
        let saved = self
            .runtime()
            .create(&opts)
            .map_err(|e| start_error(c, &e))?;
        self.runtime()
            .start(&c.id)
            .map_err(|e| start_error(c, &e))?;
        self.mark_running(c, saved.pid)?;
        Ok(Pid::from_raw(saved.pid))
    }

    fn mark_running(&self, c: &mut Container, pid: i32) -> Result<()> {
        let me = std::process::id() as i32;
        c.state.status = Status::Running;
        c.state.pid = pid;
        c.state.monitor_pid = me;
        c.state.monitor_start = berth_runtime::state::process_start(me).unwrap_or(0);
        c.state.exit_code = None;
        c.state.started_at = Some(now());
        c.state.finished_at = None;
        self.containers().save(c)
    }

    /// Starts container `c` and waits for it in the foreground (signals to this process
    /// are passed on); records its end and returns its exit code.
    pub fn start_attached(&self, c: &Container) -> Result<i32> {
        let mut c = self.refresh(self.containers().load(&c.id)?)?;
        if c.state.status == Status::Running {
            return Err(EngineError::AlreadyRunning(c.id));
        }
        let pid = self.launch(&mut c)?;
        let code =
            berth_runtime::wait::wait_forwarding(pid).map_err(|source| EngineError::Sys {
                op: "wait for the container",
                source,
            })?;
        self.finish(&c.id, code)?;
        Ok(code)
    }

    /// Starts container `c` under a monitor process and returns once it runs (or failed
    /// to start). The monitor (a double fork, detached from this process's session) has
    /// its output in `<container dir>/container.log`, waits for the container and records
    /// its end, removing it if the record asks for auto-removal. A running container is
    /// left as it is.
    ///
    /// Forks: call it from a single-threaded process.
    pub fn start_detached(&self, c: &Container) -> Result<()> {
        let c = self.refresh(self.containers().load(&c.id)?)?;
        if c.state.status == Status::Running {
            return Ok(());
        }
        let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|source| EngineError::Sys { op: "pipe", source })?;
        // SAFETY: the caller is single-threaded (documented), so the child may run any code.
        match unsafe { nix::unistd::fork() }
            .map_err(|source| EngineError::Sys { op: "fork", source })?
        {
            ForkResult::Child => {
                drop(rd);
                let code = self.monitor_child(&c.id, wr);
                // SAFETY: _exit ends the forked child without running the parent's exit
                // handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(wr);
                waitpid(child, None).map_err(|source| EngineError::Sys {
                    op: "wait for the monitor",
                    source,
                })?;
                read_report(&c.id, rd)
            }
        }
    }

    /// In the first child: forks the monitor and exits.
    fn monitor_child(&self, id: &str, report: OwnedFd) -> i32 {
        if nix::unistd::setsid().is_err() {
            return 1;
        }
        // SAFETY: this process is single-threaded (a fresh fork of one).
        match unsafe { nix::unistd::fork() } {
            Ok(ForkResult::Child) => monitor(self.root(), id, report),
            Ok(ForkResult::Parent { .. }) => 0,
            Err(_) => 1,
        }
    }

    /// Records the end of container `id`'s run: exit code, finish time, runtime state
    /// and cgroup deleted, rootfs unmounted; removes it if it asked for that.
    pub fn finish(&self, id: &str, code: i32) -> Result<()> {
        let mut c = self.containers().load(id)?;
        self.runtime()
            .delete(id, true)
            .map_err(EngineError::runtime("delete", id))?;
        rootfs::unmount(&self.containers().rootfs(id))?;
        c.state.status = Status::Exited;
        c.state.pid = 0;
        c.state.exit_code = Some(code);
        c.state.finished_at = Some(now());
        self.containers().save(&c)?;
        if c.config.auto_remove {
            self.dismantle(&c)?;
        }
        Ok(())
    }

    /// `c` with its state checked: a running container whose monitor is gone is finished
    /// (exit code 255).
    pub fn refresh(&self, c: Container) -> Result<Container> {
        if c.state.status != Status::Running || alive(c.state.monitor_pid, c.state.monitor_start) {
            return Ok(c);
        }
        self.finish(&c.id, LOST_EXIT)?;
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
        self.runtime()
            .kill(&c.id, signal, false)
            .map_err(EngineError::runtime("kill", &c.id))
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
        self.runtime().kill(&c.id, libc::SIGKILL, true).ok();
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
}

/// The engine error for a runtime failure to create or start `c`.
fn start_error(c: &Container, e: &berth_runtime::Error) -> EngineError {
    let message = e.to_string();
    EngineError::Start {
        id: c.id.clone(),
        kind: StartKind::of_message(&message),
        message,
    }
}

/// The detached monitor: opens its own engine (nothing shared with the parent's), points
/// its output at the container's log, starts the container, reports, waits, records.
fn monitor(root: &std::path::Path, id: &str, report: OwnedFd) -> ! {
    let mut report = std::fs::File::from(report);
    let code = match monitor_start(root, id) {
        Ok((engine, pid)) => {
            report.write_all(b"O").ok();
            drop(report);
            let code = waitpid(pid, None).map_or(LOST_EXIT, berth_runtime::wait::exit_code);
            i32::from(engine.finish(id, code).is_err())
        }
        Err(EngineError::Start { kind, message, .. }) => {
            report.write_all(&[kind_tag(kind)]).ok();
            report.write_all(message.as_bytes()).ok();
            1
        }
        Err(e) => {
            report.write_all(b"E").ok();
            report.write_all(e.to_string().as_bytes()).ok();
            1
        }
    };
    // SAFETY: _exit ends the monitor without running exit handlers inherited from the CLI.
    unsafe { libc::_exit(code) }
}

fn monitor_start(root: &std::path::Path, id: &str) -> Result<(Engine, Pid)> {
    let engine = Engine::open(root)?;
    let log = engine.containers().dir(id).join("container.log");
    redirect_stdio(&log)?;
    let mut c = engine.containers().load(id)?;
    let pid = engine.launch(&mut c)?;
    Ok((engine, pid))
}

/// stdin from /dev/null, stdout and stderr appended to `log`.
fn redirect_stdio(log: &std::path::Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::File::open("/dev/null")
        .map_err(EngineError::io("open", std::path::Path::new("/dev/null")))?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(EngineError::io("open", log))?;
    let dup = |from: i32, to: i32| {
        // SAFETY: dup2 on descriptors this process owns; it replaces `to` atomically.
        let r = unsafe { libc::dup2(from, to) };
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(|source| EngineError::Sys { op: "dup2", source })
    };
    dup(null.as_raw_fd(), 0)?;
    dup(out.as_raw_fd(), 1)?;
    dup(out.as_raw_fd(), 2)
}

fn kind_tag(kind: StartKind) -> u8 {
    match kind {
        StartKind::NotFound => b'N',
        StartKind::NotExecutable => b'X',
        StartKind::Other => b'E',
    }
}

/// Reads the monitor's report: `O`, or a failure tag and message.
fn read_report(id: &str, rd: OwnedFd) -> Result<()> {
    let mut buf = Vec::new();
    std::fs::File::from(rd)
        .read_to_end(&mut buf)
        .map_err(EngineError::io(
            "read",
            std::path::Path::new("monitor report"),
        ))?;
    let kind = match buf.first() {
        Some(b'O') => return Ok(()),
        Some(b'N') => StartKind::NotFound,
        Some(b'X') => StartKind::NotExecutable,
        _ => StartKind::Other,
    };
    let message = match buf.get(1..) {
        Some(m) if !m.is_empty() => String::from_utf8_lossy(m).into_owned(),
        _ => "the container's monitor exited before reporting".into(),
    };
    Err(EngineError::Start {
        id: id.into(),
        kind,
        message,
    })
}
