//! The container's root filesystem: mounts, /dev, pivot_root (or chroot), masked and
//! read-only paths. Everything here runs in the container's init process, already in its new
//! mount namespace, as root, before the user switch, in this order:
//!
//! 1. [`prepare`]: root propagation, the rootfs bound onto itself, every `mounts[]` entry in
//!    order (targets resolved inside the rootfs, never through a symlink out of it), /dev.
//! 2. [`enter`]: `pivot_root` (or `MS_MOVE` + `chroot` for `--no-pivot` or where pivot_root
//!    cannot work), the old root detached.
//! 3. [`bind_console`] when the container has a terminal.
//! 4. [`finalize`]: readonlyPaths, maskedPaths, deferred read-only remounts, read-only root.
//!
//! Needs Linux 5.12+ (`open_tree`, `move_mount`, `mount_setattr`, `openat2`).

mod cgroup;
mod dev;
mod finish;
mod idmap;
mod mountinfo;
mod mounts;
mod options;
mod paths;
mod pivot;
mod sys;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

/// Errors while setting up the root filesystem; each names the step and the mount, path or
/// config.json field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mount step failed, e.g. `mount proc on /proc (rootfs /x): EPERM: ...`.
    #[error("{op} {what} on {dest} (rootfs {rootfs}): {errno}")]
    Mount {
        /// The step: `mount`, `bind`, `set attributes of`, `idmap`, ...
        op: &'static str,
        /// The filesystem type, or the source of a bind mount.
        what: String,
        /// The destination inside the container.
        dest: PathBuf,
        /// The rootfs.
        rootfs: PathBuf,
        /// The system error.
        errno: Errno,
    },
    /// The kernel or the source filesystem refused an idmapped mount.
    #[error(
        "idmap {what} on {dest} (rootfs {rootfs}): the kernel or the source filesystem does \
         not support idmapped mounts: {errno}"
    )]
    IdmapUnsupported {
        /// The source of the bind mount.
        what: String,
        /// The destination inside the container.
        dest: PathBuf,
        /// The rootfs.
        rootfs: PathBuf,
        /// The system error.
        errno: Errno,
    },
    /// Opening or creating a path inside the rootfs failed.
    #[error("{op} {path} (rootfs {rootfs}): {errno}")]
    InRoot {
        /// The step, e.g. `create mount target`.
        op: &'static str,
        /// The path inside the container.
        path: PathBuf,
        /// The rootfs.
        rootfs: PathBuf,
        /// The system error.
        errno: Errno,
    },
    /// A mount destination is not allowed where it resolves.
    #[error("mounts[{index}].destination {dest}: {reason}")]
    Destination {
        /// The index in `mounts`.
        index: usize,
        /// The destination as configured.
        dest: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A config.json value is invalid, e.g. `linux.devices[2].type: ...`.
    #[error("{field}: {reason}")]
    Config {
        /// The config.json field.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A system call on a path failed (outside a specific mount), e.g. `pivot_root .: EINVAL`.
    #[error("{op} {path}: {errno}")]
    Sys {
        /// The step.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The system error.
        errno: Errno,
    },
    /// Reading or writing a file (mountinfo, /proc/self/cgroup, uid_map) failed.
    #[error("{op} {path}: {source}")]
    File {
        /// `read` or `write`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What [`prepare`], [`enter`] and [`finalize`] need to know.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Absolute path of the bundle's root (spec.root.path resolved against the bundle dir).
    pub rootfs: &'a Path,
    /// The container's configuration.
    pub spec: &'a Spec,
    /// `--no-pivot`: use `MS_MOVE` + `chroot` instead of `pivot_root`.
    pub no_pivot: bool,
    /// A user namespace is in use: devices are bind-mounted from the host instead of mknod'ed,
    /// and a refused sysfs mount falls back to a recursive bind of /sys.
    pub in_userns: bool,
    /// The container is in a network namespace other than its runtime's: made for it, or
    /// joined by path (a bridge network's, another container's). Else /sys is bound
    /// recursively from the host instead of mounting a sysfs that would show the host's
    /// network devices anyway.
    pub own_netns: bool,
    /// A cgroup namespace is in use: cgroup filesystems are mounted fresh instead of binding
    /// the container's cgroup directories.
    pub cgroup_ns: bool,
    /// The container's cgroup v1 directories as the runtime made them: each hierarchy's
    /// mount point and the container's directory in it. A `cgroup` mount without a cgroup
    /// namespace binds these, without reading /proc/self/cgroup and the mount table (a
    /// few hundred microseconds with many mounts). `None`: found from /proc/self/cgroup
    /// and /proc/self/mountinfo.
    pub cgroup_dirs: Option<&'a [(PathBuf, PathBuf)]>,
}

/// Every mount point of the calling process's mount namespace, decoded (mountinfo writes
/// a space in a path as `\040`), in the order the kernel lists them.
pub fn mount_points() -> Result<Vec<std::path::PathBuf>, Error> {
    let text = mountinfo::read("/proc/self/mountinfo")?;
    Ok(mountinfo::parse(&text)
        .map(|m| std::path::PathBuf::from(m.mount_point().into_owned()))
        .collect())
}

/// Sets up the rootfs before the switch: makes `/` `rslave` (or `linux.rootfsPropagation`),
/// the rootfs's parent mount private, binds the rootfs onto itself, performs every
/// `mounts[]` entry in order, then populates /dev (default devices, `linux.devices`, symlinks,
/// `/dev/ptmx`) unless /dev is a bind mount. Relative bind sources are resolved against the
/// current directory (the bundle, as runc runs).
pub fn prepare(opts: &Options) -> Result<(), Error> {
    pivot::prepare_root(opts)?;
    let ctx = Ctx::open(opts)?;
    mounts::mount_all(&ctx)?;
    dev::setup(&ctx)
}

/// Switches into the rootfs: `pivot_root(".", ".")` and a lazy unmount of the old root, or
/// `MS_MOVE` + `chroot(".")` when `no_pivot` is set or pivot_root refuses with EINVAL (a root
/// on the initramfs, or a runtime that itself runs chrooted). Leaves the process at `/`.
pub fn enter(opts: &Options) -> Result<(), Error> {
    pivot::enter(opts)
}

/// The steps that must come last, after [`enter`]: `linux.readonlyPaths`,
/// `linux.maskedPaths`, the read-only remount of tmpfs mounts and /dev that asked for `ro`,
/// and `root.readonly`.
pub fn finalize(opts: &Options) -> Result<(), Error> {
    finish::finalize(opts.spec)
}

/// After [`enter`] and before [`finalize`]: bind-mounts the terminal's pty slave (e.g.
/// `/dev/pts/0`) onto `/dev/console`, creating the file.
pub fn bind_console(slave_path: &Path) -> Result<(), Error> {
    finish::bind_console(slave_path)
}

/// State shared by the mount steps of [`prepare`].
struct Ctx<'a> {
    opts: &'a Options<'a>,
    /// The rootfs (after binding it onto itself), `O_PATH`.
    root: OwnedFd,
    /// The rootfs as the kernel names it (symlinks resolved), to check where targets land.
    root_real: PathBuf,
}

impl<'a> Ctx<'a> {
    fn open(opts: &'a Options<'a>) -> Result<Self, Error> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = open(opts.rootfs, flags, Mode::empty()).map_err(|errno| Error::Sys {
            op: "open rootfs",
            path: opts.rootfs.to_owned(),
            errno,
        })?;
        let mut buf = [0u8; libc::PATH_MAX as usize];
        let root_real = sys::fd_real_path(root.as_fd(), &mut buf)
            .map_err(|errno| Error::Sys {
                op: "resolve rootfs",
                path: opts.rootfs.to_owned(),
                errno,
            })?
            .to_owned();
        Ok(Self {
            opts,
            root,
            root_real,
        })
    }

    fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    fn spec(&self) -> &Spec {
        self.opts.spec
    }

    fn mount_err(&self, op: &'static str, what: &str, dest: &Path, errno: Errno) -> Error {
        Error::Mount {
            op,
            what: what.to_owned(),
            dest: dest.to_owned(),
            rootfs: self.opts.rootfs.to_owned(),
            errno,
        }
    }

    fn in_root_err(&self, op: &'static str, path: &Path, errno: Errno) -> Error {
        Error::InRoot {
            op,
            path: path.to_owned(),
            rootfs: self.opts.rootfs.to_owned(),
            errno,
        }
    }
}

/// `mount(2)` with the target given as a descriptor's `/proc/self/fd/N` path.
fn mount_on_fd(
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    let target = sys::FdPath::new(target);
    mount(source, target.as_path(), fstype, flags, data)
}
