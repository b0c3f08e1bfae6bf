//! `exec`: a new process in a running container, from `--process` or from inline flags on
//! top of the container's own process settings.

use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::container::Runtime;
use berth_runtime::exec::ExecOptions;
use oci_spec::runtime::{LinuxCapabilities, Process, User};

/// `exec` flags.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The container id.
    pub id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A JSON file with the whole process (runtime-spec `process`).
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Unix socket to send the pty master to.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send a pidfd of the process to.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variables (KEY=value), added to the container's.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// User as uid[:gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Return once the process has started.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Capabilities to add (all sets).
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Pass this many extra descriptors (from 3 on).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Run in this sub-cgroup of the container (not supported).
    #[arg(long)]
    pub cgroup: Option<String>,
    /// Exec even in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
}

/// Runs `exec`; returns the process's exit code (0 when detached).
pub fn run(rt: &Runtime, a: &ExecArgs) -> anyhow::Result<i32> {
    if a.cgroup.is_some() {
        anyhow::bail!("--cgroup: exec into a sub-cgroup is not supported by berth-runtime");
    }
    let process = match &a.process {
        Some(path) => load_process(path)?,
        None => inline_process(rt, a)?,
    };
    let own_tty = !a.detach && a.console_socket.is_none() && process.terminal().unwrap_or(false);
    let listener = if own_tty {
        Some(crate::tty::ConsoleListener::bind(
            rt.root.path(),
            &format!("{}-exec-{}", a.id, std::process::id()),
        )?)
    } else {
        None
    };
    let started = rt.exec(&ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: listener
            .as_ref()
            .map(|l| l.path().to_path_buf())
            .or_else(|| a.console_socket.clone()),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    })?;
    let master = listener.as_ref().map(|l| l.receive()).transpose()?;
    if let Some(socket) = &a.pidfd_socket {
        berth_runtime::console::send_pidfd(socket, started.pid.as_raw())?;
    }
    drop(listener);
    if let Some(pf) = &a.pid_file {
        berth_runtime::state::write_atomic(pf, started.pid.to_string().as_bytes())?;
    }
    if a.detach {
        return Ok(0);
    }
    match master {
        Some(m) => crate::tty::proxy(m, started.pid),
        None => berth_runtime::wait::wait_forwarding(started.pid).context("wait for the process"),
    }
}

fn load_process(path: &PathBuf) -> anyhow::Result<Process> {
    let raw = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut de = serde_json::Deserializer::from_slice(&raw);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

fn inline_process(rt: &Runtime, a: &ExecArgs) -> anyhow::Result<Process> {
    if a.command.is_empty() {
        anyhow::bail!("exec: a command is required (or --process)");
    }
    let spec = rt.saved_spec(&a.id)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        p.set_user(parse_user(u, &a.additional_gids)?);
    } else if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        p.set_capabilities(Some(add_caps(p.capabilities().clone(), &a.cap)?));
    }
    Ok(p)
}

fn parse_user(text: &str, gids: &[u32]) -> anyhow::Result<User> {
    let (uid, gid) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid: u32 = uid
        .parse()
        .with_context(|| format!("--user {text:?}: uid must be a number"))?;
    let gid: u32 = match gid {
        Some(g) => g
            .parse()
            .with_context(|| format!("--user {text:?}: gid must be a number"))?,
        None => 0,
    };
    let mut user = User::default();
    user.set_uid(uid);
    user.set_gid(gid);
    if !gids.is_empty() {
        user.set_additional_gids(Some(gids.to_vec()));
    }
    Ok(user)
}

fn add_caps(caps: Option<LinuxCapabilities>, add: &[String]) -> anyhow::Result<LinuxCapabilities> {
    let mut caps = caps.unwrap_or_default();
    let mut parsed = Vec::new();
    for name in add {
        let c: oci_spec::runtime::Capability = name
            .parse()
            .map_err(|_| anyhow::anyhow!("--cap {name:?}: unknown capability"))?;
        parsed.push(c);
    }
    let extend = |set: Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.unwrap_or_default();
        set.extend(parsed.iter().copied());
        Some(set)
    };
    caps.set_bounding(extend(caps.bounding().clone()));
    caps.set_effective(extend(caps.effective().clone()));
    caps.set_permitted(extend(caps.permitted().clone()));
    caps.set_inheritable(extend(caps.inheritable().clone()));
    caps.set_ambient(extend(caps.ambient().clone()));
    Ok(caps)
}
