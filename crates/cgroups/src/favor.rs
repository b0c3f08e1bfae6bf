//! Fast task moves on cgroup v1 hosts.
//!
//! Moving a task into a cgroup (a write to `cgroup.procs`) takes the kernel's global
//! threadgroup lock for writing. In its default mode that lock makes every first writer
//! after a quiet spell wait a full RCU grace period: 7-12 ms on a 2-core VM with HZ=250,
//! the largest single cost of starting a container on a v1 host. Mounting any cgroup v1
//! hierarchy with the `favordynmods` option switches the lock to a mode in which writers
//! do not wait (forks and exits pay a little more instead), for as long as such a
//! hierarchy exists. On v2 hosts berth does not need this: there a container's first
//! process can be created inside its cgroup.
//!
//! [`FavorDynMods::enable`] mounts an empty named hierarchy with that option inside a
//! mount namespace of its own (so it appears in no mount table a user or another
//! runtime reads) and keeps that namespace alive through a file descriptor. Dropping the
//! value, or the end of the process, releases the namespace: the mount goes, the empty
//! hierarchy is destroyed and the lock returns to its default mode.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// The named hierarchy's name. Every holder mounts the same one with the same options,
/// so several daemons share it.
pub const HIERARCHY_NAME: &str = "berth-favordynmods";

/// A held `favordynmods` hierarchy; released when dropped.
#[derive(Debug)]
pub struct FavorDynMods {
    _namespace: OwnedFd,
}

/// Why the hierarchy could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum FavorError {
    /// A step failed (an older kernel refuses the option with EINVAL).
    #[error("cgroup favordynmods: {op} {path}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: nix::Error,
    },
    /// Opening the namespace failed.
    #[error("cgroup favordynmods: open {path}: {source}")]
    Open {
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The helper thread could not run.
    #[error("cgroup favordynmods: the helper thread {0}")]
    Thread(&'static str),
}

impl FavorDynMods {
    /// Mounts the hierarchy on `mountpoint` (an existing directory; the mount is made in
    /// a private mount namespace only, the directory is unchanged for everyone else).
    /// Runs on a thread of its own, which is the only one to enter the new namespace.
    pub fn enable(mountpoint: &Path) -> Result<FavorDynMods, FavorError> {
        let at = mountpoint.to_path_buf();
        std::thread::Builder::new()
            .name("favordynmods".into())
            .spawn(move || enter_and_mount(&at))
            .map_err(|_| FavorError::Thread("cannot be started"))?
            .join()
            .map_err(|_| FavorError::Thread("panicked"))?
    }
}

/// On the calling thread: a new mount namespace, nothing propagated out of it, the
/// hierarchy mounted, the namespace opened.
fn enter_and_mount(at: &Path) -> Result<FavorDynMods, FavorError> {
    let sys = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| FavorError::Sys { op, path, source }
    };
    unshare(CloneFlags::CLONE_NEWNS).map_err(sys("unshare the mount namespace", at))?;
    let root = Path::new("/");
    mount(
        None::<&str>,
        root,
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("make private", root))?;
    let options = format!("none,name={HIERARCHY_NAME},favordynmods");
    mount(
        Some("cgroup"),
        at,
        Some("cgroup"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(options.as_str()),
    )
    .map_err(sys("mount a named cgroup hierarchy on", at))?;
    let ns = PathBuf::from("/proc/thread-self/ns/mnt");
    let file = File::open(&ns).map_err(|source| FavorError::Open { path: ns, source })?;
    Ok(FavorDynMods {
        _namespace: file.into(),
    })
}

/// Whether a `favordynmods` hierarchy exists now (ours or anyone's): `/proc/self/cgroup`
/// lists every hierarchy, and ours by its name.
pub fn held_by_berth() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .map(|s| {
            s.lines()
                .any(|l| l.split(':').nth(1) == Some(&format!("name={HIERARCHY_NAME}")))
        })
        .unwrap_or(false)
}
