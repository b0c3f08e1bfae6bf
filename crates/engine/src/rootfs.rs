//! A container's root filesystem: its snapshot's mounts put on `<container dir>/rootfs`
//! while it runs (or while it is exported), and taken off again.

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

/// Mounts snapshot `key` on `target` (made if missing) unless something is mounted there
/// already; returns how long the mount took (zero if it was mounted).
pub fn mount(snap: &dyn Snapshotter, key: &str, target: &Path) -> Result<Duration> {
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
    let mounts: Vec<Mount> = snap.mounts(key)?;
    Mount::mount_at(&mounts, target)?;
    Ok(begin.elapsed())
}

/// Takes every mount off `target` (none is fine).
pub fn unmount(target: &Path) -> Result<()> {
    while is_mounted(target)? {
        snapshot::unmount(target)?;
    }
    Ok(())
}
