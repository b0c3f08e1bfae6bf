//! berth-shim: the per-container monitor (see the `berth_shim` crate doc for what it
//! does and the protocol it speaks).
//!
//! Start-up, top to bottom: protect the binary (the container init is a fork of it),
//! parse the command line, fork and let the first process exit (the caller reaps it at
//! once and never has the shim as its child), new session, subreaper, state directory as
//! working directory, pid file, signals, control socket, log, stdio, the container
//! created (or the exec prepared), the one-line report, then the event loop. At the end
//! it execs the exit command, if one was given.
//!
//! A prepared shim (`berth-shim --wait-command`) forks, detaches and takes its pipes
//! first, named `berth-shim-idle`, makes what does not depend on the command
//! (`Ahead`: cgroup hierarchies, the container's v1 cgroups under a placeholder name,
//! /dev/null and output pipes, signal handlers), then reads its command line from stdin
//! and goes on from the state directory as above. The placeholder cgroups not taken are
//! removed after the report (or when no command comes).

mod conn;
mod output;
mod server;
mod signals;
mod stdio;
mod target;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use berth_cgroups::{Hierarchies, Placeholder};
use berth_runtime::container::{Runtime, CGROUP_PARENT, CGROUP_ROOT};
use berth_shim::args::{ExecArgs, ShimCommand, StartArgs};
use nix::unistd::{ForkResult, Pid};

use crate::output::Log;
use crate::server::{note, Server};
use crate::signals::Signals;
use crate::stdio::{Spare, Stdio};
use crate::target::Target;

/// The first argument that makes this a prepared shim (see `berth_shim::launch::Prepared`).
const WAIT_COMMAND: &str = "--wait-command";

fn main() -> ExitCode {
    if let Err(e) = berth_runtime::selfexe::ensure_protected_exe() {
        return fail_early(&e.to_string());
    }
    let mut args = std::env::args_os().skip(1).peekable();
    let waits = args.peek().is_some_and(|a| a == WAIT_COMMAND);
    // Started from a protected view by descriptor (`/proc/self/fd/N`), the kernel names
    // the process after the descriptor: give it its own name back. An idle prepared
    // shim has another one, so that nothing counts it as a container's shim.
    nix::sys::prctl::set_name(if waits { IDLE_NAME } else { NAME }).ok();
    // Descriptors the caller leaked to us (a test harness's jobserver pipe, say) would
    // stay open as long as the container runs.
    // SAFETY: close_range takes plain integers; nothing in this process uses a
    // descriptor above stdio yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if waits {
        return match args.nth(1) {
            None => prepared(),
            Some(_) => fail_early(&format!("{WAIT_COMMAND} takes no other argument")),
        };
    }
    let cmd = match ShimCommand::parse(args) {
        Ok(cmd) => cmd,
        Err(e) => return fail_early(&e.to_string()),
    };
    let cmd = match absolute(cmd) {
        Ok(cmd) => cmd,
        Err(e) => return fail_early(&format!("{e:#}")),
    };
    if let Some(code) = fork_away() {
        return code;
    }
    let Ok(report) = Reporter::take() else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = detach() {
        return failed(report, &e);
    }
    run(report, &cmd, Ahead::default())
}

/// The shim's process name.
const NAME: &std::ffi::CStr = c"berth-shim";
/// An idle prepared shim's process name (15 bytes, the most a name holds).
const IDLE_NAME: &std::ffi::CStr = c"berth-shim-idle";

/// Forks; the first process returns its exit code (it exits at once, so that the caller
/// reaps it and is never the shim's parent), the shim None.
fn fork_away() -> Option<ExitCode> {
    // SAFETY: no thread has been started, so the child may run any code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Some(fail_early(&format!("fork: {e}"))),
        Ok(ForkResult::Parent { .. }) => Some(ExitCode::SUCCESS),
        Ok(ForkResult::Child) => None,
    }
}

