//! Creating and starting a container: the parent side of the init's setup, from reading the
//! bundle to the state file, with everything undone if any step fails.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use berth_cgroups::{Hierarchies, Manager, Placeholder};
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Serialize;

use crate::hooks::{self, Kind};
use crate::init::{self, Init};
use crate::namespaces::{self, Forked, Plan};
use crate::state::{self, Root, Saved, EXEC_FIFO, STATE_VERSION};
use crate::sync::{self, Msg};
use crate::{seccomp, spec, Error, Result};

/// The OCI version berth reports.
pub const OCI_VERSION: &str = "1.2.0";

/// Where cgroup filesystems are mounted on the host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup under which containers without `linux.cgroupsPath` get theirs.
pub const CGROUP_PARENT: &str = "/berth";

/// How `create` is asked to make a container.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The container id.
    pub id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// Socket to send the pty master to.
    pub console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Number of descriptors from 3 on passed to the container process.
    pub preserve_fds: i32,
    /// Do not give the container a new session keyring.
    pub no_new_keyring: bool,
    /// Keep no copy of the bundle's `config.json` in the state directory: read it from
    /// the bundle whenever it is needed again (hooks at start and delete, exec). For a
    /// caller that leaves the bundle's config unchanged while the container exists
    /// (berth's shim); runc's command line copies it.
    pub config_in_bundle: bool,
}

/// The container runtime: a state root and the host's cgroup root.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Per-container state directories.
    pub root: Root,
    /// The cgroup filesystem root (normally /sys/fs/cgroup).
    pub cgroup_root: PathBuf,
    /// The hierarchies under `cgroup_root`, when found before ([`Runtime::with_hierarchies`]);
    /// otherwise each operation that needs a cgroup discovers them.
    pub hierarchies: Option<Hierarchies>,
    /// A container cgroup made ahead ([`Runtime::with_placeholder`]), taken by the next
    /// create whose cgroup is beside it.
    pub placeholder: Option<Placeholder>,
}

/// A container just created, as the process that watches it until it ends (berth's shim)
/// keeps it: what deleting it at the end needs ([`Runtime::delete_created`]), with no
/// state to load and no cgroup to find again.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its saved state.
    pub saved: Saved,
    /// Its cgroup.
    pub cgroup: Manager,
    /// Whether its spec has poststop hooks (the spec is read again to run them).
    pub poststop: bool,
}

impl Created {
    /// How many of its processes the OOM killer ended (0 if the cgroup cannot be read,
    /// or is gone).
    pub fn oom_kills(&self) -> u64 {
        self.cgroup.oom_kills().unwrap_or(0)
    }
}

/// A container's state in the shape `runc state` prints.
#[derive(Debug, Clone, Serialize)]
pub struct OciState {
    /// Spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init (0 once stopped).
    pub pid: i32,
    /// creating, created, running, paused or stopped.
    pub status: String,
    /// The bundle.
    pub bundle: PathBuf,
    /// The root filesystem.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Owner's user name.
    pub owner: String,
    /// The spec's annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
}

/// Undoes a half-made container unless disarmed: kills the init, removes the cgroup and the
/// state directory.
struct Undo<'a> {
    rt: &'a Runtime,
    id: String,
    cgroup: Option<Manager>,
    child: Option<Pid>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.signal_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        let _ = self.rt.root.remove(&self.id);
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

