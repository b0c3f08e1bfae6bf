//! `cgroup` and `cgroup2` mounts. On a cgroup v1 host a `cgroup` mount becomes a tmpfs with
//! one directory per hierarchy: the container's own cgroup of that hierarchy bound there (or,
//! with a cgroup namespace, a fresh mount of the hierarchy), co-mounted controllers linked
//! (`cpu -> cpu,cpuacct`), the tmpfs read-only if asked. On a v2 host (or for `cgroup2`), a
//! fresh cgroup2 mount with a cgroup namespace, else a bind of the container's cgroup directory.

use std::borrow::Cow;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use nix::unistd::symlinkat;

use super::mounts::{self, Entry};
use super::options::{IdMap, MountOptions};
use super::sys::{self, Attr};
use super::{mountinfo, Ctx, Error};

/// noexec, nosuid, nodev: the flags of the cgroup tmpfs and of fresh v1 hierarchies.
const DEFAULT_FLAGS: MsFlags = MsFlags::MS_NOEXEC
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV);

/// A `cgroup` mount: v1 or v2 as the host is.
pub(super) fn mount(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    let st = statfs("/sys/fs/cgroup").map_err(|errno| Error::Sys {
        op: "statfs",
        path: PathBuf::from("/sys/fs/cgroup"),
        errno,
    })?;
    if st.filesystem_type() == CGROUP2_SUPER_MAGIC {
        mount_v2(ctx, e)
    } else {
        mount_v1(ctx, e)
    }
}

/// A cgroup v2 mount.
pub(super) fn mount_v2(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    if ctx.opts.cgroup_ns {
        let fresh = Entry::derived(
            e.index,
            e.dest.clone(),
            "cgroup2",
            e.source
                .clone()
                .unwrap_or(Cow::Borrowed(Path::new("cgroup2"))),
            options(e.opts.flags, e.opts.cleared, &e.opts, &e.opts.data),
        );
        match mounts::fresh(ctx, &fresh) {
            // Refused in a user namespace without its own cgroup namespace: bind instead.
            Err(Error::Mount {
                errno: Errno::EPERM | Errno::EBUSY,
                ..
            }) => {}
            r => return r,
        }
    }
    let cgroups = mountinfo::read("/proc/self/cgroup")?;
    let infos = mountinfo::read("/proc/self/mountinfo")?;
    let own = mountinfo::cgroup_lines(&cgroups)
        .find(|(ctl, _)| ctl.is_empty())
        .map(|(_, p)| p);
    let mi = mountinfo::parse(&infos).find(|m| m.fstype == "cgroup2");
    let (Some(own), Some(mi)) = (own, mi) else {
        return Err(missing(e, "no cgroup2 hierarchy is mounted or joined"));
    };
    let host = host_dir(e, &mi, own)?;
    let bind = Entry::derived(
        e.index,
        e.dest.clone(),
        "cgroup2",
        Cow::Owned(host),
        options(e.opts.flags | MsFlags::MS_BIND, e.opts.cleared, &e.opts, ""),
    );
    mounts::bind(ctx, &bind)
}

/// A cgroup v1 mount: tmpfs plus one entry per hierarchy the container is in: the
/// runtime's directories when it gave them (and no cgroup namespace is in use), else those
/// of /proc/self/cgroup, found in the mount table.
fn mount_v1(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    let given = ctx.opts.cgroup_dirs.filter(|_| !ctx.opts.cgroup_ns);
    let found = match given {
        Some(_) => None,
        None => Some((
            mountinfo::read("/proc/self/cgroup")?,
            mountinfo::read("/proc/self/mountinfo")?,
        )),
    };
    let tmpfs = Entry::derived(
        e.index,
        e.dest.clone(),
        "tmpfs",
        Cow::Borrowed(Path::new("tmpfs")),
        options(DEFAULT_FLAGS, MsFlags::empty(), &e.opts, "mode=755"),
    );
    mounts::fresh(ctx, &tmpfs)?;
    let top = mounts::reopen(ctx, e)?;
    for (mount, dir) in given.unwrap_or_default() {
        let Some(name) = mount.file_name() else {
            continue;
        };
        bind_hierarchy(ctx, e, top.as_fd(), name, dir.clone())?;
    }
    if let Some((cgroups, infos)) = &found {
        mount_joined(ctx, e, top.as_fd(), cgroups, infos)?;
    }
    if e.opts.is_ro() {
        let attr = Attr {
            set: libc::MOUNT_ATTR_RDONLY,
            ..Attr::default()
        };
        sys::setattr_fd(top.as_fd(), false, &attr)
            .map_err(|errno| ctx.mount_err("remount read-only", "tmpfs", &e.dest, errno))?;
    }
    Ok(())
}

