//! /dev (config-linux.md "Devices", "Default devices"): null, zero, full, random, urandom and
//! tty, then `linux.devices`, made with mknod (or bind-mounted from the host's node in a user
//! namespace, or where mknod is refused); the `fd`, `stdin`, `stdout`, `stderr` (and `core`)
//! symlinks; `/dev/ptmx -> pts/ptmx` when a devpts is mounted on /dev/pts. Nothing is done when
//! /dev is a bind mount.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{access, fchownat, symlinkat, unlinkat, AccessFlags, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use super::paths::{self, Kind};
use super::{mount_on_fd, Ctx, Error};

/// The default devices: name, host path, major, minor (all 0666 root:root character devices).
const DEFAULTS: &[(&str, &str, u64, u64)] = &[
    ("null", "/dev/null", 1, 3),
    ("zero", "/dev/zero", 1, 5),
    ("full", "/dev/full", 1, 7),
    ("random", "/dev/random", 1, 8),
    ("urandom", "/dev/urandom", 1, 9),
    ("tty", "/dev/tty", 5, 0),
];

/// Standard symlinks in /dev: target, name.
const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
];

/// A device node to make.
struct Node<'a> {
    /// Where it is in the container, for errors.
    path: &'a Path,
    /// The node on the host, bound in a user namespace.
    host: &'a Path,
    kind: SFlag,
    mode: u32,
    rdev: u64,
    uid: u32,
    gid: u32,
}

/// Populates /dev unless it is a bind mount.
pub(super) fn setup(ctx: &Ctx) -> Result<(), Error> {
    let mounts = ctx.spec().mounts().as_deref().unwrap_or(&[]);
    if mounts.iter().any(is_dev_bind) {
        return Ok(());
    }
    let dev_path = Path::new("/dev");
    let (dev, _) = paths::open_or_create(ctx.root(), dev_path, Kind::Dir)
        .map_err(|errno| ctx.in_root_err("create", dev_path, errno))?;
    let old = umask(Mode::empty());
    let made = make_nodes(ctx, dev.as_fd());
    umask(old);
    made?;
    symlinks(ctx, dev.as_fd())?;
    if mounts.iter().any(is_devpts_on_pts) {
        ptmx(ctx, dev.as_fd())?;
    }
    Ok(())
}

fn is_dev_bind(m: &Mount) -> bool {
    paths::clean(m.destination()) == Path::new("/dev")
        && (m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind"))
}

fn is_devpts_on_pts(m: &Mount) -> bool {
    m.typ().as_deref() == Some("devpts") && paths::clean(m.destination()) == Path::new("/dev/pts")
}

fn make_nodes(ctx: &Ctx, dev: BorrowedFd<'_>) -> Result<(), Error> {
    let devices = ctx
        .spec()
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[]);
    for &(name, host, major, minor) in DEFAULTS {
        let host = Path::new(host);
        if devices.iter().any(|d| paths::clean(d.path()) == host) {
            continue;
        }
        let node = Node {
            path: host,
            host,
            kind: SFlag::S_IFCHR,
            mode: 0o666,
            rdev: makedev(major, minor),
            uid: 0,
            gid: 0,
        };
        make(ctx, dev, name.as_ref(), &node)?;
    }
    for (i, d) in devices.iter().enumerate() {
        device(ctx, i, d)?;
    }
    Ok(())
}

/// One `linux.devices` entry.
fn device(ctx: &Ctx, i: usize, d: &LinuxDevice) -> Result<(), Error> {
    let field = |f: &str, reason: String| Error::Config {
        field: format!("linux.devices[{i}].{f}"),
        reason,
    };
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            let reason = "device type \"a\" cannot be created (use c, u, b or p)".into();
            return Err(field("type", reason));
        }
    };
    let path = paths::clean(d.path());
    if path.as_ref() == Path::new("/dev/ptmx") {
        return Ok(()); // the ptmx symlink (or the image's node) stands for it
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        let reason = format!("{} is not a device path", d.path().display());
        return Err(field("path", reason));
    };
    let number =
        |f: &str, v: i64| u64::try_from(v).map_err(|_| field(f, format!("must be >= 0, got {v}")));
    let rdev = makedev(number("major", d.major())?, number("minor", d.minor())?);
    let (dir, _) = paths::open_or_create(ctx.root(), parent, Kind::Dir)
        .map_err(|errno| ctx.in_root_err("create", parent, errno))?;
    let node = Node {
        path: &path,
        host: d.path(),
        kind,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        rdev,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    };
    make(ctx, dir.as_fd(), name.as_ref(), &node)
}

/// Makes one node in `dir`; an existing entry is left as it is.
fn make(ctx: &Ctx, dir: BorrowedFd<'_>, name: &Path, node: &Node) -> Result<(), Error> {
    if ctx.opts.in_userns {
        return bind_node(ctx, dir, name, node);
    }
    let mode = Mode::from_bits_truncate(node.mode);
    match mknodat(dir, name, node.kind, mode, node.rdev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_node(ctx, dir, name, node),
        Err(errno) => return Err(ctx.in_root_err("mknod", node.path, errno)),
    }
    if node.uid == 0 && node.gid == 0 {
        return Ok(());
    }
    let (uid, gid) = (Some(Uid::from_raw(node.uid)), Some(Gid::from_raw(node.gid)));
    fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|errno| ctx.in_root_err("chown", node.path, errno))
}

/// Binds the host's node onto an empty file (mknod is not allowed in a user namespace).
fn bind_node(ctx: &Ctx, dir: BorrowedFd<'_>, name: &Path, node: &Node) -> Result<(), Error> {
    match mknodat(dir, name, SFlag::S_IFREG, Mode::empty(), 0) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => return Err(ctx.in_root_err("create", node.path, errno)),
    }
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let target = openat(dir, name, flags, Mode::empty())
        .map_err(|errno| ctx.in_root_err("open", node.path, errno))?;
    mount_on_fd(
        Some(node.host),
        target.as_fd(),
        None,
        MsFlags::MS_BIND,
        None,
    )
    .map_err(|errno| ctx.mount_err("bind", &node.host.to_string_lossy(), node.path, errno))
}

fn symlinks(ctx: &Ctx, dev: BorrowedFd<'_>) -> Result<(), Error> {
    let kcore = access("/proc/kcore", AccessFlags::F_OK).is_ok();
    let core = kcore.then_some(("/proc/kcore", "core"));
    for &(target, name) in LINKS.iter().chain(core.iter()) {
        match symlinkat(target, dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => {
                return Err(ctx.in_root_err("symlink", &Path::new("/dev").join(name), errno))
            }
        }
    }
    Ok(())
}

/// `/dev/ptmx -> pts/ptmx`, so the container's devpts instance serves new terminals.
fn ptmx(ctx: &Ctx, dev: BorrowedFd<'_>) -> Result<(), Error> {
    let path = Path::new("/dev/ptmx");
    match unlinkat(dev, "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(ctx.in_root_err("remove", path, errno)),
    }
    symlinkat("pts/ptmx", dev, "ptmx").map_err(|errno| ctx.in_root_err("symlink", path, errno))
}
