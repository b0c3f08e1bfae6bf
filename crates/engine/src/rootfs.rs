//! A container's root filesystem: its snapshot's mounts put on `<container dir>/rootfs`
//! while it runs (or while it is exported), and taken off again.
//!
//! Like docker's "init layer", a read-only layer of empty mount points sits between the
//! image and the container's writable layer (for overlay snapshots): the files the
//! container's /etc/hostname, /etc/hosts and /etc/resolv.conf are bound onto, and the
//! /dev, /proc and /sys directories. So they are there in any image, and never show up in
//! the container's changes (`diff`, `commit`). Its content is the same for every
//! container, so one layer serves them all (`<data-root>/init`, see
//! [`crate::store::ContainerStore::init_layer`]); containers made by older versions keep
//! using their own (`<container dir>/init`).

use std::path::Path;
use std::time::{Duration, Instant};

use berth_image::snapshot::{self, Mount, Snapshotter};
use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};

use crate::error::{EngineError, Result};

/// Whether `path` is the root of a mount (one `statx`). Missing paths are not.
pub fn is_mounted(path: &Path) -> Result<bool> {
    let flags = AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW;
    match rustix::fs::statx(rustix::fs::CWD, path, flags, StatxFlags::empty()) {
        Ok(st) => Ok(st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(EngineError::io("statx", path)(e.into())),
    }
}

/// How a container's writable layer is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upper {
    /// Ordinary: the layer's data reaches the disk as the file system decides, and
    /// unmounting syncs it.
    Durable,
    /// overlayfs's `volatile`: no sync ever reaches the upper file system, so unmounting
    /// does not sync the whole file system under the data root (tens of milliseconds when
    /// other work writes there). For containers removed when they exit (`--rm`), whose
    /// writable layer is thrown away anyway. After a crash such a layer cannot be mounted
    /// again as it is; berth only ever mounts it volatile again, or removes it.
    Volatile,
}

impl Upper {
    /// Volatile for a container that is removed when it exits.
    pub fn of(auto_remove: bool) -> Upper {
        if auto_remove {
            Upper::Volatile
        } else {
            Upper::Durable
        }
    }
}

/// Mounts snapshot `key` on `target` (made if missing), over the init layer `init` (made
/// if missing), unless something is mounted there already; returns how long the mount
/// took (zero if it was mounted).
pub fn mount(snap: &dyn Snapshotter, key: &str, target: &Path, init: &Path) -> Result<Duration> {
    mount_with(snap, key, target, init, Upper::Durable)
}

/// [`mount`], with the writable layer mounted as `upper` says.
pub fn mount_with(
    snap: &dyn Snapshotter,
    key: &str,
    target: &Path,
    init: &Path,
    upper: Upper,
) -> Result<Duration> {
    match std::fs::create_dir(target) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(EngineError::io("create directory", target)(e));
        }
        _ => {}
    }
    if is_mounted(target)? {
        return Ok(Duration::ZERO);
    }
    let begin = Instant::now();
    let mut mounts: Vec<Mount> = snap.mounts(key)?;
    add_init_layer(&mut mounts, init)?;
    if upper == Upper::Volatile {
        make_volatile(&mut mounts)?;
    }
    Mount::mount_at(&mounts, target)?;
    Ok(begin.elapsed())
}

/// Adds `volatile` to every overlay mount with a writable layer, removing the marker an
/// earlier volatile mount of the same layer left (overlayfs refuses to mount over it:
/// the layer may be inconsistent after a crash, which does not matter for a layer that
/// is thrown away).
fn make_volatile(mounts: &mut [Mount]) -> Result<()> {
    for m in mounts.iter_mut().filter(|m| m.typ == "overlay") {
        let work = m.options.iter().find_map(|o| o.strip_prefix("workdir="));
        let Some(work) = work else { continue };
        let marker = Path::new(work).join("work/incompat/volatile");
        match std::fs::remove_dir_all(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(EngineError::io("remove", &marker)(e));
            }
            _ => {}
        }
        m.options.push("volatile".into());
    }
    Ok(())
}

/// The init layer's directory: under the data root (the one every container shares), or
/// beside the rootfs mount point (a container's own, made by an older version).
pub const INIT_LAYER: &str = "init";

/// The init layer's directories and (empty) files.
const INIT_DIRS: [&str; 4] = ["dev", "proc", "sys", "etc"];
/// The files the container's per-run /etc files are bound onto.
pub(crate) const INIT_FILES: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// Puts the init layer `dir` (made if missing) on top of the lower layers of an overlay
/// mount; other mounts (a copying snapshotter's bind) are left as they are.
fn add_init_layer(mounts: &mut [Mount], dir: &Path) -> Result<()> {
    let lower = mounts
        .iter_mut()
        .filter(|m| m.typ == "overlay")
        .flat_map(|m| m.options.iter_mut())
        .find(|o| o.starts_with("lowerdir="));
    let Some(lower) = lower else {
        return Ok(());
    };
    make_init_layer(dir)?;
    *lower = format!("lowerdir={}:{}", dir.display(), &lower["lowerdir=".len()..]);
    Ok(())
}

/// Makes the init layer `dir` unless it is complete. Safe to run at once in several
/// threads or processes, and after a crash cut an earlier run short, without a temporary
/// directory: every maker makes the same entries in the same order and takes an existing
/// one as made, so the last file existing means every entry before it exists (whoever
/// made it had made those first), and a layer is only used once that file exists.
fn make_init_layer(dir: &Path) -> Result<()> {
    if dir.join(INIT_FILES[INIT_FILES.len() - 1]).exists() {
        return Ok(());
    }
    for name in INIT_DIRS {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(EngineError::io("create directory", &path))?;
    }
    for name in INIT_FILES {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(EngineError::io("create", &path))?;
    }
    Ok(())
}

/// Takes every mount off `target` (none is fine).
pub fn unmount(target: &Path) -> Result<()> {
    while is_mounted(target)? {
        snapshot::unmount(target)?;
    }
    Ok(())
}