/// One entry per v1 hierarchy of /proc/self/cgroup (`cgroups`) mounted (`infos`).
fn mount_joined(
    ctx: &Ctx,
    e: &Entry,
    top: BorrowedFd<'_>,
    cgroups: &str,
    infos: &str,
) -> Result<(), Error> {
    for (controllers, own) in mountinfo::cgroup_lines(cgroups) {
        if controllers.is_empty() {
            continue;
        }
        let Some(mi) = mountinfo::parse(infos).find(|m| holds(m, controllers)) else {
            continue;
        };
        hierarchy(ctx, e, top, &mi, controllers, own)?;
    }
    Ok(())
}

/// Whether a mountinfo entry is the v1 hierarchy of these controllers.
fn holds(m: &mountinfo::MountInfo, controllers: &str) -> bool {
    m.fstype == "cgroup"
        && controllers
            .split(',')
            .all(|c| m.super_opts.split(',').any(|o| o == c))
}

/// Mounts one v1 hierarchy under the cgroup tmpfs (`top`), named as on the host.
fn hierarchy(
    ctx: &Ctx,
    e: &Entry,
    top: BorrowedFd<'_>,
    mi: &mountinfo::MountInfo,
    controllers: &str,
    own: &str,
) -> Result<(), Error> {
    let mount_point = mi.mount_point();
    let name = Path::new(mount_point.as_ref())
        .file_name()
        .unwrap_or(controllers.as_ref());
    let dest = Cow::Owned(e.dest.join(name));
    if ctx.opts.cgroup_ns {
        let flags = DEFAULT_FLAGS | (e.opts.flags & MsFlags::MS_RDONLY);
        let opts = options(flags, MsFlags::empty(), &e.opts, controllers);
        let source = Cow::Borrowed(Path::new("cgroup"));
        mounts::fresh(ctx, &Entry::derived(e.index, dest, "cgroup", source, opts))?;
        link_comounted(ctx, e, top, name)
    } else {
        bind_hierarchy(ctx, e, top, name, host_dir(e, mi, own)?)
    }
}

/// Binds the container's directory `host` of one v1 hierarchy under the cgroup tmpfs
/// (`top`) as `name` (the hierarchy's name on the host), co-mounted names linked.
fn bind_hierarchy(
    ctx: &Ctx,
    e: &Entry,
    top: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    host: PathBuf,
) -> Result<(), Error> {
    let dest = Cow::Owned(e.dest.join(name));
    let flags = e.opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC;
    let opts = options(flags, e.opts.cleared, &e.opts, "");
    let bind = Entry::derived(e.index, dest, "cgroup", Cow::Owned(host), opts);
    mounts::bind_into_fresh(ctx, &bind, top, name)?;
    link_comounted(ctx, e, top, name)
}

/// `cpu -> cpu,cpuacct` and `cpuacct -> cpu,cpuacct` for a co-mounted hierarchy.
fn link_comounted(
    ctx: &Ctx,
    e: &Entry,
    top: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
) -> Result<(), Error> {
    let Some(s) = name.to_str().filter(|s| s.contains(',')) else {
        return Ok(());
    };
    for part in s.split(',') {
        match symlinkat(name, top, part) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(ctx.in_root_err("symlink", &e.dest.join(part), errno)),
        }
    }
    Ok(())
}

/// The host directory of the container's cgroup in a hierarchy: the mount point plus the
/// cgroup path relative to the mount's root.
fn host_dir(e: &Entry, mi: &mountinfo::MountInfo, own: &str) -> Result<PathBuf, Error> {
    let rel = if mi.root == "/" {
        Some(own)
    } else {
        own.strip_prefix(mi.root)
            .filter(|r| r.is_empty() || r.starts_with('/'))
    };
    let Some(rel) = rel else {
        let reason = format!("cgroup {own} is outside the mounted part {}", mi.root);
        return Err(missing(e, &reason));
    };
    let mut p = PathBuf::from(mi.mount_point().as_ref());
    p.push(rel.trim_start_matches('/'));
    Ok(p)
}

/// Options for a derived mount: the given flags, the spec mount's propagation, and data.
fn options(flags: MsFlags, cleared: MsFlags, from: &MountOptions, data: &str) -> MountOptions {
    MountOptions {
        flags,
        cleared,
        propagation: from.propagation.clone(),
        rec_set: 0,
        rec_clr: 0,
        idmap: IdMap::No,
        data: data.to_owned(),
    }
}

fn missing(e: &Entry, reason: &str) -> Error {
    Error::Config {
        field: format!("mounts[{}]", e.index),
        reason: format!("cgroup mount on {}: {reason}", e.dest.display()),
    }
}