impl Runtime {
    /// A runtime keeping state under `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: Root::new(root),
            cgroup_root: PathBuf::from(CGROUP_ROOT),
            hierarchies: None,
            placeholder: None,
        }
    }

    /// This runtime on cgroup hierarchies found before (their root becomes the cgroup
    /// root): a caller that finds them ahead of time spares every create and delete
    /// the search.
    pub fn with_hierarchies(mut self, h: Hierarchies) -> Self {
        self.cgroup_root = h.root().to_path_buf();
        self.hierarchies = Some(h);
        self
    }

    /// This runtime creating containers from a cgroup made ahead (see
    /// [`berth_cgroups::Placeholder`]; on the same hierarchies): its v1 directories are
    /// renamed to the container's cgroup when that is beside them, instead of made. The
    /// caller removes what was not taken ([`Placeholder::remove`]).
    pub fn with_placeholder(mut self, placeholder: Placeholder) -> Self {
        self.placeholder = Some(placeholder);
        self
    }

    /// The cgroup `path` under the cgroup file system at `root`, from the known
    /// hierarchies when they are those of `root`.
    fn manager(&self, root: &Path, path: &Path) -> Result<Manager> {
        Ok(match &self.hierarchies {
            Some(h) if h.root() == root => Manager::with_hierarchies(h, path)?,
            _ => Manager::new(root, path)?,
        })
    }

    /// The cgroup of a container: `linux.cgroupsPath`, or /berth/<id>.
    pub fn cgroup_path(spec: &Spec, id: &str) -> PathBuf {
        spec.linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new(CGROUP_PARENT).join(id))
    }

    /// Creates a container: its init is set up and waits for `start`. Returns the saved state
    /// and, for `run`, the init's pid (the caller is its parent).
    pub fn create(&self, opts: &CreateOptions) -> Result<Saved> {
        self.create_kept(opts).map(|c| c.saved)
    }

    /// [`Runtime::create`] for a caller that watches the container until it ends and
    /// then deletes it with [`Runtime::delete_created`].
    pub fn create_kept(&self, opts: &CreateOptions) -> Result<Created> {
        state::check_id(&opts.id)?;
        let bundle = std::path::absolute(&opts.bundle).map_err(io_err("resolve", &opts.bundle))?;
        let loaded = spec::load(&bundle)?;
        let spec = &loaded.spec;
        let resources = crate::devices::effective_resources(spec);
        let resources = resources.as_ref();
        let cgroup_path = Self::cgroup_path(spec, &opts.id);
        let cg = self.manager(&self.cgroup_root, &cgroup_path)?;
        if let Some(res) = resources {
            cg.validate(res)?;
        }
        let filter = compile_seccomp(&self.root, spec)?;
        if let Some(p) = spec.process() {
            let mount_label = spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref());
            crate::process::check_labels(p, mount_label, &crate::process::LsmHost::system())?;
        }
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        check_console(terminal, opts.console_socket.as_deref())?;
        let plan = Plan::from_spec(spec);
        if !plan.has(LinuxNamespaceType::Mount) {
            return Err(spec::SpecError::Invalid {
                field: "linux.namespaces".into(),
                reason: "a mount namespace is required".into(),
            }
            .into());
        }
        let dir = self.root.claim(&opts.id)?;
        let mut undo = Undo {
            rt: self,
            id: opts.id.clone(),
            cgroup: None,
            child: None,
            armed: true,
        };
        if !opts.config_in_bundle {
            self.root.save_config(&opts.id, &loaded.raw)?;
        }
        make_fifo(&dir.join(EXEC_FIFO))?;
        cg.create_from(self.placeholder.as_ref())?;
        undo.cgroup = Some(cg.clone());
        if let Some(res) = resources {
            cg.apply(res)?;
        }
        let console = match &opts.console_socket {
            Some(p) => {
                Some(crate::console::connect(p).map_err(io_err("connect console socket", p))?)
            }
            None => None,
        };
        let state_dir = open(
            &dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", &dir)(e.into()))?;
        let mut saved = Saved {
            version: STATE_VERSION,
            id: opts.id.clone(),
            pid: 0,
            pid_start: 0,
            bundle: bundle.clone(),
            rootfs: loaded.rootfs.clone(),
            created: state::rfc3339(SystemTime::now()),
            owner: nix::unistd::geteuid().as_raw(),
            cgroup_root: self.cgroup_root.clone(),
            cgroup_path,
            started: false,
            config_in_bundle: opts.config_in_bundle,
        };
        let spawn = Spawn {
            spec,
            bundle: &bundle,
            rootfs: &loaded.rootfs,
            plan: &plan,
            state_dir,
            console,
            no_pivot: opts.no_pivot,
            seccomp: filter.as_ref(),
            preserve_fds: opts.preserve_fds,
            new_keyring: !opts.no_new_keyring,
        };
        let pid = spawn_init(spawn, &cg, &mut saved, &mut undo)?;
        saved.pid = pid.as_raw();
        saved.pid_start = state::process_start(saved.pid).unwrap_or(0);
        self.root.save(&saved)?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, saved.pid)?;
        }
        undo.armed = false;
        Ok(Created {
            saved,
            cgroup: cg,
            poststop: !Kind::Poststop.of(spec).is_empty(),
        })
    }

    /// Starts a created container: releases its init and runs the poststart hooks.
    pub fn start(&self, id: &str) -> Result<()> {
        let mut saved = self.root.load(id)?;
        let status = self.status(&saved);
        if status != Status::Created {
            return Err(Error::BadStatus {
                id: id.into(),
                status: status.as_str(),
                want: "created",
            });
        }
        let fifo = self.root.container_dir(id).join(EXEC_FIFO);
        release_init(&fifo, &saved)?;
        // A live init without its fifo is running (see `status`): the state needs
        // `started` only while the fifo is still there, which spares a write per start.
        if std::fs::remove_file(&fifo).is_err() {
            saved.started = true;
            self.root.save(&saved)?;
        }
        if let Some(spec) = self.spec_with_hooks(&saved, Kind::Poststart)? {
            let state = self.oci_state(&saved, Some(&spec));
            let hooks = Kind::Poststart.of(&spec);
            if let Err(e) = hooks::run(Kind::Poststart, hooks, &to_json(&state)) {
                crate::log::warn(&format!("{e}"));
            }
        }
        Ok(())
    }

    /// The saved spec, parsed only when it has hooks of `kind`: `start` and `delete` need
    /// it for nothing else, and they are on every container's path.
    pub(crate) fn spec_with_hooks(&self, saved: &Saved, kind: Kind) -> Result<Option<Spec>> {
        let raw = self.root.load_config_of(saved)?;
        let key = format!("\"{}\"", kind.name());
        if !raw.windows(key.len()).any(|w| w == key.as_bytes()) {
            return Ok(None);
        }
        Ok(Some(spec::parse(&self.root.config_path(saved), &raw)?))
    }

    /// The spec saved when the container was created.
    pub fn saved_spec(&self, id: &str) -> Result<Spec> {
        let saved = self.root.load(id)?;
        let raw = self.root.load_config_of(&saved)?;
        Ok(spec::parse(&self.root.config_path(&saved), &raw)?)
    }

    /// The state of a container as the OCI `state` operation reports it.
    pub fn oci_state(&self, saved: &Saved, spec: Option<&Spec>) -> OciState {
        let status = self.status(saved);
        OciState {
            oci_version: OCI_VERSION.into(),
            id: saved.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                saved.pid
            },
            status: status.as_str().into(),
            bundle: saved.bundle.clone(),
            rootfs: saved.rootfs.clone(),
            created: saved.created.clone(),
            owner: user_name(saved.owner),
            annotations: spec.and_then(|s| s.annotations().clone()),
        }
    }

    /// The cgroup of a saved container.
    pub fn cgroup(&self, saved: &Saved) -> Result<Manager> {
        self.manager(&saved.cgroup_root, &saved.cgroup_path)
    }

    /// The status of a container, read from the live system.
    pub fn status(&self, saved: &Saved) -> Status {
        if saved.pid == 0 {
            return Status::Creating;
        }
        match state::process_start(saved.pid) {
            Some(start) if start == saved.pid_start => {}
            _ => return Status::Stopped,
        }
        if !saved.started && self.root.container_dir(&saved.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        let frozen = self
            .cgroup(saved)
            .and_then(|cg| Ok(cg.is_frozen()?))
            .unwrap_or(false);
        if frozen {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// A container's life stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, waiting for start.
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Its process has exited.
    Stopped,
}

impl Status {
    /// The name used in state JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Serializes state for hooks and output.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The name of `uid` from /etc/passwd (no NSS: the shipped binary is static), or the
/// number itself.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Compiles the spec's seccomp filter, reusing one compiled before from the same profile
/// (libseccomp takes ~15 ms for Docker's default profile).
pub(crate) fn compile_seccomp(root: &Root, spec: &Spec) -> Result<Option<seccomp::Filter>> {
    let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    // '@' cannot appear in a container id, so this never clashes with a container.
    let cache = seccomp::FilterCache::new(root.path().join("@seccomp"));
    Ok(Some(cache.compile(sc)?))
}

fn check_console(terminal: bool, socket: Option<&Path>) -> Result<()> {
    match (terminal, socket) {
        (true, None) => Err(Error::Usage(
            "process.terminal is true: --console-socket is required".into(),
        )),
        (false, Some(_)) => Err(Error::Usage(
            "--console-socket given but process.terminal is false".into(),
        )),
        _ => Ok(()),
    }
}

fn make_fifo(path: &Path) -> Result<()> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o622))
        .map_err(|e| io_err("mkfifo", path)(e.into()))?;
    // mkfifo is subject to the umask; the init may run as any user and must open it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o622))
        .map_err(io_err("chmod", path))
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    state::write_atomic(path, pid.to_string().as_bytes()).map_err(Error::from)
}

