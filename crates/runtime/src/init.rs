//! The container init: what the forked child does, top to bottom, from "the parent has put
//! me in my cgroup" to execve of the user's process. Each step that can fail reports its
//! error to the parent over the sync channel and the child exits.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{openat, OFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::hooks::{self, Kind};
use crate::namespaces::{self, Plan};
use crate::state::EXEC_FIFO;
use crate::sync::{Channel, Msg};
use crate::{console, process, rootfs, seccomp};

/// Everything the init needs, prepared by the parent before the fork.
pub struct Init<'a> {
    /// The container's configuration.
    pub spec: &'a Spec,
    /// The bundle directory (relative mount sources resolve against it).
    pub bundle: &'a Path,
    /// The resolved root filesystem.
    pub rootfs: &'a Path,
    /// Namespaces to create and join.
    pub plan: &'a Plan,
    /// The child's end of the sync channel.
    pub channel: Channel,
    /// The container's state directory, opened O_PATH (for the exec fifo).
    pub state_dir: OwnedFd,
    /// The caller's console socket, when the process has a terminal.
    pub console: Option<UnixStream>,
    /// Use chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The compiled seccomp filter.
    pub seccomp: Option<&'a seccomp::Filter>,
    /// Number of extra descriptors (from 3 on) passed to the process.
    pub preserve_fds: i32,
    /// Join a new session keyring (named after the container) unless None.
    pub new_keyring: Option<&'a Spec>,
    /// The container's cgroup v1 directories (see [`rootfs::Options::cgroup_dirs`]).
    pub cgroup_dirs: Option<&'a [(std::path::PathBuf, std::path::PathBuf)]>,
}

/// Runs the init in the forked child; never returns.
pub fn run(init: Init) -> ! {
    let code = match setup(&init) {
        Ok(never) => match never {},
        Err(e) => {
            // After `start` the parent is gone: then stderr is the only one to tell.
            if init.channel.send(&Msg::Failed(e.clone())).is_err() {
                eprintln!("berth-runtime: container init: {e}");
            }
            127
        }
    };
    // SAFETY: _exit ends the forked child at once without running the parent's exit
    // handlers or destructors, which belong to the parent.
    unsafe { libc::_exit(code) }
}

type Step<T> = Result<T, String>;

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn setup(init: &Init) -> Step<std::convert::Infallible> {
    let spec = init.spec;
    let process = spec.process().as_ref().ok_or("process: missing")?;
    init.channel.expect(Msg::Go)?;
    enter_namespaces(init)?;
    if init.plan.creates(LinuxNamespaceType::Network) {
        loopback_up()?;
    }
    if init.new_keyring.is_some() {
        join_session_keyring()?;
    }
    set_names(init)?;
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        process::apply_sysctls(sysctl, Path::new("/proc/sys")).map_err(|e| e.to_string())?;
    }
    let opts = rootfs_options(init);
    nix::unistd::chdir(init.bundle).map_err(fail("chdir to the bundle"))?;
    rootfs::prepare(&opts).map_err(|e| e.to_string())?;
    if hooks_before_pivot(spec) {
        init.channel
            .send(&Msg::RunCreateRuntimeHooks)
            .map_err(fail("sync"))?;
    }
    let state = match init
        .channel
        .expect_with(|m| matches!(m, Msg::Continue(_)), "Continue")?
    {
        Msg::Continue(state) => state,
        _ => unreachable!("expect_with only returns Continue"),
    };
    hooks::run(
        Kind::CreateContainer,
        Kind::CreateContainer.of(spec),
        &state,
    )
    .map_err(|e| e.to_string())?;
    rootfs::enter(&opts).map_err(|e| e.to_string())?;
    if process.terminal().unwrap_or(false) {
        setup_terminal(init)?;
    }
    rootfs::finalize(&opts).map_err(|e| e.to_string())?;
    prepare_process(spec, process)?;
    // Before any seccomp filter, which might refuse sigaction.
    process::reset_signals().map_err(|e| e.to_string())?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp {
        load_seccomp(init, &state)?;
    }
    process::switch_user(process.user()).map_err(|e| e.to_string())?;
    process::apply_capabilities(process.capabilities().as_ref()).map_err(|e| e.to_string())?;
    if nnp {
        process::set_no_new_privs().map_err(|e| e.to_string())?;
    }
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    let exe = process::find_executable(&args[0], &env, process.cwd()).map_err(|e| e.to_string())?;
    process::close_range_cloexec(3 + init.preserve_fds).map_err(|e| e.to_string())?;
    init.channel.send(&Msg::Ready).map_err(fail("sync"))?;
    let fifo = wait_for_start(init)?;
    hooks::run(Kind::StartContainer, Kind::StartContainer.of(spec), &state)
        .map_err(|e| e.to_string())?;
    nix::unistd::write(&fifo, b"0").map_err(fail("write exec fifo"))?;
    drop(fifo);
    if nnp {
        load_seccomp(init, &state)?;
    }
    Err(exec(&exe, &args, &env))
}

/// Whether the runtime runs hooks (prestart, createRuntime) between the init's mounts and
/// its pivot_root. Without any, the init does not report that point: the runtime queues its
/// go-ahead (`Continue`) right after `Go`.
pub(crate) fn hooks_before_pivot(spec: &Spec) -> bool {
    !Kind::Prestart.of(spec).is_empty() || !Kind::CreateRuntime.of(spec).is_empty()
}

