//! What to mount for a snapshot, and a helper that mounts it.

use std::ffi::CString;
use std::path::Path;

use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use super::{Error, Result};

/// One mount: file system type, source and options, as `mount(8)` takes them.
///
/// Snapshotters return `overlay` mounts (options `lowerdir=`, `upperdir=`, `workdir=`, ...)
/// and `bind` mounts (options `rbind` and `ro` or `rw`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// File system type: `overlay` or `bind`.
    pub typ: String,
    /// Source: a directory for binds, `overlay` for overlays.
    pub source: String,
    /// Options: flags such as `ro` and `key=value` file system data.
    pub options: Vec<String>,
}

/// The mount data size limit of `mount(2)` (one page, with the terminating NUL).
const MAX_DATA: usize = 4095;

impl Mount {
    /// Mounts `mounts` on `target`, in order (later ones on top). If one fails, the ones
    /// already made are unmounted again.
    pub fn mount_at(mounts: &[Mount], target: &Path) -> Result<()> {
        for (i, m) in mounts.iter().enumerate() {
            if let Err(e) = m.mount_one(target) {
                for _ in 0..i {
                    // The first error is the one worth reporting; a failed undo leaves a
                    // mount the caller's own cleanup of `target` removes.
                    unmount(target).ok();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn mount_one(&self, target: &Path) -> Result<()> {
        match self.typ.as_str() {
            "bind" => self.bind(target),
            "overlay" => self.overlay(target),
            _ => Err(self.unsupported(target, "file system type".into())),
        }
    }

    fn readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    fn bind(&self, target: &Path) -> Result<()> {
        let recursive = self.options.iter().any(|o| o == "rbind");
        let made = if recursive {
            rustix::mount::mount_bind_recursive(self.source.as_str(), target)
        } else {
            rustix::mount::mount_bind(self.source.as_str(), target)
        };
        made.map_err(|e| self.error(target, e))?;
        if self.readonly() {
            let flags = MountFlags::BIND | MountFlags::RDONLY;
            if let Err(e) = rustix::mount::mount_remount(target, flags, "") {
                unmount(target).ok();
                return Err(self.error(target, e));
            }
        }
        Ok(())
    }

    fn overlay(&self, target: &Path) -> Result<()> {
        let data: Vec<&str> = self.data_options().collect();
        let data = data.join(",");
        if data.len() > MAX_DATA {
            return self.overlay_fsconfig(target);
        }
        let data =
            CString::new(data).map_err(|_| self.unsupported(target, "NUL in options".into()))?;
        let flags = if self.readonly() {
            MountFlags::RDONLY
        } else {
            MountFlags::empty()
        };
        rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())
            .map_err(|e| self.error(target, e))
    }

    /// Options that are file system data (not `ro`/`rw`).
    fn data_options(&self) -> impl Iterator<Item = &str> {
        self.options
            .iter()
            .map(String::as_str)
            .filter(|o| *o != "ro" && *o != "rw")
    }

    /// Overlay through the new mount API: one `lowerdir+` per layer, so no size limit on
    /// the number of layers beyond the kernel's own.
    fn overlay_fsconfig(&self, target: &Path) -> Result<()> {
        let err = |e| self.error(target, e);
        let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(err)?;
        for opt in self.data_options() {
            match opt.split_once('=') {
                Some(("lowerdir", dirs)) => {
                    for dir in dirs.split(':') {
                        fsconfig_set_string(&fs, "lowerdir+", dir).map_err(err)?;
                    }
                }
                Some((key, value)) => fsconfig_set_string(&fs, key, value).map_err(err)?,
                None => fsconfig_set_flag(&fs, opt).map_err(err)?,
            }
        }
        fsconfig_create(&fs).map_err(err)?;
        let attrs = if self.readonly() {
            MountAttrFlags::MOUNT_ATTR_RDONLY
        } else {
            MountAttrFlags::empty()
        };
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(err)?;
        move_mount(
            &mnt,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(err)
    }

    fn error(&self, target: &Path, e: rustix::io::Errno) -> Error {
        Error::Mount {
            typ: self.typ.clone(),
            target: target.into(),
            source: e.into(),
        }
    }

    fn unsupported(&self, target: &Path, what: String) -> Error {
        Error::Unsupported {
            typ: self.typ.clone(),
            target: target.into(),
            what,
        }
    }
}

/// Unmounts `target` (one mount: the top one).
pub fn unmount(target: &Path) -> Result<()> {
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|e| Error::Mount {
        typ: "unmount".into(),
        target: target.into(),
        source: e.into(),
    })
}