/// What the parent prepared for the init.
struct Spawn<'a> {
    spec: &'a Spec,
    bundle: &'a Path,
    rootfs: &'a Path,
    plan: &'a Plan,
    state_dir: OwnedFd,
    console: Option<UnixStream>,
    no_pivot: bool,
    seccomp: Option<&'a seccomp::Filter>,
    preserve_fds: i32,
    new_keyring: bool,
}

/// The container's cgroup2 directory, open for clone3's `CLONE_INTO_CGROUP` (None if it
/// cannot be opened: the init is then moved there after the fork instead).
fn open_cgroup_dir(dir: &Path) -> Option<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    open(dir, flags, Mode::empty()).ok()
}

/// Forks the init and walks it through setup; returns its pid once it waits for `start`.
fn spawn_init(sp: Spawn, cg: &Manager, saved: &mut Saved, undo: &mut Undo) -> Result<Pid> {
    let (parent, child) = sync::pair().map_err(io_err("socketpair", Path::new("sync")))?;
    join_for_children(sp.spec, sp.plan)?;
    let unified = cg.unified_dir().and_then(open_cgroup_dir);
    let cgroup_dirs = cg.v1_dirs();
    let placed =
        match namespaces::fork_into(sp.plan.clone_flags(), unified.as_ref().map(|f| f.as_fd()))? {
            Forked::Child => {
                drop(parent);
                init::run(Init {
                    spec: sp.spec,
                    bundle: sp.bundle,
                    rootfs: sp.rootfs,
                    plan: sp.plan,
                    channel: child,
                    state_dir: sp.state_dir,
                    console: sp.console,
                    no_pivot: sp.no_pivot,
                    seccomp: sp.seccomp,
                    preserve_fds: sp.preserve_fds,
                    new_keyring: sp.new_keyring.then_some(sp.spec),
                    cgroup_dirs: Some(&cgroup_dirs),
                })
            }
            Forked::Parent(pid, placed) => (pid, placed),
        };
    let (pid, in_unified) = placed;
    drop(child);
    undo.child = Some(pid);
    if in_unified {
        cg.add_process_beside_unified(pid.as_raw())?;
    } else {
        cg.add_process(pid.as_raw())?;
    }
    if sp.plan.creates(LinuxNamespaceType::User) {
        let linux = sp.spec.linux().as_ref();
        let uid = linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default();
        let gid = linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default();
        namespaces::write_id_maps(pid, &uid, &gid)?;
    }
    let init_err = |e: String| Error::Init(e);
    saved.pid = pid.as_raw();
    let state = to_json(&creating_state(saved, sp.spec));
    parent.send(&Msg::Go).map_err(|e| init_err(e.to_string()))?;
    if init::hooks_before_pivot(sp.spec) {
        parent
            .expect(Msg::RunCreateRuntimeHooks)
            .map_err(init_err)?;
        hooks::run(Kind::Prestart, Kind::Prestart.of(sp.spec), &state)?;
        hooks::run(Kind::CreateRuntime, Kind::CreateRuntime.of(sp.spec), &state)?;
        parent
            .send(&Msg::Continue(state))
            .map_err(|e| init_err(e.to_string()))?;
    } else {
        // Nothing runs between the init's mounts and its pivot_root: its go-ahead is queued
        // at once and it does not report that point, so neither side waits for the other to
        // be woken up there. A send refused because the init died is reported with the
        // init's own message.
        let sent = parent.send(&Msg::Continue(state));
        parent.expect(Msg::Ready).map_err(init_err)?;
        return sent.map(|()| pid).map_err(|e| init_err(e.to_string()));
    }
    parent.expect(Msg::Ready).map_err(init_err)?;
    Ok(pid)
}