/// A new session, and the subreaper of everything the container forks.
fn detach() -> Result<()> {
    nix::unistd::setsid().context("setsid")?;
    nix::sys::prctl::set_child_subreaper(true).context("become a subreaper")?;
    Ok(())
}

/// `--wait-command`: forks and detaches as a shim does, says `{"idle_pid":N}` on the
/// report pipe, then waits for ONE command on stdin (framed by `ShimCommand::encode`;
/// the writer closes its end after it) and carries on as a shim started with that
/// command line. EOF before any byte (the caller is gone, or dropped its pool) ends it
/// quietly.
fn prepared() -> ExitCode {
    if let Some(code) = fork_away() {
        return code;
    }
    let Ok(commands) = CommandPipe::take() else {
        return ExitCode::FAILURE;
    };
    let Ok(mut report) = Reporter::take() else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = detach() {
        return report.fail(&format!("{e:#}"));
    }
    report.line(&format!("{{\"idle_pid\":{}}}\n", std::process::id()));
    let ahead = Ahead::make();
    let bytes = match commands.read() {
        Ok(bytes) if bytes.is_empty() => {
            Ahead::drop_placeholder(ahead.placeholder);
            return ExitCode::SUCCESS;
        }
        Ok(bytes) => bytes,
        Err(e) => {
            Ahead::drop_placeholder(ahead.placeholder);
            return report.fail(&format!("read the command: {e}"));
        }
    };
    nix::sys::prctl::set_name(NAME).ok();
    let cmd = ShimCommand::decode(&bytes)
        .map_err(anyhow::Error::from)
        .and_then(absolute);
    match cmd {
        Ok(cmd) => run(report, &cmd, ahead),
        Err(e) => {
            Ahead::drop_placeholder(ahead.placeholder);
            report.fail(&format!("{e:#}"))
        }
    }
}

/// Sets the shim up for `cmd`, reports, removes the placeholder cgroups not taken, and
/// serves.
fn run(report: Reporter, cmd: &ShimCommand, ahead: Ahead) -> ExitCode {
    let placeholder = ahead.placeholder.clone();
    match setup(cmd, ahead) {
        Ok((server, pid, exit_command)) => {
            report.send(&format!(
                "{{\"pid\":{pid},\"shim_pid\":{}}}\n",
                std::process::id()
            ));
            Ahead::drop_placeholder(placeholder);
            serve(server, &exit_command)
        }
        Err(e) => {
            let code = failed(report, &e);
            Ahead::drop_placeholder(placeholder);
            code
        }
    }
}

/// Notes `e` in the shim's log and reports it.
fn failed(report: Reporter, e: &anyhow::Error) -> ExitCode {
    let message = format!("{e:#}");
    note(&message);
    report.fail(&message)
}

/// Reports a failure before the fork, on stdout.
fn fail_early(message: &str) -> ExitCode {
    print!("{}", error_line(message));
    ExitCode::FAILURE
}

fn error_line(message: &str) -> String {
    let mut line = serde_json::json!({ "error": message }).to_string();
    line.push('\n');
    line
}

/// The command with every path made absolute (the shim changes directory).
fn absolute(mut cmd: ShimCommand) -> Result<ShimCommand> {
    let abs = |p: &mut PathBuf| -> Result<()> {
        *p = std::path::absolute(&*p).with_context(|| format!("resolve {}", p.display()))?;
        Ok(())
    };
    match &mut cmd {
        ShimCommand::Start(a) => {
            abs(&mut a.bundle)?;
            abs(&mut a.runtime_root)?;
            abs(&mut a.state)?;
            if let Some(p) = &mut a.log.path {
                abs(p)?;
            }
        }
        ShimCommand::Exec(a) => {
            abs(&mut a.runtime_root)?;
            abs(&mut a.state)?;
            abs(&mut a.process)?;
        }
    }
    Ok(cmd)
}

/// The caller's pipe for the one-line report, moved off fd 1.
struct Reporter(File);

