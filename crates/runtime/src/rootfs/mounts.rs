//! The `mounts[]` entries, one at a time. Targets are opened (or created) inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)` and checked to land inside it (and not inside /proc); new
//! filesystems are mounted with mount(2) on the target's `/proc/self/fd/N`; bind mounts are
//! cloned with `open_tree`, attached with `move_mount` and adjusted with `mount_setattr`, so a
//! read-only bind keeps the (possibly locked) nosuid/nodev/noexec flags of its source.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, mkdirat, Mode};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use oci_spec::runtime::{LinuxIdMapping, Mount};

use super::options::{IdMap, MountOptions};
use super::paths::{self, Kind};
use super::sys::{self, Attr};
use super::{cgroup, idmap, mount_on_fd, Ctx, Error};

/// Files under /proc that may be mount targets (what lxcfs and similar emulate).
const PROC_ALLOWED: &[&str] = &[
    "cpuinfo",
    "diskstats",
    "meminfo",
    "stat",
    "swaps",
    "uptime",
    "loadavg",
    "slabinfo",
    "sys/kernel/ns_last_pid",
    "sys/crypto/fips_enabled",
];

/// One mount as the steps need it: the spec entry, or one derived from it (cgroup parts).
pub(super) struct Entry<'m> {
    /// Index in `mounts`, for errors.
    pub index: usize,
    /// The destination, lexically cleaned and absolute.
    pub dest: Cow<'m, Path>,
    /// The filesystem type (empty if none).
    pub typ: &'m str,
    /// The source.
    pub source: Option<Cow<'m, Path>>,
    /// The parsed options.
    pub opts: MountOptions,
    /// `uidMappings` for idmapped mounts.
    pub uid_mappings: Option<&'m [LinuxIdMapping]>,
    /// `gidMappings` for idmapped mounts.
    pub gid_mappings: Option<&'m [LinuxIdMapping]>,
}

impl<'m> Entry<'m> {
    fn new(index: usize, m: &'m Mount) -> Self {
        let typ = m.typ().as_deref().unwrap_or("");
        let mut opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        if typ == "bind" {
            opts.flags |= MsFlags::MS_BIND;
        }
        Self {
            index,
            dest: paths::clean(m.destination()),
            typ,
            source: m.source().as_deref().map(Cow::Borrowed),
            opts,
            uid_mappings: m.uid_mappings().as_deref(),
            gid_mappings: m.gid_mappings().as_deref(),
        }
    }

    /// A derived mount of `typ` at `dest` that no config field names directly.
    pub(super) fn derived(
        index: usize,
        dest: Cow<'m, Path>,
        typ: &'m str,
        source: Cow<'m, Path>,
        opts: MountOptions,
    ) -> Self {
        Self {
            index,
            dest,
            typ,
            source: Some(source),
            opts,
            uid_mappings: None,
            gid_mappings: None,
        }
    }

    /// What to call the mount in errors: the source of a bind mount, else the type.
    pub(super) fn what(&self) -> Cow<'_, str> {
        match (&self.source, self.opts.is_bind()) {
            (Some(s), true) => s.to_string_lossy(),
            _ => Cow::Borrowed(self.typ),
        }
    }
}

/// Whether a mount's `ro` waits for [`super::finalize`]: /dev must be filled first, and tmpfs
/// mounts may get other mounts on top of them (as runc does).
pub(super) fn defers_ro(typ: &str, dest: &Path, opts: &MountOptions) -> bool {
    !opts.is_bind() && (typ == "tmpfs" || dest == Path::new("/dev"))
}

/// Performs every `mounts[]` entry in order.
pub(super) fn mount_all(ctx: &Ctx) -> Result<(), Error> {
    let Some(list) = ctx.spec().mounts() else {
        return Ok(());
    };
    for (index, m) in list.iter().enumerate() {
        mount_one(ctx, &Entry::new(index, m))?;
    }
    Ok(())
}

fn mount_one(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    if e.dest == Path::new("/") {
        return Err(dest_err(e, "cannot mount over the rootfs itself".into()));
    }
    if e.opts.is_bind() {
        return bind(ctx, e);
    }
    match e.typ {
        "cgroup" => cgroup::mount(ctx, e),
        "cgroup2" => cgroup::mount_v2(ctx, e),
        "sysfs" if !ctx.opts.own_netns => bind_host_sys(ctx, e),
        _ => fresh(ctx, e),
    }
}