fn creating_state(saved: &Saved, spec: &Spec) -> OciState {
    OciState {
        oci_version: OCI_VERSION.into(),
        id: saved.id.clone(),
        pid: saved.pid,
        status: "creating".into(),
        bundle: saved.bundle.clone(),
        rootfs: saved.rootfs.clone(),
        created: saved.created.clone(),
        owner: String::new(),
        annotations: spec.annotations().clone(),
    }
}

/// Joins, in this (disposable) process, the namespaces that only affect children (pid,
/// time) and those a new user namespace could no longer join (net, ipc, uts, cgroup), so
/// the init is born in them. A new time namespace is unshared here so its offsets can be
/// written before the init enters it.
fn join_for_children(spec: &Spec, plan: &Plan) -> Result<()> {
    namespaces::join_where(&plan.join, |t| {
        !matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Mount)
    })?;
    if plan.creates(LinuxNamespaceType::Time) {
        nix::sched::unshare(namespaces::flag(LinuxNamespaceType::Time)).map_err(|source| {
            namespaces::NsError::Sys {
                op: "unshare time namespace",
                source,
            }
        })?;
        if let Some(off) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.time_offsets().as_ref())
        {
            namespaces::write_time_offsets(off)?;
        }
    }
    Ok(())
}

/// Opens the exec fifo for reading, which lets the init's blocked open finish, and waits
/// for its byte. Fails if the init dies first.
fn release_init(fifo: &Path, saved: &Saved) -> Result<()> {
    let fd = open(
        fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", fifo)(e.into()))?;
    loop {
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        let n = match poll(&mut fds, PollTimeout::from(100u16)) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.map_err(|e| io_err("poll", fifo)(e.into()))?,
        };
        if n > 0 {
            let mut b = [0u8; 1];
            match nix::unistd::read(&fd, &mut b) {
                Ok(1) => return Ok(()),
                Err(nix::errno::Errno::EAGAIN) => continue,
                _ => {}
            }
        }
        if state::process_start(saved.pid) != Some(saved.pid_start) {
            return Err(Error::Init("container init exited before start".into()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
