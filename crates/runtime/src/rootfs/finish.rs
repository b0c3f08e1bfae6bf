//! The steps after the switch into the rootfs (paths are the container's now, so nothing can
//! resolve outside it): `linux.readonlyPaths`, `linux.maskedPaths`, the deferred read-only
//! remounts of tmpfs and /dev, `root.readonly`; and binding the console.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{major, minor, mknod, stat, Mode, SFlag};
use oci_spec::runtime::Spec;

use super::mounts::defers_ro;
use super::options::MountOptions;
use super::sys::{self, Attr};
use super::{paths, Error};

const NONE: Option<&str> = None;

/// Runs the last steps, in runc's order.
pub(super) fn finalize(spec: &Spec) -> Result<(), Error> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        readonly(Path::new(p))?;
    }
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    if !masked.is_empty() {
        check_dev_null()?;
        for p in masked {
            mask(Path::new(p))?;
        }
    }
    deferred_ro(spec)?;
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        set_ro(Path::new("/"), false)?;
    }
    Ok(())
}

/// Binds the pty slave onto `/dev/console` (created as an empty file if missing).
pub(super) fn bind_console(slave: &Path) -> Result<(), Error> {
    let console = Path::new("/dev/console");
    match mknod(console, SFlag::S_IFREG, Mode::from_bits_truncate(0o600), 0) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => return Err(sys("create", console, errno)),
    }
    mount(Some(slave), console, NONE, MsFlags::MS_BIND, NONE)
        .map_err(|errno| sys("bind the console onto /dev/console from", slave, errno))
}

/// Binds the path onto itself and makes every mount under it read-only; missing is fine.
fn readonly(path: &Path) -> Result<(), Error> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    match mount(Some(path), path, NONE, flags, NONE) {
        Ok(()) => set_ro(path, true),
        Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err(sys("bind read-only path", path, errno)),
    }
}

/// Covers a file with /dev/null, a directory with an empty read-only tmpfs; missing is fine.
/// The type is looked at first: a bind of /dev/null refused on a directory would cost the
/// kernel a copy of the /dev mount and its teardown (an RCU grace period) for nothing.
fn mask(path: &Path) -> Result<(), Error> {
    match stat(path) {
        Err(Errno::ENOENT) => Ok(()),
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => mask_dir(path),
        _ => mask_file(path),
    }
}

fn mask_file(path: &Path) -> Result<(), Error> {
    match mount(Some("/dev/null"), path, NONE, MsFlags::MS_BIND, NONE) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => mask_dir(path),
        Err(errno) => Err(sys("mask", path, errno)),
    }
}

fn mask_dir(path: &Path) -> Result<(), Error> {
    let data = Some("nr_blocks=1,nr_inodes=1");
    mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, data)
        .map_err(|errno| sys("mask directory", path, errno))
}

/// Masking binds /dev/null: it must be the null device, not a file the image put there.
fn check_dev_null() -> Result<(), Error> {
    let st = stat("/dev/null").map_err(|errno| sys("stat", "/dev/null", errno))?;
    let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR
        && major(st.st_rdev) == 1
        && minor(st.st_rdev) == 3;
    if is_null {
        return Ok(());
    }
    Err(Error::Config {
        field: "linux.maskedPaths".into(),
        reason: "/dev/null in the container is not the null device (1:3)".into(),
    })
}

/// The `ro` of tmpfs and /dev mounts, held back so they could be filled.
fn deferred_ro(spec: &Spec) -> Result<(), Error> {
    for m in spec.mounts().iter().flatten() {
        let typ = m.typ().as_deref().unwrap_or("");
        let dest = paths::clean(m.destination());
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        if opts.is_ro() && defers_ro(typ, &dest, &opts) {
            set_ro(&dest, false)?;
        }
    }
    Ok(())
}

/// Makes the mount at `path` (and, if `recursive`, every mount below) read-only. Only the
/// read-only bit changes: locked flags such as nosuid stay as they are.
fn set_ro(path: &Path, recursive: bool) -> Result<(), Error> {
    let attr = Attr {
        set: libc::MOUNT_ATTR_RDONLY,
        ..Attr::default()
    };
    let flags = if recursive {
        libc::AT_RECURSIVE as u32
    } else {
        0
    };
    sys::mount_setattr(libc::AT_FDCWD, path, flags, &attr)
        .map_err(|errno| sys("remount read-only", path, errno))
}

fn sys(op: &'static str, path: impl AsRef<Path>, errno: Errno) -> Error {
    Error::Sys {
        op,
        path: path.as_ref().to_owned(),
        errno,
    }
}
