//! Control groups for berth: one [`Manager`] that places processes into a container's cgroup,
//! applies OCI `linux.resources`, freezes and thaws, signals and lists every member, reports
//! statistics and removes the cgroup. Cgroups v1 and v2 are detected at run time; both backends
//! take the cgroup filesystem root as a parameter so tests can point them at a fake tree.
//!
//! Typical use by the runtime: [`Manager::new`], [`Manager::validate`] (nothing is created
//! if the spec is unusable), [`Manager::create`], [`Manager::apply`],
//! [`Manager::add_process`]; later [`Manager::apply`] again for `update`, and
//! [`Manager::destroy`] on delete.

mod devices;
mod error;
mod favor;
mod fs;
mod layout;
mod placeholder;
mod plan;
mod stats;
mod v1;
mod v2;
mod validate;

use std::path::{Component, Path, PathBuf};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub use error::{Error, Result};
pub use favor::{held_by_berth, FavorDynMods, FavorError, HIERARCHY_NAME};
pub use layout::Hierarchies;
pub use placeholder::{sweep as sweep_placeholders, Placeholder, PLACEHOLDER_PREFIX};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Scope, Stats, Throttling,
};
pub use v2::devices::{attached as attached_device_programs, Error as DeviceError};
pub use validate::validate_resources;

/// The cgroup hierarchy version in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// Legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Detects the version at `root` (normally `/sys/fs/cgroup`): cgroup2 mounted there means
/// [`Version::V2`], anything else (a tmpfs of v1 hierarchies) [`Version::V1`].
pub fn detect(root: &Path) -> Result<Version> {
    Ok(if fs::is_cgroup2(root)? {
        Version::V2
    } else {
        Version::V1
    })
}

/// A container's cgroup.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    V1(v1::V1),
    V2(v2::V2),
}

impl Manager {
    /// Opens the cgroup `cgroups_path` (from `linux.cgroupsPath`; absolute or relative, both
    /// taken from each hierarchy's root) under the cgroup filesystem at `root`, detecting the
    /// version. Nothing is created.
    pub fn new(root: &Path, cgroups_path: &Path) -> Result<Self> {
        Self::with_hierarchies(&Hierarchies::discover(root)?, cgroups_path)
    }

    /// Like [`Manager::new`] with the version given, e.g. v2 on `/sys/fs/cgroup/unified`
    /// or on a fake tree.
    pub fn with_version(root: &Path, cgroups_path: &Path, v: Version) -> Result<Self> {
        Self::with_hierarchies(&Hierarchies::with_version(root, v)?, cgroups_path)
    }

    /// Like [`Manager::new`] on hierarchies found before: nothing is read from the file
    /// system.
    pub fn with_hierarchies(h: &Hierarchies, cgroups_path: &Path) -> Result<Self> {
        let rel = relative(cgroups_path)?;
        let backend = match h.kind() {
            layout::Kind::V1 { mounts, unified } => {
                Backend::V1(v1::V1::at(mounts, unified.as_deref(), &rel))
            }
            layout::Kind::V2 => Backend::V2(v2::V2::new(h.root(), &rel)),
        };
        Ok(Self { backend })
    }

    /// The backend's version.
    pub fn version(&self) -> Version {
        match self.backend {
            Backend::V1(_) => Version::V1,
            Backend::V2(_) => Version::V2,
        }
    }

    /// Checks `res` before anything is created: value ranges (errors name the field, e.g.
    /// `linux.resources.cpu.shares: must be between 2 and 262144, got 1`), then whether this
    /// host can apply every setting (controllers mounted or available, no v2-only keys on v1).
    pub fn validate(&self, res: &LinuxResources) -> Result<()> {
        validate_resources(res)?;
        match &self.backend {
            Backend::V1(b) => b.check(res),
            Backend::V2(b) => b.check(res),
        }
    }