/// Mounts a new filesystem instance (proc, tmpfs, devpts, mqueue, sysfs, ...).
pub(super) fn fresh(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    let (target, existed) = target(ctx, e, Kind::Dir, e.typ == "proc")?;
    let mut flags = e.opts.flags;
    if defers_ro(e.typ, &e.dest, &e.opts) {
        flags.remove(MsFlags::MS_RDONLY);
    }
    let data = if e.typ == "tmpfs" && existed {
        Cow::Owned(keep_mode(ctx, e, target.as_fd())?)
    } else {
        Cow::Borrowed(e.opts.data.as_str())
    };
    let source = e.source.as_deref().unwrap_or(Path::new(e.typ));
    let data = (!data.is_empty()).then_some(data.as_ref());
    match mount_on_fd(Some(source), target.as_fd(), Some(e.typ), flags, data) {
        Ok(()) => {}
        Err(Errno::EPERM) if e.typ == "sysfs" && ctx.opts.in_userns => {
            return bind_host_sys(ctx, e)
        }
        Err(errno) => return Err(ctx.mount_err("mount", e.typ, &e.dest, errno)),
    }
    if e.opts.propagation.is_empty() && e.opts.rec_set == 0 && e.opts.rec_clr == 0 {
        return Ok(());
    }
    let top = reopen(ctx, e)?;
    apply_attrs(ctx, e, top.as_fd())
}

/// A tmpfs over an existing directory keeps the directory's mode unless the options say
/// otherwise (a later `mode=` wins).
fn keep_mode(ctx: &Ctx, e: &Entry, target: BorrowedFd<'_>) -> Result<String, Error> {
    let st = fstat(target).map_err(|errno| ctx.in_root_err("stat mount target", &e.dest, errno))?;
    let mut data = format!("mode={:04o}", st.st_mode & 0o7777);
    if !e.opts.data.is_empty() {
        data.push(',');
        data.push_str(&e.opts.data);
    }
    Ok(data)
}

/// Opens the mount now on top of the destination (the descriptor of the target still names
/// the directory underneath).
pub(super) fn reopen(ctx: &Ctx, e: &Entry) -> Result<OwnedFd, Error> {
    paths::open(ctx.root(), &e.dest, OFlag::O_PATH)
        .map_err(|errno| ctx.in_root_err("reopen mount", &e.dest, errno))
}

/// Binds `source` (a host path) onto the destination.
pub(super) fn bind(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    let tree = clone_source(ctx, e)?;
    let st =
        fstat(tree.as_fd()).map_err(|errno| ctx.mount_err("stat", &e.what(), &e.dest, errno))?;
    let kind = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Kind::Dir
    } else {
        Kind::File
    };
    let is_proc = fstatfs(tree.as_fd()).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC);
    let (target, _) = target(ctx, e, kind, is_proc)?;
    attach(ctx, e, tree.as_fd(), Dest::Fd(target.as_fd()), false)
}

/// Binds a directory `source` onto a new directory `name` in `dir`, a filesystem this init
/// has just mounted: nothing there comes from the image, so the checked lookup inside the
/// rootfs (and its five system calls) is not needed. An existing `name` takes [`bind`].
pub(super) fn bind_into_fresh(
    ctx: &Ctx,
    e: &Entry,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<(), Error> {
    match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return bind(ctx, e),
        Err(errno) => return Err(ctx.in_root_err("create mount target", &e.dest, errno)),
    }
    let tree = clone_source(ctx, e)?;
    attach(ctx, e, tree.as_fd(), Dest::At(dir, name), false)
}

/// A detached copy of the bind source's mount (tree, with `rbind`).
fn clone_source(ctx: &Ctx, e: &Entry) -> Result<OwnedFd, Error> {
    let Some(source) = e.source.as_deref() else {
        return Err(Error::Config {
            field: format!("mounts[{}].source", e.index),
            reason: "a bind mount needs a source".into(),
        });
    };
    let recursive = e.opts.flags.contains(MsFlags::MS_REC);
    sys::clone_tree(source, recursive)
        .map_err(|errno| ctx.mount_err("bind", &e.what(), &e.dest, errno))
}

/// Without its own network namespace a container cannot get a sysfs of its own (nor can an
/// unprivileged one): bind the host's /sys recursively, with the mount's flags on every part.
fn bind_host_sys(ctx: &Ctx, e: &Entry) -> Result<(), Error> {
    let tree = sys::clone_tree(Path::new("/sys"), true)
        .map_err(|errno| ctx.mount_err("bind /sys as", e.typ, &e.dest, errno))?;
    let (target, _) = target(ctx, e, Kind::Dir, false)?;
    attach(ctx, e, tree.as_fd(), Dest::Fd(target.as_fd()), true)
}

