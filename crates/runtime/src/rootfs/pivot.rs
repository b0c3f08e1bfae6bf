//! Root propagation before the mounts, and the switch into the rootfs after them:
//! `pivot_root(".", ".")` then a lazy unmount of the old root stacked on top, or `MS_MOVE` of
//! the rootfs onto `/` and `chroot(".")` where pivot_root cannot work.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::{mountinfo, options, Error, Options};

const NONE: Option<&str> = None;

/// `linux.rootfsPropagation`, or runc's default `rslave`.
fn root_propagation(opts: &Options) -> Result<MsFlags, Error> {
    let value = opts
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    match value {
        None | Some("") => Ok(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        Some(v) => options::propagation(v).ok_or_else(|| Error::Config {
            field: "linux.rootfsPropagation".into(),
            reason: format!("unknown value {v:?}"),
        }),
    }
}

/// Sets the propagation of `/`, makes the rootfs's parent mount private (or slave) so nothing
/// leaks to the host and pivot_root accepts it, and binds the rootfs onto itself so it is a
/// mount point.
pub(super) fn prepare_root(opts: &Options) -> Result<(), Error> {
    let flags = root_propagation(opts)?;
    mount(NONE, "/", NONE, flags, NONE).map_err(|errno| sys("set propagation of", "/", errno))?;
    let parent_flags = if flags.contains(MsFlags::MS_SLAVE) {
        MsFlags::MS_SLAVE
    } else {
        MsFlags::MS_PRIVATE
    };
    parent_not_shared(opts.rootfs, parent_flags)?;
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(opts.rootfs), opts.rootfs, NONE, bind, NONE)
        .map_err(|errno| sys("bind rootfs onto itself", opts.rootfs, errno))
}

/// Applies `flags` to the mount `path` is on: EINVAL means `path` is not a mount point, so
/// try its parent.
fn parent_not_shared(rootfs: &Path, flags: MsFlags) -> Result<(), Error> {
    let mut path = rootfs;
    loop {
        match mount(NONE, path, NONE, flags, NONE) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL) => match path.parent() {
                Some(p) => path = p,
                None => {
                    return Err(sys(
                        "make private the parent mount of",
                        rootfs,
                        Errno::EINVAL,
                    ))
                }
            },
            Err(errno) => return Err(sys("make private the parent mount of", rootfs, errno)),
        }
    }
}

/// Switches into the rootfs.
pub(super) fn enter(opts: &Options) -> Result<(), Error> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let root = open(opts.rootfs, flags, Mode::empty())
        .map_err(|errno| sys("open rootfs", opts.rootfs, errno))?;
    fchdir(&root).map_err(|errno| sys("chdir", opts.rootfs, errno))?;
    if opts.no_pivot {
        move_root(opts.rootfs)?;
    } else {
        match pivot() {
            Ok(()) => {}
            Err(("pivot_root into", Errno::EINVAL)) => move_root(opts.rootfs)?,
            Err((op, errno)) => return Err(sys(op, opts.rootfs, errno)),
        }
    }
    // Shared or unbindable must be applied to the new "/" itself (runc does the same).
    let flags = root_propagation(opts)?;
    if !flags.intersects(MsFlags::MS_PRIVATE | MsFlags::MS_SLAVE) {
        mount(NONE, "/", NONE, flags, NONE)
            .map_err(|errno| sys("set propagation of", "/", errno))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")`: the old root ends up stacked on the new one; make it slave so its
/// unmount does not propagate to the host, then detach it.
fn pivot() -> Result<(), (&'static str, Errno)> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).map_err(|e| ("open the old root of", e))?;
    pivot_root(".", ".").map_err(|e| ("pivot_root into", e))?;
    fchdir(&old).map_err(|e| ("chdir to the old root of", e))?;
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    mount(NONE, ".", NONE, slave, NONE).map_err(|e| ("make slave the old root of", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| ("detach the old root of", e))?;
    chdir("/").map_err(|e| ("chdir to the new root", e))
}

/// `MS_MOVE` the rootfs onto `/` and chroot into it. Full proc and sysfs mounts of the host
/// are detached first: with chroot they would stay reachable in this mount namespace and
/// would let the container mount procfs/sysfs where the kernel would otherwise refuse.
fn move_root(rootfs: &Path) -> Result<(), Error> {
    hide_host_pseudo_fs(rootfs)?;
    mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
        .map_err(|errno| sys("move onto / the rootfs", rootfs, errno))?;
    chroot(".").map_err(|errno| sys("chroot", rootfs, errno))?;
    chdir("/").map_err(|errno| sys("chdir", "/", errno))
}

fn hide_host_pseudo_fs(rootfs: &Path) -> Result<(), Error> {
    let text = mountinfo::read("/proc/self/mountinfo")?;
    // Deepest first, so a parent is not detached before its children are seen.
    let mut points: Vec<PathBuf> = mountinfo::parse(&text)
        .filter(|m| m.root == "/" && matches!(m.fstype, "proc" | "sysfs"))
        .map(|m| PathBuf::from(m.mount_point().as_ref()))
        .filter(|p| !p.starts_with(rootfs))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in &points {
        match mount(NONE, p, NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue, // already gone with a parent
            Err(errno) => return Err(sys("make slave", p, errno)),
        }
        match umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::empty(), NONE)
                    .map_err(|errno| sys("cover with tmpfs", p, errno))?;
            }
            Err(errno) => return Err(sys("unmount", p, errno)),
        }
    }
    Ok(())
}

fn sys(op: &'static str, path: impl AsRef<Path>, errno: Errno) -> Error {
    Error::Sys {
        op,
        path: path.as_ref().to_owned(),
        errno,
    }
}