fn rootfs_options<'a>(init: &'a Init) -> rootfs::Options<'a> {
    rootfs::Options {
        rootfs: init.rootfs,
        spec: init.spec,
        no_pivot: init.no_pivot,
        in_userns: init.plan.has(LinuxNamespaceType::User),
        own_netns: init.plan.has(LinuxNamespaceType::Network),
        cgroup_ns: init.plan.has(LinuxNamespaceType::Cgroup),
        cgroup_dirs: init.cgroup_dirs,
    }
}

/// Becomes root of a new user namespace, joins the namespaces the parent could not join for
/// us (user and mount), and unshares the cgroup namespace now that we are in our cgroup.
fn enter_namespaces(init: &Init) -> Step<()> {
    let plan = init.plan;
    if plan.creates(LinuxNamespaceType::User) {
        become_userns_root(init.spec)?;
    }
    namespaces::join_where(&plan.join, |t| {
        matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Mount)
    })
    .map_err(|e| e.to_string())?;
    if plan.creates(LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(fail("unshare cgroup namespace"))?;
    }
    Ok(())
}

/// Brings up the loopback interface of the network namespace the container got, as runc
/// does: a new namespace has `lo` down, and `localhost` would not answer.
fn loopback_up() -> Step<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail("loopback: socket"))?;
    // SAFETY: an all-zero ifreq is valid (empty name, zero flags).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    let fd = sock.as_raw_fd();
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, which is
    // a valid, exclusive ifreq for the call.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    nix::errno::Errno::result(rc).map_err(fail("loopback: get flags of lo"))?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags from `req`, valid for the call.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    nix::errno::Errno::result(rc).map_err(fail("loopback: set lo up"))?;
    Ok(())
}

fn become_userns_root(spec: &Spec) -> Step<()> {
    let maps_root = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_deref()
            .unwrap_or_default()
            .iter()
            .any(|m| m.container_id() == 0)
    };
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if maps_root(linux.gid_mappings()) {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(fail("setresgid 0 in the user namespace"))?;
    }
    if maps_root(linux.uid_mappings()) {
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(fail("setresuid 0 in the user namespace"))?;
    }
    Ok(())
}

/// Gives the container its own session keyring so it cannot see the host's keys. Kernels
/// without keyrings (ENOSYS) or refusing it in a user namespace (EACCES) are accepted.
fn join_session_keyring() -> Step<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = c"_ses.berth";
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads a NUL-terminated name that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    match nix::errno::Errno::result(r) {
        Ok(_) | Err(nix::errno::Errno::ENOSYS) | Err(nix::errno::Errno::EACCES) => Ok(()),
        Err(e) => Err(format!("join a new session keyring: {e}")),
    }
}

fn set_names(init: &Init) -> Step<()> {
    let spec = init.spec;
    let uts = init.plan.has(LinuxNamespaceType::Uts);
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !uts {
            return Err("hostname: cannot be set without a UTS namespace".into());
        }
        nix::unistd::sethostname(name).map_err(fail("sethostname"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        if !uts {
            return Err("domainname: cannot be set without a UTS namespace".into());
        }
        // SAFETY: the pointer and length describe the bytes of a live &str.
        let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        nix::errno::Errno::result(r).map_err(fail("setdomainname"))?;
    }
    Ok(())
}

fn setup_terminal(init: &Init) -> Step<()> {
    let socket = init
        .console
        .as_ref()
        .ok_or("process.terminal is true but no console socket was given")?;
    let slave = console::attach(socket.as_raw_fd()).map_err(|e| e.to_string())?;
    rootfs::bind_console(&slave).map_err(|e| e.to_string())?;
    if let Some(size) = init.spec.process().as_ref().and_then(|p| p.console_size()) {
        console::set_size(0, size.height() as u16, size.width() as u16)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn prepare_process(spec: &Spec, process: &Process) -> Step<()> {
    let e = |e: process::Error| e.to_string();
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        process::set_personality(p).map_err(e)?;
    }
    process::apply_process_settings(process).map_err(e)
}

fn load_seccomp(init: &Init, state: &[u8]) -> Step<()> {
    let Some(filter) = init.seccomp else {
        return Ok(());
    };
    let notify = filter.load().map_err(|e| e.to_string())?;
    let Some(fd) = notify else { return Ok(()) };
    let seccomp = init
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    let Some(listener) = seccomp.and_then(|s| s.listener_path().as_ref()) else {
        return Err("linux.seccomp.listenerPath: required by SCMP_ACT_NOTIFY rules".into());
    };
    let metadata = seccomp.and_then(|s| s.listener_metadata().as_deref());
    let state: oci_spec::runtime::State =
        serde_json::from_slice(state).map_err(fail("container state for the seccomp agent"))?;
    let pid = state.pid().unwrap_or(0);
    let msg = seccomp::process_state_json(pid, metadata, &state).map_err(|e| e.to_string())?;
    seccomp::send_notify_fd(listener, std::os::fd::AsFd::as_fd(&fd), &msg)
        .map_err(|e| e.to_string())
}

/// Blocks until `start` opens the exec fifo. The byte that lets `start` go on is written
/// after the startContainer hooks, so its poststart hooks come after them (and a failing
/// hook fails `start`).
fn wait_for_start(init: &Init) -> Step<OwnedFd> {
    openat(
        &init.state_dir,
        EXEC_FIFO,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail("open exec fifo"))
}

fn exec(exe: &CString, args: &[String], env: &[String]) -> String {
    process::exec(exe, args, env).to_string()
}