/// Where [`attach`] puts a detached mount.
#[derive(Clone, Copy)]
enum Dest<'f> {
    /// On what the descriptor refers to (a target opened inside the rootfs).
    Fd(BorrowedFd<'f>),
    /// On a name in a directory (see [`bind_into_fresh`]).
    At(BorrowedFd<'f>, &'f OsStr),
}

/// Attaches a detached mount tree on the target, idmapping it first if asked, then sets its
/// flags (on the top mount, or on all of them with `flags_recursive`), propagation and
/// recursive attributes.
fn attach(
    ctx: &Ctx,
    e: &Entry,
    tree: BorrowedFd<'_>,
    dest: Dest<'_>,
    flags_recursive: bool,
) -> Result<(), Error> {
    if e.opts.idmap != IdMap::No {
        idmap::apply(ctx, e, tree)?;
    }
    match dest {
        Dest::Fd(target) => sys::move_mount(tree, target),
        Dest::At(dir, name) => sys::move_mount_at(tree, dir, name),
    }
    .map_err(|errno| ctx.mount_err("bind", &e.what(), &e.dest, errno))?;
    let (set, clr) = e.opts.bind_attr();
    let attr = Attr {
        set,
        clr,
        ..Attr::default()
    };
    if !attr.is_empty() {
        sys::setattr_fd(tree, flags_recursive, &attr)
            .map_err(|errno| ctx.mount_err("set flags of", &e.what(), &e.dest, errno))?;
    }
    apply_attrs(ctx, e, tree)
}

/// Applies the propagation options and the recursive `r*` attributes to a mounted mount.
fn apply_attrs(ctx: &Ctx, e: &Entry, mnt: BorrowedFd<'_>) -> Result<(), Error> {
    for p in &e.opts.propagation {
        let attr = Attr {
            propagation: p.difference(MsFlags::MS_REC).bits(),
            ..Attr::default()
        };
        sys::setattr_fd(mnt, p.contains(MsFlags::MS_REC), &attr)
            .map_err(|errno| ctx.mount_err("set propagation of", &e.what(), &e.dest, errno))?;
    }
    let attr = Attr {
        set: e.opts.rec_set,
        clr: e.opts.rec_clr,
        ..Attr::default()
    };
    if attr.is_empty() {
        return Ok(());
    }
    sys::setattr_fd(mnt, true, &attr)
        .map_err(|errno| ctx.mount_err("set recursive flags of", &e.what(), &e.dest, errno))
}

/// Opens or creates the mount target inside the rootfs and checks where it really is: inside
/// the rootfs, not the rootfs itself, and not inside /proc (only a proc filesystem, or a bind of
/// one, may cover /proc itself). Returns the target and whether it existed.
pub(super) fn target(
    ctx: &Ctx,
    e: &Entry,
    kind: Kind,
    proc_source: bool,
) -> Result<(OwnedFd, bool), Error> {
    let (fd, existed) = paths::open_or_create(ctx.root(), &e.dest, kind)
        .map_err(|errno| ctx.in_root_err("create mount target", &e.dest, errno))?;
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let real = sys::fd_real_path(fd.as_fd(), &mut buf)
        .map_err(|errno| ctx.in_root_err("resolve mount target", &e.dest, errno))?;
    let Ok(rel) = real.strip_prefix(&ctx.root_real) else {
        let reason = format!("resolves to {}, outside the rootfs", real.display());
        return Err(dest_err(e, reason));
    };
    if rel.as_os_str().is_empty() {
        return Err(dest_err(e, "resolves to the rootfs itself".into()));
    }
    if let Ok(in_proc) = rel.strip_prefix("proc") {
        if in_proc.as_os_str().is_empty() {
            if !proc_source {
                let reason = "only a proc filesystem can be mounted on /proc".into();
                return Err(dest_err(e, reason));
            }
        } else if !PROC_ALLOWED.iter().any(|p| in_proc == Path::new(p)) {
            let reason = format!("resolves to /{}, inside /proc", rel.display());
            return Err(dest_err(e, reason));
        }
    }
    Ok((fd, existed))
}

fn dest_err(e: &Entry, reason: String) -> Error {
    Error::Destination {
        index: e.index,
        dest: e.dest.clone().into_owned(),
        reason,
    }
}
