//! Running another process in a live container: join its namespaces and cgroup, apply the
//! same process setup as the init (user, capabilities, rlimits, seccomp), exec.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sched::setns;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::container::{Runtime, Status};
use crate::namespaces::{self, Forked, Plan};
use crate::sync::{self, Channel, Msg};
use crate::{console, process, seccomp, Error, Result};

/// How `exec` is asked to run a process.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The container id.
    pub id: String,
    /// The process to run.
    pub process: Process,
    /// Socket to send the pty master to (when `process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// Number of descriptors from 3 on passed to the process.
    pub preserve_fds: i32,
    /// Exec even if the container is paused.
    pub ignore_paused: bool,
}

/// Namespaces of a live init, opened before anything is joined.
struct Joined {
    list: Vec<(LinuxNamespaceType, File)>,
}

const ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
        LinuxNamespaceType::Mount => "mnt",
    }
}

impl Joined {
    fn open(pid: i32, plan: &Plan) -> Result<Self> {
        let mut list = Vec::new();
        for t in ORDER.into_iter().filter(|t| plan.has(*t)) {
            let path = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(t)));
            let f = File::open(&path).map_err(|source| Error::Io {
                op: "open namespace",
                path,
                source,
            })?;
            list.push((t, f));
        }
        Ok(Self { list })
    }

    /// Joins the namespaces whose type passes `pick`, in order.
    fn join(&self, pick: impl Fn(LinuxNamespaceType) -> bool) -> std::result::Result<(), String> {
        for (t, f) in self.list.iter().filter(|(t, _)| pick(*t)) {
            setns(f.as_fd(), namespaces::flag(*t))
                .map_err(|e| format!("join {} namespace: {e}", proc_name(*t)))?;
        }
        Ok(())
    }
}

/// A process started by [`Runtime::exec`].
pub struct Started {
    /// Its host pid; the caller is its parent.
    pub pid: Pid,
}

impl Runtime {
    /// Starts `opts.process` inside container `opts.id`.
    pub fn exec(&self, opts: &ExecOptions) -> Result<Started> {
        let saved = self.root.load(&opts.id)?;
        let status = self.status(&saved);
        let ok = status == Status::Running
            || status == Status::Created
            || (status == Status::Paused && opts.ignore_paused);
        if !ok {
            return Err(Error::BadStatus {
                id: opts.id.clone(),
                status: status.as_str(),
                want: "running",
            });
        }
        let spec = self.saved_spec(&opts.id)?;
        let plan = Plan::from_spec(&spec);
        let joined = Joined::open(saved.pid, &plan)?;
        let filter = crate::container::compile_seccomp(&self.root, &spec)?;
        let terminal = opts.process.terminal().unwrap_or(false);
        let console = match (&opts.console_socket, terminal) {
            (Some(p), true) => Some(console::connect(p).map_err(|source| Error::Io {
                op: "connect console socket",
                path: p.clone(),
                source,
            })?),
            (None, true) => {
                return Err(Error::Usage(
                    "process.terminal is true: --console-socket is required".into(),
                ))
            }
            _ => None,
        };
        let (parent, child) = sync::pair().map_err(|source| Error::Io {
            op: "socketpair",
            path: "sync".into(),
            source,
        })?;
        // The pid and time namespaces take effect for children: join them here.
        joined
            .join(|t| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))
            .map_err(Error::Init)?;
        let pid = match namespaces::fork_into(nix::sched::CloneFlags::empty(), None)? {
            Forked::Child => {
                drop(parent);
                let job = Job {
                    process: &opts.process,
                    joined: &joined,
                    channel: child,
                    console,
                    seccomp: filter.as_ref(),
                    preserve_fds: opts.preserve_fds,
                };
                run_child(job)
            }
            Forked::Parent(pid, _) => pid,
        };
        drop(child);
        let undo = |e: Error| {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            e
        };
        self.cgroup(&saved)
            .and_then(|cg| Ok(cg.add_process(pid.as_raw())?))
            .map_err(undo)?;
        parent
            .send(&Msg::Go)
            .map_err(|e| undo(Error::Init(format!("sync: {e}"))))?;
        // The channel is close-on-exec: end of stream means the exec succeeded.
        match parent.recv() {
            Ok(None) => Ok(Started { pid }),
            Ok(Some(Msg::Failed(text))) => Err(undo(Error::Init(text))),
            Ok(Some(other)) => Err(undo(Error::Init(format!("unexpected {other:?}")))),
            Err(e) => Err(undo(Error::Init(format!("sync: {e}")))),
        }
    }
}

struct Job<'a> {
    process: &'a Process,
    joined: &'a Joined,
    channel: Channel,
    console: Option<UnixStream>,
    seccomp: Option<&'a seccomp::Filter>,
    preserve_fds: i32,
}

fn run_child(job: Job) -> ! {
    let err = match exec_steps(&job) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Nobody else to tell if the parent is gone.
    let _ = job.channel.send(&Msg::Failed(err));
    // SAFETY: _exit ends the forked child without running the parent's exit handlers.
    unsafe { libc::_exit(1) }
}

fn exec_steps(job: &Job) -> std::result::Result<std::convert::Infallible, String> {
    let p = job.process;
    let s = |e: process::Error| e.to_string();
    if let Some(list) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        set_affinity(list, "process.execCPUAffinity.initial")?;
    }
    job.channel.expect(Msg::Go)?;
    if let Some(list) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
    {
        set_affinity(list, "process.execCPUAffinity.final")?;
    }
    job.joined
        .join(|t| !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))?;
    if p.terminal().unwrap_or(false) {
        terminal(job)?;
    }
    process::apply_process_settings(p).map_err(s)?;
    // Before any seccomp filter, which might refuse sigaction.
    process::reset_signals().map_err(s)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    if !nnp {
        load_filter(job)?;
    }
    process::switch_user(p.user()).map_err(s)?;
    process::apply_capabilities(p.capabilities().as_ref()).map_err(s)?;
    if nnp {
        process::set_no_new_privs().map_err(s)?;
    }
    let env = p.env().clone().unwrap_or_default();
    let args = p.args().clone().unwrap_or_default();
    let first = args.first().ok_or("process.args: must not be empty")?;
    let exe = process::find_executable(first, &env, p.cwd()).map_err(s)?;
    process::close_range_cloexec(3 + job.preserve_fds).map_err(s)?;
    if nnp {
        load_filter(job)?;
    }
    Err(process::exec(&exe, &args, &env).to_string())
}

fn load_filter(job: &Job) -> std::result::Result<(), String> {
    match job.seccomp {
        Some(f) => f.load().map(drop).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

fn terminal(job: &Job) -> std::result::Result<(), String> {
    let socket = job.console.as_ref().ok_or("no console socket")?;
    console::attach(socket.as_raw_fd())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Parses a CPU list such as `0-3,7`.
fn parse_cpus(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

fn set_affinity(list: &str, field: &str) -> std::result::Result<(), String> {
    let cpus = parse_cpus(list).ok_or_else(|| format!("{field}: bad CPU list {list:?}"))?;
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c).map_err(|e| format!("{field}: CPU {c}: {e}"))?;
    }
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("{field}: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_lists() {
        assert_eq!(super::parse_cpus("0-3,7"), Some(vec![0, 1, 2, 3, 7]));
        assert_eq!(super::parse_cpus("x"), None);
    }
}