    /// Creates the cgroup: in every v1 hierarchy (and the unified tree on hybrid hosts), or
    /// the v2 directory.
    pub fn create(&self) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.create(),
            Backend::V2(b) => b.create(),
        }
    }

    /// Each v1 hierarchy's mount point and the container's directory in it, in the order
    /// the hierarchies were found (empty on cgroup v2).
    pub fn v1_dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        match &self.backend {
            Backend::V1(b) => b.mounts_and_dirs(),
            Backend::V2(_) => Vec::new(),
        }
    }

    /// [`Manager::create`] taking the v1 directories of `placeholder` where it has them
    /// in the same parent (renamed to the container's name, see [`Placeholder`]); without
    /// one, or on cgroup v2, the same as `create`.
    pub fn create_from(&self, placeholder: Option<&Placeholder>) -> Result<()> {
        match (&self.backend, placeholder) {
            (Backend::V1(b), Some(p)) => b.create_from(p),
            _ => self.create(),
        }
    }

    /// Moves `pid` into the cgroup everywhere.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.add_process(pid),
            Backend::V2(b) => b.add_process(pid),
        }
    }

    /// The cgroup's directory in the unified (cgroup2) tree, if it has one: a process can
    /// be created there directly (clone3's `CLONE_INTO_CGROUP` with this directory open),
    /// which costs no migration; then [`Manager::add_process_beside_unified`] places it
    /// in the rest.
    pub fn unified_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::V1(b) => b.unified_dir(),
            Backend::V2(b) => Some(b.dir()),
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy except the unified one (where it
    /// was created).
    pub fn add_process_beside_unified(&self, pid: i32) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.add_process_v1_only(pid),
            Backend::V2(_) => Ok(()),
        }
    }

    /// Applies `res` (also used for `update`). Validates first; nothing is written when a
    /// value is out of range or unsupported here.
    pub fn apply(&self, res: &LinuxResources) -> Result<()> {
        validate_resources(res)?;
        match &self.backend {
            Backend::V1(b) => b.apply(res),
            Backend::V2(b) => b.apply(res),
        }
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup and waits until the kernel reports it running.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.set_frozen(frozen),
            Backend::V2(b) => v2::set_frozen(b.dir(), frozen),
        }
    }

    /// How many processes of the cgroup the OOM killer ended (`oom_kill` of v1's
    /// `memory.oom_control` or v2's `memory.events`; 0 where the kernel does not count).
    pub fn oom_kills(&self) -> Result<u64> {
        let file = match &self.backend {
            Backend::V1(b) => match b.dir("memory") {
                Some(dir) => dir.join("memory.oom_control"),
                None => return Ok(0),
            },
            Backend::V2(b) => b.dir().join("memory.events"),
        };
        let content = fs::read_opt(&file)?.unwrap_or_default();
        Ok(fs::keyed_value(&content, "oom_kill").unwrap_or(0))
    }

    /// Whether the cgroup is completely frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        match &self.backend {
            Backend::V1(b) => b.is_frozen(),
            Backend::V2(b) => v2::is_frozen(b.dir()),
        }
    }

    /// Every process in the cgroup and its descendant cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        match &self.backend {
            Backend::V1(b) => b.pids(),
            Backend::V2(b) => b.pids(),
        }
    }

    /// Sends `sig` to every process. `SIGKILL` uses `cgroup.kill` where the kernel has it (v2,
    /// or the unified tree on hybrid hosts); otherwise the cgroup is frozen, each member
    /// signalled and the cgroup thawed, so no process can fork past the signal.
    pub fn signal_all(&self, sig: i32) -> Result<()> {
        let signal = Signal::try_from(sig).map_err(|_| Error::InvalidSignal { signal: sig })?;
        let (kill_file, can_freeze) = match &self.backend {
            Backend::V1(b) => (b.kill_file(), b.can_freeze()),
            Backend::V2(b) => (b.kill_file(), true),
        };
        if let (Some(file), Signal::SIGKILL) = (&kill_file, signal) {
            return fs::write_op("write cgroup.kill", file, "1");
        }
        if can_freeze {
            self.freeze()?;
        }
        let sent = self.signal_each(signal);
        if can_freeze {
            self.thaw()?;
        }
        sent
    }

    fn signal_each(&self, signal: Signal) -> Result<()> {
        for pid in self.pids()? {
            match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(source) => {
                    let signal = signal as i32;
                    return Err(Error::Signal {
                        signal,
                        pid,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resource statistics, shaped like `runc events --stats`.
    pub fn stats(&self) -> Result<Stats> {
        self.stats_of(Scope::Full)
    }

    /// The statistics `scope` names.
    pub fn stats_of(&self, scope: Scope) -> Result<Stats> {
        match &self.backend {
            Backend::V1(b) => stats::v1::read(b, scope),
            Backend::V2(b) => stats::v2::read(b.dir_buf(), scope),
        }
    }

    /// A reader of this cgroup's statistics that keeps its files open between samples.
    pub fn sampler(&self) -> Sampler {
        let dirs = match &self.backend {
            Backend::V1(b) => SampleDirs::V1(
                stats::V1_STAT_CONTROLLERS
                    .iter()
                    .filter_map(|c| b.dir(c).map(|p| (*c, stats::dir::KeptDir::new(p))))
                    .collect(),
            ),
            Backend::V2(b) => SampleDirs::V2(stats::dir::KeptDir::new(b.dir())),
        };
        Sampler { dirs }
    }

    /// Whether the cgroup exists (in any hierarchy, for v1).
    pub fn exists(&self) -> bool {
        match &self.backend {
            Backend::V1(b) => b.exists(),
            Backend::V2(b) => b.exists(),
        }
    }

    /// Removes the cgroup (and any child cgroups) everywhere, retrying briefly while the
    /// kernel still reports it busy. Missing directories are fine.
    pub fn destroy(&self) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.destroy(),
            Backend::V2(b) => b.destroy(),
        }
    }

    /// The cgroup's directories: one per v1 hierarchy (then the unified one), or the v2 one.
    pub fn paths(&self) -> Vec<PathBuf> {
        match &self.backend {
            Backend::V1(b) => b.paths(),
            Backend::V2(b) => vec![b.dir().to_path_buf()],
        }
    }
}

/// A cgroup's statistics reader that opens each file once and rereads it on every
/// sample: for a daemon that samples many containers again and again. Drop it when the
/// container stops (its files then belong to a removed cgroup).
#[derive(Debug)]
pub struct Sampler {
    dirs: SampleDirs,
}

#[derive(Debug)]
enum SampleDirs {
    V1(Vec<(&'static str, stats::dir::KeptDir)>),
    V2(stats::dir::KeptDir),
}

impl Sampler {
    /// The statistics `scope` names, read now.
    pub fn stats(&self, scope: Scope) -> Result<Stats> {
        match &self.dirs {
            SampleDirs::V1(dirs) => stats::v1::read_dirs(
                |c| {
                    dirs.iter()
                        .find(|(name, _)| *name == c)
                        .map(|(_, d)| d as &dyn stats::dir::Dir)
                },
                scope,
            ),
            SampleDirs::V2(dir) => stats::v2::read(dir, scope),
        }
    }
}

/// `cgroups_path` as a path below each hierarchy root; `..` and the root itself are refused.
fn relative(cgroups_path: &Path) -> Result<PathBuf> {
    let bad = |reason| Error::InvalidPath {
        path: cgroups_path.to_path_buf(),
        reason,
    };
    let mut rel = PathBuf::new();
    for comp in cgroups_path.components() {
        match comp {
            Component::Normal(c) => rel.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(bad("must not contain \"..\""))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(bad("must name a cgroup below the hierarchy root"));
    }
    Ok(rel)
}
