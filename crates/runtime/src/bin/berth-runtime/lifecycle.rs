//! create, start, run, state, kill and delete.

use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::container::{CreateOptions, Runtime};

/// A command that takes only a container id.
#[derive(clap::Args, Debug)]
pub struct IdArg {
    /// The container id.
    pub id: String,
}

/// `create` flags.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The container id.
    pub id: String,
    #[command(flatten)]
    pub common: CommonCreate,
}

/// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct CommonCreate {
    /// The bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send a pidfd of the init to.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not give the container a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra descriptors (from 3 on) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
}

impl CommonCreate {
    fn options(&self, id: &str) -> anyhow::Result<CreateOptions> {
        Ok(CreateOptions {
            id: id.to_string(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
            no_new_keyring: self.no_new_keyring,
            // As runc: the config is copied, the bundle may change afterwards.
            config_in_bundle: false,
        })
    }
}

/// `run` flags.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The container id.
    pub id: String,
    #[command(flatten)]
    pub common: CommonCreate,
    /// Return once the container has started.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Do not make the runtime a child subreaper (berth never is one).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// `kill` arguments.
#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// The container id.
    pub id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process in the container.
    #[arg(short, long)]
    pub all: bool,
}

/// `delete` arguments.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The container id.
    pub id: String,
    /// Kill a running container first; no error if it does not exist.
    #[arg(short, long)]
    pub force: bool,
}

/// `create`.
pub fn create(rt: &Runtime, a: &CreateArgs) -> anyhow::Result<()> {
    let saved = rt.create(&a.common.options(&a.id)?)?;
    send_pidfd(rt, &a.id, a.common.pidfd_socket.as_deref(), saved.pid)
}

/// Sends a pidfd of the init to `--pidfd-socket`; on failure the container is removed.
fn send_pidfd(
    rt: &Runtime,
    id: &str,
    socket: Option<&std::path::Path>,
    pid: i32,
) -> anyhow::Result<()> {
    let Some(socket) = socket else { return Ok(()) };
    if let Err(e) = berth_runtime::console::send_pidfd(socket, pid) {
        let _ = rt.delete(id, true);
        return Err(e.into());
    }
    Ok(())
}

/// Whether the bundle's process asks for a terminal.
fn wants_terminal(bundle: &std::path::Path) -> bool {
    berth_runtime::spec::load(bundle)
        .ok()
        .and_then(|l| l.spec.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

/// `run`: create, start, and unless detached wait and delete.
pub fn run(rt: &Runtime, a: &RunArgs) -> anyhow::Result<i32> {
    let mut opts = a.common.options(&a.id)?;
    let own_tty = !a.detach && opts.console_socket.is_none() && wants_terminal(&opts.bundle);
    let listener = if own_tty {
        let l = crate::tty::ConsoleListener::bind(rt.root.path(), &a.id)?;
        opts.console_socket = Some(l.path().to_path_buf());
        Some(l)
    } else {
        None
    };
    let saved = rt.create(&opts)?;
    send_pidfd(rt, &a.id, a.common.pidfd_socket.as_deref(), saved.pid)?;
    let master = match &listener {
        Some(l) => match l.receive() {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = rt.delete(&a.id, true);
                return Err(e);
            }
        },
        None => None,
    };
    drop(listener);
    if let Err(e) = rt.start(&a.id) {
        let _ = rt.delete(&a.id, true);
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    let pid = nix::unistd::Pid::from_raw(saved.pid);
    let code = match master {
        Some(m) => crate::tty::proxy(m, pid)?,
        None => berth_runtime::wait::wait_forwarding(pid).context("wait for the container")?,
    };
    if !a.keep {
        rt.delete(&a.id, true)?;
    }
    Ok(code)
}

/// `state`.
pub fn state(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let st = rt.state(id)?;
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(())
}

/// `kill`.
pub fn kill(rt: &Runtime, a: &KillArgs) -> anyhow::Result<()> {
    let sig = berth_runtime::signal::parse(&a.signal).map_err(anyhow::Error::msg)?;
    rt.kill(&a.id, sig, a.all)?;
    Ok(())
}