impl Reporter {
    /// Takes stdout for the report and points fds 0-2 at /dev/null.
    fn take() -> Result<Reporter> {
        let fd = nix::fcntl::fcntl(std::io::stdout(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: fcntl just returned this new descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let null = stdio::dev_null()?;
        stdio::set_std([&null, &null, &null])?;
        Ok(Reporter(File::from(fd)))
    }

    fn send(mut self, line: &str) {
        self.line(line);
    }

    /// Writes `line` and keeps the pipe.
    fn line(&mut self, line: &str) {
        // The caller may be gone (killed); the shim goes on regardless.
        self.0.write_all(line.as_bytes()).ok();
    }

    /// Reports `message` as the error and returns the shim's exit code.
    fn fail(self, message: &str) -> ExitCode {
        self.send(&error_line(message));
        ExitCode::FAILURE
    }
}

/// A prepared shim's stdin, the pipe its one command comes on, moved off fd 0.
struct CommandPipe(File);

impl CommandPipe {
    /// Takes stdin (before [`Reporter::take`] points it at /dev/null).
    fn take() -> Result<CommandPipe> {
        let fd = nix::fcntl::fcntl(std::io::stdin(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: fcntl just returned this new descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(CommandPipe(File::from(fd)))
    }

    /// Everything up to EOF (empty when the writer closed without a word); the pipe is
    /// closed after.
    fn read(mut self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.0.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// What a shim can make before it knows its command; a prepared shim makes it while it
/// waits for one, a shim started with its command line as it goes.
#[derive(Default)]
struct Ahead {
    /// The host's cgroup hierarchies.
    hierarchies: Option<Hierarchies>,
    /// The container's v1 cgroups, made under a placeholder name (prepared shims only).
    placeholder: Option<Placeholder>,
    /// /dev/null and the output pipes.
    spare: Option<Spare>,
    /// The signal handling that an idle shim can have.
    signals: Option<Signals>,
}

impl Ahead {
    /// Everything made now. What fails here is tried again when needed (and reported
    /// then).
    fn make() -> Ahead {
        // The process's hash keys come from the kernel's random pool at the first hash
        // map (the spec has some): drawn now.
        let _ = std::collections::hash_map::RandomState::new();
        let hierarchies = Hierarchies::discover(Path::new(CGROUP_ROOT)).ok();
        Ahead {
            placeholder: hierarchies.as_ref().and_then(placeholder),
            hierarchies,
            spare: Spare::make().ok(),
            signals: Signals::prepare().ok(),
        }
    }

    /// Removes the placeholder cgroups the container did not take (all of them when no
    /// container was made). Best effort: a later prepared shim sweeps what is left.
    fn drop_placeholder(placeholder: Option<Placeholder>) {
        if let Some(p) = placeholder {
            let _ = p.remove();
        }
    }

    /// The signals set up, as far as they were not.
    fn signals(&mut self) -> nix::Result<Signals> {
        match self.signals.take() {
            Some(s) => s.arm(),
            None => Signals::install(),
        }
    }

    /// A runtime keeping state under `root`, on the hierarchies if found, creating from
    /// the placeholder cgroups if made.
    fn runtime(&self, root: &Path) -> Runtime {
        let rt = Runtime::new(root);
        let rt = match &self.hierarchies {
            Some(h) => rt.with_hierarchies(h.clone()),
            None => rt,
        };
        match &self.placeholder {
            Some(p) => rt.with_placeholder(p.clone()),
            None => rt,
        }
    }

    /// The spare stdio, made now if it was not.
    fn spare(self) -> Result<Spare> {
        self.spare.map_or_else(Spare::make, Ok)
    }
}

/// The container's v1 cgroups made ahead under this shim's placeholder name, after the
/// placeholders of shims that ended abruptly are swept (None on cgroup v2 or on failure).
fn placeholder(h: &Hierarchies) -> Option<Placeholder> {
    let parent = Path::new(CGROUP_PARENT);
    berth_cgroups::sweep_placeholders(h, parent);
    Placeholder::make(h, parent, std::process::id()).ok()
}

/// Everything before the report: the server, the process's pid (0 for an exec), and
/// the exit command.
fn setup(cmd: &ShimCommand, mut ahead: Ahead) -> Result<(Server, i32, Vec<OsString>)> {
    let state = cmd.state();
    // Its caller made it, most of the time.
    if std::env::set_current_dir(state).is_err() {
        std::fs::create_dir_all(state).with_context(|| format!("create {}", state.display()))?;
        std::env::set_current_dir(state).with_context(|| format!("chdir {}", state.display()))?;
    }
    std::fs::write(berth_shim::PID_FILE, std::process::id().to_string())
        .context("write the pid file")?;
    berth_shim::ExitStatus::clear(Path::new("."))?;
    let signals = ahead.signals().context("set up signals")?;
    let listener = bind_control_socket()?;
    let built = match cmd {
        ShimCommand::Start(a) => setup_start(a, signals, listener, ahead),
        ShimCommand::Exec(a) => setup_exec(a, signals, listener, ahead),
    };
    if built.is_err() {
        let _ = std::fs::remove_file(berth_shim::SOCKET);
        let _ = std::fs::remove_file(berth_shim::PID_FILE);
    }
    built
}

/// Binds the control socket, in place of one a shim that ended abruptly left.
fn bind_control_socket() -> Result<UnixListener> {
    match UnixListener::bind(berth_shim::SOCKET) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let _ = std::fs::remove_file(berth_shim::SOCKET);
            UnixListener::bind(berth_shim::SOCKET)
        }
        r => r,
    }
    .context("bind the control socket")
}

fn setup_start(
    a: &StartArgs,
    signals: Signals,
    listener: UnixListener,
    ahead: Ahead,
) -> Result<(Server, i32, Vec<OsString>)> {
    let log = Log::open(&a.log)?;
    let rt = ahead.runtime(&a.runtime_root);
    let mut stdio = Stdio::new(a.tty, a.stdin, ahead.spare()?)?;
    let target = Target::create(rt, &a.id, &a.bundle, &mut stdio, &signals)?;
    let pid = target.init_pid().unwrap_or(0);
    let child = Some(Pid::from_raw(pid));
    let server = Server::new(signals, listener, stdio, target, log, child);
    let server = server.inspect_err(|_| {
        let _ = Runtime::new(&a.runtime_root).delete(&a.id, true);
    })?;
    Ok((server, pid, a.exit_command.clone()))
}

fn setup_exec(
    a: &ExecArgs,
    signals: Signals,
    listener: UnixListener,
    ahead: Ahead,
) -> Result<(Server, i32, Vec<OsString>)> {
    let raw = std::fs::read(&a.process).with_context(|| format!("read {}", a.process.display()))?;
    let process =
        serde_json::from_slice(&raw).with_context(|| format!("parse {}", a.process.display()))?;
    let target = Target::Exec {
        rt: ahead.runtime(&a.runtime_root),
        id: a.id.clone(),
        process: Box::new(process),
    };
    let stdio = Stdio::new(a.tty, a.stdin, ahead.spare()?)?;
    let server = Server::new(signals, listener, stdio, target, Log::with(None), None)?;
    Ok((server, 0, Vec::new()))
}

/// Runs the loop, then execs the exit command.
fn serve(mut server: Server, exit_command: &[OsString]) -> ExitCode {
    if let Err(e) = server.run() {
        note(format!("event loop: {e:#}"));
    }
    // Everything the shim opened is close-on-exec; dropping it closes it now anyway.
    drop(server);
    if let Some((prog, args)) = exit_command.split_first() {
        use std::os::unix::process::CommandExt;
        // Replaces the shim: the command keeps its pid and /dev/null stdio.
        let err = std::process::Command::new(prog).args(args).exec();
        note(format!("run the exit command {prog:?}: {err}"));
    }
    ExitCode::SUCCESS
}
